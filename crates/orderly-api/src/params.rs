//! Query parameters and answers the handler modules share: times, report windows, CSV or JSON.

use crate::{ApiError, ApiState};
use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use orderly_model::Timestamp;

/// The longest window a report covers.
const MAX_WINDOW_MS: i64 = 366 * 24 * 3600 * 1000;

pub(crate) fn time_param(name: &str, v: &Option<String>) -> Result<Option<Timestamp>, ApiError> {
    match v {
        None => Ok(None),
        Some(x) => Timestamp::parse_rfc3339(x).map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!("{name} {x:?} is not RFC 3339 with a zone"))
        }),
    }
}

/// `[from, to)` of a report: `to` defaults to now, `from` to `default_ms` before it.
pub(crate) fn window(
    s: &ApiState,
    from: &Option<String>,
    to: &Option<String>,
    default_ms: i64,
) -> Result<(Timestamp, Timestamp), ApiError> {
    let to = time_param("to", to)?.unwrap_or_else(s.clock);
    let from = time_param("from", from)?.unwrap_or(to.plus_ms(-default_ms));
    if from >= to || to.since(from) > MAX_WINDOW_MS {
        return Err(ApiError::BadRequest(
            "the window must have from before to, and span at most 366 days".into(),
        ));
    }
    Ok((from, to))
}

/// `format`: `json` (the default) or `csv`.
pub(crate) fn wants_csv(format: &Option<String>) -> Result<bool, ApiError> {
    match format.as_deref() {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(x) => Err(ApiError::BadRequest(format!(
            "format {x:?}: use json or csv"
        ))),
    }
}

/// The report as CSV (an attachment named `filename`) when asked for, else as JSON.
pub(crate) fn respond<T: serde::Serialize>(
    csv: Option<String>,
    filename: &str,
    report: T,
) -> Response {
    match csv {
        Some(text) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
            ],
            text,
        )
            .into_response(),
        None => Json(report).into_response(),
    }
}
