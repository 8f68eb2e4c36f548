//! Sending one notification to one receiver: a signed webhook, a Slack message or an email,
//! each bounded by a timeout. Webhook and Slack URLs that resolve to loopback, private,
//! link-local or other non-public addresses are refused unless the operator allows them
//! (`alerting.allow_private_targets`); the address checked is the one connected to.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use chrono::Utc;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::payload::{Message, signature};
use super::receiver::Target;
use crate::config::{AlertingConfig, SmtpTls};

/// How a delivery went: `Ok` with what the receiver answered, or `Err` with why it failed.
pub type Outcome = Result<String, String>;

/// Sends a notification to a receiver.
pub async fn send(config: &AlertingConfig, target: &Target, message: &Message) -> Outcome {
    let timeout = Duration::from_secs(config.delivery_timeout_secs.max(1));
    let sending = async {
        match target {
            Target::Webhook { url, secret } => {
                let body = serde_json::to_vec(message).map_err(|error| error.to_string())?;
                let signed = signature(secret, Utc::now().timestamp(), &body);
                post(config, url, body, Some(signed), &message.idempotency_key).await
            }
            Target::Slack { url } => {
                let body =
                    serde_json::to_vec(&message.slack()).map_err(|error| error.to_string())?;
                post(config, url, body, None, &message.idempotency_key).await
            }
            Target::Email { to } => email(config, to, message).await,
        }
    };
    tokio::time::timeout(timeout, sending)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}s", timeout.as_secs())))
}

async fn post(
    config: &AlertingConfig,
    url: &str,
    body: Vec<u8>,
    signature: Option<String>,
    idempotency_key: &str,
) -> Outcome {
    let parsed = reqwest::Url::parse(url).map_err(|error| error.to_string())?;
    let host = parsed.host_str().ok_or("the URL has no host")?.to_owned();
    let port = parsed
        .port_or_known_default()
        .ok_or("the URL has no port")?;
    let address = public_address(&host, port, config.allow_private_targets).await?;
    let client = reqwest::Client::builder()
        .resolve(&host, address)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| error.to_string())?;
    let mut request = client
        .post(parsed)
        .header("content-type", "application/json")
        .header("idempotency-key", idempotency_key)
        .body(body);
    if let Some(signature) = signature {
        request = request.header("x-tally-signature", signature);
    }
    let response = request.send().await.map_err(|error| error.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(format!("HTTP {}", status.as_u16()))
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

/// The first address `host` resolves to, refused when any of them is not public and private
/// targets are not allowed.
async fn public_address(host: &str, port: u16, allow_private: bool) -> Result<SocketAddr, String> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|error| format!("cannot resolve {host}: {error}"))?
        .collect();
    if !allow_private
        && let Some(private) = addresses.iter().find(|address| !is_public(address.ip()))
    {
        return Err(format!(
            "refused: {host} resolves to {}, which is not a public address \
             (alerting.allow_private_targets allows it)",
            private.ip()
        ));
    }
    addresses
        .first()
        .copied()
        .ok_or_else(|| format!("{host} resolves to no address"))
}

/// Whether an address is on the public internet.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

async fn email(config: &AlertingConfig, to: &[String], message: &Message) -> Outcome {
    let smtp = &config.smtp;
    let host = smtp
        .host
        .as_deref()
        .ok_or("no SMTP server is configured (alerting.smtp.host)")?;
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|error| format!("alerting.smtp.from: {error}"))?;
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(message.title())
        .message_id(Some(format!("<{}@tally>", message.idempotency_key)));
    for address in to {
        builder = builder.to(address
            .parse()
            .map_err(|error| format!("{address}: {error}"))?);
    }
    let email = builder
        .multipart(MultiPart::alternative_plain_html(
            message.text(),
            message.html(),
        ))
        .map_err(|error| error.to_string())?;
    let transport = match smtp.tls {
        SmtpTls::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(smtp.port)
        }
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|error| error.to_string())?
            .port(smtp.port),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
            .map_err(|error| error.to_string())?
            .port(smtp.port),
    };
    let transport = match (&smtp.username, &smtp.password) {
        (Some(username), Some(password)) => transport.credentials(Credentials::new(
            username.clone(),
            password.expose_secret().to_owned(),
        )),
        _ => transport,
    };
    let response = transport
        .build()
        .send(email)
        .await
        .map_err(|error| error.to_string())?;
    Ok(format!("SMTP {}", response.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_private_and_link_local_addresses_are_not_public() {
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                !is_public(address.parse().expect("an address")),
                "{address}"
            );
        }
        for address in ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(is_public(address.parse().expect("an address")), "{address}");
        }
    }
}
