//! The security suite: one test per hardening finding, each written against the running binary
//! and real services so that it fails on code that lets the attack through. `ingest` covers
//! amplification, bounded quarantine records and hostile bearer values at ingest; `cost` the
//! bounded cost of GraphQL requests and exports; `access` privilege escalation, tenant-set
//! limits, per-tenant caps, the web UI's forms and cookies, and the audit log.

pub mod access;
pub mod cost;
pub mod ingest;
