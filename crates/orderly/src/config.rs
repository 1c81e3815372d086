//! Configuration: flags, then environment (`ORDERLY_*`), then a TOML file (`--config`), then
//! defaults. A bad file stops startup with its line and the fix.

use anyhow::{Result, anyhow};
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The configuration file (`orderly.example.toml` documents every key).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub http: Option<SocketAddr>,
    pub mqtt_host: Option<String>,
    pub mqtt_port: Option<u16>,
    pub embedded_broker: Option<bool>,
    pub database: Option<String>,
    pub floorplan: Option<PathBuf>,
    pub seed: Option<PathBuf>,
    /// Rules directory: detectors.toml and alert rules, reloaded when a file changes.
    pub rules: Option<PathBuf>,
    /// Messages per second one device may send before the excess is dropped.
    pub device_rate: Option<f64>,
    /// The broker user Orderly connects as (its password from `mqtt_password_file` or the
    /// environment variable ORDERLY_MQTT_PASSWORD, never from this file).
    pub mqtt_username: Option<String>,
    pub mqtt_password_file: Option<PathBuf>,
    /// TLS to the broker: the CA bundle (PEM) that signed the broker's certificate.
    pub mqtt_tls_ca: Option<PathBuf>,
    /// This client's certificate and key (PEM), for a broker that requires one.
    pub mqtt_tls_cert: Option<PathBuf>,
    pub mqtt_tls_key: Option<PathBuf>,
    pub hl7: Option<SocketAddr>,
    pub census_map: Option<PathBuf>,
    pub hl7_tls_cert: Option<PathBuf>,
    pub hl7_tls_key: Option<PathBuf>,
    /// Hospital alert managers that receive every alert state change (IHE PCD ACM over MLLP).
    #[serde(default)]
    pub alert_manager: Vec<AlertManagerFile>,
    /// Webhook deliveries: one attempt's limit and how long an event may fail before its
    /// subscription is paused (`10s`, `10m`).
    pub webhook_timeout: Option<String>,
    pub webhook_pause_after: Option<String>,
    /// This instance's name among those sharing the database (default: host name and
    /// process id).
    pub instance: Option<String>,
    /// How long the site's lease lasts unless renewed (`10s`): a standby takes the site over
    /// within about this long after its owner dies.
    pub lease: Option<String>,
    /// Where other instances reach this one's API, host:port (default: the `http` address;
    /// the host's name when that is a wildcard such as 0.0.0.0).
    pub advertise: Option<String>,
    /// Several sites (hospitals) served by every instance: the instances share them out, one
    /// owner each. Instead of the top-level `floorplan`, `seed`, `http`, `hl7`, `census_map`
    /// and `advertise`.
    #[serde(default)]
    pub site: Vec<SiteFile>,
}

/// One `[[site]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFile {
    pub floorplan: PathBuf,
    pub seed: PathBuf,
    /// The site's API and pages on this instance.
    pub http: SocketAddr,
    /// Where other instances reach this site's API on this one (HOST:PORT).
    pub advertise: Option<String>,
    /// The site's HL7 (MLLP) listener, and its census map.
    pub hl7: Option<SocketAddr>,
    pub census_map: Option<PathBuf>,
    /// The site's own database [default: the top-level one; on PostgreSQL in the schema
    /// `site_<id>`, on SQLite in the file `<name>-<id>.db` beside it].
    pub database: Option<String>,
    /// How much of an instance the site takes when the instances share the sites out
    /// [default: the number of devices and tags its floorplan and seed declare].
    pub weight: Option<std::num::NonZeroU32>,
}

/// One `[[alert_manager]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertManagerFile {
    /// A short name (`vocera`): the destination is `alert-manager:{name}`.
    pub name: String,
    /// `host:port` of its MLLP listener.
    pub address: String,
    /// Connect over TLS, trusting this CA bundle (PEM); `tls = true` trusts the system's CAs.
    pub tls_ca: Option<PathBuf>,
    #[serde(default)]
    pub tls: bool,
    /// The name its certificate carries [default: the address's host].
    pub server_name: Option<String>,
    /// MSH-5 [default: the name in capitals].
    pub receiving_application: Option<String>,
    /// How long its ACK may take (`10s`) and how long it may be unreachable before a technical
    /// alert (`60s`).
    pub ack_timeout: Option<String>,
    pub unreachable_after: Option<String>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow!("cannot read the configuration {name}: {e}"))?;
        orderly_model::Source::new(&name, &text)
            .parse_toml::<FileConfig>()
            .map_err(|e| anyhow!("the configuration is not valid:\n{e}"))
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "ORDERLY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address the API listens on [default: 127.0.0.1:8080].
    #[arg(long, env = "ORDERLY_HTTP")]
    pub http: Option<SocketAddr>,
    /// MQTT broker host [default: 127.0.0.1].
    #[arg(long, env = "ORDERLY_MQTT_HOST")]
    pub mqtt_host: Option<String>,
    /// MQTT broker port [default: 1883].
    #[arg(long, env = "ORDERLY_MQTT_PORT")]
    pub mqtt_port: Option<u16>,
    /// Start an embedded broker listening on mqtt-host:mqtt-port.
    #[arg(long, env = "ORDERLY_EMBEDDED_BROKER")]
    pub embedded_broker: Option<bool>,
    /// Database URL: sqlite://FILE or postgres://... [default: sqlite://orderly.db].
    #[arg(long, env = "ORDERLY_DATABASE")]
    pub database: Option<String>,
    /// Floorplan file [default: the bundled demo hospital; give both --floorplan and --seed,
    /// or neither].
    #[arg(long, env = "ORDERLY_FLOORPLAN")]
    pub floorplan: Option<PathBuf>,
    /// The seed: asset registry and census [default: the bundled demo's].
    #[arg(long, env = "ORDERLY_SEED")]
    pub seed: Option<PathBuf>,
    /// Rules directory (detectors.toml and alert rules), reloaded when a file changes
    /// [default: the bundled rules, not reloaded].
    #[arg(long, env = "ORDERLY_RULES")]
    pub rules: Option<PathBuf>,
    /// Messages per second one device may send [default: 50].
    #[arg(long, env = "ORDERLY_DEVICE_RATE")]
    pub device_rate: Option<f64>,
    /// The broker user Orderly connects as (`orderly devices` makes one called `orderly`).
    #[arg(long, env = "ORDERLY_MQTT_USERNAME")]
    pub mqtt_username: Option<String>,
    /// File holding the broker password (its first line); or set ORDERLY_MQTT_PASSWORD.
    #[arg(long, env = "ORDERLY_MQTT_PASSWORD_FILE")]
    pub mqtt_password_file: Option<PathBuf>,
    /// Connect to the broker over TLS, trusting this CA bundle (PEM).
    #[arg(long, env = "ORDERLY_MQTT_TLS_CA")]
    pub mqtt_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a broker that requires one; needs --mqtt-tls-key.
    #[arg(long, env = "ORDERLY_MQTT_TLS_CERT")]
    pub mqtt_tls_cert: Option<PathBuf>,
    /// Client private key (PEM) for --mqtt-tls-cert.
    #[arg(long, env = "ORDERLY_MQTT_TLS_KEY")]
    pub mqtt_tls_key: Option<PathBuf>,
    /// Listen for HL7 v2 (ADT and ORU over MLLP) from the interface engine on this address
    /// (the census, live).
    #[arg(long, env = "ORDERLY_HL7")]
    pub hl7: Option<SocketAddr>,
    /// The census map: the hospital's location and observation codes to this site's beds
    /// and facts [default: floorplans/demo-census.toml].
    #[arg(long, env = "ORDERLY_CENSUS_MAP")]
    pub census_map: Option<PathBuf>,
    /// Serve HL7 over TLS with this PEM certificate chain (with --hl7-tls-key).
    #[arg(long, env = "ORDERLY_HL7_TLS_CERT")]
    pub hl7_tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key.
    #[arg(long, env = "ORDERLY_HL7_TLS_KEY")]
    pub hl7_tls_key: Option<PathBuf>,
    /// Send every alert state change to a hospital alert manager (IHE PCD ACM ORU^R40 over
    /// MLLP): NAME=HOST:PORT, repeatable (more settings in the file's [[alert_manager]]).
    #[arg(
        long = "alert-manager",
        env = "ORDERLY_ALERT_MANAGERS",
        value_delimiter = ','
    )]
    pub alert_managers: Vec<String>,
    /// An alert manager unreachable this long raises a technical alert [default: 60s].
    #[arg(long, env = "ORDERLY_ALERT_MANAGER_UNREACHABLE_AFTER")]
    pub alert_manager_unreachable_after: Option<String>,
    /// How long an alert manager's ACK may take [default: 10s].
    #[arg(long, env = "ORDERLY_ALERT_MANAGER_ACK_TIMEOUT")]
    pub alert_manager_ack_timeout: Option<String>,
    /// One webhook delivery attempt's limit [default: 10s].
    #[arg(long, env = "ORDERLY_WEBHOOK_TIMEOUT")]
    pub webhook_timeout: Option<String>,
    /// A webhook event failing this long (and at least 5 attempts) pauses its subscription
    /// [default: 10m].
    #[arg(long, env = "ORDERLY_WEBHOOK_PAUSE_AFTER")]
    pub webhook_pause_after: Option<String>,
    /// This instance's name among those sharing the database [default: host name and
    /// process id].
    #[arg(long, env = "ORDERLY_INSTANCE")]
    pub instance: Option<String>,
    /// How long the site's lease lasts unless renewed (renewed five times a lease); a standby
    /// takes the site over within about this long after its owner dies [default: 10s].
    #[arg(long, env = "ORDERLY_LEASE")]
    pub lease: Option<String>,
    /// Where other instances reach this one's API, HOST:PORT (a standby forwards requests to
    /// the owner) [default: --http; the host's name when that is a wildcard address].
    #[arg(long, env = "ORDERLY_ADVERTISE")]
    pub advertise: Option<String>,
    /// Create an admin token at start and print it (for test harnesses).
    #[arg(long, hide = true)]
    pub print_admin_token: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address the API listens on.
    #[arg(long, env = "ORDERLY_HTTP", default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Port of the embedded MQTT broker (127.0.0.1).
    #[arg(long, env = "ORDERLY_MQTT_PORT", default_value_t = 18830)]
    pub mqtt_port: u16,
    /// The SQLite file (or any database URL).
    #[arg(
        long,
        env = "ORDERLY_DATABASE",
        default_value = "sqlite://orderly-demo.db"
    )]
    pub database: String,
    /// Random seed of the simulator.
    #[arg(long, default_value_t = 1)]
    pub sim_seed: u64,
    /// Equipment moves per item per hour in the simulation.
    #[arg(long, default_value_t = 2.0)]
    pub moves_per_hour: f64,
    /// Bed exits per occupied bed per hour in the simulation.
    #[arg(long, default_value_t = 0.2)]
    pub bed_exits_per_hour: f64,
    /// Falls per patient per hour in the simulation.
    #[arg(long, default_value_t = 0.01)]
    pub falls_per_hour: f64,
    /// Stream simulated wearable accelerometers (50 Hz): falls found by Orderly's detector.
    #[arg(long)]
    pub imu: bool,
    /// Chance (0-1) that a nurse's visit leaves a bed with a safety setting out of place (the
    /// demo's beds then get Orderly's commands and suggestions).
    #[arg(long, default_value_t = 0.1)]
    pub care_lapses: f64,
    /// Rules directory, reloaded when a file changes [default: ./rules when it exists, else
    /// the bundled rules].
    #[arg(long, env = "ORDERLY_RULES")]
    pub rules: Option<PathBuf>,
    /// Address of the HL7 v2 (MLLP) listener the simulated interface engine sends the census to.
    #[arg(long, env = "ORDERLY_HL7", default_value = "127.0.0.1:2575")]
    pub hl7: SocketAddr,
    /// Start without the simulated months of service history that an empty database
    /// otherwise gets (work orders done, due, overdue and predicted).
    #[arg(long)]
    pub no_history: bool,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub http: SocketAddr,
    pub mqtt_host: String,
    pub mqtt_port: u16,
    pub embedded_broker: bool,
    pub database: String,
    /// Floorplan and seed files (None: the bundled demo's).
    pub floorplan: Option<PathBuf>,
    pub seed: Option<PathBuf>,
    pub rules: Option<PathBuf>,
    pub device_rate: f64,
    pub mqtt_security: orderly_mqtt::Security,
    pub print_admin_token: bool,
    /// The HL7 listener's address, if any.
    pub hl7: Option<SocketAddr>,
    /// The census map file (None: the bundled demo's).
    pub census_map: Option<PathBuf>,
    /// HL7 over TLS: certificate chain and key.
    pub hl7_tls: Option<(PathBuf, PathBuf)>,
    /// Alert managers that receive every alert state change.
    pub alert_managers: Vec<AlertManagerSetting>,
    pub webhooks: orderly_outbound::webhook::Settings,
    /// This instance's name in the cluster.
    pub instance: String,
    /// How long the site's lease lasts unless renewed.
    pub lease: std::time::Duration,
    /// Where other instances reach this one's API (host:port), if configured.
    pub advertise: Option<String>,
    /// The PostgreSQL schema of the site's tables (None: the database's default).
    pub schema: Option<String>,
    /// The sites of `[[site]]`, when several are served (empty: the one site above).
    pub sites: Vec<SiteFile>,
    /// The site's `weight` (None: its devices and tags, counted).
    pub weight: Option<std::num::NonZeroU32>,
}

impl Settings {
    /// These settings for one of `sites`, whose id is `id`: its files, addresses and database.
    pub fn for_site(&self, site: &SiteFile, id: &str) -> Settings {
        let (database, schema) = match &site.database {
            Some(url) => (url.clone(), None),
            None => site_database(&self.database, id),
        };
        Settings {
            floorplan: Some(site.floorplan.clone()),
            seed: Some(site.seed.clone()),
            http: site.http,
            advertise: site.advertise.clone(),
            hl7: site.hl7,
            census_map: site.census_map.clone(),
            database,
            schema,
            sites: Vec::new(),
            weight: site.weight,
            ..self.clone()
        }
    }
}

/// Where site `id` keeps its tables when several sites share `database`: on PostgreSQL the
/// same database in the schema `site_<id>`, on SQLite a file beside.
pub fn site_database(database: &str, id: &str) -> (String, Option<String>) {
    match database.starts_with("postgres") {
        true => (database.to_string(), Some(orderly_store::site_schema(id))),
        false => (sqlite_beside(database, id), None),
    }
}

/// A SQLite URL's file with `-<id>` before its extension (`sqlite://data/o.db?x` to
/// `sqlite://data/o-east.db?x`): a site's own file beside the configured one.
fn sqlite_beside(url: &str, id: &str) -> String {
    let id: String = id
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .collect();
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (url, String::new()),
    };
    let (dir, file) = match path.rsplit_once('/') {
        Some((d, f)) => (format!("{d}/"), f),
        None => (String::new(), path),
    };
    let file = match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}-{id}.{ext}"),
        _ => format!("{file}-{id}"),
    };
    format!("{dir}{file}{query}")
}

/// The host's name and this process's id: unique among instances, and new after a restart
/// (a restarted instance waits out its predecessor's lease like any standby).
pub fn default_instance() -> String {
    format!("{}-{}", host_name(), std::process::id())
}

/// This host's name ("localhost" when it cannot be read).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// An alert manager, resolved.
#[derive(Debug, Clone)]
pub struct AlertManagerSetting {
    pub name: String,
    pub address: String,
    /// TLS: the CA file (None: the system's CAs) and the certificate's name.
    pub tls: Option<(Option<PathBuf>, String)>,
    pub receiving_application: String,
    pub ack_timeout: std::time::Duration,
    pub unreachable_after: std::time::Duration,
}

/// A duration such as `60s`, `10m`, `500ms`, named in the error.
fn duration(what: &str, text: Option<&str>, default: u64) -> Result<std::time::Duration> {
    match text {
        None => Ok(std::time::Duration::from_secs(default)),
        Some(t) => humantime::parse_duration(t.trim())
            .map_err(|e| anyhow!("{what} {t:?} is not a duration like 60s or 10m ({e})")),
    }
}

fn alert_managers(args: &RunArgs, file: &FileConfig) -> Result<Vec<AlertManagerSetting>> {
    let unreachable = duration(
        "--alert-manager-unreachable-after",
        args.alert_manager_unreachable_after.as_deref(),
        60,
    )?;
    let ack = duration(
        "--alert-manager-ack-timeout",
        args.alert_manager_ack_timeout.as_deref(),
        10,
    )?;
    let mut out = Vec::new();
    for a in &args.alert_managers {
        let Some((name, address)) = a.split_once('=') else {
            anyhow::bail!(
                "--alert-manager {a:?} is not NAME=HOST:PORT (for example vocera=10.0.0.5:2575)"
            );
        };
        out.push(AlertManagerSetting {
            name: name.trim().to_string(),
            address: address.trim().to_string(),
            tls: None,
            receiving_application: name.trim().to_ascii_uppercase(),
            ack_timeout: ack,
            unreachable_after: unreachable,
        });
    }
    for f in &file.alert_manager {
        let host = f
            .address
            .rsplit_once(':')
            .map_or(f.address.as_str(), |(h, _)| h)
            .to_string();
        out.push(AlertManagerSetting {
            name: f.name.clone(),
            address: f.address.clone(),
            tls: (f.tls || f.tls_ca.is_some())
                .then(|| (f.tls_ca.clone(), f.server_name.clone().unwrap_or(host))),
            receiving_application: f
                .receiving_application
                .clone()
                .unwrap_or_else(|| f.name.to_ascii_uppercase()),
            ack_timeout: match &f.ack_timeout {
                Some(t) => duration("ack_timeout", Some(t), 10)?,
                None => ack,
            },
            unreachable_after: match &f.unreachable_after {
                Some(t) => duration("unreachable_after", Some(t), 60)?,
                None => unreachable,
            },
        });
    }
    let mut names = std::collections::BTreeSet::new();
    for m in &out {
        if m.name.is_empty()
            || !m
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            anyhow::bail!(
                "alert manager name {:?}: use letters, digits, '-', '_' or '.'",
                m.name
            );
        }
        if !names.insert(m.name.clone()) {
            anyhow::bail!("two alert managers are named {:?}", m.name);
        }
        if !m.address.contains(':') {
            anyhow::bail!(
                "alert manager {} address {:?} is not HOST:PORT",
                m.name,
                m.address
            );
        }
    }
    Ok(out)
}

impl RunArgs {
    pub fn resolve(self) -> Result<Settings> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let alert_managers = alert_managers(&self, &file)?;
        let webhooks = orderly_outbound::webhook::Settings {
            timeout: duration(
                "--webhook-timeout",
                self.webhook_timeout
                    .as_deref()
                    .or(file.webhook_timeout.as_deref()),
                10,
            )?,
            pause_after: duration(
                "--webhook-pause-after",
                self.webhook_pause_after
                    .as_deref()
                    .or(file.webhook_pause_after.as_deref()),
                600,
            )?,
            ..Default::default()
        };
        let lease = duration(
            "--lease",
            self.lease.as_deref().or(file.lease.as_deref()),
            10,
        )?;
        if lease < std::time::Duration::from_secs(2) || lease > std::time::Duration::from_secs(300)
        {
            anyhow::bail!(
                "--lease {}: a lease lasts from 2s to 300s (10s by default)",
                humantime::format_duration(lease)
            );
        }
        let instance = match self.instance.or(file.instance) {
            Some(n) if n.trim().is_empty() || n.len() > 100 => anyhow::bail!(
                "--instance: give this instance a name of 1 to 100 characters (or leave it out: the host name and process id)"
            ),
            Some(n) => n.trim().to_string(),
            None => default_instance(),
        };
        let advertise = self.advertise.or(file.advertise);
        if !file.site.is_empty() {
            let single = [
                (
                    "floorplan",
                    self.floorplan.is_some() || file.floorplan.is_some(),
                ),
                ("seed", self.seed.is_some() || file.seed.is_some()),
                ("http", self.http.is_some() || file.http.is_some()),
                ("hl7", self.hl7.is_some() || file.hl7.is_some()),
                (
                    "census_map",
                    self.census_map.is_some() || file.census_map.is_some(),
                ),
                ("advertise", advertise.is_some()),
            ];
            if let Some((key, _)) = single.iter().find(|(_, set)| *set) {
                anyhow::bail!(
                    "{key} is given for the whole instance and the configuration has [[site]] tables: with several sites, give each its {key} in its [[site]]"
                );
            }
            let mut taken: Vec<(&str, u16)> = Vec::new();
            for (i, s) in file.site.iter().enumerate() {
                for (key, addr) in [("http", Some(s.http)), ("hl7", s.hl7)] {
                    // Port 0: any free port, the system's choice (tests).
                    let Some(port) = addr.map(|a| a.port()).filter(|p| *p != 0) else {
                        continue;
                    };
                    if taken.contains(&(key, port)) {
                        anyhow::bail!(
                            "[[site]] {} ({}): {key} port {port} is another site's; give each site its own",
                            i + 1,
                            s.floorplan.display()
                        );
                    }
                    taken.push((key, port));
                }
                check_advertise(s.advertise.as_deref())?;
            }
        }
        check_advertise(advertise.as_deref())?;
        Ok(Settings {
            schema: None,
            sites: file.site,
            weight: None,
            alert_managers,
            webhooks,
            instance,
            lease,
            advertise,
            http: self
                .http
                .or(file.http)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            mqtt_host: self
                .mqtt_host
                .or(file.mqtt_host)
                .unwrap_or_else(|| "127.0.0.1".into()),
            mqtt_port: self.mqtt_port.or(file.mqtt_port).unwrap_or(1883),
            embedded_broker: self
                .embedded_broker
                .or(file.embedded_broker)
                .unwrap_or(false),
            database: self
                .database
                .or(file.database)
                .unwrap_or_else(|| "sqlite://orderly.db".into()),
            floorplan: self.floorplan.or(file.floorplan),
            seed: self.seed.or(file.seed),
            rules: self.rules.or(file.rules),
            device_rate: self.device_rate.or(file.device_rate).unwrap_or(50.0),
            mqtt_security: security(
                self.mqtt_username.or(file.mqtt_username),
                self.mqtt_password_file.or(file.mqtt_password_file),
                std::env::var("ORDERLY_MQTT_PASSWORD").ok(),
                self.mqtt_tls_ca.or(file.mqtt_tls_ca),
                self.mqtt_tls_cert.or(file.mqtt_tls_cert),
                self.mqtt_tls_key.or(file.mqtt_tls_key),
            )?,
            print_admin_token: self.print_admin_token,
            hl7: self.hl7.or(file.hl7),
            census_map: self.census_map.or(file.census_map),
            hl7_tls: match (
                self.hl7_tls_cert.or(file.hl7_tls_cert),
                self.hl7_tls_key.or(file.hl7_tls_key),
            ) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => anyhow::bail!(
                    "HL7 over TLS needs both --hl7-tls-cert and --hl7-tls-key (or neither)"
                ),
            },
        })
    }
}

/// `--advertise` (or a site's `advertise`) is HOST:PORT.
fn check_advertise(advertise: Option<&str>) -> Result<()> {
    if let Some(a) = advertise {
        let port = a
            .rsplit_once(':')
            .and_then(|(h, p)| (!h.is_empty()).then_some(p));
        if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
            anyhow::bail!(
                "--advertise {a}: give the host and port other instances reach this one's API at, as HOST:PORT"
            );
        }
    }
    Ok(())
}

/// The broker credentials and TLS files, checked for what belongs together.
pub fn security(
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<orderly_mqtt::Security> {
    use orderly_mqtt::{Credentials, TlsFiles};
    let credentials = match (username, password_file, password_env) {
        (None, None, _) => None,
        (None, Some(_), _) => {
            return Err(anyhow!(
                "--mqtt-password-file needs --mqtt-username (the broker user it belongs to)"
            ));
        }
        (Some(u), Some(f), _) => Some(Credentials {
            username: u,
            password: orderly_mqtt::security::read_password(&f)?,
        }),
        (Some(u), None, Some(p)) if !p.is_empty() => Some(Credentials {
            username: u,
            password: p,
        }),
        (Some(u), None, _) => {
            return Err(anyhow!(
                "--mqtt-username {u:?} needs a password: --mqtt-password-file FILE or the environment variable ORDERLY_MQTT_PASSWORD"
            ));
        }
    };
    let client = match (cert, key) {
        (None, None) => None,
        (Some(c), Some(k)) => Some((c, k)),
        _ => {
            return Err(anyhow!(
                "a client certificate needs both --mqtt-tls-cert and --mqtt-tls-key"
            ));
        }
    };
    let tls = match (ca, client) {
        (Some(ca), client) => Some(TlsFiles { ca, client }),
        (None, None) => None,
        (None, Some(_)) => {
            return Err(anyhow!(
                "--mqtt-tls-cert needs --mqtt-tls-ca (the CA that signed the broker's certificate)"
            ));
        }
    };
    Ok(orderly_mqtt::Security { credentials, tls })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn several_sites_each_get_their_files_addresses_and_database() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("o.toml");
        let site = |n: u16, more: &str| {
            format!(
                "[[site]]\nfloorplan = \"east.toml\"\nseed = \"east-seed.toml\"\nhttp = \"0.0.0.0:{n}\"\n{more}\n"
            )
        };
        let resolve = |text: String, flags: &[&str]| {
            std::fs::write(&file, text).unwrap();
            let mut args = vec!["orderly", "--config", file.to_str().unwrap()];
            args.extend(flags);
            Cli::parse_from(args).run.resolve()
        };
        let s = resolve(
            format!(
                "database = \"postgres://o@db/orderly\"\n{}{}",
                site(8081, "hl7 = \"0.0.0.0:2575\""),
                site(8082, "database = \"postgres://o@other/west\"")
            ),
            &[],
        )
        .unwrap();
        assert_eq!(s.sites.len(), 2);
        let east = s.for_site(&s.sites[0], "East-1");
        assert_eq!(east.database, "postgres://o@db/orderly");
        assert_eq!(east.schema.as_deref(), Some("site_east_1"));
        assert_eq!(east.http.port(), 8081);
        assert_eq!(east.hl7.map(|h| h.port()), Some(2575));
        let west = s.for_site(&s.sites[1], "west");
        assert_eq!(
            (west.database.as_str(), west.schema),
            ("postgres://o@other/west", None)
        );
        assert_eq!((east.weight, west.weight), (None, None));
        // A site's weight: a whole number from 1; 0 is refused where it is written.
        let s = resolve(site(8081, "weight = 4000"), &[]).unwrap();
        assert_eq!(
            s.for_site(&s.sites[0], "east").weight.map(|w| w.get()),
            Some(4000)
        );
        let e = resolve(site(8081, "weight = 0"), &[]).unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("o.toml:5:") && e.contains("nonzero"), "{e}");
        // SQLite: a file per site beside the configured one.
        let s = resolve(
            format!(
                "database = \"sqlite://data/o.db?mode=rwc\"\n{}",
                site(8081, "")
            ),
            &[],
        )
        .unwrap();
        let east = s.for_site(&s.sites[0], "east");
        assert_eq!(east.database, "sqlite://data/o-east.db?mode=rwc");
        assert_eq!(east.schema, None);
        // What belongs to a site is refused for the whole instance, and ports are not shared.
        let e = resolve(site(8081, ""), &["--http", "127.0.0.1:9000"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("http is given for the whole instance"), "{e}");
        let e = resolve(format!("{}{}", site(8081, ""), site(8081, "")), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("http port 8081 is another site's"), "{e}");
        let e = resolve(site(8081, "colour = \"blue\""), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("o.toml");
        std::fs::write(
            &file,
            "mqtt_port = 1999\ndatabase = \"sqlite://from-file.db\"\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "orderly",
            "--config",
            file.to_str().unwrap(),
            "--mqtt-port",
            "2001",
        ]);
        let s = cli.run.resolve().unwrap();
        assert_eq!(s.mqtt_port, 2001);
        assert_eq!(s.database, "sqlite://from-file.db");
        assert_eq!(s.http, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(s.lease, std::time::Duration::from_secs(10));
        assert!(s.instance.ends_with(&format!("-{}", std::process::id())));
    }

    /// A lease too short to renew in time, or too long to wait out, is one clear error.
    #[test]
    fn the_lease_is_range_checked() {
        let e = Cli::parse_from(["orderly", "--lease", "1s"])
            .run
            .resolve()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--lease 1s: a lease lasts from 2s to 300s (10s by default)"
        );
        let s = Cli::parse_from(["orderly", "--lease", "3s", "--instance", "b"])
            .run
            .resolve()
            .unwrap();
        assert_eq!((s.lease.as_secs(), s.instance.as_str()), (3, "b"));
        assert!(
            Cli::parse_from(["orderly", "--instance", " "])
                .run
                .resolve()
                .is_err()
        );
    }

    /// The example file parses, with its commented-out security keys too, and a user name
    /// without a password, or a client certificate without its key, is one clear error.
    #[test]
    fn the_example_file_and_its_security_keys_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../orderly.example.toml");
        FileConfig::load(&path).unwrap();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("# mqtt_", "mqtt_");
        let text = text
            .lines()
            .map(|l| {
                let keys = [
                    "[[alert_manager]]",
                    "name",
                    "address",
                    "tls_ca",
                    "receiving_application",
                    "ack_timeout",
                    "unreachable_after",
                    "webhook_",
                    "instance",
                    "lease",
                    "advertise",
                ];
                match l.strip_prefix("# ") {
                    Some(rest) if keys.iter().any(|k| rest.starts_with(k)) => rest,
                    _ => l,
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let f: FileConfig = toml::from_str(&text).unwrap();
        assert_eq!(f.alert_manager.len(), 1);
        assert_eq!(f.webhook_pause_after.as_deref(), Some("10m"));
        assert_eq!(
            (f.instance.as_deref(), f.lease.as_deref()),
            (Some("orderly-a"), Some("10s"))
        );
        let ams = alert_managers(
            &Cli::parse_from(["orderly", "--alert-manager", "am2=127.0.0.1:2576"]).run,
            &f,
        )
        .unwrap();
        assert_eq!(ams.len(), 2);
        assert_eq!(ams[1].name, "vocera");
        assert_eq!(
            ams[1].tls.as_ref().map(|(_, n)| n.as_str()),
            Some("10.20.0.5")
        );
        assert_eq!(ams[1].unreachable_after, std::time::Duration::from_secs(60));
        assert!(
            alert_managers(
                &Cli::parse_from(["orderly", "--alert-manager", "no-address"]).run,
                &FileConfig::default()
            )
            .is_err()
        );
        assert_eq!(f.mqtt_username.as_deref(), Some("orderly"));
        assert!(f.mqtt_tls_key.is_some());
        let e = security(Some("orderly".into()), None, None, None, None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a password"), "{e}");
        let e = security(
            None,
            None,
            None,
            Some("ca.pem".into()),
            Some("c.pem".into()),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--mqtt-tls-key"), "{e}");
        let ok = security(
            Some("orderly".into()),
            None,
            Some("pw".into()),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(ok.credentials.unwrap().password, "pw");
    }

    #[test]
    fn a_bad_file_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("o.toml");
        std::fs::write(&file, "http = \"127.0.0.1:8080\"\nmqtt_prot = 1\n").unwrap();
        let err = FileConfig::load(&file).unwrap_err().to_string();
        assert!(
            err.contains("o.toml:2:1: unknown field `mqtt_prot`"),
            "{err}"
        );
    }
}
