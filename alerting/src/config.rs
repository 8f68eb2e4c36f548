//! `[alerting]`: how often the alerting role evaluates rules and flushes notifications, where
//! notifications may go, and `[alerting.smtp]`, the server email receivers send through.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// `[alerting]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Seconds between two evaluations of every rule.
    pub eval_interval_secs: u64,
    /// Milliseconds between two looks at the notification groups and the outbox.
    pub notify_interval_ms: u64,
    /// Seconds one delivery may take.
    pub delivery_timeout_secs: u64,
    /// Whether webhook and Slack URLs may reach loopback and private addresses.
    pub allow_private_targets: bool,
    /// The SMTP server of email receivers.
    pub smtp: SmtpConfig,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            eval_interval_secs: 15,
            notify_interval_ms: 1000,
            delivery_timeout_secs: 10,
            allow_private_targets: false,
            smtp: SmtpConfig::default(),
        }
    }
}

impl AlertingConfig {
    /// The time between evaluations, at least a second.
    pub fn eval_interval(&self) -> Duration {
        Duration::from_secs(self.eval_interval_secs.max(1))
    }

    /// The time between notification passes, at least 50 ms.
    pub fn notify_interval(&self) -> Duration {
        Duration::from_millis(self.notify_interval_ms.max(50))
    }
}

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network).
    #[default]
    None,
    /// STARTTLS after connecting.
    Starttls,
    /// TLS from the start.
    Tls,
}

/// `[alerting.smtp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// The server; email receivers fail without one.
    pub host: Option<String>,
    /// Its port.
    pub port: u16,
    /// The sender address.
    pub from: String,
    /// The user to log in as, if any.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<SecretString>,
    /// How the connection is secured.
    pub tls: SmtpTls,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: 25,
            from: "Tally <tally@localhost>".to_owned(),
            username: None,
            password: None,
            tls: SmtpTls::None,
        }
    }
}
