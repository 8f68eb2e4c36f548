//! What a notification says: Alertmanager's webhook JSON (version 4), stored in the outbox as
//! the one form of a notification, and rendered from it for Slack and email; and the webhook
//! signature.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// An alert in a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The value last evaluated, under `value`.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolved; Alertmanager's zero time while firing.
    pub ends_at: DateTime<Utc>,
    /// Where to look: empty.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// A stable hash of its labels.
    pub fingerprint: String,
}

/// A notification: Alertmanager's webhook JSON, version 4, plus the key a receiver may drop
/// repeated deliveries by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// `4`.
    pub version: String,
    /// The group: its receiver and the values of its `group_by` labels.
    pub group_key: String,
    /// Alerts left out: none.
    pub truncated_alerts: u32,
    /// `firing` if any alert fires, else `resolved`.
    pub status: String,
    /// The receiver's name.
    pub receiver: String,
    /// The group's labels.
    pub group_labels: BTreeMap<String, String>,
    /// The labels every alert shares.
    pub common_labels: BTreeMap<String, String>,
    /// The annotations every alert shares.
    pub common_annotations: BTreeMap<String, String>,
    /// Where Tally is: empty.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// The alerts, firing first.
    pub alerts: Vec<Alert>,
    /// The same for every delivery of this notification, retries included.
    pub idempotency_key: String,
}

/// Alertmanager's zero time, the `endsAt` of a firing alert.
pub fn zero_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z")
        .map(|time| time.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A stable hash of an alert's labels, 16 hex digits.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    use sha2::Digest;
    let mut hasher = Sha256::new();
    for (name, value) in labels {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}

impl Message {
    /// Builds a notification of `alerts` (firing first) for a group.
    pub fn new(
        receiver: &str,
        group_key: &str,
        group_labels: BTreeMap<String, String>,
        mut alerts: Vec<Alert>,
        idempotency_key: String,
    ) -> Self {
        alerts.sort_by(|a, b| {
            (a.status != "firing", &a.labels).cmp(&(b.status != "firing", &b.labels))
        });
        let common = |pick: fn(&Alert) -> &BTreeMap<String, String>| {
            let mut common = alerts.first().map(pick).cloned().unwrap_or_default();
            for alert in &alerts {
                common.retain(|name, value| pick(alert).get(name) == Some(value));
            }
            common
        };
        let status = if alerts.iter().any(|alert| alert.status == "firing") {
            "firing"
        } else {
            "resolved"
        };
        Self {
            version: "4".to_owned(),
            group_key: group_key.to_owned(),
            truncated_alerts: 0,
            status: status.to_owned(),
            receiver: receiver.to_owned(),
            group_labels,
            common_labels: common(|alert| &alert.labels),
            common_annotations: common(|alert| &alert.annotations),
            external_url: String::new(),
            alerts,
            idempotency_key,
        }
    }

    /// How many alerts fire.
    pub fn firing(&self) -> usize {
        self.alerts
            .iter()
            .filter(|alert| alert.status == "firing")
            .count()
    }

    /// A one-line summary: `[FIRING:2] too-hot team=plant`.
    pub fn title(&self) -> String {
        let mut title = format!("[{}:{}]", self.status.to_uppercase(), self.alerts.len());
        if let Some(name) = self.common_labels.get("alertname") {
            write!(title, " {name}").ok();
        }
        for (name, value) in &self.group_labels {
            if name != "alertname" {
                write!(title, " {name}={value}").ok();
            }
        }
        title
    }

    /// One line per alert: its status, the labels that tell it apart, value and times.
    pub fn lines(&self) -> Vec<String> {
        self.alerts
            .iter()
            .map(|alert| {
                // What tells the alert apart: labels the others lack, or, when it is alone,
                // all but the ones every alert of the rule has.
                let alone = self.alerts.len() == 1;
                let labels: Vec<String> = alert
                    .labels
                    .iter()
                    .filter(|(name, _)| {
                        if alone {
                            !matches!(name.as_str(), "tenant" | "alertname" | "severity")
                        } else {
                            !self.common_labels.contains_key(*name)
                        }
                    })
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                let mut line = format!("{} {}", alert.status.to_uppercase(), labels.join(" "));
                if let Some(value) = alert.annotations.get("value") {
                    write!(line, " value {value}").ok();
                }
                write!(
                    line,
                    " since {}",
                    alert.starts_at.format("%Y-%m-%d %H:%M:%S UTC")
                )
                .ok();
                if alert.status == "resolved" {
                    write!(
                        line,
                        ", resolved {}",
                        alert.ends_at.format("%Y-%m-%d %H:%M:%S UTC")
                    )
                    .ok();
                }
                line
            })
            .collect()
    }

    /// The body of a Slack-compatible incoming webhook.
    pub fn slack(&self) -> serde_json::Value {
        let color = if self.status == "firing" {
            "#d63232"
        } else {
            "#2eb67d"
        };
        serde_json::json!({
            "text": self.title(),
            "attachments": [{"color": color, "text": self.lines().join("\n")}],
        })
    }

    /// An email's plain-text body.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n\n", self.title());
        for line in self.lines() {
            writeln!(text, "- {line}").ok();
        }
        writeln!(text, "\nLabels shared by every alert:").ok();
        for (name, value) in &self.common_labels {
            writeln!(text, "  {name}={value}").ok();
        }
        text
    }

    /// An email's HTML body.
    pub fn html(&self) -> String {
        let mut html = format!("<h2>{}</h2>\n<ul>\n", escape(&self.title()));
        for line in self.lines() {
            writeln!(html, "<li>{}</li>", escape(&line)).ok();
        }
        html.push_str("</ul>\n<p>Labels shared by every alert:</p>\n<ul>\n");
        for (name, value) in &self.common_labels {
            writeln!(
                html,
                "<li><code>{}={}</code></li>",
                escape(name),
                escape(value)
            )
            .ok();
        }
        html.push_str("</ul>\n");
        html
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `X-Tally-Signature` header of a webhook delivery at `timestamp` (seconds since the Unix
/// epoch): `t=TIMESTAMP,v1=HEX`, where HEX is the HMAC-SHA256 under the receiver's secret of
/// `TIMESTAMP.BODY`. A receiver recomputes it, compares in constant time, and refuses old
/// timestamps.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(status: &str, subject: &str) -> Alert {
        Alert {
            status: status.to_owned(),
            labels: BTreeMap::from([
                ("alertname".to_owned(), "too-hot".to_owned()),
                ("subject".to_owned(), subject.to_owned()),
            ]),
            annotations: BTreeMap::from([("value".to_owned(), "91".to_owned())]),
            starts_at: zero_time(),
            ends_at: zero_time(),
            generator_url: String::new(),
            fingerprint: String::new(),
        }
    }

    #[test]
    fn a_message_puts_firing_alerts_first_and_names_what_they_share() {
        let message = Message::new(
            "ops",
            "ops/alertname=too-hot",
            BTreeMap::from([("alertname".to_owned(), "too-hot".to_owned())]),
            vec![alert("resolved", "s2"), alert("firing", "s1")],
            "key".to_owned(),
        );
        assert_eq!(message.status, "firing");
        assert_eq!(message.firing(), 1);
        assert_eq!(message.alerts[0].labels["subject"], "s1");
        assert_eq!(
            message.common_labels.get("alertname").map(String::as_str),
            Some("too-hot")
        );
        assert!(!message.common_labels.contains_key("subject"));
        assert_eq!(message.title(), "[FIRING:2] too-hot");
        assert!(message.text().contains("- FIRING subject=s1 value 91"));
        let json = serde_json::to_value(&message).expect("JSON");
        assert_eq!(json["version"], "4");
        assert_eq!(json["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(json["externalURL"], "");
    }

    #[test]
    fn the_signature_is_an_hmac_of_the_timestamp_and_body() {
        // Reference: printf '1700000000.{}' | openssl dgst -sha256 -hmac 0123456789abcdef
        assert_eq!(
            signature("0123456789abcdef", 1_700_000_000, b"{}"),
            "t=1700000000,v1=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
        );
    }

    #[test]
    fn a_slack_message_has_the_title_and_a_coloured_attachment_per_status() {
        // The Slack message of one alert of subject s1 in `status`.
        let slack_of = |status| {
            let alerts = vec![alert(status, "s1")];
            Message::new("chat", "k", BTreeMap::new(), alerts, "key".to_owned()).slack()
        };
        let slack = slack_of("firing");
        assert_eq!(slack["text"], "[FIRING:1] too-hot");
        assert_eq!(slack["attachments"][0]["color"], "#d63232");
        assert!(
            slack["attachments"][0]["text"]
                .as_str()
                .is_some_and(|text| text.starts_with("FIRING subject=s1"))
        );
        assert_eq!(slack_of("resolved")["attachments"][0]["color"], "#2eb67d");
    }

    #[test]
    fn html_bodies_escape_labels() {
        let mut hostile = alert("firing", "<script>");
        hostile.labels.insert("team".to_owned(), "a&b".to_owned());
        let message = Message::new("ops", "k", BTreeMap::new(), vec![hostile], "key".to_owned());
        let html = message.html();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }
}
