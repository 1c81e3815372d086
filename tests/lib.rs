//! Harness for the black-box tests: starts the real `orderly` binary on a broker (the embedded
//! one, or the one named by `ORDERLY_TEST_MQTT`) and a database (a temporary SQLite file, or a
//! fresh PostgreSQL database when `ORDERLY_TEST_POSTGRES_URL` is set), each run on a site id of
//! its own so that runs sharing a broker never see each other's traffic. Talks to it only
//! through MQTT and HTTP.

pub mod browser;

use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The orderly binary: `ORDERLY_BIN`, or the workspace's debug build (built on first use).
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("ORDERLY_BIN") {
        return p.into();
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "orderly"])
                .current_dir(workspace())
                .status()
                .expect("running cargo build");
            assert!(status.success(), "cargo build -p orderly failed");
            let target = std::env::var("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| workspace().join("target"));
            target.join("debug").join("orderly")
        })
        .clone()
}

/// A port free now, for a server a test starts. Taken below the kernel's ephemeral range
/// (32768 and up on Linux): a port the kernel hands out for `:0` is one it may hand out again
/// at once to any outgoing connection (an HTTP client, a broker link), and a server that then
/// binds it fails with "address in use". Each test process walks its own stretch of ports from
/// an offset of its process id, and claims a port by locking a file named after it (in the
/// temporary folder) for as long as the process lives: the suite runs each test in its own
/// process, and two of them once picked the same port between the check and the bind. The
/// lock goes with the process, so nothing is left to clean up; a port that is locked or bound
/// is skipped.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    static CLAIMED: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(2_654_435_761)) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let locks = std::env::temp_dir().join("orderly-test-ports");
    let _ = std::fs::create_dir_all(&locks);
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(locks.join(port.to_string()))
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            CLAIMED.lock().unwrap().push(file);
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Which broker and database this run uses, for messages.
pub fn describe() -> String {
    format!(
        "broker: {}, database: {}",
        std::env::var("ORDERLY_TEST_MQTT").unwrap_or_else(|_| "embedded".into()),
        if std::env::var("ORDERLY_TEST_POSTGRES_URL").is_ok() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    )
}

/// A unique site id and a floorplan file for it (the demo hospital under another id).
pub fn site_files(dir: &Path) -> (String, PathBuf, PathBuf) {
    let site = format!(
        "t{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let fp = std::fs::read_to_string(workspace().join("floorplans/demo.toml"))
        .unwrap()
        .replacen("id = \"general\"", &format!("id = \"{site}\""), 1);
    let fp_path = dir.join("floorplan.toml");
    std::fs::write(&fp_path, fp).unwrap();
    (site, fp_path, workspace().join("floorplans/demo-seed.toml"))
}

/// `n` sites (the demo hospital under `n` ids) and a configuration file serving them all
/// (`[[site]]`, each API on a free port): the file and the site ids.
pub fn sites_config(dir: &Path, n: usize) -> (PathBuf, Vec<String>) {
    let mut ids = Vec::new();
    let mut config = String::new();
    for i in 0..n {
        let sub = dir.join(format!("site{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let (id, fp, seed) = site_files(&sub);
        config.push_str(&format!(
            "[[site]]\nfloorplan = {:?}\nseed = {:?}\nhttp = \"127.0.0.1:0\"\n\n",
            fp.display().to_string(),
            seed.display().to_string()
        ));
        ids.push(id);
    }
    let path = dir.join("sites.toml");
    std::fs::write(&path, config).unwrap();
    (path, ids)
}

/// A database for one test: a SQLite file in `dir`, or a new PostgreSQL database.
pub struct Database {
    pub url: String,
    pg: Option<(String, String)>,
}

impl Database {
    pub fn new(dir: &Path) -> Database {
        match std::env::var("ORDERLY_TEST_POSTGRES_URL") {
            Ok(admin) => {
                let name = format!(
                    "orderly_e2e_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                );
                db_exec(&admin, &format!("CREATE DATABASE {name}"));
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(b, _)| b)
                    .to_string();
                Database {
                    url: format!("{base}/{name}"),
                    pg: Some((admin, name)),
                }
            }
            Err(_) => Database {
                url: format!("sqlite://{}", dir.join("orderly.db").display()),
                pg: None,
            },
        }
    }
}

/// A database's write lock, held by a test until dropped: Orderly's commits wait meanwhile.
pub struct WriteLock {
    release: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Database {
    /// Takes the database's write lock (SQLite: an exclusive transaction; PostgreSQL: the
    /// event table locked against writes) and holds it until the guard is dropped.
    pub fn hold_writes(&self) -> WriteLock {
        let url = self.url.clone();
        let pg = self.pg.is_some();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (release, wait) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            use sqlx::Connection;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                sqlx::any::install_default_drivers();
                let mut c = sqlx::AnyConnection::connect(&url).await.expect("connect");
                let take: &[&'static str] = if pg {
                    &["BEGIN", "LOCK TABLE events IN EXCLUSIVE MODE"]
                } else {
                    &["BEGIN EXCLUSIVE"]
                };
                for sql in take {
                    sqlx::query(*sql).execute(&mut c).await.expect(sql);
                }
                let _ = ready_tx.send(());
                let _ = wait.recv();
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the database's write lock");
        WriteLock {
            release: Some(release),
            thread: Some(thread),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            db_exec(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Runs one SQL statement on the database at `url` (SQLite or PostgreSQL), as someone with
/// direct access to it would.
pub fn db_exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(url)
            .await
            .expect("connect to the database");
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .unwrap();
    });
}

/// The first column of the first row `sql` answers on the database at `url`, as an integer
/// (None when the database does not answer or the value is NULL).
pub fn db_i64(url: &str, sql: &str) -> Option<i64> {
    use sqlx::{Connection, Row};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut c = tokio::time::timeout(Duration::from_secs(5), sqlx::AnyConnection::connect(url))
            .await
            .ok()?
            .ok()?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut c)
            .await
            .ok()?;
        let v: Option<i64> = row.try_get(0).ok()?;
        let _ = c.close().await;
        v
    })
}

/// A running orderly.
pub struct Orderly {
    /// The process; None for a view of one of a process's several sites (`spawn_sites`).
    child: Option<Child>,
    pub http: String,
    pub token: String,
    pub mqtt: (String, u16),
    pub site: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
    /// The HL7 (MLLP) listener's address, when started with `--hl7`.
    pub hl7: Option<String>,
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub site: String,
    pub floorplan: PathBuf,
    pub seed: PathBuf,
    pub db: Database,
    pub mqtt: (String, u16),
    pub embedded: bool,
    /// A copy of the repository's rules/ that this test may edit; Orderly watches it.
    pub rules: PathBuf,
    /// More arguments for `orderly run` (broker credentials, TLS).
    pub args: Vec<String>,
    /// The instance name `start` and `spawn` give Orderly: the same each time, so a
    /// restarted Orderly takes its own lease back at once.
    pub instance: String,
}

impl Setup {
    /// A setup on a broker that outlives Orderly (the embedded one restarts with it): the one
    /// the suite runs on, or a Mosquitto started in `dir` (kept alive by the second value).
    /// None, after saying why `what` is skipped, when neither is there.
    pub fn with_lasting_broker(dir: &Path, what: &str) -> Option<(Setup, Option<Mosquitto>)> {
        if std::env::var("ORDERLY_TEST_MQTT").is_ok() {
            return Some((Setup::new(), None));
        }
        let port = free_port();
        let Some(m) = Mosquitto::start(dir, port) else {
            eprintln!("SKIPPED: {what}: no external broker and Mosquitto is not installed");
            return None;
        };
        Some((Setup::with_broker("127.0.0.1", port), Some(m)))
    }

    /// A setup on a broker this test runs itself (not the embedded one).
    pub fn with_broker(host: &str, port: u16) -> Setup {
        let mut s = Setup::new();
        s.mqtt = (host.to_string(), port);
        s.embedded = false;
        s
    }

    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (site, floorplan, seed) = site_files(dir.path());
        let db = Database::new(dir.path());
        let (mqtt, embedded) = match std::env::var("ORDERLY_TEST_MQTT") {
            Ok(hp) => {
                let (h, p) = hp.rsplit_once(':').expect("ORDERLY_TEST_MQTT is host:port");
                ((h.to_string(), p.parse().unwrap()), false)
            }
            Err(_) => (("127.0.0.1".to_string(), free_port()), true),
        };
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        for e in std::fs::read_dir(workspace().join("rules")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                std::fs::copy(&p, rules.join(p.file_name().unwrap())).unwrap();
            }
        }
        Setup {
            dir,
            site,
            floorplan,
            seed,
            db,
            mqtt,
            embedded,
            rules,
            args: Vec::new(),
            instance: format!(
                "e2e-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// Rewrites one file of this setup's rules directory.
    pub fn edit_rules(&self, file: &str, edit: impl FnOnce(String) -> String) {
        let p = self.rules.join(file);
        let old = std::fs::read_to_string(&p).unwrap_or_default();
        std::fs::write(&p, edit(old)).unwrap();
    }

    /// Makes rule `rule` of `file` hold for `to` instead of `from` (its first `for = ` after its
    /// id), so a test need not wait the shipped minutes.
    pub fn hold(&self, file: &str, rule: &str, from: &str, to: &str) {
        self.edit_rules(file, |t| {
            let at = t
                .find(&format!("id = \"{rule}\""))
                .unwrap_or_else(|| panic!("no rule {rule} in {file}"));
            let (head, tail) = t.split_at(at);
            format!(
                "{head}{}",
                tail.replacen(&format!("for = \"{from}\""), &format!("for = \"{to}\""), 1)
            )
        });
    }

    /// A new API token from `orderly token create` on this setup's database; its secret.
    pub fn token(&self, role: &str, name: &str, units: &str) -> String {
        self.token_with(role, name, units, &[])
    }

    /// As `token`, with more arguments (`--site ID`).
    pub fn token_with(&self, role: &str, name: &str, units: &str, more: &[&str]) -> String {
        let out = Command::new(binary())
            .args(["token", "create", "--role", role, "--name", name])
            .args(["--units", units, "--database", &self.db.url, "--create"])
            .args(more)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("secret (shown once): "))
            .expect("the secret")
            .trim()
            .to_string()
    }

    /// Starts orderly and waits until it is ready.
    pub fn start(&self) -> Orderly {
        let o = self.spawn();
        o.wait_until("ready", Duration::from_secs(30), || {
            o.get("/readyz").0 == 200
        });
        o
    }

    /// Starts orderly and waits until its API answers (ready or not).
    pub fn spawn(&self) -> Orderly {
        self.spawn_as(&self.instance)
    }

    /// Starts an orderly named `instance` (another instance of this site: a standby) and
    /// waits until its API answers.
    pub fn spawn_as(&self, instance: &str) -> Orderly {
        let mut cmd = self.command(instance);
        cmd.args(["--http", "127.0.0.1:0"])
            .arg("--floorplan")
            .arg(&self.floorplan)
            .arg("--seed")
            .arg(&self.seed);
        let (child, rx, stderr_buf) = launch(cmd);
        let (mut http, mut token, mut hl7) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while http.is_none() || token.is_none() {
            let line = start_line(&rx, deadline, &stderr_buf);
            if let Some(rest) = line.strip_prefix("API: http://") {
                http = Some(format!("http://{}", rest.trim_end_matches("/api/docs")));
            } else if let Some(rest) = line.strip_prefix("HL7: MLLP on ") {
                hl7 = rest.split_whitespace().next().map(str::to_string);
            } else if let Some(t) = line.strip_prefix("Admin token: ") {
                token = Some(t.trim().to_string());
            }
        }
        Orderly {
            child: Some(child),
            http: http.unwrap(),
            token: token.unwrap(),
            mqtt: self.mqtt.clone(),
            site: self.site.clone(),
            stderr: stderr_buf,
            hl7,
        }
    }

    /// `orderly run` on this setup's broker, database and rules, as `instance`.
    fn command(&self, instance: &str) -> Command {
        let mut cmd = Command::new(binary());
        cmd.arg("run")
            .args([
                "--mqtt-host",
                &self.mqtt.0,
                "--mqtt-port",
                &self.mqtt.1.to_string(),
            ])
            .args(["--database", &self.db.url])
            .arg("--rules")
            .arg(&self.rules)
            .args([
                "--embedded-broker",
                if self.embedded { "true" } else { "false" },
            ])
            .arg("--print-admin-token")
            .args(["--instance", instance])
            .args(&self.args);
        cmd
    }

    /// Starts an orderly named `instance` serving the `[[site]]`s of the configuration file
    /// `config` (whose ids are `sites`); waits until each site's API answers. The process,
    /// and a view of each site (its API and admin token; no process of its own).
    pub fn spawn_sites(
        &self,
        config: &Path,
        instance: &str,
        sites: &[String],
    ) -> (Orderly, BTreeMap<String, Orderly>) {
        let mut cmd = self.command(instance);
        cmd.arg("--config").arg(config);
        let (child, rx, stderr_buf) = launch(cmd);
        let mut http = BTreeMap::new();
        let mut token = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while sites
            .iter()
            .any(|s| !http.contains_key(s) || !token.contains_key(s))
        {
            let line = start_line(&rx, deadline, &stderr_buf);
            let Some(rest) = line
                .strip_prefix("API of site ")
                .or(line.strip_prefix("Admin token of site "))
            else {
                continue;
            };
            let Some((site, value)) = rest.split_once(": ") else {
                continue;
            };
            if line.starts_with("API") {
                let base = value.trim().trim_end_matches("/api/docs").to_string();
                http.insert(site.to_string(), base);
            } else {
                token.insert(site.to_string(), value.trim().to_string());
            }
        }
        let views = sites
            .iter()
            .map(|s| {
                (
                    s.clone(),
                    Orderly {
                        child: None,
                        http: http[s].clone(),
                        token: token[s].clone(),
                        mqtt: self.mqtt.clone(),
                        site: s.clone(),
                        stderr: stderr_buf.clone(),
                        hl7: None,
                    },
                )
            })
            .collect();
        let process = Orderly {
            child: Some(child),
            http: http[&sites[0]].clone(),
            token: token[&sites[0]].clone(),
            mqtt: self.mqtt.clone(),
            site: sites[0].clone(),
            stderr: stderr_buf,
            hl7: None,
        };
        (process, views)
    }
}

/// The next line Orderly prints while starting; fails the test with its log if none comes by
/// `deadline` (or it exited).
fn start_line(
    rx: &mpsc::Receiver<String>,
    deadline: Instant,
    stderr: &std::sync::Mutex<String>,
) -> String {
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(l) => l,
        Err(_) => panic!("orderly did not start; stderr:\n{}", stderr.lock().unwrap()),
    }
}

/// Starts `cmd` with its standard output's lines sent on, its standard error gathered.
fn launch(
    mut cmd: Command,
) -> (
    Child,
    mpsc::Receiver<String>,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    cmd.env("ORDERLY_LOG", "info,rumqttd=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting orderly");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stderr_buf = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sb = stderr_buf.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sb.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (child, rx, stderr_buf)
}

impl Default for Setup {
    fn default() -> Self {
        Self::new()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

/// An answer as (status, JSON or string body).
fn answer(mut resp: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// An agent for a stream read for up to `timeout`.
fn stream_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout + Duration::from_secs(5)))
        .build()
        .new_agent()
}

impl Orderly {
    /// GET with the admin token: (status, JSON or string body).
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(path, &self.token)
    }

    pub fn get_as(&self, path: &str, token: &str) -> (u16, Value) {
        let resp = agent()
            .get(format!("{}{path}", self.http))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("HTTP request");
        answer(resp)
    }

    /// GET with the admin token, or None when the request fails (nothing listening yet, the
    /// connection cut): for polling an instance that is changing roles.
    pub fn try_get(&self, path: &str) -> Option<(u16, Value)> {
        agent()
            .get(format!("{}{path}", self.http))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .ok()
            .map(answer)
    }

    /// Whether `path` answers 200 now: false for another status or a connection refused or cut
    /// (an instance changing roles), for polls that wait for it to serve.
    pub fn serves(&self, path: &str) -> bool {
        self.try_get(path).is_some_and(|(status, _)| status == 200)
    }

    /// POST JSON with the admin token: (status, JSON or string body).
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_as(path, &self.token, body)
    }

    /// POST JSON with this token: (status, JSON or string body).
    pub fn post_as(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let resp = agent()
            .post(format!("{}{path}", self.http))
            .header("Authorization", format!("Bearer {token}"))
            .send_json(body)
            .expect("HTTP request");
        answer(resp)
    }

    /// DELETE with the admin token: (status, JSON or string body).
    pub fn delete(&self, path: &str) -> (u16, Value) {
        let resp = agent()
            .delete(format!("{}{path}", self.http))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .expect("HTTP request");
        answer(resp)
    }

    /// Sends a signal (`HUP`, `KILL`, ...) to the process.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("a view of a site has no process")
            .id()
    }

    /// Its exit status if it has exited (by itself: a crash, unless a test stopped it).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// The last `n` bytes of what it logged.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.stderr.lock().unwrap();
        let mut from = log.len().saturating_sub(n);
        while !log.is_char_boundary(from) {
            from += 1;
        }
        log[from..].to_string()
    }

    /// Kills the process at once (SIGKILL: as if it crashed) and waits for it.
    pub fn kill(mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Reads the event stream from `after` until `done` says enough, or the deadline passes.
    pub fn stream(
        &self,
        query: &str,
        timeout: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let resp = stream_agent(timeout)
            .get(format!("{}/api/v1/events?{query}", self.http))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .expect("SSE request");
        assert_eq!(resp.status().as_u16(), 200);
        // The reader thread owns the connection and is left behind once we have enough: it
        // ends at its next read (the stream's keep-alive, the agent's timeout, or Orderly
        // stopping), so the test does not wait for it.
        let mut reader = BufReader::new(resp.into_body().into_reader());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if let Some(v) = line
                    .strip_prefix("data: ")
                    .and_then(|d| serde_json::from_str::<Value>(d.trim()).ok())
                    && tx.send(v).is_err()
                {
                    break;
                }
                line.clear();
            }
        });
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        while !done(&got) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(v) => got.push(v),
                Err(_) => break,
            }
        }
        got
    }

    /// Polls `cond` until it holds; fails the test with orderly's log if it never does.
    pub fn wait_until(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond() {
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what} ({})\norderly's log:\n{}",
                    describe(),
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn topic(&self, suffix: &str) -> String {
        format!("orderly/v1/{}/{suffix}", self.site)
    }

    /// Stops with SIGTERM (graceful) and waits.
    pub fn stop(mut self) {
        let Some(child) = &mut self.child else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("orderly did not stop within 20 s of SIGTERM");
    }
}

impl Drop for Orderly {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A device-side MQTT client.
pub struct Device {
    pub client: Client,
    conn: std::thread::JoinHandle<()>,
    pub received: mpsc::Receiver<(String, Vec<u8>)>,
}

/// How a test device logs in: a user name and password, and TLS trusting a CA file. Written
/// for the tests (rustls with ring, configured here), not taken from Orderly's client.
#[derive(Clone, Debug, Default)]
pub struct Login {
    pub user: Option<(String, String)>,
    pub ca: Option<PathBuf>,
}

impl Login {
    fn apply(&self, o: &mut MqttOptions) {
        if let Some((u, p)) = &self.user {
            o.set_credentials(u, p);
        }
        if let Some(ca) = &self.ca {
            use rustls::pki_types::{CertificateDer, pem::PemObject};
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).expect("the CA file") {
                roots.add(c.expect("a CA certificate")).unwrap();
            }
            #[allow(deprecated)]
            let provider = rustls::crypto::ring::default_provider();
            let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            o.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(std::sync::Arc::new(cfg)),
            ));
        }
    }
}

impl Device {
    pub fn connect(mqtt: &(String, u16), subscribe: Option<&str>) -> Device {
        Self::connect_as(mqtt, &Login::default(), subscribe)
            .unwrap_or_else(|e| panic!("device connected to the broker: {e}"))
    }

    /// Connects with `login`; the broker's refusal (or a failed handshake) as text.
    pub fn connect_as(
        mqtt: &(String, u16),
        login: &Login,
        subscribe: Option<&str>,
    ) -> Result<Device, String> {
        let id = format!(
            "test-device-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut o = MqttOptions::new(id, &mqtt.0, mqtt.1);
        o.set_keep_alive(Duration::from_secs(10));
        o.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
        login.apply(&mut o);
        let (client, mut conn): (Client, Connection) = Client::new(o, 1000);
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let sub = subscribe.map(str::to_string);
        let c2 = client.clone();
        let handle = std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(s) = &sub {
                            let _ = c2.subscribe(s.clone(), QoS::AtLeastOnce);
                        } else {
                            let _ = ready_tx.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(Ok(()));
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        break;
                    }
                }
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(Device {
                client,
                conn: handle,
                received: rx,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("no answer from the broker in 10 s".into()),
        }
    }

    pub fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .unwrap();
    }

    pub fn json(&self, topic: &str, payload: &Value) {
        self.publish(topic, serde_json::to_vec(payload).unwrap());
    }

    pub fn close(self) {
        let _ = self.client.disconnect();
        let _ = self.conn.join();
    }
}

/// The current time as RFC 3339 (devices stamp their messages).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A Mosquitto this test starts on its own port (None when Mosquitto is not installed).
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    conf: PathBuf,
}

impl Mosquitto {
    pub fn binary() -> Option<PathBuf> {
        [
            "/usr/sbin/mosquitto",
            "/usr/bin/mosquitto",
            "/usr/local/sbin/mosquitto",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    }

    pub fn start(dir: &Path, port: u16) -> Option<Mosquitto> {
        Self::start_with(dir, port, "allow_anonymous true\n")
    }

    /// A Mosquitto with more configuration lines (TLS files, password and ACL files). It
    /// stays root when started as root, to read files in the test's private folder.
    pub fn start_with(dir: &Path, port: u16, more: &str) -> Option<Mosquitto> {
        let bin = Self::binary()?;
        let conf = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\npersistence false\nuser root\n{more}"),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let m = Mosquitto { child, port, conf };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(m)
    }

    /// Stops it (SIGKILL: as if the broker crashed) and waits.
    pub fn kill(mut self) -> (PathBuf, u16) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.conf.clone(), self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Orderly {
    /// A receiver hearing `tag` close by (IR: certain) on this Orderly's site.
    pub fn heard(&self, dev: &Device, receiver: &str, tag: &str) {
        dev.json(
            &self.topic(&format!("rtls/{receiver}/sightings")),
            &serde_json::json!({"ts": now_rfc3339(), "sightings": [{"tag": tag, "rssi": -50, "ir": true}]}),
        );
    }
}

/// A smart bed's state: occupied, left raised, everything else safe.
pub fn raised_bed() -> Value {
    serde_json::json!({"ts": now_rfc3339(), "occupied": true, "hob_deg": 30.0, "height": "raised", "brakes": true,
           "rails": {"head_left": true, "head_right": true, "foot_left": false, "foot_right": false},
           "exit_alarm": "armed", "surface": "static", "moving": false})
}

/// The `[[patient]]` entries of a seed file, each as its `key = value` fields (values unquoted).
pub fn seed_patients(seed: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    seed.split("[[patient]]")
        .skip(1)
        .map(|block| {
            block
                .lines()
                .take_while(|l| !l.starts_with("[["))
                .filter_map(|l| l.split_once(" = "))
                .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// A port handed out is claimed for this process: another claim on it (as another test
    /// process would make) fails while this one lives, and the next call gives another port.
    #[test]
    fn a_port_handed_out_is_claimed_until_the_process_ends() {
        let a = super::free_port();
        let b = super::free_port();
        assert_ne!(a, b);
        let other = std::fs::OpenOptions::new()
            .write(true)
            .open(
                std::env::temp_dir()
                    .join("orderly-test-ports")
                    .join(a.to_string()),
            )
            .unwrap();
        assert!(other.try_lock().is_err(), "port {a} could be claimed twice");
    }
}
