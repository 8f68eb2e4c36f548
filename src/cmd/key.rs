//! `tally key create | list | revoke`.

use secrecy::ExposeSecret;
use tally_meter::api_key::ApiKey;
use tally_meter::audit::Actor;
use tally_meter::catalog::{api_keys, tenants};

use crate::cli::KeyCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one key command. `create` prints the key alone on standard output so that scripts can
/// capture it; it is not stored and cannot be shown again.
pub async fn run(config: &Config, command: KeyCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        KeyCommand::Create { tenant, scope } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let created =
                api_keys::create(&catalog, tenant.id, scope, Actor::Operator, &config.caps).await?;
            println!("{}", created.secret.expose_secret());
            eprintln!(
                "created {scope} key {} for tenant {}; store it now: it is not shown again",
                created.key.id, tenant.name
            );
        }
        KeyCommand::List { tenant } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            print_keys(&api_keys::list(&catalog, tenant.id).await?);
        }
        KeyCommand::Revoke { tenant, key } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let revoked = api_keys::revoke(&catalog, tenant.id, key, Actor::Operator).await?;
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
