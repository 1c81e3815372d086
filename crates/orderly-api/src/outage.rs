//! The API while the database is away: who a token belongs to comes from a cache of recent
//! answers, so live reads and the pages keep working; audit records wait in memory and are
//! written, in order, once the database is back; changes are refused at once (503) instead of
//! hanging; `/readyz` answers at once and says what is degraded.

use orderly_store::{AuditEntry, Principal, Store};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a token's answer is trusted without asking the database again: a revoked token
/// stops working within this time.
pub const TOKEN_FRESH: Duration = Duration::from_secs(30);
/// How long one database call of a request may take before the database counts as away.
pub const DB_TIMEOUT: Duration = Duration::from_secs(2);
/// Audit records kept in memory while the database is away; beyond it, audited reads are
/// refused (503) rather than left unaudited.
pub const MAX_PENDING_AUDIT: usize = 50_000;
/// Tokens remembered at most (made-up secrets must not grow memory).
const MAX_TOKENS: usize = 10_000;

/// The database's last answer for a token (the caller, or none: not valid) and when.
type Answer = (Option<Principal>, Instant);

/// What the API knows of the database's health, shared with the committer.
#[derive(Clone)]
pub struct Database {
    up: Arc<AtomicBool>,
    /// How long a token's answer stands without asking ([`TOKEN_FRESH`]).
    fresh: Duration,
    tokens: Arc<Mutex<HashMap<String, Answer>>>,
    pending: Arc<Mutex<VecDeque<AuditEntry>>>,
    /// One writer of the waiting records at a time (each is written once, in order).
    flushing: Arc<tokio::sync::Mutex<()>>,
}

impl Database {
    /// `up` is also set by whoever commits events (the last observation wins).
    pub fn new(up: Arc<AtomicBool>) -> Self {
        Database {
            up,
            fresh: TOKEN_FRESH,
            tokens: Arc::default(),
            pending: Arc::default(),
            flushing: Arc::default(),
        }
    }

    /// The same, with token answers trusted for `fresh` (tests: zero, to ask every time).
    pub fn with_token_freshness(mut self, fresh: Duration) -> Self {
        self.fresh = fresh;
        self
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// Audit records waiting for the database.
    pub fn pending_audit(&self) -> usize {
        self.pending.lock().map_or(0, |p| p.len())
    }

    /// The caller `secret` belongs to if the database said so within the freshness time.
    pub fn known_valid(&self, secret: &str) -> Option<Principal> {
        let t = self.tokens.lock().ok()?;
        let (p, at) = t.get(secret)?;
        (at.elapsed() < self.fresh).then(|| p.clone()).flatten()
    }

    /// Who `secret` belongs to. A fresh answer (valid or not) comes from the cache; else the
    /// database is asked; when it cannot answer, the last answer it gave stands (nobody can
    /// revoke a token while the database is away: revoking writes to it).
    pub async fn principal(
        &self,
        store: &Store,
        secret: &str,
        now: orderly_model::Timestamp,
    ) -> Result<Option<Principal>, String> {
        let cached = self.tokens.lock().ok().and_then(|t| t.get(secret).cloned());
        if let Some((p, at)) = &cached
            && at.elapsed() < self.fresh
        {
            return Ok(p.clone());
        }
        match tokio::time::timeout(DB_TIMEOUT, store.principal(secret, now)).await {
            Ok(Ok(p)) => {
                self.set_up(true);
                if let Ok(mut t) = self.tokens.lock() {
                    if t.len() >= MAX_TOKENS {
                        t.clear();
                    }
                    t.insert(secret.to_string(), (p.clone(), Instant::now()));
                }
                Ok(p)
            }
            Ok(Err(e)) => self.unreachable(cached, e.to_string()),
            Err(_) => self.unreachable(cached, format!("no answer in {} s", DB_TIMEOUT.as_secs())),
        }
    }

    fn unreachable(
        &self,
        cached: Option<Answer>,
        why: String,
    ) -> Result<Option<Principal>, String> {
        self.set_up(false);
        match cached {
            Some((p, _)) => {
                tracing::debug!(reason = %why, "database away: the token's last answer stands");
                Ok(p)
            }
            None => Err(format!(
                "the database is unreachable ({why}) and this token has not been seen since Orderly started; try again when it is back"
            )),
        }
    }

    /// Writes an audit record, after any that wait. While the database is away the record
    /// waits in memory (in order); it is refused only when too many wait.
    pub async fn audit(&self, store: &Store, entry: AuditEntry) -> Result<(), String> {
        {
            let mut p = self
                .pending
                .lock()
                .map_err(|_| "audit queue poisoned".to_string())?;
            if p.len() >= MAX_PENDING_AUDIT {
                return Err(format!(
                    "the database is unreachable and {MAX_PENDING_AUDIT} audit records wait for it: refused rather than unaudited"
                ));
            }
            p.push_back(entry);
        }
        self.flush(store).await;
        Ok(())
    }

    /// Writes what waits, oldest first, until the database fails.
    pub async fn flush(&self, store: &Store) {
        let _one = self.flushing.lock().await;
        loop {
            let next = self.pending.lock().ok().and_then(|p| p.front().cloned());
            let Some(e) = next else { return };
            match tokio::time::timeout(DB_TIMEOUT, store.audit(&e)).await {
                Ok(Ok(())) => {
                    self.set_up(true);
                    if let Ok(mut p) = self.pending.lock() {
                        p.pop_front();
                    }
                }
                _ => {
                    self.set_up(false);
                    return;
                }
            }
        }
    }
}

impl Database {
    /// Whether the database answers now (within a second); remembered.
    pub async fn check(&self, store: &Store) -> Result<(), String> {
        let r = match tokio::time::timeout(Duration::from_secs(1), store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer in 1 s".to_string()),
        };
        self.set_up(r.is_ok());
        r
    }

    /// Writes waiting audit records every few seconds until `stop` turns true.
    pub async fn run_flusher(self, store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = stop.wait_for(|v| *v) => break,
            }
            if self.pending_audit() > 0 {
                self.flush(&store).await;
            }
        }
        self.flush(&store).await;
    }
}
