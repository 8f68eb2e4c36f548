//! Receivers: where a tenant's notifications go.
//!
//! ```json
//! {"name": "ops", "kind": "webhook", "url": "https://ops.example/alerts", "secret": "…"}
//! {"name": "chat", "kind": "slack", "url": "https://hooks.slack.com/services/…"}
//! {"name": "mail", "kind": "email", "to": ["sre@example.com"]}
//! ```
//!
//! A webhook's body is signed with HMAC-SHA256 under its `secret` (see
//! [`super::payload::signature`]).

use serde::{Deserialize, Serialize};
use tally_meter::{Error, Result};

use crate::not_json_of;

/// The shortest webhook secret.
const MIN_SECRET_LEN: usize = 16;

/// A receiver's kind and where it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// Alertmanager's webhook JSON (version 4), signed.
    Webhook {
        /// Where it is posted.
        url: String,
        /// The signing key.
        secret: String,
    },
    /// A Slack-compatible incoming webhook.
    Slack {
        /// Where it is posted.
        url: String,
    },
    /// Email over the operator's SMTP server (`alerting.smtp`).
    Email {
        /// The addresses.
        to: Vec<String>,
    },
}

impl Target {
    /// The kind's name: `webhook`, `slack` or `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook { .. } => "webhook",
            Self::Slack { .. } => "slack",
            Self::Email { .. } => "email",
        }
    }
}

/// A receiver as written and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    /// Unique per tenant: a-z, 0-9, '-' and '_'.
    pub name: String,
    /// Where it sends.
    #[serde(flatten)]
    pub target: Target,
}

impl Receiver {
    /// Reads and checks a receiver's JSON.
    pub fn parse(json: &str) -> Result<Self> {
        let receiver: Self = serde_json::from_str(json).map_err(not_json_of("a receiver"))?;
        receiver.validate()?;
        Ok(receiver)
    }

    /// Checks the name, the URL's form and the addresses.
    pub fn validate(&self) -> Result<()> {
        tally_meter::ids::check_name("receiver", &self.name)?;
        match &self.target {
            Target::Webhook { url, secret } => {
                check_url(url)?;
                if secret.len() < MIN_SECRET_LEN {
                    return Err(Error::Invalid(format!(
                        "a webhook's secret is at least {MIN_SECRET_LEN} characters"
                    )));
                }
            }
            Target::Slack { url } => check_url(url)?,
            Target::Email { to } => {
                if to.is_empty() || to.len() > 20 {
                    return Err(Error::Invalid(
                        "an email receiver has 1 to 20 addresses".to_owned(),
                    ));
                }
                for address in to {
                    address.parse::<lettre::Address>().map_err(|_| {
                        Error::Invalid(format!("{address:?} is not an email address"))
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The receiver as shown: a webhook's secret is never shown again.
    pub fn redacted(&self) -> Self {
        let mut shown = self.clone();
        if let Target::Webhook { secret, .. } = &mut shown.target {
            *secret = "…".to_owned();
        }
        shown
    }
}

fn check_url(url: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| Error::Invalid(format!("{url:?} is not a URL: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::Invalid(format!(
            "{url:?}: an http or https URL with a host"
        )));
    }
    Ok(())
}
