//! The OpenAPI document, generated from the handlers' annotations, and a page to browse it
//! (rendered here from the same document: no external assets, works offline).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Orderly API", description = "Hospital asset tracking and smart-room alerts. Every endpoint but /healthz, /readyz, these docs and the pages' static files needs `Authorization: Bearer <token>` (`orderly token create`)."),
    paths(
        crate::routes::healthz, crate::routes::readyz, crate::routes::metrics,
        crate::routes::list_assets, crate::routes::get_asset, crate::routes::asset_history,
        crate::locate::locate, crate::control::set_status, crate::reports::utilisation_report,
        crate::reports::compliance_report, crate::reports::infusion_report,
        crate::reports::environment_report, crate::reports::list_sensors,
        crate::routes::bed_commands, crate::control::suggestions, crate::control::confirm_suggestion,
        crate::control::dismiss_suggestion,
        crate::maintenance::work_orders, crate::maintenance::open_work_order, crate::maintenance::act,
        crate::maintenance::pull_list, crate::maintenance::recalls, crate::maintenance::issue_recall,
        crate::maintenance::close_recall, crate::maintenance::report, crate::maintenance::calendar,
        crate::routes::list_rooms, crate::routes::get_room,
        crate::routes::unit_alerts, crate::routes::alert_history,
        crate::routes::ingest, crate::routes::audit_log, crate::routes::cluster,
        crate::control::open_alerts, crate::control::acknowledge, crate::control::resolve,
        crate::control::silence, crate::control::rules, crate::control::reload,
        crate::sse::events, crate::sse::unit_events,
        crate::site::me, crate::site::floorplan, crate::site::staff, crate::site::par,
        crate::site::unit_beds,
        crate::census::admit, crate::census::transfer, crate::census::discharge,
        crate::census::assess, crate::census::rejected, crate::census::turnover,
        crate::census::availability, crate::census::worklist, crate::census::turnaround_report,
        crate::vitals::chart,
        crate::integrations::integrations, crate::integrations::create_webhook,
        crate::integrations::webhooks, crate::integrations::delete_webhook,
        crate::integrations::resume_webhook, crate::integrations::deliveries,
    ),
    modifiers(&Bearer),
    tags(
        (name = "site", description = "The hospital as drawn: floorplan, staff, PAR levels, the unit's beds; who you are."),
        (name = "equipment", description = "Tracked items: where they are, their status, finding the nearest one ready for use, utilisation and compliance reports."),
        (name = "rooms", description = "What is in a room now."),
        (name = "alerts", description = "Open alerts and their history; acknowledge, silence, resolve. Every write answers with the new state, and any read after it shows it."),
        (name = "beds", description = "Smart beds: commands sent and suggestions waiting for a nurse at the bedside."),
        (name = "census", description = "Patients admitted, transferred, discharged and assessed; bed turnover; vital signs."),
        (name = "maintenance", description = "Work orders with check results, the pull list and its round, recalls, the maintenance report and calendar."),
        (name = "events", description = "Live event streams (server-sent events, resumable with Last-Event-ID)."),
        (name = "rules", description = "The alert rules in force; reload them."),
        (name = "integrations", description = "Alerts out to the hospital's systems: alert managers (IHE PCD ACM over MLLP) and webhooks, each with its backlog; messages parked after a refusal; webhook subscriptions and their delivery logs."),
        (name = "operations", description = "Ingest counters (what was rejected and why), the audit log, metrics."),
        (name = "health", description = "Liveness and readiness, without a token."),
    )
)]
struct Doc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3.1 document of this API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Doc::openapi()
}

pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

const SWAGGER_JS: &[u8] = include_bytes!("../vendor/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../vendor/swagger-ui/swagger-ui.css");

/// The interactive reference (Swagger UI, vendored): every operation with its parameters,
/// request and response schemas and examples; Authorize takes a bearer token, and "Try it
/// out" calls this API from the page.
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Orderly API reference</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
<link rel="stylesheet" href="/api/docs/docs.css">
</head>
<body>
<header class="orderly-docs"><strong>Orderly API</strong> — sign in with <em>Authorize</em> and a token
(<code>orderly token create</code>, or the one <code>orderly demo</code> printed). Machine-readable:
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>. <a href="/">Pages</a></header>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
"#;

const DOCS_INIT: &str = r#"// Orderly's API reference: Swagger UI on this API's own document.
window.ui = SwaggerUIBundle({
  url: '/api/v1/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  docExpansion: 'list',
  filter: true,
  showExtensions: false,
  defaultModelsExpandDepth: 0,
  tryItOutEnabled: false,
  persistAuthorization: false,
  validatorUrl: null,
});
"#;

const DOCS_CSS: &str = "header.orderly-docs{font:16px system-ui,sans-serif;padding:.6rem 1rem;background:#1d2733;color:#fff}\
header.orderly-docs a{color:#cfe3ff}header.orderly-docs code{background:#34404d;padding:0 .2em}";

fn docs_file(content_type: &'static str, body: &'static [u8]) -> axum::response::Response {
    crate::pages::page_bytes(content_type, body)
}

/// `/api/docs`: the interactive reference.
pub(crate) async fn docs_page() -> axum::response::Response {
    docs_file("text/html; charset=utf-8", DOCS_HTML.as_bytes())
}

/// `/api/docs/{file}`: its script, stylesheets and initializer.
pub(crate) async fn docs_asset(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match file.as_str() {
        "swagger-ui-bundle.js" => docs_file("text/javascript; charset=utf-8", SWAGGER_JS),
        "swagger-ui.css" => docs_file("text/css; charset=utf-8", SWAGGER_CSS),
        "init.js" => docs_file("text/javascript; charset=utf-8", DOCS_INIT.as_bytes()),
        "docs.css" => docs_file("text/css; charset=utf-8", DOCS_CSS.as_bytes()),
        _ => (axum::http::StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
