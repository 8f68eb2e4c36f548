//! The security suite: one test per hardening finding, each written against the running binary
//! and real services so that it fails on code that lets the attack through. `ingest` covers
//! amplification, bounded quarantine records and hostile bearer values at ingest; `access`
//! privilege escalation, tenant-set limits, per-tenant caps, the web UI's forms and cookies,
//! and the audit log. The bounded cost of GraphQL requests and exports, and CSV formula
//! neutralising, need no process: the API's integration tests hold them (`api/tests/api/`).

pub mod access;
pub mod ingest;
