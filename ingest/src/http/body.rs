//! Reading request bodies within the size limit, gzip included. Decompression runs on a
//! blocking thread, reading at most one byte past the limit, so that neither a large body nor
//! a small bomb holds an async worker or memory beyond the limit.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};

use crate::error::IngestError;
use crate::telemetry::GzipTaskFailed;

/// Reads the whole body, decompressing gzip, refusing more than `limit` bytes either way.
pub async fn read(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, IngestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        let over_limit = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large(limit)
        } else {
            IngestError::Undecodable(format!("cannot read the body: {error}"))
        }
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => Ok(bytes),
        Some("gzip") => tokio::task::spawn_blocking(move || gunzip(&bytes, limit))
            .await
            .map_err(|error| {
                GzipTaskFailed { error: &error }.emit();
                IngestError::Unavailable("the body cannot be decompressed now")
            })?,
        Some(other) => Err(IngestError::UnsupportedMediaType(format!(
            "content-encoding {other:?} is not supported; use gzip or none"
        ))),
    }
}

fn too_large(limit: usize) -> IngestError {
    IngestError::TooLarge(format!(
        "the body is larger than {limit} bytes (ingest.max_body_bytes)"
    ))
}

/// Decompresses gzip, stopping one byte past `limit`; blocking.
fn gunzip(compressed: &[u8], limit: usize) -> Result<Bytes, IngestError> {
    let capacity = compressed
        .len()
        .saturating_mul(4)
        .min(limit.saturating_add(1));
    let mut decoded = Vec::with_capacity(capacity);
    flate2::read::GzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|error| {
            IngestError::Undecodable(format!("the body is not valid gzip: {error}"))
        })?;
    if decoded.len() > limit {
        return Err(too_large(limit));
    }
    Ok(Bytes::from(decoded))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("compresses");
        encoder.finish().expect("compresses")
    }

    #[test]
    fn gzip_is_read_up_to_the_limit_and_refused_past_it() {
        let body = gzip(&[b'0'; 1000]);
        assert_eq!(gunzip(&body, 1000).expect("at the limit").len(), 1000);
        assert!(matches!(gunzip(&body, 999), Err(IngestError::TooLarge(_))));
        assert!(matches!(
            gunzip(b"not gzip", 1000),
            Err(IngestError::Undecodable(_))
        ));
    }

    #[tokio::test]
    async fn a_gzip_body_is_decompressed_off_the_async_workers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().expect("valid"));
        let body = Body::from(gzip(b"[1,2,3]"));
        let read_back = read(body, &headers, 100).await.expect("reads");
        assert_eq!(read_back.as_ref(), b"[1,2,3]");
    }
}
