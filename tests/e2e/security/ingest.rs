//! Security tests: ingest (see `tests/e2e/security.rs`).
