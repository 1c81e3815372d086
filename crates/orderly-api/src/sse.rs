//! The live stream: Server-Sent Events of what the world decided, after it is committed.
//! `Last-Event-ID` (or `?after=SEQ`) first replays what was missed from the store, so a
//! reconnecting nursing station loses nothing.

use crate::{ApiError, ApiState, Auth};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use orderly_model::{OutEvent, Role};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
pub(crate) struct StreamFilter {
    /// Only events of this unit.
    unit: Option<String>,
    /// Only these kinds, comma-separated (`location.changed,alert.raised`).
    kind: Option<String>,
    /// Replay committed events after this sequence number first (like `Last-Event-ID`).
    after: Option<u64>,
}

struct Filter {
    units: Option<Vec<String>>,
    kinds: Option<Vec<String>>,
}

impl Filter {
    fn pass(&self, e: &OutEvent) -> bool {
        let unit_ok = self
            .units
            .as_ref()
            .is_none_or(|us| e.unit().is_some_and(|u| us.iter().any(|x| x == u)));
        let kind_ok = self
            .kinds
            .as_ref()
            .is_none_or(|ks| ks.iter().any(|k| k == e.kind_name()));
        unit_ok && kind_ok
    }
}

fn to_sse(e: &OutEvent) -> Event {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    Event::default()
        .id(e.seq.to_string())
        .event(e.kind_name())
        .data(data)
}

/// Live events as Server-Sent Events: `id` is the sequence number, `event` the kind, `data` the JSON.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(StreamFilter), security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of OutEvent", content_type = "text/event-stream", body = orderly_model::OutEvent),
              (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn events(
    auth: Auth,
    State(s): State<ApiState>,
    Query(f): Query<StreamFilter>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    stream_events(auth, s, f, headers).await
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct UnitStreamFilter {
    /// Only these kinds, comma-separated (`alert.raised,alert.escalated`).
    kind: Option<String>,
    /// Replay committed events after this sequence number first (like `Last-Event-ID`).
    after: Option<u64>,
}

/// One unit's live events (the nursing station's stream): the same as `/api/v1/events?unit=`.
#[utoipa::path(get, path = "/api/v1/units/{unit}/events", tag = "events", params(("unit" = String, Path, description = "unit id"), UnitStreamFilter), security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of OutEvent", content_type = "text/event-stream", body = orderly_model::OutEvent),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn unit_events(
    auth: Auth,
    State(s): State<ApiState>,
    axum::extract::Path(unit): axum::extract::Path<String>,
    Query(f): Query<UnitStreamFilter>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    auth.require_known_unit(&s, &unit)?;
    let f = StreamFilter {
        unit: Some(unit),
        kind: f.kind,
        after: f.after,
    };
    stream_events(auth, s, f, headers).await
}

async fn stream_events(
    auth: Auth,
    s: ApiState,
    f: StreamFilter,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let units = match (&f.unit, auth.role()) {
        (Some(u), _) => {
            auth.require_unit(u)?;
            Some(vec![u.clone()])
        }
        (None, Role::Nurse) => Some(auth.0.units.clone()),
        (None, _) => None,
    };
    let kinds: Option<Vec<String>> = f.kind.as_ref().map(|k| {
        k.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    });
    // A misspelt kind would stream nothing, for ever: said at once instead.
    if let Some(bad) = kinds
        .iter()
        .flatten()
        .find(|k| !orderly_model::EventKind::NAMES.contains(&k.as_str()))
    {
        return Err(ApiError::BadRequest(format!(
            "unknown event kind {bad:?} (one of {})",
            orderly_model::EventKind::NAMES.join(", ")
        )));
    }
    let filter = Filter { units, kinds };
    // A Last-Event-ID that is not a sequence number is the client's mistake, said so (it was
    // silently ignored, replaying nothing). One past the latest committed event (another
    // database, or u64::MAX, which the store would have read as -1 and replayed everything)
    // means "from now".
    let after = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "Last-Event-ID {:?} is not an event's sequence number",
                        String::from_utf8_lossy(v.as_bytes())
                    ))
                })?,
        ),
        None => f.after,
    }
    .map(|a| a.min(*s.committed.borrow()));
    // Alert messages name patients: opening a stream is a read of patient data.
    auth.audit(
        &s,
        "read",
        "event stream",
        format!("unit={:?} kind={:?} after={after:?}", f.unit, f.kind),
    )
    .await?;
    // Subscribe before reading the store, so nothing falls between the two.
    let rx = s.events.subscribe();
    let mut last = after.unwrap_or(0);
    let mut backlog = Vec::new();
    if let Some(after) = after {
        backlog = s.store.events_after(after, 10_000).await?;
        if let Some(e) = backlog.last() {
            last = e.seq;
        }
    }
    let filter = Arc::new(filter);
    let f2 = filter.clone();
    let first = stream::iter(
        backlog
            .into_iter()
            .filter(move |e| f2.pass(e))
            .map(|e| Ok(to_sse(&e))),
    );
    let live = stream::unfold(
        (rx, last, filter),
        |(mut rx, mut last, filter)| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        if e.seq <= last || !filter.pass(&e) {
                            continue;
                        }
                        last = e.seq;
                        return Some((Ok(to_sse(&e)), (rx, last, filter)));
                    }
                    Err(RecvError::Lagged(n)) => {
                        // Too slow a reader: say so; it reconnects with Last-Event-ID to catch up.
                        let ev = Event::default().event("lagged").data(n.to_string());
                        return Some((Ok(ev), (rx, last, filter)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    // A stream ends when Orderly stops (the station reconnects to the next one with
    // Last-Event-ID); without this, graceful shutdown would wait on every open stream.
    let mut shutdown = s.shutdown.clone();
    let stopping = async move {
        if shutdown.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    Ok(Sse::new(first.chain(live).take_until(stopping))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
