//! The HL7 v2 listener: MLLP over TCP from an interface engine, one or several connections.
//! Each message is parsed ([`orderly_hl7::Message`]), read as a census message, applied
//! through a [`Census`] (which commits it) and only then acknowledged AA; what cannot be
//! applied is answered AE or AR with an ERR naming the segment, field and reason. A repeated
//! control id is the census's to recognise (it answers as before without applying twice).
//! Bad input never stops the listener: a message over the size limit or binary garbage closes
//! that connection, a connection that sends nothing is closed after the idle timeout, and
//! connections beyond the limit are closed at once; each is counted per reason.

mod relay;
pub use relay::{RelayConfig, relay};

use orderly_hl7::mllp::{Decoder, frame};
use orderly_hl7::{AckCode, CensusMessage, Message, Problem, ack};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Where messages are applied. `apply` returns once what the message changed is committed;
/// a [`Problem`] when it cannot be applied (nothing changed).
pub trait Census: Send + Sync + 'static {
    fn apply(&self, message: CensusMessage) -> impl Future<Output = Result<(), Refusal>> + Send;
    /// An HL7 time stamp for the ACK's MSH-7 (`YYYYMMDDHHMMSS`), from the binary's clock.
    fn now_hl7(&self) -> String;
    /// A message answered AE or AR, kept for the interface analyst.
    fn rejected(&self, rejection: Rejection) -> impl Future<Output = ()> + Send;
}

/// Why a message was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Its content cannot be applied: answered AE or AR with the problem.
    Problem(Problem),
    /// Orderly cannot commit now (its database is away): no acknowledgement, and the
    /// connection is closed, so the interface engine sends it again.
    Unavailable(String),
}

impl From<Problem> for Refusal {
    fn from(p: Problem) -> Self {
        Refusal::Problem(p)
    }
}

/// A message answered AE or AR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// MSH-3/MSH-4, MSH-10 and MSH-9 (`ADT^A01`), "" where unreadable.
    pub sender: String,
    pub control_id: String,
    pub kind: String,
    pub code: AckCode,
    pub problem: Problem,
    /// The message as received, segments on their own lines.
    pub text: String,
}

#[derive(Clone)]
pub struct Config {
    /// The longest message taken, in bytes.
    pub max_message: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle: Duration,
    /// Connections open at once; more are closed at once.
    pub max_connections: usize,
    /// TLS: every connection must complete a handshake (within `idle`) before its messages.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Why the listener's certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate ({detail})")]
    Certificate { path: String, detail: String },
    #[error("{path} holds no PEM private key ({detail})")]
    Key { path: String, detail: String },
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(#[from] rustls::Error),
}

/// A TLS acceptor from a PEM certificate chain and its private key.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let certs = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate {
            path: cert.display().to_string(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.display().to_string(),
            detail: "none found".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        detail: e.to_string(),
    })?;
    // ring, as the MQTT client uses (orderly-mqtt's security.rs says why).
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message: 1 << 20,
            idle: Duration::from_secs(300),
            max_connections: 64,
            tls: None,
        }
    }
}

/// What the listener counted: applied messages, and refusals per reason.
#[derive(Debug, Default)]
pub struct Stats {
    pub applied: AtomicU64,
    /// Connections a standby passed through to the owner ([`relay`]).
    pub relayed: AtomicU64,
    pub connections: AtomicUsize,
    refused: Mutex<BTreeMap<&'static str, u64>>,
}

impl Stats {
    fn refuse(&self, reason: &'static str) {
        metrics::counter!("orderly_hl7_refused_total", "reason" => reason).increment(1);
        *self
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }
    /// Refusals per reason (`too_large`, `not_hl7`, `idle`, `too_many_connections`, a
    /// relay's `no_owner` and `owner_unreachable`, and the problem reasons of
    /// [`Problem::reason`]).
    pub fn refused(&self) -> BTreeMap<&'static str, u64> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One open connection in `Stats::connections`, counted out when its task ends or is aborted.
struct Counted(Arc<Stats>);

impl Counted {
    fn new(stats: Arc<Stats>) -> Counted {
        stats.connections.fetch_add(1, Ordering::Relaxed);
        Counted(stats)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `listener` until `shutdown` turns true.
pub async fn serve<C: Census>(
    listener: TcpListener,
    census: Arc<C>,
    cfg: Config,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut n: u64 = 0;
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "HL7 listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        if stats.connections.load(Ordering::Relaxed) >= cfg.max_connections {
            stats.refuse("too_many_connections");
            tracing::warn!(%peer, limit = cfg.max_connections, "HL7 connection refused: too many open");
            drop(sock);
            continue;
        }
        n += 1;
        let counted = Counted::new(stats.clone());
        let (census, cfg, stats, shutdown) =
            (census.clone(), cfg.clone(), stats.clone(), shutdown.clone());
        tokio::spawn(async move {
            tracing::info!(%peer, connection = n, "HL7 connection opened");
            let mut sock = sock;
            match cfg.tls.clone() {
                None => connection(&mut sock, &*census, &cfg, &stats, shutdown).await,
                Some(acceptor) => {
                    match tokio::time::timeout(cfg.idle, acceptor.accept(&mut sock)).await {
                        Ok(Ok(mut tls)) => {
                            connection(&mut tls, &*census, &cfg, &stats, shutdown).await;
                            let _ = tls.shutdown().await;
                        }
                        Ok(Err(e)) => {
                            stats.refuse("tls_handshake");
                            tracing::warn!(%peer, error = %e, "HL7 connection refused: TLS handshake failed");
                        }
                        Err(_) => {
                            stats.refuse("tls_handshake");
                            tracing::warn!(%peer, "HL7 connection refused: no TLS handshake in time");
                        }
                    }
                }
            }
            // Counted out before the peer sees the close, so it may connect again at once.
            drop(counted);
            drop(sock);
            tracing::info!(%peer, connection = n, "HL7 connection closed");
        });
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin, C: Census>(
    sock: &mut S,
    census: &C,
    cfg: &Config,
    stats: &Stats,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut dec = Decoder::new(cfg.max_message);
    let mut buf = vec![0u8; 64 * 1024];
    let mut acks: u64 = 0;
    loop {
        let read = tokio::select! {
            r = tokio::time::timeout(cfg.idle, sock.read(&mut buf)) => r,
            _ = shutdown.changed() => return,
        };
        let n = match read {
            Err(_) => {
                stats.refuse("idle");
                return;
            }
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
        };
        let junk_before = dec.junk;
        let frames = match dec.push(&buf[..n]) {
            Ok(f) => f,
            Err(e) => {
                stats.refuse("too_large");
                tracing::warn!(error = %e, "HL7 message refused; closing the connection");
                return;
            }
        };
        if dec.junk > junk_before && frames.is_empty() && !dec.partial() && dec.junk > 1024 {
            // Kilobytes of bytes outside any frame: not an MLLP peer.
            stats.refuse("not_mllp");
            return;
        }
        for f in frames {
            acks += 1;
            let Some(reply) = handle(&f, census, stats, acks).await else {
                // Not committed: no acknowledgement; the sender resends on a new connection.
                return;
            };
            if sock.write_all(&frame(reply.as_bytes())).await.is_err() {
                return;
            }
        }
    }
}

/// One message: its ACK, after what it changed is committed; None when it cannot be
/// committed now (no ACK: the sender resends).
async fn handle<C: Census>(bytes: &[u8], census: &C, stats: &Stats, n: u64) -> Option<String> {
    let now = census.now_hl7();
    let id = format!("ORDERLY{now}{n}");
    let text = orderly_hl7::message::decode(bytes);
    let msg = match Message::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            stats.refuse("not_hl7");
            let p = Problem::new("MSH", 0, 100, e.to_string());
            reject(census, None, &text, AckCode::Ar, &p).await;
            return Some(ack(None, AckCode::Ar, Some(&p), &now, &id));
        }
    };
    let census_msg = match orderly_hl7::read(&msg) {
        Ok(c) => c,
        Err(p) => {
            stats.refuse(p.reason());
            tracing::info!(segment = %p.segment, field = p.field, code = p.code, reason = %p.text, "HL7 message not applied");
            reject(census, Some(&msg), &text, p.ack_code(), &p).await;
            return Some(ack(Some(&msg), p.ack_code(), Some(&p), &now, &id));
        }
    };
    match census.apply(census_msg).await {
        Ok(()) => {
            stats.applied.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("orderly_hl7_applied_total").increment(1);
            Some(ack(Some(&msg), AckCode::Aa, None, &now, &id))
        }
        Err(Refusal::Problem(p)) => {
            stats.refuse(p.reason());
            tracing::info!(segment = %p.segment, field = p.field, code = p.code, reason = %p.text, "HL7 message not applied");
            reject(census, Some(&msg), &text, p.ack_code(), &p).await;
            Some(ack(Some(&msg), p.ack_code(), Some(&p), &now, &id))
        }
        Err(Refusal::Unavailable(why)) => {
            stats.refuse("unavailable");
            tracing::warn!(reason = %why, "HL7 message not committed; no acknowledgement, the sender will resend");
            None
        }
    }
}

async fn reject<C: Census>(
    census: &C,
    msg: Option<&Message>,
    text: &str,
    code: AckCode,
    p: &Problem,
) {
    let get =
        |seg: &str, f: usize, c: usize| msg.and_then(|m| m.get(seg, f, c)).unwrap_or_default();
    let sender = [get("MSH", 3, 1), get("MSH", 4, 1)]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    let kind = match (get("MSH", 9, 1), get("MSH", 9, 2)) {
        (k, t) if t.is_empty() => k,
        (k, t) => format!("{k}^{t}"),
    };
    census
        .rejected(Rejection {
            sender,
            control_id: get("MSH", 10, 1),
            kind,
            code,
            problem: p.clone(),
            text: text.replace('\r', "\n"),
        })
        .await;
}
