//! What the REST exports share: the request they admit, and their answers: a file to
//! download, or the error as [`error_response`] writes it, within [`REQUEST_TIMEOUT`] where
//! the export may take long.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, ClientAddress, Credentials};
use crate::error::{ApiError, ApiResult};
use crate::{Api, REQUEST_TIMEOUT, error_response};

/// An export's request as it came: the API, the client's address and the credentials.
/// Extracting it never fails; the handler admits it with [`ExportRequest::admit`], so that the
/// handler's span records the tenant.
pub struct ExportRequest {
    pub(crate) api: Api,
    client: ClientAddress,
    credentials: Credentials,
}

impl FromRequestParts<Api> for ExportRequest {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        Ok(Self {
            api: api.clone(),
            client: ClientAddress::of(&parts.extensions),
            credentials: Credentials::from_request_parts(parts, api).await?,
        })
    }
}

impl ExportRequest {
    /// Admits the request as every API request is: its key authenticated and within its rate.
    pub(crate) async fn admit(&self) -> ApiResult<Caller> {
        self.api.admit(self.client, &self.credentials).await
    }
}

/// Answers with an export's file, or with its error.
pub(crate) fn answer(exported: ApiResult<Response>) -> Response {
    exported.unwrap_or_else(|error| error_response(&error))
}

/// Runs an export within [`REQUEST_TIMEOUT`] and answers with its file, or with its error
/// (UNAVAILABLE once past the deadline).
pub(crate) async fn answer_by_deadline(
    export: impl Future<Output = ApiResult<Response>>,
) -> Response {
    answer(
        tokio::time::timeout(REQUEST_TIMEOUT, export)
            .await
            .unwrap_or_else(|_| Err(ApiError::past_deadline("export"))),
    )
}

/// A CSV file to download as `filename`.
pub(crate) fn csv_file(filename: &str, text: String) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, attachment(filename)),
        ],
        text,
    )
        .into_response()
}

/// `attachment; filename="NAME"`, with any character of the name but letters, digits, `.`,
/// `-` and `_` written as `_` (names are invoice numbers, ids and months).
pub(crate) fn attachment(filename: &str) -> String {
    let safe: String = filename
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || matches!(character, '.' | '-' | '_') {
                character
            } else {
                '_'
            }
        })
        .collect();
    format!("attachment; filename=\"{safe}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_is_named_with_safe_characters_only() {
        assert_eq!(
            attachment("ACME-000001.pdf"),
            "attachment; filename=\"ACME-000001.pdf\""
        );
        assert_eq!(
            attachment("a\"b\r\n c/d.csv"),
            "attachment; filename=\"a_b___c_d.csv\""
        );
    }
}
