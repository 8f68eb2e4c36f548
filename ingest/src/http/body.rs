//! Reading request bodies within the size limit, gzip included.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};

use crate::error::IngestError;

/// Reads the whole body, decompressing gzip, refusing more than `limit` bytes either way.
pub async fn read(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, IngestError> {
    let too_large = || {
        IngestError::TooLarge(format!(
            "the body is larger than {limit} bytes (ingest.max_body_bytes)"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        let over_limit = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            IngestError::Undecodable(format!("cannot read the body: {error}"))
        }
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => Ok(bytes),
        Some("gzip") => {
            let mut decoded = Vec::with_capacity(bytes.len() * 4);
            flate2::read::GzDecoder::new(bytes.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut decoded)
                .map_err(|error| {
                    IngestError::Undecodable(format!("the body is not valid gzip: {error}"))
                })?;
            if decoded.len() > limit {
                return Err(too_large());
            }
            Ok(Bytes::from(decoded))
        }
        Some(other) => Err(IngestError::UnsupportedMediaType(format!(
            "content-encoding {other:?} is not supported; use gzip or none"
        ))),
    }
}
