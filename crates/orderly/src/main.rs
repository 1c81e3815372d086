//! `orderly`: the binary. Reads configuration (file, environment, flags), sets up tracing and
//! the runtime, and wires the core crates (model, floorplan, world, sim) to the edge crates
//! (mqtt, store, api). Subcommands: demo, run, sim, record, replay, rules, devices, audit, token, check.
//!
//! May depend on every Orderly crate; uses anyhow for errors.

/// jemalloc: glibc's allocator kept a heap of its own per thread that allocates (tokio's
/// workers, the world, the commit, SQLite's) and held freed memory in each: at 25,000 tags the
/// process's peak was about 125 MiB over its 228 MiB of live heap.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings (`man jemalloc`, "TUNING"): freed pages go back to the system after a
/// second, by a thread of its own, not ten seconds later on some allocating thread; two arenas
/// (a few threads allocate much: the world, the commit, the MQTT client). At 25,000 tags,
/// `cargo xtask bench ingest`: peak 301 MiB against 335 with jemalloc's defaults and 375 with
/// glibc's allocator. `_RJEM_MALLOC_CONF` in the environment overrides them.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static malloc_conf: &[u8; 70] =
    b"narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

mod census_feed;
mod config;
mod devices;
#[cfg(test)]
mod environment_week;
mod files;
mod history;
#[cfg(test)]
mod infusion_week;
mod outbound;
mod phones;
mod pipeline;
mod reload;
mod replay;
mod rules;
mod serve;
mod simulate;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "orderly",
    version,
    about = "Hospital asset tracking and smart-room alerts"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Everything on embedded defaults: MQTT broker, SQLite file, demo hospital, simulator, API.
    Demo(config::DemoArgs),
    /// Run Orderly against a broker and database (the flags below, or a file: orderly.example.toml has every key).
    Run(Box<config::RunArgs>),
    /// Publish simulated device traffic to a broker, or write it as a capture without one.
    Sim(simulate::SimArgs),
    /// Record what a broker carries for a site into a capture file (JSON lines).
    Record(replay::RecordArgs),
    /// Replay a capture through the whole pipeline in virtual time; write what it decided.
    Replay(replay::ReplayArgs),
    /// Only the embedded MQTT broker (benchmarks compare against it).
    #[command(hide = true)]
    Broker {
        #[arg(long, default_value = "127.0.0.1:18830")]
        listen: std::net::SocketAddr,
    },
    /// Alert rules: check a directory, or backtest it on a capture.
    Rules {
        #[command(subcommand)]
        cmd: rules::RulesCmd,
    },
    /// The broker's users and topic permissions for every device (Mosquitto and EMQX files).
    Devices(devices::DevicesArgs),
    /// The audit log: `orderly audit verify` checks its hash chain.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Check a floorplan, a seed and a configuration file; report every problem with its line.
    Check {
        /// The floorplan [default: the bundled demo hospital; give both --floorplan and --seed,
        /// or neither].
        #[arg(long)]
        floorplan: Option<PathBuf>,
        /// The seed: asset registry and census [default: the bundled demo's].
        #[arg(long)]
        seed: Option<PathBuf>,
        /// A configuration file (orderly.example.toml shows every key).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Rules directory: detectors.toml and alert rules [default: the bundled rules].
        #[arg(long)]
        rules: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check that no audit record was changed or deleted since it was written; prints the
    /// chain's head (note it: a later run with a shorter chain shows deletions at the end).
    Verify {
        /// Database URL [default: the orderly-demo.db or orderly.db here].
        #[arg(long, env = "ORDERLY_DATABASE")]
        database: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token; prints the secret once (only its hash is stored).
    Create {
        /// nurse, facilities, biomed or admin.
        #[arg(long)]
        role: String,
        /// Who or what holds it.
        #[arg(long)]
        name: String,
        /// Units a nurse may see, comma-separated.
        #[arg(long, value_delimiter = ',')]
        units: Vec<String>,
        /// How long it works: `90d`, `12h`, ... or `never` (a service that is rotated by hand).
        #[arg(long, default_value = "90d")]
        expires_in: String,
        /// Database URL [default: the orderly-demo.db or orderly.db here].
        #[arg(long, env = "ORDERLY_DATABASE")]
        database: Option<String>,
        /// With several sites on one database: the site (its id) whose tokens these are (its
        /// PostgreSQL schema, or its SQLite file beside the database's).
        #[arg(long, env = "ORDERLY_SITE")]
        site: Option<String>,
        /// Make a new database if there is none (otherwise a mistyped path is refused: a
        /// token in a new, empty database is one no Orderly reads).
        #[arg(long)]
        create: bool,
        /// The floorplan whose units `--units` names [default: the demo hospital's].
        #[arg(long, env = "ORDERLY_FLOORPLAN")]
        floorplan: Option<PathBuf>,
    },
    /// Every token: id, holder, role, units, created, expires, revoked (never a secret).
    List {
        /// Database URL [default: the orderly-demo.db or orderly.db here].
        #[arg(long, env = "ORDERLY_DATABASE")]
        database: Option<String>,
        /// With several sites on one database: the site (its id) whose tokens these are (its
        /// PostgreSQL schema, or its SQLite file beside the database's).
        #[arg(long, env = "ORDERLY_SITE")]
        site: Option<String>,
    },
    /// Revoke a token by id.
    Revoke {
        id: String,
        /// Database URL [default: the orderly-demo.db or orderly.db here].
        #[arg(long, env = "ORDERLY_DATABASE")]
        database: Option<String>,
        /// With several sites on one database: the site (its id) whose tokens these are (its
        /// PostgreSQL schema, or its SQLite file beside the database's).
        #[arg(long, env = "ORDERLY_SITE")]
        site: Option<String>,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORDERLY_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,rumqttd=warn,rumqttc=warn,sqlx=warn,tower_http=warn",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// A failure is reported as `error: ...` on standard error, with its causes on the same line
/// and no backtrace (whatever `RUST_BACKTRACE` says: this is a message for a person), and the
/// exit status is 1.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.cmd {
        Cmd::Demo(args) => rt.block_on(serve::demo(args)),
        Cmd::Run(args) => rt.block_on(serve::run(*args)),
        Cmd::Sim(args) => rt.block_on(simulate::sim(args)),
        Cmd::Record(args) => rt.block_on(replay::record(args)),
        Cmd::Replay(args) => replay::replay(args),
        Cmd::Token { cmd } => rt.block_on(token(cmd)),
        Cmd::Audit {
            cmd: AuditCmd::Verify { database },
        } => existing_database(database, false).and_then(|d| rt.block_on(audit_verify(d))),
        Cmd::Devices(args) => devices::main(args),
        Cmd::Rules { cmd } => rules::main(cmd),
        Cmd::Broker { listen } => {
            let b = orderly_mqtt::EmbeddedBroker::start(listen)?;
            println!("MQTT broker (embedded): {}", b.addr);
            rt.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
            Ok(())
        }
        Cmd::Check {
            floorplan,
            seed,
            config,
            rules,
        } => {
            let (fp, s) = files::site_or_demo(floorplan.as_deref(), seed.as_deref())?;
            let loaded = rules::load(rules.as_deref(), &fp, &s)?;
            if let Some(c) = config {
                config::FileConfig::load(&c)?;
            }
            println!(
                "ok: {} floors, {} units, {} rooms, {} receivers; {} assets, {} staff, {} patients; {} rules",
                fp.floors.len(),
                fp.units.len(),
                fp.rooms.len(),
                fp.receivers().len(),
                s.assets.len(),
                s.staff.len(),
                s.patients.len(),
                loaded.rules.rules.len()
            );
            Ok(())
        }
    }
}

/// The database a maintenance command (token, audit) works on: the one named, else the one
/// here that `orderly demo` (orderly-demo.db) or `orderly run` (orderly.db) made. A SQLite file
/// that does not exist is not made unless asked (`--create`, or `mode=rwc` in the URL): a typo
/// would otherwise make an empty database, and a token in it that no Orderly reads.
fn existing_database(named: Option<String>, create: bool) -> Result<String> {
    let url = match named {
        Some(u) => u,
        None => {
            let here: Vec<&str> = ["orderly-demo.db", "orderly.db"]
                .into_iter()
                .filter(|f| std::path::Path::new(f).exists())
                .collect();
            match here.as_slice() {
                [one] => format!("sqlite://{one}"),
                [] if create => "sqlite://orderly-demo.db".to_string(),
                [] => anyhow::bail!(
                    "no database here (orderly-demo.db from `orderly demo`, orderly.db from `orderly run`): run this where Orderly runs, or name it with --database URL"
                ),
                _ => anyhow::bail!(
                    "both orderly-demo.db and orderly.db are here: name one with --database sqlite://orderly-demo.db or --database sqlite://orderly.db"
                ),
            }
        }
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        let (file, query) = path.split_once('?').unwrap_or((path, ""));
        if !create && !query.contains("mode=rwc") && !std::path::Path::new(file).exists() {
            anyhow::bail!(
                "no database at {file}: check --database (or add --create to make a new one)"
            );
        }
    }
    Ok(url)
}

async fn token(cmd: TokenCmd) -> Result<()> {
    use orderly_model::Role;
    match cmd {
        TokenCmd::Create {
            role,
            name,
            units,
            expires_in,
            database,
            site,
            create,
            floorplan,
        } => {
            let database = existing_database(database, create)?;
            let now = orderly_mqtt::client::wall_clock();
            let expires = match expires_in.as_str() {
                "never" => None,
                d => {
                    let d = humantime::parse_duration(d).map_err(|e| {
                        anyhow::anyhow!(
                            "--expires-in {d:?}: {e} (write a duration like 90d or 12h, or never)"
                        )
                    })?;
                    Some(now.plus_ms(d.as_millis().min(i64::MAX as u128) as i64))
                }
            };
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("unknown role {role:?}: use nurse, facilities, biomed or admin")
            })?;
            // `--units ""` (a script's empty list) is no unit.
            let units: Vec<String> = units
                .into_iter()
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect();
            if role == Role::Nurse && units.is_empty() {
                anyhow::bail!("a nurse token needs --units (the units she may see)");
            }
            let fp = match &floorplan {
                Some(f) => {
                    let text = std::fs::read_to_string(f)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
                    orderly_floorplan::Floorplan::parse(&f.display().to_string(), &text)
                        .map_err(|e| anyhow::anyhow!("the floorplan is not valid:\n{e}"))?
                }
                None => files::demo_site()?.0.as_ref().clone(),
            };
            if let Some(u) = units.iter().find(|u| fp.unit(u).is_none()) {
                let known: Vec<&str> = fp.units.iter().map(|x| x.id.as_str()).collect();
                anyhow::bail!(
                    "unknown unit {u:?} in --units (the floorplan's units: {}; another site's floorplan with --floorplan)",
                    known.join(", ")
                );
            }
            let store = open_site(&database, site.as_deref()).await?;
            let (id, secret) = store
                .create_token(&name, role, &units, now, expires)
                .await?;
            println!("token id: {id}\nsecret (shown once): {secret}");
            match expires {
                Some(t) => println!("expires: {}", t.to_rfc3339()),
                None => println!("expires: never (revoke it by hand: orderly token revoke {id})"),
            }
            store.close().await;
        }
        TokenCmd::List { database, site } => {
            let database = existing_database(database, false)?;
            let store = open_site(&database, site.as_deref()).await?;
            let tokens = store.tokens().await?;
            store.close().await;
            let now = orderly_mqtt::client::wall_clock();
            println!(
                "{:<16} {:<10} {:<12} {:<22} {:<22} {:<10} name",
                "id", "role", "units", "created", "expires", "state"
            );
            for t in tokens {
                let state = match (t.revoked, t.expires) {
                    (Some(_), _) => "revoked",
                    (None, Some(e)) if e <= now => "expired",
                    _ => "active",
                };
                let day = |ts: orderly_model::Timestamp| {
                    ts.to_rfc3339().chars().take(19).collect::<String>()
                };
                println!(
                    "{:<16} {:<10} {:<12} {:<22} {:<22} {:<10} {}",
                    t.id,
                    t.role,
                    if t.units.is_empty() {
                        "-".to_string()
                    } else {
                        t.units.join(",")
                    },
                    day(t.created),
                    t.expires.map_or("never".to_string(), day),
                    state,
                    t.name
                );
            }
        }
        TokenCmd::Revoke { id, database, site } => {
            let database = existing_database(database, false)?;
            let store = open_site(&database, site.as_deref()).await?;
            let done = store
                .revoke_token(&id, orderly_mqtt::client::wall_clock())
                .await?;
            store.close().await;
            if !done {
                // A typo in the id must not look like a revoked token.
                anyhow::bail!(
                    "no active token with id {id:?} (it does not exist or was revoked already; `orderly token create` prints the id)"
                );
            }
            println!("revoked");
        }
    }
    Ok(())
}

/// The store of `site` when several sites share `database` (`[[site]]`), else `database`'s.
async fn open_site(database: &str, site: Option<&str>) -> Result<orderly_store::Store> {
    let (url, schema) = match site {
        Some(id) => config::site_database(database, id),
        None => (database.to_string(), None),
    };
    Ok(orderly_store::Store::open_in(&url, schema.as_deref()).await?)
}

async fn audit_verify(database: String) -> Result<()> {
    let store = orderly_store::Store::open(&database).await?;
    let v = store.verify_audit().await?;
    store.close().await;
    if !v.problems.is_empty() {
        for p in &v.problems {
            eprintln!("audit: {p}");
        }
        anyhow::bail!(
            "the audit log was tampered with: {} problem(s) in {} records (listed above)",
            v.problems.len(),
            v.records
        );
    }
    println!(
        "ok: {} audit records, the chain is intact; head: record {} hash {}{}",
        v.records,
        v.head.0,
        v.head.1,
        if v.unchained > 0 {
            format!(
                " ({} older records were written before the chain and cannot be checked)",
                v.unchained
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
