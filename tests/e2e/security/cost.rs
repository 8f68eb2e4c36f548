//! Security tests: cost (see `tests/e2e/security.rs`).
