//! Stripe's webhook signatures: the `Stripe-Signature` header `t=TIMESTAMP,v1=HEX[,v1=…]`
//! holds HMAC-SHA256 digests of `TIMESTAMP.BODY` under the endpoint's signing secret. An
//! event is accepted when one `v1` digest matches, compared in constant time, and its
//! timestamp is within [`TOLERANCE_SECS`] of now (a replayed old event is refused).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far an event's timestamp may be from now, in seconds, as Stripe's own libraries allow.
pub const TOLERANCE_SECS: i64 = 300;

/// Why an event's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("the request has no Stripe-Signature header")]
    Missing,
    /// A header without a timestamp or without `v1` digests.
    #[error("the Stripe-Signature header is not of the form t=TIMESTAMP,v1=SIGNATURE")]
    Malformed,
    /// A timestamp too far from now.
    #[error("the event's timestamp is more than {TOLERANCE_SECS} s from now")]
    OutsideTolerance,
    /// No digest matched.
    #[error("no signature of the Stripe-Signature header matches the payload")]
    Mismatch,
}

/// Checks a `Stripe-Signature` header against the payload, at `now` (Unix seconds).
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut digests = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => {
                digests.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if digests.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::OutsideTolerance);
    }
    let matches = digests.iter().any(|digest| {
        // `verify_slice` compares in constant time.
        mac(secret, timestamp, payload).verify_slice(digest).is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Signs a payload as Stripe does, at `timestamp`: the value of a `Stripe-Signature` header.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let digest = mac(secret, timestamp, payload).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const NOW: i64 = 1_700_000_000;

    #[test]
    fn a_signature_made_with_the_secret_is_accepted_within_the_tolerance() {
        let header = sign(b"{}", SECRET, NOW - 299);
        assert_eq!(verify(Some(&header), b"{}", SECRET, NOW), Ok(()));
        let rotated = format!("{},v1={}", sign(b"{}", "whsec_old", NOW), "ab".repeat(32));
        let both = format!(
            "{rotated},{}",
            sign(b"{}", SECRET, NOW).replace("t=1700000000,", "")
        );
        assert_eq!(verify(Some(&both), b"{}", SECRET, NOW), Ok(()));
    }

    #[test]
    fn unsigned_wrongly_signed_altered_or_old_events_are_refused() {
        let header = sign(b"{}", SECRET, NOW);
        assert_eq!(
            verify(None, b"{}", SECRET, NOW),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(Some("v1=00"), b"{}", SECRET, NOW),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some(&header), b"{}", "whsec_other", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), b"{ }", SECRET, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), b"{}", SECRET, NOW + 301),
            Err(SignatureError::OutsideTolerance)
        );
    }
}
