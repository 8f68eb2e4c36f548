//! `tally event-type register | unregister | list`.

use tally_meter::audit::Actor;
use tally_meter::catalog::{event_types, tenants};

use crate::cli::EventTypeCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one event-type command.
pub async fn run(config: &Config, command: EventTypeCommand) -> anyhow::Result<()> {
    let catalog = connect_catalog(config).await?;
    match command {
        EventTypeCommand::Register { tenant, event_type } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            event_types::register(
                &catalog,
                tenant.id,
                &event_type,
                Actor::Operator,
                &config.caps,
            )
            .await?;
            eprintln!("registered {event_type:?} for tenant {}", tenant.name);
        }
        EventTypeCommand::Unregister { tenant, event_type } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            event_types::unregister(&catalog, tenant.id, &event_type, Actor::Operator).await?;
            eprintln!("unregistered {event_type:?} for tenant {}", tenant.name);
        }
        EventTypeCommand::List { tenant } => {
            let tenant = tenants::find(&catalog, &tenant).await?;
            let types = event_types::list(&catalog, tenant.id).await?;
            if types.is_empty() {
                eprintln!(
                    "tenant {} registered no types: it may send any type",
                    tenant.name
                );
            }
            for event_type in types {
                println!("{event_type}");
            }
        }
    }
    Ok(())
}
