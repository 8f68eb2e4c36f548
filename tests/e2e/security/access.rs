//! Security tests: access (see `tests/e2e/security.rs`).
