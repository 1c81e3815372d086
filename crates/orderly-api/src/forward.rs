//! A standby forwards what is meant for the site's owner: every request but health and
//! readiness goes to the owner's API as it came (method, path, headers, body, the answer
//! streamed back, event streams included), so the API and the pages work through any instance.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;

/// Marks a forwarded request, so that two instances that each think the other owns the site
/// do not pass a request back and forth.
const VIA: &str = "1.1 orderly-standby";

/// Headers that belong to one connection, not to the request (RFC 9110, 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn unavailable(message: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        axum::Json(crate::error::ErrorBody {
            error: "unavailable",
            message,
        }),
    )
        .into_response()
}

/// Forwards `req` to the owner's API at `owner` (host:port); 503 with `why` when there is no
/// owner to forward to, or it does not answer.
pub(crate) async fn forward(owner: Option<String>, why: String, req: Request) -> Response {
    let looped = req
        .headers()
        .get_all(header::VIA)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.contains("orderly-standby")));
    let Some(owner) = owner.filter(|_| !looped) else {
        return unavailable(why);
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let stream = match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&owner),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return unavailable(format!(
                "the site's owner at {owner} does not answer ({e}); {why}"
            ));
        }
        Err(_) => {
            return unavailable(format!(
                "the site's owner at {owner} does not answer in 3 s; {why}"
            ));
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        match hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await {
            Ok(x) => x,
            Err(e) => {
                return unavailable(format!(
                    "cannot talk to the site's owner at {owner} ({e}); {why}"
                ));
            }
        };
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "forwarded connection ended");
        }
    });
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    parts.uri = match path.parse() {
        Ok(u) => u,
        Err(_) => return unavailable(why),
    };
    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    if let Ok(v) = HeaderValue::from_str(&owner) {
        parts.headers.insert(header::HOST, v);
    }
    parts
        .headers
        .append(header::VIA, HeaderValue::from_static(VIA));
    if let Some(ip) = peer
        && let Ok(v) = HeaderValue::from_str(&ip.to_string())
    {
        parts.headers.append("x-forwarded-for", v);
    }
    match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            for h in HOP_BY_HOP {
                parts.headers.remove(h);
            }
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => unavailable(format!(
            "the site's owner at {owner} did not answer ({e}); {why}"
        )),
    }
}
