//! Registered event types: a tenant that registers any may send only those types. The SQL is
//! in [`crate::catalog::event_types`].

use crate::{Error, Result};

/// Longest accepted event type name.
pub const MAX_EVENT_TYPE_LENGTH: usize = 256;

/// Refuses an event type name that is empty or longer than [`MAX_EVENT_TYPE_LENGTH`] bytes.
pub fn check(event_type: &str) -> Result<()> {
    if event_type.is_empty() || event_type.len() > MAX_EVENT_TYPE_LENGTH {
        return Err(Error::Invalid(format!(
            "an event type must be 1 to {MAX_EVENT_TYPE_LENGTH} bytes"
        )));
    }
    Ok(())
}
