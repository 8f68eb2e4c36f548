//! `tally audit list`: the operator's view of the audit log.

use tally_meter::audit::AuditEntry;
use tally_meter::catalog::{audit, tenants};

use crate::cli::AuditCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one audit command.
pub async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        AuditCommand::List {
            tenant,
            limit,
            json,
        } => {
            let limit = i64::from(limit);
            let entries = match tenant {
                Some(tenant) => {
                    let tenant = tenants::find(&catalog, &tenant).await?;
                    audit::list(&catalog, tenant.id, limit).await?
                }
                None => audit::list_all(&catalog, limit).await?,
            };
            if json {
                for entry in &entries {
                    println!("{}", serde_json::to_string(entry)?);
                }
            } else {
                print_entries(&entries);
            }
        }
    }
    Ok(())
}

fn print_entries(entries: &[AuditEntry]) {
    if entries.is_empty() {
        eprintln!("the audit log is empty");
        return;
    }
    println!(
        "{:<23}  {:<36}  {:<45}  {:<23}  {:<15}  DETAILS",
        "AT", "TENANT", "ACTOR", "ACTION", "CLIENT"
    );
    for entry in entries {
        let tenant = entry
            .tenant_id
            .map_or_else(|| "-".to_owned(), |tenant| tenant.to_string());
        let details = entry
            .new_value
            .as_ref()
            .or(entry.old_value.as_ref())
            .map_or_else(|| "-".to_owned(), serde_json::Value::to_string);
        println!(
            "{:<23}  {tenant:<36}  {:<45}  {:<23}  {:<15}  {details}",
            entry.at.format("%Y-%m-%d %H:%M:%S UTC"),
            entry.actor,
            entry.action,
            entry.client.as_deref().unwrap_or("-"),
        );
    }
}
