//! Webhooks: each subscription (made through the API, kept in the store) follows the event log
//! with its own cursor and receives the events it asked for as JSON POSTs:
//! - body: the event as the live stream carries it (`seq`, `at`, `kind`, ...);
//! - `Orderly-Delivery`: `{subscription}-{seq}`, the same on every attempt (drop repeats);
//! - `Orderly-Event`: the event's kind; `Orderly-Timestamp`: Unix seconds of this attempt;
//! - `Orderly-Signature`: `v1=` and the hex HMAC-SHA256, keyed with the subscription's secret,
//!   of `{timestamp}.{body}` (check it, and reject timestamps more than 5 minutes old).
//!
//! A 2xx answer delivers; anything else (another status, a timeout, a reset) is retried with
//! backoff, in order. A subscription whose event has failed for [`Settings::pause_after`] (and
//! at least 5 attempts) is paused, says why, and raises a technical alert; resuming it through
//! the API carries on from that event. Every attempt is in the delivery log.

use crate::{Backoff, Context, Follow, Reachability};
use hmac::{Hmac, Mac};
use orderly_model::OutEvent;
use orderly_store::{Delivery, Webhook};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How deliveries are made.
#[derive(Clone, Debug)]
pub struct Settings {
    /// One attempt may take this long (a slower endpoint counts as failed, and is retried).
    pub timeout: Duration,
    /// The first wait after a failure (doubling to 60 s).
    pub retry_after: Duration,
    /// An event failing this long (and at least 5 attempts) pauses its subscription.
    pub pause_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(10),
            retry_after: Duration::from_millis(500),
            pause_after: Duration::from_secs(600),
        }
    }
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    format!(
        "v1={}",
        hmac_hex(secret.as_bytes(), &[ts.as_bytes(), b".", body])
    )
}

/// HMAC-SHA256 of the concatenated `parts`, in lowercase hex.
fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new(); // HMAC takes keys of any length: not reached
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs until shutdown: a delivery task per active subscription, started and stopped as
/// subscriptions are made, paused, resumed and deleted (looked at every 2 s).
pub async fn supervise(settings: Settings, mut ctx: Context) {
    let agent = agent(&settings);
    let mut running: BTreeMap<String, tokio::task::JoinHandle<()>> = BTreeMap::new();
    loop {
        match ctx.store.webhooks().await {
            Ok(list) => {
                let active: BTreeMap<String, Webhook> = list
                    .iter()
                    .filter(|w| w.paused.is_none())
                    .map(|w| (w.id.clone(), w.clone()))
                    .collect();
                for w in &list {
                    let dest = w.destination();
                    ctx.board.update(&dest, |s| {
                        s.kind = "webhook".into();
                        s.address = w.url.clone();
                        s.paused = w.paused.is_some();
                        if let Some(r) = &w.paused_reason {
                            s.problem = Some(r.clone());
                        }
                    });
                }
                running.retain(|id, task| {
                    let keep = active.contains_key(id) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                let known: Vec<String> = list.iter().map(|w| w.destination()).collect();
                for s in ctx.board.all() {
                    if s.kind == "webhook" && !known.contains(&s.destination) {
                        ctx.board.remove(&s.destination);
                    }
                }
                for (id, w) in active {
                    running.entry(id).or_insert_with(|| {
                        tokio::spawn(deliver_all(w, settings.clone(), agent.clone(), ctx.clone()))
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the webhook subscriptions"),
        }
        // Subscriptions change through the API: looked at every 2 s (a new one's cursor is
        // set when it is made, so nothing committed after that is missed).
        if ctx.sleep(Duration::from_secs(2)).await {
            for (_, t) in running {
                t.abort();
            }
            return;
        }
    }
}

fn agent(settings: &Settings) -> ureq::Agent {
    let roots: Vec<ureq::tls::Certificate<'static>> = crate::native_roots()
        .into_iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
        .unversioned_rustls_crypto_provider(provider)
        .build();
    ureq::Agent::config_builder()
        .timeout_global(Some(settings.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(tls)
        .build()
        .new_agent()
}

/// One subscription's deliveries, in order, until it is paused, deleted or Orderly stops.
async fn deliver_all(w: Webhook, settings: Settings, agent: ureq::Agent, mut ctx: Context) {
    let dest = w.destination();
    // For the board only: a failing subscription raises its alert when it is paused.
    let mut reach = Reachability::new(&dest, Duration::MAX);
    let mut said_up = false;
    // The SQL filters by kind; the units by `wants`. The kinds live as long as the task.
    let kinds: Vec<&'static str> = orderly_model::EventKind::NAMES
        .iter()
        .copied()
        .filter(|k| w.kinds.iter().any(|x| x == k))
        .collect();
    let Some(mut log) = Follow::start(&mut ctx, &dest, kinds).await else {
        return;
    };
    loop {
        let Some(batch) = log.poll(&mut ctx).await else {
            return;
        };
        if batch.is_empty() {
            if log.wait(&mut ctx, Duration::from_secs(5)).await {
                return;
            }
            continue;
        }
        // Deleted or paused since the supervisor started this task: stop before sending more
        // (read after the commit that woke us, so a change made before it is seen).
        match ctx.store.webhook(&w.id).await {
            Ok(Some(now)) if now.paused.is_none() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(destination = %dest, error = %e, "cannot read the subscription");
                if ctx.sleep(Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        }
        for e in batch {
            if !w.wants(&e) {
                log.skip(e.seq);
                continue;
            }
            match deliver(&w, &settings, &agent, &mut ctx, &mut reach, &e).await {
                Done::Delivered => {}
                Done::Stop => return,
            }
            if !std::mem::replace(&mut said_up, true) {
                // Delivering (again, after a resume): its technical alert, if any, resolves.
                let _ = ctx
                    .notices
                    .send(crate::Notice {
                        destination: dest.clone(),
                        problem: None,
                    })
                    .await;
            }
            if !log.took(&mut ctx, e.seq).await {
                return;
            }
        }
    }
}

enum Done {
    Delivered,
    /// Paused, deleted or shutting down: the event stays after the cursor.
    Stop,
}

async fn deliver(
    w: &Webhook,
    settings: &Settings,
    agent: &ureq::Agent,
    ctx: &mut Context,
    reach: &mut Reachability,
    e: &OutEvent,
) -> Done {
    let dest = w.destination();
    let body = match serde_json::to_vec(e) {
        Ok(b) => b,
        Err(err) => {
            tracing::error!(error = %err, "an event could not be written as JSON");
            return Done::Delivered;
        }
    };
    let id = format!("{}-{}", w.id, e.seq);
    let mut backoff = Backoff::new(settings.retry_after, Duration::from_secs(60));
    let first = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let now = (ctx.clock)();
        let ts = now.millis().div_euclid(1000);
        let sig = signature(&w.secret, ts, &body);
        let (agent2, url, body2, kind) = (
            agent.clone(),
            w.url.clone(),
            body.clone(),
            e.kind_name().to_string(),
        );
        let id2 = id.clone();
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            agent2
                .post(&url)
                .header("Content-Type", "application/json")
                .header("User-Agent", "Orderly")
                .header("Orderly-Delivery", &id2)
                .header("Orderly-Event", &kind)
                .header("Orderly-Timestamp", &ts.to_string())
                .header("Orderly-Signature", &sig)
                .send(&body2[..])
                .map(|r| r.status().as_u16())
        })
        .await;
        let took = started.elapsed().as_millis() as u64;
        let (status, detail) = match result {
            Ok(Ok(s)) if (200..300).contains(&s) => (Some(s), String::new()),
            Ok(Ok(s)) => (Some(s), format!("the endpoint answered HTTP {s}")),
            Ok(Err(err)) => (None, describe(&err, settings)),
            Err(err) => (None, format!("the delivery task failed: {err}")),
        };
        let delivered = detail.is_empty();
        let failing_for = first.elapsed();
        let pause = !delivered && attempt >= 5 && failing_for >= settings.pause_after;
        let record = Delivery {
            id: id.clone(),
            seq: e.seq,
            kind: e.kind_name().to_string(),
            attempt,
            at: now,
            outcome: if delivered {
                "delivered"
            } else if pause {
                "paused"
            } else {
                "failed"
            }
            .into(),
            status,
            detail: detail.clone(),
            took_ms: took,
        };
        if let Err(err) = ctx.store.record_delivery(&w.id, &record).await {
            tracing::warn!(destination = %dest, error = %err, "cannot record a delivery attempt");
        }
        if delivered {
            reach.up(ctx).await;
            ctx.board.update(&dest, |s| {
                s.delivered += 1;
                s.last_delivered_at = Some(now);
            });
            metrics::counter!("orderly_webhook_delivered_total").increment(1);
            return Done::Delivered;
        }
        ctx.board.update(&dest, |s| s.retried += 1);
        tracing::warn!(destination = %dest, seq = e.seq, attempt, reason = %detail, "webhook delivery failed");
        if pause {
            let why = format!(
                "paused: event {} ({}) failed {attempt} times over {} s; last: {detail}. Fix the endpoint, then resume the subscription; nothing after it was lost.",
                e.seq,
                e.kind_name(),
                failing_for.as_secs()
            );
            if let Err(err) = ctx.store.pause_webhook(&w.id, Some(&why), now).await {
                tracing::warn!(destination = %dest, error = %err, "cannot pause the subscription");
            }
            ctx.board.update(&dest, |s| {
                s.paused = true;
                s.problem = Some(why.clone());
            });
            let _ = ctx
                .notices
                .send(crate::Notice {
                    destination: dest.clone(),
                    problem: Some(format!("Webhook {} to {}: {why}", w.id, w.url)),
                })
                .await;
            return Done::Stop;
        }
        reach.down(ctx, &detail, |_| String::new()).await;
        if ctx.sleep(backoff.step()).await {
            return Done::Stop;
        }
    }
}

fn describe(err: &ureq::Error, settings: &Settings) -> String {
    match err {
        ureq::Error::Timeout(_) => format!(
            "no answer within {} s",
            settings.timeout.as_secs_f32().round()
        ),
        ureq::Error::Io(e) => format!("the connection failed: {e}"),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2, and the signature is over `{timestamp}.{body}`.
    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        assert_eq!(
            hmac_hex(b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            signature("k", 1_700_000_000, b"{}"),
            format!("v1={}", hmac_hex(b"k", &[b"1700000000.{}"]))
        );
    }
}
