//! `tally event-type register | unregister | list`.

use tally_meter::audit::Actor;
use tally_meter::{event_type, tenant};

use crate::cli::EventTypeCommand;
use crate::cmd::connect_catalog;
use crate::config::Config;

/// Runs one event-type command.
pub async fn run(config: &Config, command: EventTypeCommand) -> anyhow::Result<()> {
    let pool = connect_catalog(config).await?;
    match command {
        EventTypeCommand::Register { tenant, event_type } => {
            let tenant = tenant::find(&pool, &tenant).await?;
            event_type::register_by(&pool, tenant.id, &event_type, Actor::Operator, &config.caps)
                .await?;
            eprintln!("registered {event_type:?} for tenant {}", tenant.name);
        }
        EventTypeCommand::Unregister { tenant, event_type } => {
            let tenant = tenant::find(&pool, &tenant).await?;
            event_type::unregister(&pool, tenant.id, &event_type).await?;
            eprintln!("unregistered {event_type:?} for tenant {}", tenant.name);
        }
        EventTypeCommand::List { tenant } => {
            let tenant = tenant::find(&pool, &tenant).await?;
            let types = event_type::list(&pool, tenant.id).await?;
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
