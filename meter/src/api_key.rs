//! API keys: random secrets that authenticate a caller as one tenant with one scope. The secret
//! is shown once, when created, and stored only as a SHA-256 hash (the secret has ~238 bits of
//! entropy, so a fast hash is enough); a revoked key, or any key of a suspended tenant, no
//! longer authenticates. The SQL is in [`crate::catalog::api_keys`].

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};
use strum::{EnumString, IntoStaticStr};

use crate::audit::Actor;
use crate::ids::{ApiKeyId, TenantId};
use crate::{Error, Result};

/// What every key starts with, so that leaked keys are easy to recognise and scan for.
const KEY_MARKER: &str = "tly_";
/// Random characters after the marker.
const SECRET_LENGTH: usize = 40;
/// Characters of the key kept in clear, to tell keys apart in listings.
const PREFIX_LENGTH: usize = KEY_MARKER.len() + 8;

/// What a key is allowed to do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, EnumString, IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", parse_err_ty = Error, parse_err_fn = invalid_scope)]
pub enum Scope {
    /// Send events.
    Ingest,
    /// Read the tenant's data.
    Read,
    /// Read, and manage the tenant's meters, quotas and keys.
    Admin,
    /// An operator's key: everything an admin key may do, on any tenant it names.
    Platform,
}

impl Scope {
    /// Returns the stored name, such as `ingest`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn invalid_scope(text: &str) -> Error {
    Error::Invalid(format!(
        "key scope must be ingest, read, admin or platform, got {text:?}"
    ))
}

/// A key as stored in the catalog: everything but the secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    /// Stable identifier, used to revoke the key.
    pub id: ApiKeyId,
    /// The tenant the key authenticates as.
    pub tenant_id: TenantId,
    /// What the key may do.
    pub scope: Scope,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly created key together with its secret, which is not stored anywhere.
#[derive(Debug)]
pub struct CreatedKey {
    /// The stored part.
    pub key: ApiKey,
    /// The full key to hand to the caller, once.
    pub secret: SecretString,
}

/// Who a valid key says the caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The caller's tenant: the only tenant its requests may touch.
    pub tenant_id: TenantId,
    /// The key used.
    pub key_id: ApiKeyId,
    /// What the key may do.
    pub scope: Scope,
}

/// Returns what the catalog stores of a secret: its SHA-256 hash.
pub(crate) fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Returns the first characters of a secret, kept in clear to tell keys apart.
pub(crate) fn prefix_of(secret: &str) -> &str {
    &secret[..PREFIX_LENGTH]
}

/// Returns a fresh secret: the marker and random letters and digits.
pub(crate) fn generate_secret() -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(SECRET_LENGTH)
        .map(char::from)
        .collect();
    format!("{KEY_MARKER}{random}")
}

/// Refuses a platform key issued by anyone but the operator: only `tally key create --scope
/// platform` makes them.
pub fn check_issuer(scope: Scope, actor: Actor) -> Result<()> {
    if scope == Scope::Platform && actor != Actor::Operator {
        return Err(Error::Forbidden(
            "platform keys are the operator's: only `tally key create --scope platform` makes \
             them"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Says whether a presented value has the shape of a key Tally issues: the `tly_` marker
/// followed by exactly the number of alphanumeric characters of a secret. A value of any other
/// shape cannot authenticate, so callers refuse it before any lookup or caching.
pub fn is_well_formed(presented: &str) -> bool {
    presented.len() == KEY_MARKER.len() + SECRET_LENGTH
        && presented
            .strip_prefix(KEY_MARKER)
            .is_some_and(|secret| secret.bytes().all(|byte| byte.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_marked_long_and_distinct() {
        let first = generate_secret();
        let second = generate_secret();
        assert!(first.starts_with(KEY_MARKER));
        assert_eq!(first.len(), KEY_MARKER.len() + SECRET_LENGTH);
        assert_ne!(first, second);
        assert_ne!(hash_secret(&first), hash_secret(&second));
        assert!(is_well_formed(&first));
    }

    #[test]
    fn only_values_shaped_like_issued_keys_are_well_formed() {
        assert!(is_well_formed(&generate_secret()));
        let a = |length: usize| "a".repeat(length);
        for (value, well_formed) in [
            (format!("tly_{}", a(SECRET_LENGTH)), true),
            (format!("tly_{}", a(SECRET_LENGTH - 1)), false),
            (format!("tly_{}", a(SECRET_LENGTH + 1)), false),
            (format!("xyz_{}", a(SECRET_LENGTH)), false),
            (format!("tly_{}-", a(SECRET_LENGTH - 1)), false),
            (format!("tly_{}é", a(SECRET_LENGTH - 2)), false),
            (String::new(), false),
        ] {
            assert_eq!(is_well_formed(&value), well_formed, "{value:?}");
        }
    }

    #[test]
    fn scopes_parse_their_names_only() {
        for scope in [Scope::Ingest, Scope::Read, Scope::Admin, Scope::Platform] {
            assert_eq!(scope.to_string().parse::<Scope>().ok(), Some(scope));
        }
        let refused = "write".parse::<Scope>().expect_err("not a scope");
        assert_eq!(
            refused.to_string(),
            r#"key scope must be ingest, read, admin or platform, got "write""#
        );
        assert_eq!(format!("{:<6}|", Scope::Read), "read  |");
    }
}
