//! The command line: `tally serve | migrate | tenant … | key … | bench …`.

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rust_decimal::Decimal;
use tally_bench::BenchCommand;
use tally_billing::subscription::Anchor;
use tally_meter::api_key::Scope;
use tally_meter::ids::{
    ApiKeyId, InvoiceId, MeterKey, PlanKey, Region, SubscriptionId, TenantName,
};
use tally_meter::meter::{Aggregation, JsonPath};
use tally_meter::quota::QuotaMode;
use tally_meter::tenant::TenantRef;
use tally_meter::usage::{self, Tz, Window};

/// Tally: multi-tenant usage metering, billing and observability.
#[derive(Debug, Parser)]
#[command(name = "tally", version, about)]
pub struct Cli {
    /// Config file (TOML). Without it, `tally.toml` in the working directory is read if present.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Tally's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Tally's services until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Apply pending PostgreSQL and ClickHouse migrations and create Kafka topics.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage tenants' ingest limits.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Manage tenants' registered event types.
    #[command(subcommand, name = "event-type")]
    EventType(EventTypeCommand),
    /// Manage tenants' meters.
    #[command(subcommand)]
    Meter(MeterCommand),
    /// Show a tenant's usage of a meter, per window (the last hour per minute by default).
    Usage(UsageArgs),
    /// Manage a tenant's customers, whom billing invoices.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Manage a tenant's price plans and their versions.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Manage customers' subscriptions to plan versions.
    #[command(subcommand)]
    Subscription(SubscriptionCommand),
    /// Run, read and settle invoices.
    #[command(subcommand)]
    Invoice(InvoiceCommand),
    /// Split the platform's shared costs across tenants by their measured use.
    #[command(subcommand)]
    Cost(CostCommand),
    /// Manage alert rules, and read alerts and their history.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Manage SLOs (JSON or OpenSLO YAML) and see their error budgets and burn rates.
    #[command(subcommand)]
    Slo(SloCommand),
    /// Read the audit log: every tenant's entries and those of no tenant, or one tenant's.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Measure Tally's throughput against the configured services.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `tally alert …`
#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Manage a tenant's alert rules.
    #[command(subcommand)]
    Rule(AlertRuleCommand),
    /// List a tenant's alerts: firing and pending now, and resolved within the last day.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a tenant's alert history, newest first: every transition with its time.
    History {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// Only this rule's.
        #[arg(long)]
        rule: Option<String>,
        /// Only this series' (as `tally alert list` shows it, such as `subject=s1`).
        #[arg(long)]
        series: Option<String>,
        /// At most this many entries (1000 at most).
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Manage a tenant's receivers: where notifications go.
    #[command(subcommand)]
    Receiver(AlertReceiverCommand),
    /// Set or show a tenant's routing tree: which receivers alerts go to, grouped how.
    #[command(subcommand)]
    Routing(AlertRoutingCommand),
    /// Manage a tenant's silences.
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// Show a tenant's notifications, newest first, with every delivery attempt.
    Notifications {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Evaluate every rule of every tenant once, as the alerting role does each interval, and
    /// write the transitions to the history.
    Evaluate {
        /// The instant to evaluate at (RFC 3339); now by default.
        #[arg(long)]
        at: Option<DateTime<Utc>>,
    },
}

/// `tally alert receiver …`
#[derive(Debug, Subcommand)]
pub enum AlertReceiverCommand {
    /// Create or replace a receiver from a JSON file (see the README's Alerting section).
    Set {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The receiver's JSON.
        #[arg(long)]
        file: PathBuf,
    },
    /// List a tenant's receivers as JSON, without webhook secrets.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
    },
    /// Delete a receiver the routing tree does not name.
    Delete {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The receiver's name.
        name: String,
    },
}

/// `tally alert routing …`
#[derive(Debug, Subcommand)]
pub enum AlertRoutingCommand {
    /// Set the routing tree from a JSON file.
    Set {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The tree's JSON.
        #[arg(long)]
        file: PathBuf,
    },
    /// Print the routing tree as JSON.
    Show {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
    },
}

/// `tally alert silence …`
#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Mute every alert with the given labels for a while; prints the silence's id.
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// A label the muted alerts have, as name=value; repeatable.
        #[arg(long = "match", required = true)]
        matchers: Vec<String>,
        /// When it starts (RFC 3339); now by default.
        #[arg(long)]
        starts: Option<DateTime<Utc>>,
        /// How long it lasts, such as 2h.
        #[arg(long)]
        duration: humantime::Duration,
        /// Who makes it.
        #[arg(long)]
        author: String,
        /// Why.
        #[arg(long)]
        comment: String,
    },
    /// List a tenant's silences that have not ended, as JSON.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
    },
    /// End a silence now.
    Expire {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The silence's id.
        id: uuid::Uuid,
    },
}

/// `tally slo …`
#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// Create or change SLOs from a file of OpenSLO v1 YAML (one or more documents) or of one
    /// SLO in Tally's JSON (see the README's SLOs section); prints what became of each:
    /// created, updated, replaced (it counts something else now, from now on) or unchanged.
    Apply {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The file.
        #[arg(short = 'f', long)]
        file: PathBuf,
    },
    /// List a tenant's SLOs as JSON.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
    },
    /// Print a tenant's SLOs, or one, as OpenSLO v1 YAML that `tally slo apply` reads back.
    Export {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// Only this SLO.
        name: Option<String>,
    },
    /// Show where an SLO stands now: the error budget of its window so far, its burn rates
    /// over 5m to 3d, and its alert tiers, per group value.
    Show {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The SLO's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete an SLO (its counts stay in ClickHouse, unread).
    Delete {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The SLO's name.
        name: String,
    },
}

/// `tally alert rule …`
#[derive(Debug, Subcommand)]
pub enum AlertRuleCommand {
    /// Create a rule from a JSON file (see the README's Alerting section).
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The rule's JSON.
        #[arg(long)]
        file: PathBuf,
    },
    /// List a tenant's rules as JSON.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
    },
    /// Delete a rule and its alerts (their history stays).
    Delete {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The rule's name.
        name: String,
    },
}

/// `tally audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Lists the latest entries, newest first.
    List {
        /// Only this tenant's entries (an id or a name); without it, everything.
        #[arg(long)]
        tenant: Option<TenantRef>,
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `tally serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Roles this process plays, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ingest,meter,api,alerting,billing"
    )]
    pub roles: Vec<Role>,
}

/// A part of Tally that `tally serve` can run; every role scales out on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Role {
    /// Event intake over HTTP and OTLP.
    Ingest,
    /// Aggregators from Kafka into ClickHouse.
    Meter,
    /// The GraphQL API, REST exports and web UI.
    Api,
    /// Alert rule evaluation and notifications.
    Alerting,
    /// Invoice runs: drafts, finalization, numbering.
    Billing,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Ingest => "ingest",
            Self::Meter => "meter",
            Self::Api => "api",
            Self::Alerting => "alerting",
            Self::Billing => "billing",
        };
        f.pad(name)
    }
}

/// `tally tenant …`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print its id.
    Create {
        /// Unique name: a-z, 0-9, '-' and '_'.
        #[arg(long)]
        name: TenantName,
        /// Region its data lives in.
        #[arg(long, default_value = "default")]
        region: Region,
        /// Make it the platform tenant, the operator's books: its plans price platform meters
        /// (events, ingested_gb, stored_gb_hours, api_queries) and its customers are the other
        /// tenants. There is at most one.
        #[arg(long)]
        platform: bool,
    },
    /// List every tenant.
    List,
    /// Show one tenant and its keys.
    Show {
        /// Tenant id or name.
        tenant: TenantRef,
    },
    /// Suspend a tenant: none of its keys authenticate until it is activated again.
    Suspend {
        /// Tenant id or name.
        tenant: TenantRef,
    },
    /// Activate a suspended tenant.
    Activate {
        /// Tenant id or name.
        tenant: TenantRef,
    },
    /// Change a tenant's settings.
    Update {
        /// Tenant id or name.
        tenant: TenantRef,
        /// Key the tenant's events by tenant and subject, spreading them over partitions.
        #[arg(long)]
        hot: Option<bool>,
    },
}

/// `tally quota …`
#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Set a tenant's limits; every node applies them within `ingest.refresh_secs`.
    Set {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// Sustained events per second.
        #[arg(long)]
        rate: u64,
        /// Events allowed at once above the rate (default: the rate).
        #[arg(long)]
        burst: Option<u64>,
        /// Events per calendar month (UTC); omit for no monthly quota.
        #[arg(long)]
        monthly: Option<u64>,
        /// What happens past the monthly quota: hard (refuse) or soft (accept and warn).
        #[arg(long, default_value = "hard")]
        mode: QuotaMode,
    },
    /// Show a tenant's limits and this month's consumption.
    Show {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
    },
}

/// Arguments of `tally usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Tenant id or name.
    #[arg(long)]
    pub tenant: TenantRef,
    /// The meter's key.
    pub meter: MeterKey,
    /// Start of the range, RFC 3339, a whole minute (default: an hour before `--to`).
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// End of the range, exclusive, RFC 3339, a whole minute (default: the end of the current
    /// minute).
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// minute, hour, day or month.
    #[arg(long, default_value = "minute")]
    pub window: Window,
    /// IANA time zone whose midnight starts day and month windows, and whose offset times
    /// are shown with, such as Europe/Berlin.
    #[arg(long, default_value = "UTC", value_parser = usage::parse_time_zone)]
    pub timezone: Tz,
    /// Group names to split by, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub group_by: Vec<String>,
    /// Only events of this subject.
    #[arg(long)]
    pub subject: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `tally meter …`
#[derive(Debug, Subcommand)]
pub enum MeterCommand {
    /// Create a meter.
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// Unique per tenant: a-z, 0-9, '-' and '_'.
        #[arg(long)]
        key: MeterKey,
        /// Events of this CloudEvents `type` are metered.
        #[arg(long)]
        event_type: String,
        /// sum, count, avg, min, max, unique_count or latest.
        #[arg(long)]
        aggregation: Aggregation,
        /// JSON path of the value in the event's data, such as `$.tokens` (not for count).
        #[arg(long)]
        value: Option<JsonPath>,
        /// A group as NAME=PATH, such as `model=$.model`; repeatable.
        #[arg(long = "group-by", value_parser = parse_group)]
        group_by: Vec<(String, JsonPath)>,
        /// How long after its time an event still counts, in seconds.
        #[arg(long, default_value_t = 86_400)]
        lateness_secs: u64,
    },
    /// List a tenant's meters.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
    },
    /// Delete a meter.
    Delete {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The meter's key.
        key: MeterKey,
    },
}

fn parse_group(text: &str) -> Result<(String, JsonPath), String> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| format!("a group is NAME=PATH, such as model=$.model; got {text:?}"))?;
    let path = JsonPath::parse(path).map_err(|error| error.to_string())?;
    Ok((name.to_owned(), path))
}

/// `tally event-type …`
#[derive(Debug, Subcommand)]
pub enum EventTypeCommand {
    /// Register a type; once a tenant has any, events of other types are quarantined.
    Register {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The CloudEvents `type`.
        event_type: String,
    },
    /// Remove a registered type.
    Unregister {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The CloudEvents `type`.
        event_type: String,
    },
    /// List a tenant's registered types.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
    },
}

/// `tally key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key and print it, once, on standard output.
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// What the key may do: ingest, read or admin.
        #[arg(long)]
        scope: Scope,
    },
    /// List a tenant's keys (never their secrets).
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
    },
    /// Revoke a key: it stops authenticating at once.
    Revoke {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The key's id, as `tally key list` shows it.
        key: ApiKeyId,
    },
}

/// `tally customer …`
#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Create a customer.
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The tenant's own id for the customer, unique per tenant.
        #[arg(long)]
        external_id: String,
        /// The name invoices show.
        #[arg(long)]
        name: String,
        /// Where invoices go.
        #[arg(long)]
        email: Option<String>,
        /// The ISO 4217 currency it is billed in, such as EUR.
        #[arg(long)]
        currency: String,
        /// The IANA time zone its billing periods follow.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Tax added to its invoices, in percent.
        #[arg(long)]
        tax_percent: Option<Decimal>,
        /// A subject whose usage is the customer's; repeatable.
        #[arg(long = "subject")]
        subjects: Vec<String>,
    },
    /// List a tenant's customers.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `tally plan …`
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Create a plan with its first version, a draft, from a JSON file of currency, interval
    /// and charges.
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// Unique per tenant: a-z, 0-9, '-' and '_'.
        #[arg(long)]
        key: PlanKey,
        /// The name invoices show.
        #[arg(long)]
        name: String,
        /// The version's JSON: `{"currency": "EUR", "interval": "MONTH", "charges": [...]}`.
        #[arg(long)]
        file: PathBuf,
    },
    /// Draft the plan's next version from a JSON file (replacing a draft not yet published).
    Draft {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The plan's key.
        #[arg(long)]
        key: PlanKey,
        /// The version's JSON, as for `create`.
        #[arg(long)]
        file: PathBuf,
    },
    /// Publish the plan's draft: it never changes after.
    Publish {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The plan's key.
        #[arg(long)]
        key: PlanKey,
    },
    /// Show a plan and its versions as JSON.
    Show {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The plan's key.
        #[arg(long)]
        key: PlanKey,
    },
}

/// `tally subscription …`
#[derive(Debug, Subcommand)]
pub enum SubscriptionCommand {
    /// Subscribe a customer to a plan's published version.
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The customer's external id.
        #[arg(long)]
        customer: String,
        /// The plan's key.
        #[arg(long)]
        plan: PlanKey,
        /// The version; the newest published one by default.
        #[arg(long)]
        version: Option<i32>,
        /// calendar (periods start on the first of the month) or anniversary.
        #[arg(long, default_value = "calendar")]
        anchor: Anchor,
        /// When it starts (RFC 3339); now by default.
        #[arg(long)]
        start: Option<DateTime<Utc>>,
    },
    /// End a subscription.
    Cancel {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The subscription's id.
        id: SubscriptionId,
        /// When it ends (RFC 3339); now by default.
        #[arg(long)]
        at: Option<DateTime<Utc>>,
    },
    /// Move a subscription to another plan version from an instant: the subscription ends
    /// there and a new one, with the same anchor, starts; flat fees billed for the rest of the
    /// period are credited and the new plan's are prorated.
    Change {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The subscription's id.
        id: SubscriptionId,
        /// The new plan's key.
        #[arg(long)]
        plan: PlanKey,
        /// Its version; the newest published one by default.
        #[arg(long)]
        version: Option<i32>,
        /// When the change takes effect (RFC 3339); now by default.
        #[arg(long)]
        at: Option<DateTime<Utc>>,
    },
    /// List a tenant's subscriptions.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// Only this customer's (its external id).
        #[arg(long)]
        customer: Option<String>,
    },
}

/// `tally cost …`
#[derive(Debug, Subcommand)]
pub enum CostCommand {
    /// Split each line of a month's cost file across tenants in proportion to their use of
    /// its resource (events, ingested_gb, stored_gb_hours or api_queries), to the cent, and
    /// print the per-tenant table.
    Attribute {
        /// The calendar month, as YYYY-MM (UTC).
        #[arg(long)]
        month: String,
        /// CSV with the header resource,description,amount,currency.
        #[arg(long)]
        costs: PathBuf,
        /// Print CSV (a row per line and tenant) instead of a table.
        #[arg(long)]
        csv: bool,
    },
}

/// `tally invoice …`
#[derive(Debug, Subcommand)]
pub enum InvoiceCommand {
    /// Bring invoices up to an instant: a draft for each period that ended, finalized once its
    /// grace period (`billing.grace_hours`) is over. Safe to repeat and to run beside the
    /// billing role.
    Run {
        /// Only this tenant (id or name); every active tenant by default.
        #[arg(long)]
        tenant: Option<TenantRef>,
        /// Only the platform tenant's invoices to the tenants, after giving each tenant it does
        /// not bill yet a customer subscribed to the platform plan (`billing.platform_plan`).
        #[arg(long, conflicts_with = "tenant")]
        platform: bool,
        /// The instant to bill up to (RFC 3339); now by default.
        #[arg(long)]
        at: Option<DateTime<Utc>>,
    },
    /// List a tenant's invoices, newest period first.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// Only this customer's (its external id).
        #[arg(long)]
        customer: Option<String>,
    },
    /// Print an invoice's lines and how each was computed.
    Explain {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The invoice's id.
        id: InvoiceId,
        /// Print the invoice as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Finalize a draft now, before its grace period ends.
    Finalize {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The invoice's id.
        id: InvoiceId,
    },
    /// Mark a finalized invoice paid.
    Pay {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The invoice's id.
        id: InvoiceId,
    },
    /// Void a finalized invoice; a credit note is issued for its total.
    Void {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The invoice's id.
        id: InvoiceId,
    },
    /// Show a customer's upcoming invoice: the current period so far.
    Upcoming {
        /// Tenant id or name.
        #[arg(long)]
        tenant: TenantRef,
        /// The customer's external id.
        #[arg(long)]
        customer: String,
        /// The instant (RFC 3339); now by default.
        #[arg(long)]
        at: Option<DateTime<Utc>>,
    },
}
