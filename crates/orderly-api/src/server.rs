//! The HTTP server: hyper's HTTP/1.1 connections with the timeouts `axum::serve` leaves out.
//! A client that sends its request headers slowly (or not at all), or keeps an idle
//! connection open, is cut off after [`HEADER_READ_TIMEOUT`]; a request body that stalls, after
//! [`BODY_READ_TIMEOUT`] (the router's layer). Event streams are not cut: once a request is
//! read, its response may last as long as the client listens.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;

/// How long a connection may take to send a request's headers, or stay idle between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a request body may stall.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a graceful stop waits for requests in flight (event streams end at once).
const DRAIN: Duration = Duration::from_secs(5);
/// How long a stopping server goes on reading connections it accepted before telling them to
/// close: a connection accepted a moment before the stop, whose request was not read yet,
/// would otherwise be closed unanswered (a page's request at the instant a standby takes over
/// the site, seen as "peer disconnected").
const LAST_READS: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish
/// (for up to 5 s).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, app, shutdown, HEADER_READ_TIMEOUT).await
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
    header_read_timeout: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(with_peer(app.clone(), peer)),
            );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP connection ended");
            }
        });
    }
    tokio::time::sleep(LAST_READS).await;
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {
            tracing::info!("HTTP requests still open after 5 s; stopping anyway");
        }
    }
}

/// The router, with the client's address on every request (`ConnectInfo`, as axum's own
/// server gives it): failed sign-ins are counted per address.
fn with_peer(
    app: Router,
    peer: std::net::SocketAddr,
) -> impl tower::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    use tower::ServiceExt;
    tower::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        app.clone().oneshot(req)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(timeout: Duration) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(serve_with(listener, app, std::future::pending(), timeout));
        addr
    }

    /// Finding: a connection that sent half a request was held open for as long as it liked
    /// (90 s observed), so a few hundred of them would take every connection. Now it is closed
    /// when the headers are not complete in time.
    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let addr = start(Duration::from_millis(300)).await;
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the half-open request was never cut off");
        // A whole request on a new connection is served.
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        c.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with("ok"),
            "{text}"
        );
    }
}
