//! API errors: a status and a JSON body `{"error": code, "message": text}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed bearer token")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// A bug: logged, answered 500.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("storage is unavailable: {0}")]
    Store(#[from] orderly_store::StoreError),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable code: `unauthenticated`, `forbidden`, `not_found`, `bad_request`, `conflict`,
    /// `unavailable`, `too_many_requests`, `internal`.
    pub error: &'static str,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "internal error while serving a request");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            ApiError::Store(e) => {
                tracing::error!(error = %e, "store error while serving a request");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        let mut resp = (
            status,
            Json(ErrorBody {
                error: code,
                message: self.to_string(),
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}
