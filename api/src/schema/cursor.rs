//! Page cursors: the position of a page's last item, as opaque hex-encoded JSON. Queries take
//! the tenant from the caller and the position from the cursor, so a cursor cannot reach
//! another tenant's rows.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::MAX_PAGE;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Encodes a position as a cursor.
pub fn encode<T: Serialize>(position: &T) -> String {
    let json = serde_json::to_vec(position).unwrap_or_default();
    json.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Decodes a cursor given by [`encode`]; anything else is BAD_USER_INPUT.
pub fn decode<T: DeserializeOwned>(text: &str) -> ApiResult<T> {
    let invalid = || {
        ApiError::new(
            ErrorCode::BadUserInput,
            "`after` is not a cursor this API gave",
        )
    };
    if !text.len().is_multiple_of(2) || text.len() > 4096 {
        return Err(invalid());
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

/// Checks a requested page size.
pub fn check_page_size(first: usize) -> ApiResult<()> {
    if first == 0 || first > MAX_PAGE {
        return Err(ApiError::new(
            ErrorCode::BadUserInput,
            format!("`first` must be 1 to {MAX_PAGE}"),
        ));
    }
    Ok(())
}
