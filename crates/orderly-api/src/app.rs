//! The router: every route of the API and the pages, and the request metrics around them.

use crate::ApiState;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use std::time::Instant;

pub(crate) fn standby_router(
    why: tokio::sync::watch::Receiver<String>,
    owner: tokio::sync::watch::Receiver<Option<String>>,
    own: crate::Standby,
) -> Router {
    use axum::Json;
    use axum::http::StatusCode;
    let ready = why.clone();
    Router::new()
        .route("/healthz", get(crate::routes::healthz))
        .route(
            "/readyz",
            get(move || {
                let why = ready.borrow().clone();
                async move {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(serde_json::json!({ "ready": false, "problems": [why] })),
                    )
                }
            }),
        )
        .route("/metrics", get(crate::routes::standby_metrics))
        .fallback(move |req: Request| {
            let (why, owner) = (why.borrow().clone(), owner.borrow().clone());
            crate::forward::forward(owner, why, req)
        })
        .with_state(own)
}

pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(crate::pages::index))
        .route("/ui/{file}", get(crate::pages::asset))
        .route("/api/v1/me", get(crate::site::me))
        .route("/api/v1/floorplan", get(crate::site::floorplan))
        .route("/api/v1/staff", get(crate::site::staff))
        .route("/api/v1/par", get(crate::site::par))
        .route("/api/v1/units/{unit}/beds", get(crate::site::unit_beds))
        .route("/healthz", get(crate::routes::healthz))
        .route("/readyz", get(crate::routes::readyz))
        .route("/metrics", get(crate::routes::metrics))
        .route("/api/v1/assets", get(crate::routes::list_assets))
        .route("/api/v1/assets/{id}", get(crate::routes::get_asset))
        .route(
            "/api/v1/assets/{id}/history",
            get(crate::routes::asset_history),
        )
        .route(
            "/api/v1/beds/{id}/commands",
            get(crate::routes::bed_commands),
        )
        .route(
            "/api/v1/maintenance/work-orders",
            get(crate::maintenance::work_orders).post(crate::maintenance::open_work_order),
        )
        .route(
            "/api/v1/maintenance/work-orders/{id}",
            post(crate::maintenance::act),
        )
        .route(
            "/api/v1/maintenance/report",
            get(crate::maintenance::report),
        )
        .route(
            "/api/v1/maintenance/calendar.ics",
            get(crate::maintenance::calendar),
        )
        .route(
            "/api/v1/maintenance/recalls",
            get(crate::maintenance::recalls).post(crate::maintenance::issue_recall),
        )
        .route(
            "/api/v1/maintenance/recalls/{id}/close",
            post(crate::maintenance::close_recall),
        )
        .route(
            "/api/v1/maintenance/pull-list",
            get(crate::maintenance::pull_list),
        )
        .route("/api/v1/suggestions", get(crate::control::suggestions))
        .route(
            "/api/v1/suggestions/{id}/confirm",
            post(crate::control::confirm_suggestion),
        )
        .route(
            "/api/v1/suggestions/{id}/dismiss",
            post(crate::control::dismiss_suggestion),
        )
        .route(
            "/api/v1/assets/{id}/status",
            post(crate::control::set_status),
        )
        .route("/api/v1/patients", post(crate::census::admit))
        .route(
            "/api/v1/patients/{id}/transfer",
            post(crate::census::transfer),
        )
        .route(
            "/api/v1/patients/{id}/discharge",
            post(crate::census::discharge),
        )
        .route("/api/v1/patients/{id}/assess", post(crate::census::assess))
        .route("/api/v1/patients/{id}/vitals", get(crate::vitals::chart))
        .route("/api/v1/beds/{id}/turnover", post(crate::census::turnover))
        .route(
            "/api/v1/beds/availability",
            get(crate::census::availability),
        )
        .route("/api/v1/beds/worklist", get(crate::census::worklist))
        .route(
            "/api/v1/reports/turnaround",
            get(crate::census::turnaround_report),
        )
        .route(
            "/api/v1/integration/hl7/rejected",
            get(crate::census::rejected),
        )
        .route("/api/v1/locate", get(crate::locate::locate))
        .route(
            "/api/v1/reports/utilisation",
            get(crate::reports::utilisation_report),
        )
        .route(
            "/api/v1/reports/compliance",
            get(crate::reports::compliance_report),
        )
        .route(
            "/api/v1/reports/infusion",
            get(crate::reports::infusion_report),
        )
        .route(
            "/api/v1/reports/environment",
            get(crate::reports::environment_report),
        )
        .route("/api/v1/sensors", get(crate::reports::list_sensors))
        .route("/api/v1/rooms", get(crate::routes::list_rooms))
        .route("/api/v1/rooms/{id}", get(crate::routes::get_room))
        .route(
            "/api/v1/units/{unit}/alerts",
            get(crate::routes::unit_alerts),
        )
        .route("/api/v1/alerts", get(crate::routes::alert_history))
        .route("/api/v1/alerts/open", get(crate::control::open_alerts))
        .route(
            "/api/v1/alerts/{id}/acknowledge",
            post(crate::control::acknowledge),
        )
        .route("/api/v1/alerts/{id}/resolve", post(crate::control::resolve))
        .route("/api/v1/alerts/{id}/silence", post(crate::control::silence))
        .route("/api/v1/rules", get(crate::control::rules))
        .route("/api/v1/rules/reload", post(crate::control::reload))
        .route("/api/v1/units/{unit}/events", get(crate::sse::unit_events))
        .route("/api/v1/ingest", get(crate::routes::ingest))
        .route("/api/v1/audit", get(crate::routes::audit_log))
        .route("/api/v1/cluster", get(crate::routes::cluster))
        .route("/fhir/r4/metadata", get(crate::fhir::metadata))
        .route("/fhir/r4/{kind}", get(crate::fhir::search_type))
        .route("/fhir/r4/{kind}/{id}", get(crate::fhir::read))
        .route(
            "/api/v1/integrations",
            get(crate::integrations::integrations),
        )
        .route(
            "/api/v1/webhooks",
            get(crate::integrations::webhooks).post(crate::integrations::create_webhook),
        )
        .route(
            "/api/v1/webhooks/{id}",
            axum::routing::delete(crate::integrations::delete_webhook),
        )
        .route(
            "/api/v1/webhooks/{id}/resume",
            post(crate::integrations::resume_webhook),
        )
        .route(
            "/api/v1/webhooks/{id}/deliveries",
            get(crate::integrations::deliveries),
        )
        .route("/api/v1/events", get(crate::sse::events))
        .route("/api/v1/openapi.json", get(crate::docs::openapi_json))
        .route("/api/docs", get(crate::docs::docs_page))
        .route("/api/docs/", get(crate::docs::docs_page))
        .route("/api/docs/{file}", get(crate::docs::docs_asset))
        .layer(axum::middleware::from_fn(track))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            crate::server::BODY_READ_TIMEOUT,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Counts requests and their latency per route and status.
async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("orderly_http_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("orderly_http_request_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}
