//! The Alert Reporter: one task per configured alert manager, following the event log.

use crate::report::{acm_kinds, alert_report};
use crate::{Backoff, Context, Follow, Reachability};
use orderly_hl7::acm::{Parties, read_answer, report};
use orderly_hl7::mllp::{Decoder, frame};
use orderly_hl7::{AckCode, Message};
use orderly_model::OutEvent;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// One alert manager.
#[derive(Clone)]
pub struct Manager {
    /// Its name in Orderly (the destination is `alert-manager:{name}`).
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// TLS: the connector and the name its certificate must carry.
    pub tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// Who Orderly is (MSH-3/4) and who the manager is (MSH-5/6).
    pub parties: Parties,
    /// How long an answer may take before the connection counts as broken.
    pub ack_timeout: Duration,
    /// Unreachable this long: a technical alert.
    pub unreachable_after: Duration,
    /// AE or unreadable answers to one message before it is parked.
    pub max_errors: u32,
    /// The first wait after a failure (it doubles, up to 10 s).
    pub retry_after: Duration,
}

impl Manager {
    pub fn destination(&self) -> String {
        format!("alert-manager:{}", self.name)
    }
}

/// TLS to an alert manager whose certificate names `server_name`, trusting `ca` (PEM) or the
/// system's CAs.
pub fn tls(
    ca: Option<&std::path::Path>,
    server_name: &str,
) -> Result<
    (
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    ),
    String,
> {
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
        .map_err(|e| format!("server name {server_name:?}: {e}"))?;
    Ok((tls_connector(ca)?, name))
}

/// A TLS connector trusting `ca` (PEM), or the system's CAs.
pub fn tls_connector(ca: Option<&std::path::Path>) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let bytes =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for c in CertificateDer::pem_slice_iter(&bytes) {
                let c =
                    c.map_err(|e| format!("{} holds no PEM certificate: {e}", path.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        None => {
            for c in crate::native_roots() {
                let _ = roots.add(c);
            }
        }
    }
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What became of one message.
enum Outcome {
    Delivered,
    Parked,
    Stopping,
}

/// Runs until shutdown: every alert state change committed after this manager's cursor goes
/// to it, in order, once it acknowledges the one before.
pub async fn run(m: Manager, mut ctx: Context) {
    let dest = m.destination();
    ctx.board.update(&dest, |s| {
        s.kind = "alert_manager".into();
        s.address = m.address.clone();
    });
    let mut reach = Reachability::new(&dest, m.unreachable_after);
    let mut backoff = Backoff::new(m.retry_after, Duration::from_secs(10));
    let Some(mut log) = Follow::start(&mut ctx, &dest, acm_kinds()).await else {
        return;
    };
    tracing::info!(destination = %dest, address = %m.address, cursor = log.scanned, "alert manager sender started");
    let mut conn: Option<Box<dyn Io>> = None;
    loop {
        let Some(batch) = log.poll(&mut ctx).await else {
            return;
        };
        if batch.is_empty() {
            // Idle: keep a connection open, so a manager that went away is noticed (and
            // reported) before the next alert needs it.
            if conn.is_none() {
                match connect(&m).await {
                    Ok(c) => {
                        conn = Some(c);
                        reach.up(&ctx).await;
                    }
                    Err(why) => {
                        let words = unreachable_words(&m, &why);
                        reach.down(&ctx, &why, words).await;
                    }
                }
            }
            let wait = match (&conn, reach.until_report()) {
                (None, Some(left)) => left.max(Duration::from_millis(50)),
                (None, None) => Duration::from_secs(5),
                (Some(_), _) => Duration::from_secs(30),
            };
            if let Some(c) = conn.as_mut() {
                // A manager that closes the connection while idle is noticed at once.
                let mut probe = [0u8; 1];
                tokio::select! {
                    r = c.read(&mut probe) => {
                        if matches!(r, Ok(0) | Err(_)) {
                            conn = None;
                        }
                    }
                    stop = log.wait(&mut ctx, wait) => if stop { return },
                }
            } else if log.wait(&mut ctx, wait).await {
                return;
            }
            continue;
        }
        for e in batch {
            match deliver(&m, &mut ctx, &mut conn, &mut reach, &mut backoff, &e).await {
                Outcome::Stopping => return,
                Outcome::Delivered | Outcome::Parked => {}
            }
            if !log.took(&mut ctx, e.seq).await {
                return;
            }
        }
    }
}

fn unreachable_words(m: &Manager, why: &str) -> impl FnOnce(Duration) -> String {
    let (name, address, why) = (m.name.clone(), m.address.clone(), why.to_string());
    move |lasted| {
        format!(
            "Alert manager {name} at {address} has not been reachable for {} s ({why}): phones and pagers are not receiving Orderly's alerts; stations still show them. The backlog is sent, in order, as soon as it answers.",
            lasted.as_secs()
        )
    }
}

async fn connect(m: &Manager) -> Result<Box<dyn Io>, String> {
    let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&m.address))
        .await
        .map_err(|_| format!("no answer from {} within 5 s", m.address))?
        .map_err(|e| format!("cannot connect to {}: {e}", m.address))?;
    let _ = tcp.set_nodelay(true);
    match &m.tls {
        None => Ok(Box::new(tcp)),
        Some((connector, name)) => {
            let tls =
                tokio::time::timeout(Duration::from_secs(5), connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| format!("no TLS handshake with {} within 5 s", m.address))?
                    .map_err(|e| format!("TLS with {} failed: {e}", m.address))?;
            Ok(Box::new(tls))
        }
    }
}

/// Reads one MLLP frame, or says why not.
async fn read_frame(c: &mut Box<dyn Io>, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut dec = Decoder::new(1 << 20);
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = tokio::time::timeout_at(deadline, c.read(&mut buf))
            .await
            .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
            .map_err(|e| format!("the connection failed: {e}"))?;
        if n == 0 {
            return Err("the alert manager closed the connection without answering".into());
        }
        let frames = dec
            .push(&buf[..n])
            .map_err(|e| format!("the answer is not MLLP: {e}"))?;
        if let Some(f) = frames.into_iter().next() {
            return Ok(f);
        }
        if dec.junk > 4096 {
            return Err("the answer is not MLLP (bytes outside any frame)".into());
        }
    }
}

/// Sends one event until the manager takes it, or it is parked.
async fn deliver(
    m: &Manager,
    ctx: &mut Context,
    conn: &mut Option<Box<dyn Io>>,
    reach: &mut Reachability,
    backoff: &mut Backoff,
    e: &OutEvent,
) -> Outcome {
    let dest = m.destination();
    let snap = ctx.snapshot.borrow().clone();
    let Some(r) = alert_report(e, &snap) else {
        return Outcome::Delivered;
    };
    // The same control id every time this state change is sent: a manager can drop a repeat.
    let control_id = format!("{}-{}", m.parties.sending_application, e.seq);
    let mut errors = 0u32;
    loop {
        if *ctx.shutdown.borrow() {
            return Outcome::Stopping;
        }
        let now = orderly_hl7::time_of((ctx.clock)());
        let text = report(&r, &m.parties, &now, &control_id);
        if conn.is_none() {
            match connect(m).await {
                Ok(c) => *conn = Some(c),
                Err(why) => {
                    let words = unreachable_words(m, &why);
                    reach.down(ctx, &why, words).await;
                    ctx.board.update(&dest, |s| s.retried += 1);
                    let wait = match reach.until_report() {
                        Some(left) => backoff.step().min(left.max(Duration::from_millis(50))),
                        None => backoff.step(),
                    };
                    if ctx.sleep(wait).await {
                        return Outcome::Stopping;
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let sent = std::time::Instant::now();
        let answer = match c.write_all(&frame(text.as_bytes())).await {
            Err(err) => Err(format!("the connection failed: {err}")),
            Ok(()) => read_frame(c, m.ack_timeout).await,
        };
        let bytes = match answer {
            Ok(b) => b,
            Err(why) => {
                // A connection problem: the message waits (never parked), in order.
                *conn = None;
                tracing::warn!(destination = %dest, seq = e.seq, reason = %why, "alert manager: no acknowledgement; retrying");
                let words = unreachable_words(m, &why);
                reach.down(ctx, &why, words).await;
                ctx.board.update(&dest, |s| s.retried += 1);
                if ctx.sleep(backoff.step()).await {
                    return Outcome::Stopping;
                }
                continue;
            }
        };
        reach.up(ctx).await;
        let text = orderly_hl7::message::decode(&bytes);
        let verdict = match Message::parse(&text) {
            Err(err) => Err(format!("unreadable answer: {err}")),
            Ok(msg) => match read_answer(&msg) {
                Err(p) => Err(format!("unreadable answer: {}", p.text)),
                Ok(a) if a.acknowledges != control_id => Err(format!(
                    "the answer acknowledges {:?}, not {control_id:?}",
                    a.acknowledges
                )),
                Ok(a) => Ok(a),
            },
        };
        let (park_now, why) = match verdict {
            Ok(a) if a.code == AckCode::Aa => {
                backoff.reset();
                let now = (ctx.clock)();
                ctx.board.update(&dest, |s| {
                    s.delivered += 1;
                    s.last_delivered_at = Some(now);
                });
                metrics::counter!("orderly_acm_sent_total", "destination" => dest.clone())
                    .increment(1);
                tracing::debug!(destination = %dest, seq = e.seq, kind = e.kind_name(), alert = %r.alert_id, ms = sent.elapsed().as_millis() as u64, "alert manager acknowledged");
                return Outcome::Delivered;
            }
            Ok(a) if a.code == AckCode::Ar => (
                true,
                format!("rejected (AR): {}", nonempty(&a.text, "no reason given")),
            ),
            Ok(a) => (
                false,
                format!("error (AE): {}", nonempty(&a.text, "no reason given")),
            ),
            Err(why) => {
                // Out of step with the manager: start a fresh connection.
                *conn = None;
                (false, why)
            }
        };
        errors += 1;
        if park_now || errors >= m.max_errors {
            let why = format!("{why} (after {errors} attempt(s))");
            tracing::error!(destination = %dest, seq = e.seq, alert = %r.alert_id, reason = %why, "alert manager refused a message: parked");
            loop {
                match ctx.store.park(&dest, e.seq, &why, (ctx.clock)()).await {
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot park the message; retrying");
                        if ctx.sleep(Duration::from_secs(1)).await {
                            return Outcome::Stopping;
                        }
                    }
                }
            }
            ctx.board.update(&dest, |s| s.parked += 1);
            metrics::counter!("orderly_acm_parked_total", "destination" => dest.clone())
                .increment(1);
            return Outcome::Parked;
        }
        tracing::warn!(destination = %dest, seq = e.seq, reason = %why, attempt = errors, "alert manager did not accept the message; retrying");
        ctx.board.update(&dest, |s| s.retried += 1);
        if ctx.sleep(backoff.step()).await {
            return Outcome::Stopping;
        }
    }
}

fn nonempty<'a>(s: &'a str, or: &'a str) -> &'a str {
    if s.trim().is_empty() { or } else { s }
}
