//! Sessions of the web UI. Signing in with an API key starts a session whose random token the
//! browser keeps in a cookie; the catalog stores only the token's hash and the key it stands
//! for. Every request resumes the session through the key, so a revoked key or a suspended
//! tenant ends its sessions at once, and the session grants exactly what the key grants. The
//! SQL is in [`crate::catalog::web_sessions`].

use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const TOKEN_LENGTH: usize = 43;

/// Returns what the catalog stores of a token: its SHA-256 hash.
pub(crate) fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Says whether a presented value has the length of a token [`random_token`] makes; no other
/// value can resume a session.
pub(crate) fn is_well_formed(token: &str) -> bool {
    token.len() == TOKEN_LENGTH
}

/// A fresh random token: 43 letters and digits (256 bits).
pub fn random_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(TOKEN_LENGTH)
        .map(char::from)
        .collect()
}

/// The token a session's forms carry: derived from the session's token, which only the
/// browser's HttpOnly cookie holds, so another site can neither read nor forge it.
pub fn form_token(session: &SecretString) -> String {
    let digest = Sha256::new()
        .chain_update(b"tally form token\0")
        .chain_update(session.expose_secret().as_bytes())
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}
