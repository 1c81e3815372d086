//! The live pipeline: readings from the MQTT edge go to the world thread in batches; the
//! world's events go to the committer, which commits them to the store and only then
//! broadcasts them to API streams, publishes alerts over MQTT, and acknowledges to the broker
//! the messages that caused them (a crash before the commit leaves them with the broker, which
//! delivers them again). The world publishes a new snapshot for API reads after each batch (at
//! most every 100 ms), so reads never stall ingest.

use orderly_model::{EventKind, OutEvent, Snapshot, Timestamp};
use orderly_mqtt::{Ack, MqttLink, Received};
use orderly_store::Store;
use orderly_world::{Applied, Command, Hospital, Refused};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Largest batch the world takes in one step.
const MAX_BATCH: usize = 5000;
/// The world steps at least this often, so timers fire without input.
const TICK: Duration = Duration::from_millis(250);
/// A world that has not stepped for this long was held up (it steps every TICK at least).
const HELD_UP: Duration = Duration::from_secs(3);
/// More messages than this waiting in the inbox is a backlog being caught up, not live data.
const BACKLOG: usize = 2000;
/// Events committed in one transaction at most (batches waiting are merged up to it).
const MAX_COMMIT: usize = 20_000;
/// Steps start at least this far apart while readings keep coming: under load, readings that
/// arrive one by one are taken a few at a time, since a step's fixed cost (the scans for
/// changed facts over every subject) would otherwise be paid per message. A reading waits at
/// most this long; one that arrives after a quiet spell does not wait.
const MIN_STEP_GAP: Duration = Duration::from_millis(2);
/// Steps start at least this far apart while a flood comes in (a step took
/// [`FLOOD_BATCH`] messages or more): the fixed cost of a step (0.3 ms at 25,000 tags) is then
/// shared by hundreds of messages rather than tens. A flood's readings wait up to this long;
/// at the live rates (a few messages a step) [`MIN_STEP_GAP`] holds.
const FLOOD_STEP_GAP: Duration = Duration::from_millis(10);
/// A step that took this many messages or more (25,000 a second at [`MIN_STEP_GAP`]) means a
/// flood.
const FLOOD_BATCH: usize = 50;
/// With nothing waiting, the world brings the views of items up to date at least this often
/// between snapshots, so a step that decides something (an alert) finds few to rebuild before
/// it is published.
const VIEWS_IDLE: Duration = Duration::from_millis(10);
/// A world step or a commit this slow is logged (it delays alerts by as much).
const SLOW: Duration = Duration::from_millis(50);

/// What the rest of the process asks of the world besides readings: a [`Command`], and where
/// to send what it did (none for a refused rule set, which nobody waits on).
pub struct WorldRequest {
    pub command: Command,
    pub reply: Option<oneshot::Sender<Result<Applied, Refused>>>,
}

fn apply(hospital: &mut Hospital, r: WorldRequest) {
    let done = hospital.apply(r.command);
    if let Some(reply) = r.reply {
        // The asker may have given up (a client that went away): nothing to do.
        let _ = reply.send(done);
    }
}

/// What one world step hands the committer: its events, and the acknowledgements of the
/// messages it took, sent to the broker once the events are committed.
#[derive(Default)]
pub struct Commit {
    pub events: Vec<OutEvent>,
    pub acks: Vec<Ack>,
}

/// Runs the world on its own thread until `inbound` closes or `shutdown` turns true.
#[allow(clippy::too_many_arguments)]
pub fn spawn_world(
    mut hospital: Hospital,
    mut inbound: mpsc::Receiver<Received>,
    mut control: mpsc::Receiver<WorldRequest>,
    to_commit: mpsc::Sender<Commit>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    mut shutdown: watch::Receiver<bool>,
    clock: fn() -> Timestamp,
    link: Option<MqttLink>,
    rt: tokio::runtime::Handle,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("world".into())
        .spawn(move || {
            rt.block_on(async move {
                let mut tick = tokio::time::interval(TICK);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut last_snapshot = Instant::now();
                let mut last_views = Instant::now();
                let mut last_step = Instant::now();
                let mut dirty = false;
                let mut gap = MIN_STEP_GAP;
                let take = |hospital: &mut Hospital, acks: &mut Vec<Ack>, m: Received| {
                    hospital.push(m.inbound);
                    acks.extend(m.ack);
                };
                loop {
                    let mut n = 0usize;
                    let mut acks = Vec::new();
                    tokio::select! {
                        m = inbound.recv() => match m {
                            Some(m) => { take(&mut hospital, &mut acks, m); n += 1; }
                            None => break,
                        },
                        Some(c) = control.recv() => apply(&mut hospital, c),
                        _ = tick.tick() => {}
                        _ = shutdown.changed() => break,
                    }
                    if n > 0 && let Some(wait) = gap.checked_sub(last_step.elapsed()) {
                        // The thread's own sleep, to the tens of microseconds: tokio's timers
                        // round up to the next millisecond. Nothing else runs on this thread.
                        std::thread::sleep(wait);
                    }
                    while n < MAX_BATCH {
                        match inbound.try_recv() {
                            Ok(m) => {
                                take(&mut hospital, &mut acks, m);
                                n += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    gap = if n >= FLOOD_BATCH { FLOOD_STEP_GAP } else { MIN_STEP_GAP };
                    // The feed is live while the broker link is up, no backlog waits and the
                    // world was not held up (a commit waiting on the database): otherwise a
                    // device's silence proves nothing (orderly_world::Feed).
                    let held_up = last_step.elapsed() >= HELD_UP;
                    last_step = Instant::now();
                    let live = link.as_ref().is_none_or(MqttLink::is_connected)
                        && inbound.len() < BACKLOG
                        && !held_up;
                    let now = clock();
                    hospital.set_feed_live(live, now);
                    let started = Instant::now();
                    let events = hospital.step(now);
                    let took = started.elapsed();
                    metrics::histogram!("orderly_world_step_seconds").record(took.as_secs_f64());
                    if took >= SLOW {
                        let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
                        for e in &events {
                            *kinds.entry(e.kind_name()).or_default() += 1;
                        }
                        tracing::warn!(ms = took.as_millis() as u64, messages = n, events = ?kinds, "slow world step");
                    }
                    metrics::counter!("orderly_ingest_messages_total").increment(n as u64);
                    metrics::gauge!("orderly_inbox_depth").set(inbound.len() as f64);
                    // Decisions a page reads back (alerts, suggestions, commands, work orders):
                    // not the stream of moves, which pages apply from the stream itself and
                    // which would otherwise cost a snapshot per step under load.
                    let emitted = events.iter().any(|e| {
                        let k = e.kind_name();
                        !k.starts_with("location.") && k != "asset.status_changed"
                    });
                    dirty |= n > 0 || !events.is_empty();
                    if let Some(last) = events.last() {
                        metrics::gauge!("orderly_emitted_seq").set(last.seq as f64);
                    }
                    // What the step decided is readable before it is on the stream (the stream
                    // follows the commit): a suggestion or an alert a page hears of is in the
                    // API's lists when the page asks. Readings alone, at most ten times a second.
                    if dirty
                        && (emitted || last_snapshot.elapsed() >= Duration::from_millis(100))
                    {
                        let s = hospital.snapshot();
                        metrics::gauge!("orderly_ingest_rejected").set(s.ingest.rejected as f64);
                        snapshot.send_replace(Arc::new(s));
                        last_snapshot = Instant::now();
                        last_views = last_snapshot;
                        dirty = false;
                    }
                    if (!events.is_empty() || !acks.is_empty())
                        && to_commit.send(Commit { events, acks }).await.is_err()
                    {
                        break;
                    }
                    if dirty && inbound.is_empty() && last_views.elapsed() >= VIEWS_IDLE {
                        hospital.refresh_views();
                        last_views = Instant::now();
                    }
                }
                // Whatever arrived before the end is still processed and committed.
                let mut acks = Vec::new();
                while let Ok(m) = inbound.try_recv() {
                    take(&mut hospital, &mut acks, m);
                }
                let events = hospital.step(clock());
                if !events.is_empty() || !acks.is_empty() {
                    let _ = to_commit.send(Commit { events, acks }).await;
                }
                snapshot.send_replace(Arc::new(hospital.snapshot()));
                tracing::info!("world stopped");
            })
        })
        .expect("spawning the world thread")
}

/// Commits each batch, then broadcasts it and publishes alerts. A failed commit is retried
/// until it succeeds: nothing is published before it is committed, and nothing is dropped.
/// Where the alerts published on MQTT have got to in the event log (`outbound_cursor`
/// [`MQTT_ALERTS`]): an owner that starts publishes the alerts after it first
/// ([`publish_alert_backlog`]), so an alert committed by an instance that died, stood down or
/// lost the broker before publishing it still reaches the stations (at least once: the same
/// event, the same sequence number).
#[derive(Default)]
struct MqttCursor {
    /// The batch being published has alerts.
    alerts: bool,
    /// An alert could not be queued: the cursor stays where it was for good (the next owner
    /// or restart publishes from there).
    broken: bool,
    last_write: Option<Instant>,
}

/// The `outbound_cursor` destination of the alerts Orderly publishes on MQTT.
pub const MQTT_ALERTS: &str = "mqtt:alerts";

impl MqttCursor {
    /// Records that everything up to `seq` was published: after a batch with alerts, else at
    /// most every 5 s (so the backlog after a restart is read from near the end).
    async fn advance(&mut self, store: &Store, seq: u64) {
        let due = self.alerts
            || self
                .last_write
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
        self.alerts = false;
        if self.broken || !due {
            return;
        }
        self.last_write = Some(Instant::now());
        if let Err(e) = store
            .advance(MQTT_ALERTS, seq, orderly_mqtt::client::wall_clock())
            .await
        {
            tracing::debug!(error = %e, "cannot record how far alerts are published on MQTT");
        }
    }
}

/// Publishes on MQTT the alerts committed after the cursor (an owner that died or stood down
/// may have committed some it never published), oldest first; then the cursor is at the end.
pub async fn publish_alert_backlog(store: &Store, link: &MqttLink) -> orderly_store::Result<usize> {
    let now = orderly_mqtt::client::wall_clock();
    let mut after = store.cursor(MQTT_ALERTS, now).await?;
    let mut published = 0;
    loop {
        let events = store.events_after(after, 1000).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            break;
        };
        for e in &events {
            if let Some(a) = e.kind.alert()
                && let Ok(payload) = serde_json::to_vec(e)
            {
                let topic = link
                    .topics
                    .alerts(a.unit.as_deref().unwrap_or("unassigned"));
                if link.publish(topic, payload).await.is_ok() {
                    published += 1;
                }
            }
        }
        after = last;
        store.advance(MQTT_ALERTS, after, now).await?;
    }
    Ok(published)
}

/// Says, once, why this instance lost its site (the first reason stands).
pub(crate) fn mark_lost(lost: &watch::Sender<Option<String>>, why: &dyn std::fmt::Display) {
    lost.send_if_modified(|l| {
        let first = l.is_none();
        if first {
            *l = Some(why.to_string());
        }
        first
    });
}

pub async fn run_committer(
    store: Store,
    mut batches: mpsc::Receiver<Commit>,
    live: broadcast::Sender<Arc<OutEvent>>,
    mqtt: Option<MqttLink>,
    store_ok: Arc<std::sync::atomic::AtomicBool>,
    committed: watch::Sender<u64>,
    lost: watch::Sender<Option<String>>,
) {
    use std::sync::atomic::Ordering;
    let mut mqtt_cursor = MqttCursor::default();
    while let Some(Commit {
        events: mut batch,
        mut acks,
    }) = batches.recv().await
    {
        // Whatever else waits goes into the same transaction: under load one commit (and
        // one round of acknowledgements) serves many world steps.
        while batch.len() < MAX_COMMIT {
            match batches.try_recv() {
                Ok(more) => {
                    batch.extend(more.events);
                    acks.extend(more.acks);
                }
                Err(_) => break,
            }
        }
        let mut backoff = Duration::from_millis(100);
        if lost.borrow().is_some() {
            // The site is lost: nothing more is committed or acknowledged here.
            continue;
        }
        if batch.is_empty() && !acks.is_empty() {
            match store.check_lease().await {
                Ok(()) => {}
                Err(e @ orderly_store::StoreError::Fenced { .. }) => {
                    tracing::warn!(error = %e, "messages left unacknowledged: the site's lease is lost");
                    mark_lost(&lost, &e);
                    acks.clear();
                }
                // The database away: as without a lease (an owner that cannot reach the
                // database stands down when its lease runs out).
                Err(e) => tracing::debug!(error = %e, "cannot check the site's lease"),
            }
        }
        while !batch.is_empty() {
            let started = Instant::now();
            let result = store.commit(&batch).await;
            let took = started.elapsed();
            metrics::histogram!("orderly_commit_seconds").record(took.as_secs_f64());
            if took >= SLOW {
                tracing::warn!(
                    ms = took.as_millis() as u64,
                    events = batch.len(),
                    "slow commit"
                );
            }
            match result {
                Ok(()) => {
                    store_ok.store(true, Ordering::Relaxed);
                    if let Some(last) = batch.last() {
                        metrics::gauge!("orderly_committed_seq").set(last.seq as f64);
                        committed.send_replace(last.seq);
                    }
                    break;
                }
                Err(e @ orderly_store::StoreError::Fenced { .. }) => {
                    // Another instance owns the site now: what this one made of the
                    // messages is dropped uncommitted and unacknowledged, so the broker
                    // gives them to the new owner.
                    tracing::warn!(error = %e, events = batch.len(), "commit refused: the site's lease is lost");
                    mark_lost(&lost, &e);
                    batch.clear();
                    acks.clear();
                }
                Err(e) => {
                    store_ok.store(false, Ordering::Relaxed);
                    tracing::error!(error = %e, events = batch.len(), "cannot commit events; retrying");
                    let mut standing_down = lost.subscribe();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = standing_down.wait_for(|l| l.is_some()) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    if lost.borrow().is_some() {
                        // Standing down: another instance will own the site; the broker
                        // gives it these messages, unacknowledged here.
                        batch.clear();
                        acks.clear();
                    }
                }
            }
        }
        let last_seq = batch.last().map(|e| e.seq).filter(|_| mqtt.is_some());
        for e in batch {
            metrics::counter!("orderly_events_total", "kind" => e.kind_name()).increment(1);
            let e = Arc::new(e);
            // A bed command goes to its bed once committed (the device contract's payload).
            if let (
                Some(link),
                EventKind::BedCommand {
                    command_id,
                    device,
                    set,
                    reason,
                    ..
                },
            ) = (&mqtt, &e.kind)
            {
                let payload = serde_json::json!({
                    "command_id": command_id, "ts": e.at, "set": set, "reason": reason,
                });
                if let Err(err) = link.try_publish(
                    link.topics.bed_command(device),
                    payload.to_string().into_bytes(),
                ) {
                    tracing::warn!(error = %err, command = %command_id, "cannot queue the bed command for MQTT; it times out and is reported");
                }
            }
            if let (Some(link), Some(a)) = (&mqtt, e.kind.alert()) {
                let topic = link
                    .topics
                    .alerts(a.unit.as_deref().unwrap_or("unassigned"));
                match serde_json::to_vec(&*e) {
                    Ok(payload) => {
                        if let Err(err) = link.try_publish(topic, payload) {
                            tracing::warn!(error = %err, alert = %a.id, "cannot queue the alert for MQTT; it is committed and on the API stream, and published again by the next owner of the site");
                            mqtt_cursor.broken = true;
                        }
                    }
                    Err(err) => tracing::error!(error = %err, "cannot serialise an alert"),
                }
                mqtt_cursor.alerts = true;
            }
            // No live subscriber is fine: the event is committed and can be caught up.
            let _ = live.send(e);
        }
        if let Some(last) = last_seq {
            mqtt_cursor.advance(&store, last).await;
        }
        // What these messages caused is committed: the broker may forget them.
        if let Some(link) = &mqtt {
            for a in acks {
                link.ack(a).await;
            }
        }
    }
}
