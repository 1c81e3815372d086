//! Alerts out to the hospital's systems. Every destination follows the committed event log
//! (`events`) with its own cursor in the store, so what was committed and not yet taken is
//! sent after a restart, in commit order, and nothing is sent before it is committed:
//! - [`acm`]: alert managers (Vocera, Ascom, Spok, ...) receive each alert state change as an
//!   IHE PCD ACM ORU^R40 over MLLP (optionally TLS); the ACK is awaited; a connection problem is
//!   retried with backoff for as long as it lasts (the backlog waits, in order), AE and
//!   unreadable answers are retried three times and then parked with the reason, AR is parked
//!   at once; a manager unreachable for a minute raises a technical alert.
//! - [`webhook`]: subscriptions made through the API receive their events as signed JSON POSTs
//!   (HMAC-SHA256), retried with backoff; a subscription failing too long is paused and says
//!   why.
//!
//! What each destination is doing is on a [`Board`] the API serves.

pub mod acm;
pub mod report;
pub mod webhook;

use orderly_model::{OutEvent, Timestamp};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How one destination stands, for `GET /api/v1/integrations`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct DestinationStatus {
    /// `alert-manager:{name}` or `webhook:{id}`.
    pub destination: String,
    /// `alert_manager` or `webhook`.
    pub kind: String,
    /// Where it is: `host:port`, or the webhook's URL.
    pub address: String,
    /// Whether the last attempt reached it (connected and answered).
    pub reachable: bool,
    /// Since when it is unreachable, while it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<Timestamp>,
    /// What is wrong, in words, while something is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The last event it took (its cursor in the event log).
    pub cursor: u64,
    /// Messages it accepted, attempts that failed and were retried, and messages parked since
    /// Orderly started.
    pub delivered: u64,
    pub retried: u64,
    pub parked: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<Timestamp>,
    /// Paused (a webhook that kept failing, or paused by hand).
    pub paused: bool,
}

/// Every destination's status, shared with the API.
#[derive(Clone, Debug, Default)]
pub struct Board(Arc<RwLock<BTreeMap<String, DestinationStatus>>>);

impl Board {
    pub fn all(&self) -> Vec<DestinationStatus> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn get(&self, destination: &str) -> Option<DestinationStatus> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(destination)
            .cloned()
    }

    fn update(&self, destination: &str, f: impl FnOnce(&mut DestinationStatus)) {
        let mut m = self.0.write().unwrap_or_else(|e| e.into_inner());
        let s = m.entry(destination.to_string()).or_default();
        s.destination = destination.to_string();
        f(s);
    }

    fn remove(&self, destination: &str) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(destination);
    }
}

/// A destination has been unreachable too long (`problem`, a technical alert), or is reachable
/// again (`None`). The binary turns it into the world's `Command::Integration`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub destination: String,
    pub problem: Option<String>,
}

/// What every sender shares.
#[derive(Clone)]
pub struct Context {
    pub store: orderly_store::Store,
    /// The read model, for the patient, bed and device an alert is about.
    pub snapshot: tokio::sync::watch::Receiver<Arc<orderly_model::Snapshot>>,
    /// The last committed sequence number: a new commit wakes the senders.
    pub committed: tokio::sync::watch::Receiver<u64>,
    pub notices: tokio::sync::mpsc::Sender<Notice>,
    pub board: Board,
    pub clock: fn() -> Timestamp,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Context {
    /// Waits for a commit after `seen`, at most `max`; true when shutting down.
    async fn wait_for_commit(&mut self, seen: u64, max: Duration) -> bool {
        let mut committed = self.committed.clone();
        let wait = committed.wait_for(|c| *c > seen);
        tokio::select! {
            _ = tokio::time::timeout(max, wait) => false,
            _ = self.shutdown.changed() => true,
        }
    }

    /// Sleeps `d`; true when shutting down.
    async fn sleep(&mut self, d: Duration) -> bool {
        if *self.shutdown.borrow() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => false,
            _ = self.shutdown.changed() => true,
        }
    }
}

/// A destination's place in the committed event log. What it has examined is kept in memory
/// and moves past events of other kinds without a write; the store's cursor is written when it
/// takes an event, and now and then while only other kinds are committed (so a restart, and
/// the backlog the API counts, start near the end rather than at the last alert of hours ago).
struct Follow {
    dest: String,
    kinds: Vec<&'static str>,
    /// Every event up to here has been looked at.
    scanned: u64,
    /// What the store holds, and when it was written.
    saved: u64,
    saved_at: std::time::Instant,
}

impl Follow {
    /// Reads the destination's cursor (retrying while the database is away); None when
    /// shutting down.
    async fn start(ctx: &mut Context, dest: &str, kinds: Vec<&'static str>) -> Option<Follow> {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        let cursor = loop {
            match ctx.store.cursor(dest, (ctx.clock)()).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(destination = %dest, error = %e, "cannot read the destination's cursor; retrying");
                    if ctx.sleep(backoff.step()).await {
                        return None;
                    }
                }
            }
        };
        ctx.board.update(dest, |s| s.cursor = cursor);
        Some(Follow {
            dest: dest.to_string(),
            kinds,
            scanned: cursor,
            saved: cursor,
            saved_at: std::time::Instant::now(),
        })
    }

    /// The next events of its kinds (at most 200), oldest first; empty when there are none yet,
    /// and then everything committed so far counts as looked at. None when shutting down.
    async fn poll(&mut self, ctx: &mut Context) -> Option<Vec<OutEvent>> {
        loop {
            // Read before the query: every event up to `head` is committed and visible to it.
            let head = *ctx.committed.borrow();
            match ctx
                .store
                .events_of_kinds_after(self.scanned, &self.kinds, 200)
                .await
            {
                Ok(batch) => {
                    if batch.is_empty() && head > self.scanned {
                        self.scanned = head;
                        ctx.board.update(&self.dest, |s| s.cursor = head);
                        if self.saved_at.elapsed() >= Duration::from_secs(10) {
                            self.save(ctx, head).await;
                        }
                    }
                    return Some(batch);
                }
                Err(e) => {
                    tracing::warn!(destination = %self.dest, error = %e, "cannot read the event log; retrying");
                    if ctx.sleep(Duration::from_secs(1)).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Waits for a commit after what was looked at (at most `max`); true when shutting down.
    async fn wait(&self, ctx: &mut Context, max: Duration) -> bool {
        ctx.wait_for_commit(self.scanned, max).await
    }

    /// An event passed over (not one the destination wants).
    fn skip(&mut self, seq: u64) {
        self.scanned = self.scanned.max(seq);
    }

    /// The destination took (or parked) event `seq`: written before the next is sent (retried
    /// while the database is away). False when shutting down first.
    async fn took(&mut self, ctx: &mut Context, seq: u64) -> bool {
        self.skip(seq);
        ctx.board.update(&self.dest, |s| s.cursor = seq);
        loop {
            match ctx.store.advance(&self.dest, seq, (ctx.clock)()).await {
                Ok(()) => {
                    self.saved = seq;
                    self.saved_at = std::time::Instant::now();
                    return true;
                }
                Err(e) => {
                    tracing::warn!(destination = %self.dest, error = %e, "cannot record the cursor; retrying");
                    if ctx.sleep(Duration::from_secs(1)).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Writes what was looked at, best effort (a failure only means more to look at again).
    async fn save(&mut self, ctx: &Context, seq: u64) {
        if seq <= self.saved {
            return;
        }
        match ctx.store.advance(&self.dest, seq, (ctx.clock)()).await {
            Ok(()) => {
                self.saved = seq;
                self.saved_at = std::time::Instant::now();
            }
            Err(e) => {
                tracing::debug!(destination = %self.dest, error = %e, "cursor not recorded; later")
            }
        }
    }
}

/// Doubling backoff from `start` to `cap`.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    start: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    fn new(start: Duration, cap: Duration) -> Backoff {
        Backoff {
            start,
            cap,
            next: start,
        }
    }
    fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.cap);
        d
    }
    fn reset(&mut self) {
        self.next = self.start;
    }
}

/// Tracks how long a destination has been unreachable and says so once it is too long, and
/// once when it is back.
struct Reachability {
    destination: String,
    after: Duration,
    down_since: Option<(std::time::Instant, Timestamp)>,
    reported: bool,
}

impl Reachability {
    fn new(destination: &str, after: Duration) -> Reachability {
        Reachability {
            destination: destination.to_string(),
            after,
            down_since: None,
            reported: false,
        }
    }

    /// A failed attempt: `problem` once it has lasted `after`.
    async fn down(&mut self, ctx: &Context, why: &str, words: impl FnOnce(Duration) -> String) {
        let now = (ctx.clock)();
        let since = *self
            .down_since
            .get_or_insert((std::time::Instant::now(), now));
        ctx.board.update(&self.destination, |s| {
            s.reachable = false;
            s.unreachable_since = Some(since.1);
            s.problem = Some(why.to_string());
        });
        let lasted = since.0.elapsed();
        if !self.reported && lasted >= self.after {
            self.reported = true;
            tracing::error!(destination = %self.destination, seconds = lasted.as_secs(), reason = %why, "destination unreachable: technical alert raised");
            let _ = ctx
                .notices
                .send(Notice {
                    destination: self.destination.clone(),
                    problem: Some(words(lasted)),
                })
                .await;
        }
    }

    /// How long until a failure lasting since the first would be reported (None: reported, or
    /// not failing).
    fn until_report(&self) -> Option<Duration> {
        match (self.reported, self.down_since) {
            (false, Some((at, _))) => Some(self.after.saturating_sub(at.elapsed())),
            _ => None,
        }
    }

    /// A successful attempt.
    async fn up(&mut self, ctx: &Context) {
        ctx.board.update(&self.destination, |s| {
            s.reachable = true;
            s.unreachable_since = None;
            s.problem = None;
        });
        if self.down_since.take().is_some() && std::mem::take(&mut self.reported) {
            tracing::info!(destination = %self.destination, "destination reachable again");
            let _ = ctx
                .notices
                .send(Notice {
                    destination: self.destination.clone(),
                    problem: None,
                })
                .await;
        }
    }
}

/// The system's trusted CA certificates (for webhooks over HTTPS and alert managers over TLS
/// without a CA file of their own).
pub fn native_roots() -> Vec<rustls::pki_types::CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "a system CA certificate could not be read");
    }
    found.certs
}
