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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tokio::sync::watch;
    use tower::ServiceExt;

    async fn call(owner: Option<String>, req: Request<Body>) -> (StatusCode, String) {
        let (_why_tx, why) = watch::channel("standby: site s is owned by a".to_string());
        let (_owner_tx, owner) = watch::channel(owner);
        let own = crate::Standby {
            store: orderly_store::Store::open("sqlite::memory:").await.unwrap(),
            database: crate::outage::Database::new(Default::default()),
            failed_logins: Default::default(),
            clock: || orderly_model::Timestamp(0),
            metrics: None,
        };
        let resp = crate::standby_router(why, owner, own)
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A standby forwards to the owner, health and readiness excepted; with no owner known,
    /// or a request another standby already forwarded, it says why instead.
    #[tokio::test]
    async fn a_standby_forwards_to_the_owner_once() {
        let owner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = owner.local_addr().unwrap().to_string();
        let app = axum::Router::new().route(
            "/api/v1/x",
            axum::routing::get(|h: axum::http::HeaderMap| async move {
                format!("owner saw via {:?}", h.get("via"))
            }),
        );
        tokio::spawn(async move { axum::serve(owner, app).await });
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let (s, body) = call(Some(addr.clone()), get("/api/v1/x?limit=1")).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(body.contains("orderly-standby"), "{body}");
        let (s, body) = call(Some(addr.clone()), get("/readyz")).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("owned by a"), "{body}");
        assert_eq!(
            call(Some(addr.clone()), get("/healthz")).await.0,
            StatusCode::OK
        );
        // Its own metrics, not the owner's: a token is asked for here, not forwarded.
        assert_eq!(
            call(Some(addr.clone()), get("/metrics")).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (s, body) = call(None, get("/api/v1/x")).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("owned by a"), "{body}");
        let looped = Request::get("/api/v1/x")
            .header("via", "1.1 orderly-standby")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            call(Some(addr), looped).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // An owner that does not answer: 503 naming it.
        let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone_addr = gone.local_addr().unwrap().to_string();
        drop(gone);
        let (s, body) = call(Some(gone_addr.clone()), get("/api/v1/x")).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains(&gone_addr), "{body}");
    }
}
