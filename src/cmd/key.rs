//! `tally key create | list | revoke`.

use secrecy::ExposeSecret;
use tally_meter::api_key::{self, ApiKey};
use tally_meter::audit::Actor;
use tally_meter::tenant;

use crate::cli::KeyCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one key command. `create` prints the key alone on standard output so that scripts can
/// capture it; it is not stored and cannot be shown again.
pub async fn run(config: &Config, command: KeyCommand) -> anyhow::Result<()> {
    let pool = connect_catalog(config).await?;
    match command {
        KeyCommand::Create { tenant, scope } => {
            let tenant = tenant::find(&pool, &tenant).await?;
            let created =
                api_key::create_by(&pool, tenant.id, scope, Actor::Operator, &config.caps).await?;
            println!("{}", created.secret.expose_secret());
            eprintln!(
                "created {scope} key {} for tenant {}; store it now: it is not shown again",
                created.key.id, tenant.name
            );
        }
        KeyCommand::List { tenant } => {
            let tenant = tenant::find(&pool, &tenant).await?;
            print_keys(&api_key::list(&pool, tenant.id).await?);
        }
        KeyCommand::Revoke { tenant, key } => {
            let tenant = tenant::find(&pool, &tenant).await?;
            let revoked = api_key::revoke(&pool, tenant.id, key).await?;
            eprintln!(
                "revoked key {} ({}…) of tenant {}",
                revoked.id, revoked.prefix, tenant.name
            );
        }
    }
    Ok(())
}

/// Prints keys as a table; secrets are never known here, only prefixes.
pub fn print_keys(keys: &[ApiKey]) {
    if keys.is_empty() {
        println!("no API keys: create one with `tally key create --tenant TENANT --scope ingest`");
        return;
    }
    println!(
        "{:<36}  {:<6}  {:<13}  {:<23}  REVOKED",
        "KEY ID", "SCOPE", "PREFIX", "CREATED"
    );
    for key in keys {
        let revoked = key
            .revoked_at
            .map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "-".to_owned());
        println!(
            "{:<36}  {:<6}  {:<13}  {:<23}  {revoked}",
            key.id,
            key.scope,
            format!("{}…", key.prefix),
            key.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        );
    }
}
