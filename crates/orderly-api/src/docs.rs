//! The OpenAPI document, generated from the handlers' annotations, and a page to browse it
//! (rendered here from the same document: no external assets, works offline).

use axum::Json;
use axum::response::Html;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Orderly API", description = "Hospital asset tracking and smart-room alerts. Every endpoint but /healthz, /readyz, these docs and the pages' static files needs `Authorization: Bearer <token>` (`orderly token create`)."),
    paths(
        crate::routes::healthz, crate::routes::readyz, crate::routes::metrics,
        crate::routes::list_assets, crate::routes::get_asset, crate::routes::asset_history,
        crate::locate::locate, crate::control::set_status, crate::reports::utilisation_report,
        crate::reports::compliance_report,
        crate::routes::bed_commands, crate::control::suggestions, crate::control::confirm_suggestion,
        crate::control::dismiss_suggestion,
        crate::maintenance::work_orders, crate::maintenance::open_work_order, crate::maintenance::act,
        crate::maintenance::pull_list, crate::maintenance::recalls, crate::maintenance::issue_recall,
        crate::maintenance::close_recall, crate::maintenance::report, crate::maintenance::calendar,
        crate::routes::list_rooms, crate::routes::get_room,
        crate::routes::unit_alerts, crate::routes::alert_history,
        crate::routes::ingest, crate::routes::audit_log,
        crate::control::open_alerts, crate::control::acknowledge, crate::control::resolve,
        crate::control::silence, crate::control::rules, crate::control::reload,
        crate::sse::events, crate::sse::unit_events,
        crate::site::me, crate::site::floorplan, crate::site::staff, crate::site::par,
        crate::site::unit_beds,
        crate::census::admit, crate::census::transfer, crate::census::discharge,
        crate::census::assess, crate::census::rejected, crate::census::turnover,
        crate::census::availability, crate::census::worklist, crate::census::turnaround_report,
        crate::vitals::chart,
    ),
    modifiers(&Bearer),
    tags((name = "site"), (name = "equipment"), (name = "rooms"), (name = "alerts"), (name = "beds"), (name = "census"), (name = "maintenance"), (name = "events"), (name = "rules"), (name = "operations"), (name = "health"))
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A readable page of every operation, its parameters and responses.
pub(crate) async fn docs_page() -> Html<String> {
    let doc = serde_json::to_value(openapi()).unwrap_or_default();
    let mut h = String::from(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Orderly API</title>\
         <style>body{font:16px system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}\
         code{background:#eee;padding:0 .2em}.op{border:1px solid #ccc;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}\
         .m{font-weight:bold;text-transform:uppercase;margin-right:.5em}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}</style>",
    );
    h.push_str(&format!("<h1>{}</h1><p>{}</p><p>Machine-readable: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a></p>",
        esc(doc["info"]["title"].as_str().unwrap_or("")), esc(doc["info"]["description"].as_str().unwrap_or(""))));
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            let Some(ops) = item.as_object() else {
                continue;
            };
            for (method, op) in ops {
                h.push_str(&format!(
                    "<div class=op><p><span class=m>{}</span><code>{}</code></p><p>{}</p>",
                    esc(method),
                    esc(path),
                    esc(op["summary"]
                        .as_str()
                        .or(op["description"].as_str())
                        .unwrap_or(""))
                ));
                if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
                    h.push_str("<table><tr><th>parameter</th><th>in</th><th>description</th></tr>");
                    for p in params {
                        h.push_str(&format!(
                            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                            esc(p["name"].as_str().unwrap_or("")),
                            esc(p["in"].as_str().unwrap_or("")),
                            esc(p["description"].as_str().unwrap_or(""))
                        ));
                    }
                    h.push_str("</table>");
                }
                if let Some(resps) = op["responses"].as_object() {
                    let codes: Vec<String> = resps
                        .iter()
                        .map(|(c, r)| format!("{} {}", c, r["description"].as_str().unwrap_or("")))
                        .collect();
                    h.push_str(&format!("<p>Responses: {}</p>", esc(&codes.join("; "))));
                }
                h.push_str("</div>");
            }
        }
    }
    h.push_str("</html>");
    Html(h)
}
