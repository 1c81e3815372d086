//! `orderly run` and `orderly demo`: start everything, serve until Ctrl-C or SIGTERM, then stop
//! in order (API, MQTT, world, committer) so that what was received is committed.

use crate::config::{DemoArgs, RunArgs, Settings};
use crate::pipeline::{run_committer, spawn_world};
use anyhow::{Context, Result};
use orderly_api::ApiState;
use orderly_floorplan::Floorplan;
use orderly_model::{Role, Seed};
use orderly_mqtt::client::wall_clock;
use orderly_mqtt::{EmbeddedBroker, MqttConfig, MqttLink, Topics};
use orderly_store::{Acquired, Fence, Store};
use orderly_world::Hospital;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

/// Prints a line for the operator; a closed standard output is no reason to stop serving.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

pub async fn run(args: RunArgs) -> Result<()> {
    let settings = args.resolve()?;
    if settings.sites.is_empty() {
        let (fp, seed, text) = crate::files::site_with_seed_text(
            settings.floorplan.as_deref(),
            settings.seed.as_deref(),
        )?;
        let rules = crate::rules::load(settings.rules.as_deref(), &fp, &seed)?;
        let parts = SiteParts::of(settings, fp, &seed, text, rules)?;
        // Not held while serving: each start of the site parses the text again.
        drop(seed);
        return serve(vec![parts]).await;
    }
    // Several sites: each with its own files, addresses and database (or schema); every
    // instance given the same sites shares them out with the others.
    let mut parts = Vec::new();
    let mut files = std::collections::BTreeMap::new();
    for site in &settings.sites {
        let (fp, seed, text) = crate::files::site_with_seed_text(
            Some(site.floorplan.as_path()),
            Some(site.seed.as_path()),
        )?;
        if let Some(before) = files.insert(fp.site.id.clone(), site.floorplan.clone()) {
            anyhow::bail!(
                "{} and {} are both site {:?}: give each [[site]] a floorplan of its own site (its [site] id)",
                before.display(),
                site.floorplan.display(),
                fp.site.id
            );
        }
        let s = settings.for_site(site, &fp.site.id);
        let rules = crate::rules::load(s.rules.as_deref(), &fp, &seed)?;
        parts.push(SiteParts::of(s, fp, &seed, text, rules)?);
    }
    serve(parts).await
}

/// What serving one site takes.
struct SiteParts {
    settings: Settings,
    fp: Arc<Floorplan>,
    /// Parsed again at each start of the site.
    seed: crate::files::SeedText,
    /// What the rules may name (units, roles, kinds, models, profiles), from the seed.
    known: Arc<orderly_rules::Known>,
    /// The devices and tags the floorplan and seed declare (see [`SiteParts::weight`]).
    counted: u64,
    /// The census map HL7 messages are read with (with `--hl7`), from the seed's beds.
    census: Option<Arc<orderly_model::census::CensusMap>>,
    rules: crate::rules::Loaded,
    /// The demo's simulator, history, and alert manager.
    sim: Option<orderly_sim::SimConfig>,
    history: Option<crate::history::HistoryConfig>,
    phones: Option<tokio::net::TcpListener>,
}

impl SiteParts {
    /// How much of an instance the site takes when the sites are shared out: its `weight`,
    /// else the devices and tags its floorplan and seed declare (receivers, assets, sensors,
    /// patients' wearables), each a source of messages.
    fn weight(&self) -> u64 {
        match self.settings.weight {
            Some(w) => u64::from(w.get()),
            None => self.counted,
        }
    }

    fn of(
        settings: Settings,
        fp: Arc<Floorplan>,
        seed: &Seed,
        text: crate::files::SeedText,
        rules: crate::rules::Loaded,
    ) -> Result<SiteParts> {
        let wearables = seed
            .patients
            .iter()
            .filter(|p| p.wearable.is_some())
            .count();
        let devices = fp.receivers().len() + seed.assets.len() + seed.sensors.len() + wearables;
        let census = match settings.hl7 {
            Some(_) => Some(Arc::new(crate::files::census_map(
                settings.census_map.as_deref(),
                seed,
            )?)),
            None => None,
        };
        Ok(SiteParts {
            census,
            known: Arc::new(orderly_world::known(&fp, seed)),
            counted: devices.max(1) as u64,
            settings,
            fp,
            seed: text,
            rules,
            sim: None,
            history: None,
            phones: None,
        })
    }
}

pub async fn demo(args: DemoArgs) -> Result<()> {
    let (fp, seed, text) = crate::files::site_with_seed_text(None, None)?;
    let settings = Settings {
        http: args.http,
        mqtt_host: "127.0.0.1".into(),
        mqtt_port: args.mqtt_port,
        embedded_broker: true,
        database: args.database,
        floorplan: None,
        seed: None,
        // The repository's rules/ when run from a checkout, so editing a rule shows live.
        rules: args.rules.or_else(|| {
            std::path::Path::new("rules")
                .is_dir()
                .then(|| "rules".into())
        }),
        device_rate: 50.0,
        mqtt_security: orderly_mqtt::Security::default(),
        print_admin_token: true,
        hl7: Some(args.hl7),
        census_map: None,
        hl7_tls: None,
        alert_managers: Vec::new(),
        webhooks: Default::default(),
        // One demo per machine: restarted (even after a crash) it takes its site back at
        // once instead of waiting out its own lease.
        instance: format!("demo-{}", crate::config::host_name()),
        lease: Duration::from_secs(10),
        advertise: None,
        schema: None,
        sites: Vec::new(),
        weight: None,
    };
    // The demo's alert manager (phones): Orderly sends it every alert; it answers with who
    // has each one.
    let phones = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("the demo's alert manager cannot listen on 127.0.0.1")?;
    let mut settings = settings;
    settings
        .alert_managers
        .push(crate::config::AlertManagerSetting {
            name: "demo-phones".into(),
            address: phones.local_addr()?.to_string(),
            tls: None,
            receiving_application: "DEMO-PHONES".into(),
            ack_timeout: std::time::Duration::from_secs(10),
            unreachable_after: std::time::Duration::from_secs(60),
        });
    let rules = crate::rules::load(settings.rules.as_deref(), &fp, &seed)?;
    let sim = orderly_sim::SimConfig {
        seed: args.sim_seed,
        equipment_moves_per_hour: args.moves_per_hour,
        bed_exits_per_hour: args.bed_exits_per_hour,
        falls_per_hour: args.falls_per_hour,
        imu: args.imu,
        care_lapses: args.care_lapses,
        vitals: Some(orderly_sim::vitals::LiveConfig::default()),
        // The pumps infuse from the library Orderly checks against.
        infusions: Some(orderly_sim::devices::InfusionSim::new(std::sync::Arc::new(
            rules.config.drug_library.clone(),
        ))),
        // The sensors report against the profiles Orderly checks; the demo opens with a
        // fridge door left open and a fridge whose compressor fails.
        environment: Some(orderly_sim::environment::EnvSim {
            planned: vec![
                (
                    1,
                    "env-icu-medfridge".into(),
                    orderly_sim::environment::Incident::DoorLeftOpen,
                    20,
                ),
                (
                    2,
                    "env-ms3-medfridge".into(),
                    orderly_sim::environment::Incident::CompressorFailure,
                    240,
                ),
            ],
            ..orderly_sim::environment::EnvSim::new(std::sync::Arc::new(
                rules.config.environment.clone(),
            ))
        }),
        ..orderly_sim::SimConfig::default()
    };
    let history = (!args.no_history).then(|| crate::history::HistoryConfig {
        seed: args.sim_seed,
        ..Default::default()
    });
    let parts = SiteParts {
        sim: Some(sim),
        history,
        phones: Some(phones),
        ..SiteParts::of(settings, fp, &seed, text, rules)?
    };
    drop(seed);
    serve(vec![parts]).await
}

/// What the lease keeper reports of this instance.
struct KeeperCfg {
    instance: String,
    http: String,
    started_ms: i64,
    lease: Duration,
    /// Whether to stand down when the lease cannot be renewed in time. Not with the embedded
    /// broker: it acknowledges messages on receipt, so what the world holds uncommitted would
    /// be lost, and no other instance can share it anyway (the fence still guards the log).
    stand_down_unrenewed: bool,
}

/// Renews the site's lease five times a lease. Says the site is lost when another instance
/// took it over, or when it could not be renewed for four fifths of a lease (a standby may
/// take it over when it lapses: this instance stops first).
async fn keep_lease(
    store: Store,
    fence: Fence,
    cfg: KeeperCfg,
    ok: Arc<AtomicBool>,
    lost: watch::Sender<Option<String>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = cfg.lease / 5;
    let ttl_ms = cfg.lease.as_millis() as i64;
    let mut last_ok = Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let sent = Instant::now();
        let why = match tokio::time::timeout(every, store.renew_lease(&fence, ttl_ms)).await {
            Ok(Ok(true)) => {
                last_ok = sent;
                ok.store(true, Ordering::Relaxed);
                let _ = tokio::time::timeout(
                    every,
                    store.report_instance(
                        &cfg.instance,
                        &fence.site,
                        &cfg.http,
                        cfg.started_ms,
                        "owner",
                    ),
                )
                .await;
                continue;
            }
            Ok(Ok(false)) => format!(
                "site {}: another instance took the site over (this one held epoch {})",
                fence.site, fence.epoch
            ),
            // The database away or too slow: the owner stops before a standby may take over.
            failed => {
                ok.store(false, Ordering::Relaxed);
                let cause = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "the database does not answer".to_string(),
                };
                tracing::warn!(error = %cause, site = %fence.site, "cannot renew the site's lease");
                if !cfg.stand_down_unrenewed || last_ok.elapsed() < cfg.lease * 4 / 5 {
                    continue;
                }
                format!(
                    "site {}: the lease could not be renewed for {} s ({cause}); a standby may take the site when it lapses",
                    fence.site,
                    last_ok.elapsed().as_secs()
                )
            }
        };
        crate::pipeline::mark_lost(&lost, &why);
        return;
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// This instance's part in the cluster: its name, its API and HL7 addresses, and its lease's
/// length.
#[derive(Clone)]
struct Member {
    name: String,
    http: String,
    /// Where the other instances reach this one's HL7 listener (a standby passes an interface
    /// engine's connections through to the owner); None without `--hl7`.
    hl7: Option<String>,
    started_ms: i64,
    lease: Duration,
}

/// What a standby's HL7 relay did, in words for its readiness answer; None before anything.
fn relayed(stats: &orderly_mllp::Stats) -> Option<String> {
    let passed = stats.relayed.load(Ordering::Relaxed);
    let refused = stats.refused();
    if passed == 0 && refused.is_empty() {
        return None;
    }
    let mut s = format!("HL7: {passed} connection(s) passed through to the owner");
    for (reason, n) in refused {
        let why = match reason {
            "no_owner" => "no owner with an HL7 listener known",
            "owner_unreachable" => "the owner did not accept the connection",
            "too_many_connections" => "too many open",
            other => other,
        };
        s.push_str(&format!(", {n} closed ({why}; the engine resends)"));
    }
    Some(s)
}

/// The site's HL7 listener (`--hl7`) with its census map, bound at start and kept across
/// ownerships; None without `--hl7`.
fn open_hl7(
    settings: &Settings,
    census: Option<Arc<orderly_model::census::CensusMap>>,
    several: bool,
) -> Result<Option<(std::net::TcpListener, Arc<orderly_model::census::CensusMap>)>> {
    let (Some(addr), Some(map)) = (settings.hl7, census) else {
        return Ok(None);
    };
    let l = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .with_context(|| {
            let or_site = if several {
                " or the [[site]]'s hl7"
            } else {
                ""
            };
            format!("cannot listen for HL7 on {addr} (taken? choose another with --hl7{or_site})")
        })?;
    let how = match settings.hl7_tls {
        Some(_) => "TLS",
        None => "plain TCP",
    };
    say!(
        "HL7: MLLP on {} ({how}, {} beds in the census map)",
        l.local_addr()?,
        map.bed_count()
    );
    Ok(Some((l, map)))
}

/// How another machine reaches a listening address: as it is, or the host's name and its port
/// for a wildcard address.
fn reachable_at(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("{}:{}", crate::config::host_name(), addr.port())
    } else {
        addr.to_string()
    }
}

impl Member {
    fn ttl_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }
}

/// What a site's owner needs and keeps between one ownership and the next.
struct Instance {
    /// The site's settings, files and rules (the demo's parts: the first ownership takes them).
    parts: SiteParts,
    store: Store,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    member: Member,
    listener: std::net::TcpListener,
    /// The HL7 listener (`--hl7`) and the census map it applies messages with: bound at start
    /// and kept, so a standby passes connections through to the owner on it and serves them
    /// itself once it owns the site.
    hl7: Option<(std::net::TcpListener, Arc<orderly_model::census::CensusMap>)>,
    /// Turns true on Ctrl-C or SIGTERM.
    stop: watch::Receiver<bool>,
    owned_before: bool,
    /// The API's address has been said (when it first served: as a standby, or as the owner
    /// once the site is restored and the HL7 listener up).
    announced: AtomicBool,
    /// `--print-admin-token`'s token, made at start (before anything else writes).
    admin_token: Option<String>,
    /// The sites this process serves, shared out with the other instances.
    share: Arc<Share>,
    /// The other sites' stores (for `GET /api/v1/cluster`).
    other_sites: Arc<[Store]>,
}

/// How an ownership of the site ended.
enum Ended {
    /// Ctrl-C or SIGTERM.
    Stopped,
    /// The lease was lost (taken over, or not renewed in time): why.
    Lost(String),
    /// Handed over to an instance that serves fewer sites (the sites are shared out).
    HandedOver,
}

async fn serve(sites: Vec<SiteParts>) -> Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let Some(first) = sites.first().map(|p| p.settings.clone()) else {
        anyhow::bail!("no site to serve");
    };
    if first.embedded_broker {
        if first.mqtt_security.credentials.is_some() || first.mqtt_security.tls.is_some() {
            anyhow::bail!(
                "the embedded broker takes neither passwords nor TLS (it listens on loopback only); drop --mqtt-username and --mqtt-tls-*, or use a broker configured by `orderly devices`"
            );
        }
        let addr: SocketAddr = format!("{}:{}", first.mqtt_host, first.mqtt_port)
            .parse()
            .context("the embedded broker needs an IP address as mqtt-host")?;
        let addr = tokio::task::spawn_blocking(move || EmbeddedBroker::start(addr))
            .await??
            .addr;
        say!("MQTT broker (embedded): {addr}");
    }

    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let several = sites.len() > 1;
    let mut opened = Vec::new();
    for p in sites {
        let settings = &p.settings;
        let store = Store::open_in(&settings.database, settings.schema.as_deref()).await?;
        let listener = std::net::TcpListener::bind(settings.http)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .with_context(|| {
                format!(
                    "cannot listen for HTTP on {} (taken? choose another with --http{})",
                    settings.http,
                    if several {
                        " or the [[site]]'s http"
                    } else {
                        ""
                    }
                )
            })?;
        let http_addr = listener.local_addr()?;
        let hl7 = open_hl7(settings, p.census.clone(), several)?;
        let admin_token = match settings.print_admin_token {
            true => Some(
                store
                    .create_token("demo admin", Role::Admin, &[], wall_clock(), None)
                    .await?
                    .1,
            ),
            false => None,
        };
        let member = Member {
            name: settings.instance.clone(),
            // Where the other instances reach this one's API (a standby forwards requests to
            // the owner): as configured, else the address listened on, the host's name for a
            // wildcard address.
            http: settings
                .advertise
                .clone()
                .unwrap_or_else(|| reachable_at(http_addr)),
            // The advertised host with the HL7 listener's port, else as the API's.
            hl7: match &hl7 {
                Some((l, _)) => {
                    let addr = l.local_addr()?;
                    Some(match &settings.advertise {
                        Some(a) => match a.rsplit_once(':') {
                            Some((host, _)) => format!("{host}:{}", addr.port()),
                            None => format!("{a}:{}", addr.port()),
                        },
                        None => reachable_at(addr),
                    })
                }
                None => None,
            },
            started_ms: wall_clock().millis(),
            lease: settings.lease,
        };
        opened.push((p, store, listener, hl7, admin_token, member));
    }
    let share = Arc::new(Share::new(
        first.instance.clone(),
        first.lease,
        opened
            .iter()
            .map(|(p, store, ..)| (p.fp.site.id.clone(), store.clone(), p.weight()))
            .collect(),
    ));
    let stores: Vec<Store> = opened.iter().map(|(_, store, ..)| store.clone()).collect();
    let mut running = tokio::task::JoinSet::new();
    for (i, (p, store, listener, hl7, admin_token, member)) in opened.into_iter().enumerate() {
        let me = Instance {
            parts: p,
            store,
            metrics: metrics.clone(),
            member,
            listener,
            hl7,
            stop: stop.clone(),
            owned_before: false,
            announced: AtomicBool::new(false),
            admin_token,
            share: share.clone(),
            other_sites: stores
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, s)| s.clone())
                .collect(),
        };
        running.spawn(me.run());
    }
    if several {
        tokio::spawn(share.clone().rebalance(stop.clone()));
    }
    let mut failed = None;
    while let Some(done) = running.join_next().await {
        let outcome = done.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = outcome {
            // One site cannot be served (its HL7 port taken, its files broken): the process
            // stops, as a single site's would, and the other instances take the sites.
            failed.get_or_insert(e);
            running.abort_all();
        }
    }
    tracing::info!("stopped");
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The sites this process serves and how it shares them out with the other instances: with
/// one site it takes it whenever free; with several, by load (the sum of the weights of the
/// sites an instance owns, [`SiteParts::weight`]): an instance takes a free site when no
/// other live instance carries less, and hands one over when giving it to the least loaded
/// live instance leaves that one carrying less than this one did ([`to_hand_over`]: each move
/// makes the loads strictly more even, so the sharing settles).
struct Share {
    name: String,
    lease: Duration,
    /// Every site's id, store (each site's leases are in its own database or schema) and
    /// weight.
    sites: Vec<(String, Store, u64)>,
    /// One site taken at a time in this process, each after a look at the cluster no older
    /// than `PICTURE_FOR` (the sites' loops poll every second; one look serves them all).
    taking: tokio::sync::Mutex<Option<(Instant, Picture)>>,
    /// When this process first saw each site free: after a quarter lease free, any instance
    /// takes it (the least busy instance may be gone without the database knowing yet).
    free_since: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
    /// Sites asked to be handed over.
    handover: std::sync::Mutex<std::collections::HashMap<String, watch::Sender<bool>>>,
}

/// What to do about a site that is not ours.
enum Turn {
    /// Try to take its lease.
    Take,
    /// Leave it: held by another instance (its lease, if any), or free for a less busy one.
    Wait(Option<orderly_store::SiteLease>),
}

/// How long a look at the cluster serves the sites' loops before another is taken.
const PICTURE_FOR: Duration = Duration::from_millis(250);

/// Who serves what, as every site's database says.
struct Picture {
    /// Live instances (reported within 3/5 of a lease, not stopped), with the load each
    /// carries (the weights of the sites it owns); this one always included.
    owned: std::collections::BTreeMap<String, u64>,
    leases: Vec<orderly_store::SiteLease>,
}

/// Whether an instance carrying `mine` takes a free site, when the least loaded other live
/// instance carries `least` (None: there is no other).
fn takes_free(mine: u64, least: Option<u64>) -> bool {
    least.is_none_or(|least| mine <= least)
}

/// Which of the sites an instance owns (`mine`: id, weight, when acquired), carrying `load`
/// in all, to hand over to the least loaded other live instance, carrying `least`: one whose
/// move leaves that instance carrying less than `load` (so the sum of the squared loads falls
/// and moves cannot go round in circles), the one leaving the two most even, the latest
/// taken among equals (the shortest served). With every weight 1 this is "owns two more".
fn to_hand_over<'a>(mine: &[(&'a str, u64, i64)], load: u64, least: u64) -> Option<&'a str> {
    mine.iter()
        .filter(|(_, w, _)| least + w < load)
        .min_by_key(|(_, w, acquired)| ((load - w).max(least + w), std::cmp::Reverse(*acquired)))
        .map(|(site, ..)| *site)
}

impl Picture {
    /// The least load another live instance than `name` carries (None: no other).
    fn least_other(&self, name: &str) -> Option<u64> {
        self.owned
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .map(|(_, n)| *n)
            .min()
    }
}

impl Share {
    fn new(name: String, lease: Duration, sites: Vec<(String, Store, u64)>) -> Share {
        Share {
            name,
            lease,
            sites,
            taking: Default::default(),
            free_since: Default::default(),
            handover: Default::default(),
        }
    }

    fn several(&self) -> bool {
        self.sites.len() > 1
    }

    /// Every site's weight.
    fn weights(&self) -> Arc<std::collections::BTreeMap<String, u64>> {
        Arc::new(
            self.sites
                .iter()
                .map(|(id, _, w)| (id.clone(), *w))
                .collect(),
        )
    }

    /// A site's weight (1 for a site this instance is not given: the instances' lists differ).
    fn weight(&self, site: &str) -> u64 {
        self.sites
            .iter()
            .find(|(id, ..)| id == site)
            .map_or(1, |(.., w)| *w)
    }

    async fn picture(&self) -> Result<Picture> {
        let live_ms = (self.lease.as_millis() as i64) * 3 / 5;
        let mut owned = std::collections::BTreeMap::from([(self.name.clone(), 0)]);
        let mut leases = Vec::new();
        for (_, store, _) in &self.sites {
            let (l, instances) = store.cluster(live_ms).await?;
            for i in instances.into_iter().filter(|i| i.state != "stopped") {
                owned.entry(i.instance).or_insert(0);
            }
            leases.extend(l);
        }
        for l in leases.iter().filter(|l| l.expires_in_ms >= 0) {
            if let Some(n) = owned.get_mut(&l.holder) {
                *n += self.weight(&l.site);
            }
        }
        Ok(Picture { owned, leases })
    }

    /// Takes `site`'s lease for `m` into `store` when it is this instance's turn (one site
    /// at a time in this process), else says who holds it; None: the site is free and left to
    /// an instance serving fewer sites.
    async fn try_take(&self, site: &str, store: &Store, m: &Member) -> Result<Option<Acquired>> {
        let mut cached = self.taking.lock().await;
        let lease = match self.turn(site, &mut cached).await? {
            Turn::Take => {
                // What this instance owns changes: the next look is a fresh one.
                *cached = None;
                return Ok(Some(
                    store
                        .acquire_lease(site, &m.name, &m.http, m.hl7.as_deref(), m.ttl_ms())
                        .await?,
                ));
            }
            Turn::Wait(lease) => lease,
        };
        Ok(lease
            .filter(|l| l.expires_in_ms >= 0)
            .map(|l| Acquired::Held {
                holder: l.holder,
                epoch: l.epoch,
                http: l.http,
                hl7: l.hl7,
                expires_in_ms: l.expires_in_ms,
            }))
    }

    /// Whether this instance should try to take `site` now, from a look at the cluster no
    /// older than `PICTURE_FOR` (kept in `cached`).
    async fn turn(&self, site: &str, cached: &mut Option<(Instant, Picture)>) -> Result<Turn> {
        if !self.several() {
            return Ok(Turn::Take);
        }
        let (at, pic) = match cached.take() {
            Some(c) if c.0.elapsed() <= PICTURE_FOR => c,
            _ => (Instant::now(), self.picture().await?),
        };
        let pic = &cached.insert((at, pic)).1;
        let lease = pic.leases.iter().find(|l| l.site == site).cloned();
        if lease
            .as_ref()
            .is_some_and(|l| l.holder == self.name && l.expires_in_ms >= 0)
        {
            // Still ours: this instance restarted under its name (a handover releases it).
            return Ok(Turn::Take);
        }
        let free = lease.as_ref().is_none_or(|l| l.expires_in_ms < 0);
        let since = {
            let mut f = self.free_since.lock().unwrap_or_else(|p| p.into_inner());
            match free {
                true => Some(*f.entry(site.to_string()).or_insert_with(Instant::now)),
                false => {
                    f.remove(site);
                    None
                }
            }
        };
        let Some(since) = since else {
            return Ok(Turn::Wait(lease));
        };
        let mine = pic.owned.get(&self.name).copied().unwrap_or(0);
        let take =
            takes_free(mine, pic.least_other(&self.name)) || since.elapsed() > self.lease / 4;
        if !take {
            return Ok(Turn::Wait(lease));
        }
        // Free from now on only when seen free again (after this ownership, say).
        self.free_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(site);
        Ok(Turn::Take)
    }

    /// The watch that asks this process to hand `site` over.
    fn handover_of(&self, site: &str) -> watch::Receiver<bool> {
        let mut h = self.handover.lock().unwrap_or_else(|p| p.into_inner());
        h.entry(site.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .subscribe()
    }

    /// A handed-over site may be taken again.
    fn clear_handover(&self, site: &str) {
        let h = self.handover.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = h.get(site) {
            tx.send_replace(false);
        }
    }

    /// Every half lease: when moving one of this instance's sites to the least loaded live
    /// instance makes the two more even ([`to_hand_over`]), hands it over (at most one a
    /// lease, so the cluster settles between moves).
    async fn rebalance(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut last: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.lease / 2) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if last.is_some_and(|t| t.elapsed() < self.lease) {
                continue;
            }
            let Ok(pic) = self.picture().await else {
                continue;
            };
            let mine: Vec<(&str, u64, i64)> = pic
                .leases
                .iter()
                .filter(|l| l.holder == self.name && l.expires_in_ms >= 0)
                .map(|l| (l.site.as_str(), self.weight(&l.site), l.acquired_ms))
                .collect();
            let Some(least) = pic.least_other(&self.name) else {
                continue;
            };
            let load = pic.owned.get(&self.name).copied().unwrap_or(0);
            let Some(site) = to_hand_over(&mine, load, least).map(str::to_string) else {
                continue;
            };
            say!(
                "Handing site {site} (weight {}) over: this instance carries {load} of {} sites, another {least}",
                self.weight(&site),
                mine.len()
            );
            tracing::info!(site = %site, weight = self.weight(&site), load, least_other = least, "handing a site over to share the sites out");
            let h = self.handover.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(tx) = h.get(&site) {
                tx.send_replace(true);
                last = Some(Instant::now());
            }
        }
    }
}

impl Instance {
    /// Serves the site until stopped: as a standby until its lease is ours, then as its owner
    /// until the lease is lost or handed over, and so on.
    async fn run(mut self) -> Result<()> {
        let site = self.parts.fp.site.id.clone();
        while let Some(fence) = self.standby().await? {
            match self.own(fence.clone()).await? {
                Ended::Stopped => {
                    // A clean stop hands the site over at once: the standby need not wait out
                    // the lease.
                    if let Err(e) = self.store.release_lease(&fence).await {
                        tracing::warn!(error = %e, site = %site, "cannot release the site's lease; a standby takes over when it lapses");
                    }
                    break;
                }
                Ended::HandedOver => {
                    if let Err(e) = self.store.release_lease(&fence).await {
                        tracing::warn!(error = %e, site = %site, "cannot release the site's lease; another instance takes over when it lapses");
                    }
                    self.share.clear_handover(&site);
                    say!("Handed over: site {site}");
                }
                Ended::Lost(why) => {
                    say!("Standing down: {why}");
                    tracing::warn!(site = %fence.site, epoch = fence.epoch, why = %why, "standing down");
                }
            }
        }
        self.report("stopped").await;
        self.store.close().await;
        Ok(())
    }

    /// Records this instance as `state` (`owner`, `standby`, `stopped`) for the site; the
    /// database away, the next report says it.
    async fn report(&self, state: &str) {
        let m = &self.member;
        let _ = self
            .store
            .report_instance(
                &m.name,
                &self.parts.fp.site.id,
                &m.http,
                m.started_ms,
                state,
            )
            .await;
    }

    /// Says where the API is (and the admin token, for test harnesses), once: when this
    /// instance first answers on it (as a standby, or as the owner once the site is restored
    /// and the HL7 listener is up). With several sites, each line names its site.
    fn announce(&self) -> Result<()> {
        if self.announced.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let http_addr = self.listener.local_addr()?;
        let of = match self.share.several() {
            true => format!(" of site {}", self.parts.fp.site.id),
            false => String::new(),
        };
        say!("API{of}: http://{http_addr}/api/docs");
        say!(
            "Pages{of}: http://{http_addr}/ (floor map, nursing stations, biomed; sign in with a token)"
        );
        if let Some(secret) = &self.admin_token {
            say!("Admin token{of}: {secret}");
            say!(
                "Try: curl -H 'Authorization: Bearer {secret}' 'http://{http_addr}/api/v1/assets?kind=infusion_pump&limit=3'"
            );
        }
        Ok(())
    }

    /// Waits for the site's lease, serving health and readiness (503, naming the owner)
    /// meanwhile; None when stopped first.
    async fn standby(&mut self) -> Result<Option<Fence>> {
        let site = self.parts.fp.site.id.clone();
        let m = self.member.clone();
        let poll = (m.lease / 10).clamp(Duration::from_millis(200), Duration::from_secs(1));
        let (why_tx, why_rx) = watch::channel(String::new());
        let (owner_tx, owner_rx) = watch::channel(None::<String>);
        let (owner_hl7_tx, owner_hl7_rx) = watch::channel(None::<String>);
        let (server_stop, mut server_stopped) = watch::channel(false);
        let mut server = None;
        // An interface engine that reaches this standby is passed through to the owner.
        let relay_stats = Arc::new(orderly_mllp::Stats::default());
        let relay = match &self.hl7 {
            Some((l, _)) => Some(tokio::spawn(orderly_mllp::relay(
                tokio::net::TcpListener::from_std(l.try_clone()?)?,
                owner_hl7_rx,
                m.hl7.clone(),
                orderly_mllp::RelayConfig::default(),
                relay_stats.clone(),
                server_stopped.clone(),
            ))),
            None => None,
        };
        let mut said: Option<String> = None;
        let mut stop = self.stop.clone();
        let taken = loop {
            if *stop.borrow() {
                break None;
            }
            let why = match self.share.try_take(&site, &self.store, &m).await {
                Ok(Some(Acquired::Taken(f))) => break Some(f),
                Ok(Some(Acquired::Held {
                    holder,
                    epoch,
                    http,
                    hl7,
                    expires_in_ms,
                })) => {
                    owner_tx.send_replace(Some(http.clone()));
                    owner_hl7_tx.send_replace(hl7);
                    if said.as_deref() != Some(holder.as_str()) {
                        say!(
                            "Standby: site {site} is owned by instance {holder} (API http://{http}, epoch {epoch}); taking over if its lease lapses"
                        );
                        said = Some(holder.clone());
                    }
                    self.report("standby").await;
                    format!(
                        "standby: site {site} is owned by instance {holder} at http://{http} (its lease is renewed every few seconds; it lapses in {} s unless renewed)",
                        expires_in_ms.max(0) / 1000
                    )
                }
                Ok(None) => {
                    owner_hl7_tx.send_replace(None);
                    self.report("standby").await;
                    format!(
                        "standby: site {site}: the site is free and an instance serving fewer sites takes it"
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %e, site = %site, "cannot reach the database to take the site's lease; retrying");
                    format!("standby: cannot reach the database to take site {site}: {e}")
                }
            };
            why_tx.send_replace(match relayed(&relay_stats) {
                Some(hl7) => format!("{why}; {hl7}"),
                None => why,
            });
            if server.is_none() {
                self.announce()?;
                let listener = tokio::net::TcpListener::from_std(self.listener.try_clone()?)?;
                let mut stopped = server_stopped.clone();
                server = Some(tokio::spawn(orderly_api::server::serve(
                    listener,
                    orderly_api::standby_router(
                        why_rx.clone(),
                        owner_rx.clone(),
                        orderly_api::Standby {
                            store: self.store.clone(),
                            database: orderly_api::outage::Database::new(Arc::new(
                                AtomicBool::new(true),
                            )),
                            failed_logins: Default::default(),
                            clock: wall_clock,
                            metrics: self.metrics.clone(),
                        },
                    ),
                    async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    },
                )));
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
        };
        let _ = server_stop.send(true);
        let _ = server_stopped.changed().await;
        if let Some(s) = server {
            let _ = s.await;
        }
        if let Some(r) = relay {
            let _ = r.await;
        }
        if let Some(f) = &taken {
            self.report("owner").await;
            say!("Owner: site {site}, epoch {}", f.epoch);
            tracing::info!(site = %site, epoch = f.epoch, instance = %m.name, "took the site's lease");
        }
        Ok(taken)
    }

    /// Processes the site while the lease holds: restores it from the store, then serves
    /// until stopped or the lease is lost.
    async fn own(&mut self, fence: Fence) -> Result<Ended> {
        let settings = &self.parts.settings;
        let fp = self.parts.fp.clone();
        // Dropped once the site is started (below): nothing running keeps it.
        let seed = self.parts.seed.parse()?;
        if self.owned_before && settings.rules.is_some() {
            // The rules as the directory holds them now (they may have been edited while
            // another instance owned the site); the last good ones if they do not load.
            match crate::rules::load(settings.rules.as_deref(), &fp, &seed) {
                Ok(r) => self.parts.rules = r,
                Err(e) => {
                    tracing::warn!(error = %e, "the rules directory does not load; keeping the rules last loaded")
                }
            }
        }
        self.owned_before = true;
        // A handover asked of an earlier ownership (or of a picture that was already stale)
        // is not this one's: the share is looked at again each half lease.
        self.share.clear_handover(&self.parts.fp.site.id);
        let rules = &self.parts.rules;
        let metrics = self.metrics.clone();
        // Commits check the lease's epoch: once another instance holds the site, nothing
        // more of this one's is written.
        let store = self.store.fenced(fence.clone());
        let sim = self.parts.sim.take();
        let history = self.parts.history.take();
        let phones = self.parts.phones.take();
        let (lost_tx, mut lost_rx) = watch::channel(None::<String>);
        let lease_ok = Arc::new(AtomicBool::new(true));
        // Renewed from now on: restoring a large site may take longer than a lease.
        let (keeper_stop, keeper_stopped) = watch::channel(false);
        let keeper = tokio::spawn(keep_lease(
            self.store.clone(),
            fence,
            KeeperCfg {
                instance: self.member.name.clone(),
                http: self.member.http.clone(),
                started_ms: self.member.started_ms,
                lease: self.member.lease,
                stand_down_unrenewed: !settings.embedded_broker,
            },
            lease_ok.clone(),
            lost_tx.clone(),
            keeper_stopped,
        ));
        let mut remembered = store.remembered().await?;
        if let Some(hc) = history.filter(|_| remembered.next_seq == 0) {
            // A fresh demo: months of service history first, committed, then restored as after
            // a restart.
            let began = std::time::Instant::now();
            let events = crate::history::simulate(
                fp.clone(),
                &seed,
                rules.config.clone(),
                rules.rules.clone(),
                orderly_mqtt::client::wall_clock(),
                &hc,
            );
            let simulated = began.elapsed().as_secs_f32();
            for chunk in events.chunks(2000) {
                store.commit(chunk).await?;
            }
            remembered = store.remembered().await?;
            tracing::info!(
                days = hc.days,
                events = events.len(),
                work_orders = remembered.work_orders.len(),
                simulated_s = simulated,
                seconds = began.elapsed().as_secs_f32(),
                "demo: simulated service history recorded"
            );
        }
        tracing::info!(
            next_seq = remembered.next_seq,
            locations = remembered.locations.len(),
            alerts = remembered.alerts.len(),
            "state restored from the store"
        );

        let topics = Topics::new(&fp.site.id);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        // Decoded messages waiting for the world: each holds its sightings decoded (about 2 KiB
        // at 20 a message); past this the MQTT client stops reading and the broker holds them.
        // About a step's batch (pipeline::MAX_BATCH).
        let (in_tx, in_rx) = mpsc::channel(4096);
        let mut mqtt_cfg = MqttConfig::new(
            &settings.mqtt_host,
            settings.mqtt_port,
            // Stable per site, so the broker keeps our session (and queues messages) across restarts.
            format!("orderly-{}", fp.site.id),
        );
        mqtt_cfg.device_rate = settings.device_rate;
        mqtt_cfg.security = settings.mqtt_security.clone();
        // The embedded broker dies with this process: nothing to gain from holding its messages
        // until they are committed, and its fixed window would delay them (MqttConfig).
        mqtt_cfg.ack_after_commit = !settings.embedded_broker;
        let (link, mqtt_task) =
            MqttLink::start(&mqtt_cfg, topics.clone(), in_tx, shutdown_rx.clone())
                .context("the MQTT TLS settings")?;

        say!(
            "Rules: {} from {}{}",
            rules.rules.rules.len(),
            rules.source,
            if settings.rules.is_some() {
                " (reloaded when a file changes, on SIGHUP and on POST /api/v1/rules/reload)"
            } else {
                ""
            }
        );
        let rules_view = crate::reload::view_of(
            &rules.rules,
            &rules.source,
            settings.rules.is_some(),
            wall_clock(),
        );
        let mut hospital =
            Hospital::new(fp.clone(), &seed, rules.config.clone(), rules.rules.clone());
        let next_seq = remembered.next_seq;
        hospital.restore(remembered);
        let (snap_tx, snap_rx) = watch::channel(Arc::new(hospital.snapshot()));
        let (commit_tx, commit_rx) = mpsc::channel(1024);
        let (live_tx, _) = broadcast::channel(8192);
        let store_ok = Arc::new(AtomicBool::new(true));
        let world_running = Arc::new(AtomicBool::new(true));
        let (world_ctl_tx, world_ctl_rx) = mpsc::channel(64);
        let (committed_tx, committed_rx) = watch::channel(next_seq);
        let world = spawn_world(
            hospital,
            in_rx,
            world_ctl_rx,
            commit_tx,
            snap_tx,
            shutdown_rx.clone(),
            wall_clock,
            Some(link.clone()),
            tokio::runtime::Handle::current(),
        );
        // Alerts a previous owner committed and never published go out first (an external
        // broker only: the embedded one starts empty with this process, no station missed
        // anything on it that a restart would send again).
        if !settings.embedded_broker {
            let backlog = crate::pipeline::publish_alert_backlog(&store, &link);
            match tokio::time::timeout(Duration::from_secs(10), backlog).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(
                    alerts = n,
                    "published alert changes committed but not yet published"
                ),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot read the alerts waiting to be published on MQTT")
                }
                Err(_) => tracing::warn!(
                    "the broker took more than 10 s to take the alerts waiting to be published; the rest go at the next start"
                ),
            }
        }
        let committer = tokio::spawn(run_committer(
            store.clone(),
            commit_rx,
            live_tx.clone(),
            Some(link.clone()),
            store_ok.clone(),
            committed_tx,
            lost_tx.clone(),
        ));
        let (api_ctl_tx, api_ctl_rx) = mpsc::channel(64);
        let (rules_tx, rules_rx) = watch::channel(Arc::new(rules_view));
        let reloader = crate::reload::Reloader {
            dir: settings.rules.clone(),
            known: self.parts.known.clone(),
            world: world_ctl_tx,
            view: rules_tx,
            clock: wall_clock,
        };
        let reloader = tokio::spawn(reloader.run(api_ctl_rx, shutdown_rx.clone()));

        let readiness: orderly_api::ReadinessCheck = {
            let (link, store_ok, world_running, lease_ok) = (
                link.clone(),
                store_ok.clone(),
                world_running.clone(),
                lease_ok.clone(),
            );
            Arc::new(move || {
                let mut p = Vec::new();
                if !link.is_connected() {
                    p.push(match link.problem() {
                        Some(why) => format!("mqtt: not connected: {why}"),
                        None => "mqtt: not connected to the broker yet".into(),
                    });
                }
                if !store_ok.load(Ordering::Relaxed) {
                    p.push("database: the last commit failed; retrying".into());
                }
                if !world_running.load(Ordering::Relaxed) {
                    p.push("world: stopped".into());
                }
                if !lease_ok.load(Ordering::Relaxed) {
                    p.push("lease: the site's lease could not be renewed; this instance stands down before it lapses unless the database answers".into());
                }
                p
            })
        };
        let state = ApiState {
            snapshot: snap_rx,
            events: live_tx,
            store: store.clone(),
            database: orderly_api::outage::Database::new(store_ok.clone()),
            failed_logins: Default::default(),
            floorplan: fp.clone(),
            metrics,
            readiness,
            clock: wall_clock,
            control: api_ctl_tx,
            committed: committed_rx,
            rules: rules_rx,
            shutdown: shutdown_rx.clone(),
            outbound: Default::default(),
            instance: self.member.name.as_str().into(),
            other_sites: self.other_sites.clone(),
            site_weights: self.share.weights(),
        };
        let outbound_tasks =
            crate::outbound::spawn(settings, &state, &fp.site.id, shutdown_rx.clone())?;
        let mut hl7_feed: Option<(std::net::SocketAddr, Arc<orderly_model::census::CensusMap>)> =
            None;
        let hl7_task = match &self.hl7 {
            Some((listener, map)) => {
                let listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
                let map = map.clone();
                hl7_feed = Some((listener.local_addr()?, map.clone()));
                let census = Arc::new(orderly_api::census::Hl7Census::new(state.clone(), map));
                let tls = match &settings.hl7_tls {
                    Some((cert, key)) => Some(
                        orderly_mllp::tls_acceptor(cert, key)
                            .context("HL7 over TLS (--hl7-tls-cert, --hl7-tls-key)")?,
                    ),
                    None => None,
                };
                Some(tokio::spawn(orderly_mllp::serve(
                    listener,
                    census,
                    orderly_mllp::Config {
                        tls,
                        ..orderly_mllp::Config::default()
                    },
                    Arc::new(orderly_mllp::Stats::default()),
                    shutdown_rx.clone(),
                )))
            }
            None => None,
        };
        let flusher = tokio::spawn(
            state
                .database
                .clone()
                .run_flusher(store.clone(), shutdown_rx.clone()),
        );
        let listener = tokio::net::TcpListener::from_std(self.listener.try_clone()?)?;
        let http_addr = listener.local_addr()?;
        self.announce()?;

        let evs_task = match &sim {
            Some(_) => {
                let (_, secret) = store
                    .create_token(
                        "simulated environmental services",
                        Role::Facilities,
                        &[],
                        wall_clock(),
                        None,
                    )
                    .await?;
                Some(tokio::spawn(crate::simulate::evs_rounds(
                    http_addr,
                    secret,
                    fp.clone(),
                    shutdown_rx.clone(),
                )))
            }
            None => None,
        };
        let phones_task = match (phones, &hl7_feed) {
            (Some(l), Some((addr, _))) => {
                let (addr, seed, stop) = (*addr, seed.clone(), shutdown_rx.clone());
                Some(tokio::spawn(async move {
                    crate::phones::run(l, addr, &seed, stop).await
                }))
            }
            _ => None,
        };
        // The demo's interface engine: admissions, transfers, discharges and scores over MLLP.
        let feed_task = match (&sim, hl7_feed) {
            (Some(cfg), Some((addr, map))) => {
                let (_, secret) = store
                    .create_token(
                        "simulated interface engine",
                        Role::Admin,
                        &[],
                        wall_clock(),
                        None,
                    )
                    .await?;
                Some(tokio::spawn(crate::census_feed::run(
                    addr,
                    http_addr,
                    secret,
                    map,
                    cfg.seed,
                    shutdown_rx.clone(),
                )))
            }
            _ => None,
        };
        let sim_task = sim.map(|cfg| {
            let seed = seed.clone();
            let broker = (settings.mqtt_host.clone(), settings.mqtt_port);
            let fp = fp.clone();
            let rx = shutdown_rx.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::simulate::publish_live(fp, seed, cfg, broker, rx).await {
                    tracing::error!(error = %e, "simulator stopped");
                }
            })
        });
        drop(seed);
        say!("Ready. Ctrl-C stops.");

        let mut api_shutdown = shutdown_rx.clone();
        let server = tokio::spawn(orderly_api::server::serve(
            listener,
            orderly_api::router(state),
            async move {
                let _ = api_shutdown.changed().await;
            },
        ));
        let mut stop = self.stop.clone();
        let mut handover = self.share.handover_of(&fp.site.id);
        let ended = tokio::select! {
            _ = stop.wait_for(|s| *s) => Ended::Stopped,
            _ = handover.wait_for(|h| *h) => Ended::HandedOver,
            why = lost_rx.wait_for(|l| l.is_some()) => Ended::Lost(
                why.ok().and_then(|w| w.clone()).unwrap_or_else(|| "the lease is lost".into()),
            ),
        };
        tracing::info!("stopping");
        let _ = shutdown_tx.send(true);
        if let Some(t) = sim_task {
            let _ = t.await;
        }
        if let Some(t) = hl7_task {
            let _ = t.await;
        }
        if let Some(t) = feed_task {
            let _ = t.await;
        }
        if let Some(t) = evs_task {
            let _ = t.await;
        }
        for t in outbound_tasks {
            let _ = t.await;
        }
        if let Some(t) = phones_task {
            let _ = t.await;
        }
        let _ = mqtt_task.await;
        let _ = reloader.await;
        let _ = tokio::task::spawn_blocking(move || world.join()).await;
        world_running.store(false, Ordering::Relaxed);
        let _ = committer.await;
        link.disconnect().await;
        let _ = server.await;
        let _ = flusher.await;
        let _ = keeper_stop.send(true);
        let _ = keeper.await;
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::{takes_free, to_hand_over};
    use rand::{Rng, SeedableRng};

    #[test]
    fn a_site_is_handed_over_only_when_the_move_makes_the_loads_more_even() {
        // Weight 1 everywhere: the rule counts sites, "owns two more".
        let ones = [("a", 1, 1), ("b", 1, 2), ("c", 1, 3)];
        assert_eq!(to_hand_over(&ones, 3, 1), Some("c"), "the latest taken");
        assert_eq!(to_hand_over(&ones[..2], 2, 1), None, "2 against 1 stays");
        // A large hospital and two clinics: the hospital does not move to an instance that
        // would then carry more than this one did; a clinic does.
        let mixed = [("big", 900, 1), ("clinic", 100, 2), ("other", 100, 3)];
        assert_eq!(
            to_hand_over(&mixed, 1100, 1000),
            None,
            "1000/1100 is no better"
        );
        assert_eq!(
            to_hand_over(&mixed, 1100, 900),
            Some("other"),
            "-> 1000/1000"
        );
        assert_eq!(to_hand_over(&mixed, 1100, 0), Some("big"), "-> 200/900");
        // The one leaving the two most even; among equals the latest taken.
        let three = [("a", 100, 9), ("b", 400, 1), ("c", 300, 2)];
        assert_eq!(to_hand_over(&three, 800, 0), Some("b"), "400/400");
        let two = [("x", 300, 5), ("y", 500, 1)];
        assert_eq!(
            to_hand_over(&two, 800, 0),
            Some("x"),
            "500/300 or 300/500: x is later"
        );
        assert_eq!(
            to_hand_over(&two, 800, 100),
            Some("x"),
            "500/400 beats 300/600"
        );
        // Free sites go to the least loaded.
        assert!(takes_free(5, None) && takes_free(5, Some(5)) && !takes_free(6, Some(5)));
    }

    /// Instances taking free sites and handing sites over as the rules say, in random orders,
    /// over random weights: the moves stop, every site is owned, and no instance carries more
    /// than the least loaded one plus the lightest site it owns (no move would help).
    #[test]
    fn sharing_by_weight_settles_and_leaves_no_move_that_would_help() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut all_moves = 0;
        for _ in 0..500 {
            let n_inst = rng.random_range(2..6usize);
            let weights: Vec<u64> = (0..rng.random_range(1..12usize))
                .map(|_| match rng.random_bool(0.3) {
                    true => rng.random_range(500..5000),
                    false => rng.random_range(1..300),
                })
                .collect();
            let mut owner: Vec<Option<usize>> = vec![None; weights.len()];
            let mut acquired = vec![0i64; weights.len()];
            let load = |owner: &[Option<usize>], i: usize| -> u64 {
                owner
                    .iter()
                    .zip(&weights)
                    .filter(|(o, _)| **o == Some(i))
                    .map(|(_, w)| *w)
                    .sum()
            };
            let least_other = |owner: &[Option<usize>], i: usize| {
                (0..n_inst)
                    .filter(|j| *j != i)
                    .map(|j| load(owner, j))
                    .min()
            };
            // The site instance `i` would hand over, by `to_hand_over`.
            let hands_over = |owner: &[Option<usize>], acquired: &[i64], i: usize| {
                let names: Vec<String> = (0..weights.len()).map(|s| s.to_string()).collect();
                let mine: Vec<(&str, u64, i64)> = (0..weights.len())
                    .filter(|s| owner[*s] == Some(i))
                    .map(|s| (names[s].as_str(), weights[s], acquired[s]))
                    .collect();
                let least = least_other(owner, i)?;
                to_hand_over(&mine, load(owner, i), least).map(|s| s.parse::<usize>().unwrap())
            };
            let mut clock = 0;
            let mut moves = 0;
            loop {
                clock += 1;
                // Free sites: instances look in a random order; the first allowed takes.
                let mut changed = false;
                for s in 0..weights.len() {
                    if owner[s].is_some() {
                        continue;
                    }
                    let start = rng.random_range(0..n_inst);
                    for k in 0..n_inst {
                        let i = (start + k) % n_inst;
                        if takes_free(load(&owner, i), least_other(&owner, i)) {
                            owner[s] = Some(i);
                            acquired[s] = clock;
                            changed = true;
                            break;
                        }
                    }
                }
                // One instance, chosen at random, rebalances: it releases a site.
                let i = rng.random_range(0..n_inst);
                if let Some(s) = hands_over(&owner, &acquired, i) {
                    owner[s] = None;
                    moves += 1;
                    changed = true;
                }
                assert!(moves < 200, "the sharing keeps moving: {weights:?}");
                // Settled only when no instance would move anything.
                if !changed && (0..n_inst).all(|i| hands_over(&owner, &acquired, i).is_none()) {
                    break;
                }
            }
            all_moves += moves;
            assert!(owner.iter().all(Option::is_some), "every site owned");
            let loads: Vec<u64> = (0..n_inst).map(|i| load(&owner, i)).collect();
            let min = *loads.iter().min().unwrap();
            for (i, l) in loads.iter().enumerate() {
                if let Some(lightest) = (0..weights.len())
                    .filter(|s| owner[*s] == Some(i))
                    .map(|s| weights[s])
                    .min()
                {
                    assert!(*l <= min + lightest, "{weights:?} -> {loads:?}");
                }
            }
        }
        assert!(all_moves > 100, "handovers were exercised: {all_moves}");
    }
}
