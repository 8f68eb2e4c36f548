//! The web UI's settings (`[web]` in the config file): how long a sign-in lasts, whether
//! cookies are always `Secure`, and where the browser bundle is.

use std::path::PathBuf;

/// Web UI settings (`[web]` in the config).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// How long a sign-in lasts, in hours.
    pub session_hours: u32,
    /// Marks cookies `Secure` even without `X-Forwarded-Proto: https` (behind a TLS proxy
    /// that does not send it).
    pub secure_cookies: bool,
    /// The browser bundle (`tally-web.js` and `tally-web_bg.wasm`, built by `scripts/web.sh`);
    /// without it pages are served without scripts, which works as well, only without live
    /// updates and in-page navigation.
    pub pkg_dir: Option<PathBuf>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookies: false,
            pkg_dir: None,
        }
    }
}
