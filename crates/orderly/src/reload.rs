//! Keeps the rules in force: reloads the rules directory on a file change, on
//! `POST /api/v1/rules/reload` and on SIGHUP. A reload reads and checks the whole directory,
//! then swaps it into the world at once; a rejected set leaves the old one running and says why
//! (the API's answer, the log, a technical alert to admins). Also forwards the API's alert
//! actions to the world.

use crate::pipeline::WorldRequest;
use orderly_api::{Control, ReloadOutcome, RuleInfo, RulesView};
use orderly_model::Timestamp;
use orderly_world::RuleSet;
use orderly_world::{Applied, Command, Done};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// File events closer together than this are one change (editors write, rename, touch).
const DEBOUNCE: Duration = Duration::from_millis(300);

pub struct Reloader {
    pub dir: Option<PathBuf>,
    /// What the rules may name, from the floorplan and the seed.
    pub known: Arc<orderly_rules::Known>,
    pub world: mpsc::Sender<WorldRequest>,
    pub view: watch::Sender<Arc<RulesView>>,
    pub clock: fn() -> Timestamp,
}

/// The API's view of a rule set.
pub fn view_of(set: &RuleSet, source: &str, watching: bool, at: Timestamp) -> RulesView {
    RulesView {
        source: source.to_string(),
        watching,
        loaded_at: at,
        rules: set
            .rules
            .iter()
            .map(|r| RuleInfo {
                id: r.id.clone(),
                title: r.title.clone(),
                subject: r.subject.as_str().to_string(),
                priority: r.priority,
                kind: r.kind,
                defined_at: r.defined_at.clone(),
                enabled: r.enabled,
                failed: None,
            })
            .collect(),
        last_reload: None,
    }
}

impl Reloader {
    async fn reload(&self, trigger: &str) -> ReloadOutcome {
        let at = (self.clock)();
        let mut outcome = ReloadOutcome {
            ok: false,
            at,
            trigger: trigger.to_string(),
            added: vec![],
            changed: vec![],
            removed: vec![],
            unchanged: 0,
            errors: None,
        };
        let Some(dir) = &self.dir else {
            outcome.errors = Some(
                "Orderly runs the bundled rules; start it with --rules DIR to reload a directory"
                    .into(),
            );
            return outcome;
        };
        let known = &self.known;
        let checked = crate::rules::read_dir(dir)
            .map_err(|e| format!("{e:#}"))
            .and_then(|files| orderly_world::rules_dir::compile(&files, known));
        match checked {
            Ok(bundle) => {
                let (config, set) = (bundle.config, Arc::new(bundle.rules));
                let (tx, rx) = oneshot::channel();
                if self
                    .world
                    .send(WorldRequest {
                        command: Command::Rules {
                            rules: set.clone(),
                            config: Box::new(config),
                        },
                        reply: Some(tx),
                    })
                    .await
                    .is_err()
                {
                    outcome.errors = Some("Orderly is stopping".into());
                    return outcome;
                }
                let Ok(Ok(Applied {
                    done: Done::Rules(summary),
                    ..
                })) = rx.await
                else {
                    outcome.errors = Some("Orderly is stopping".into());
                    return outcome;
                };
                tracing::info!(trigger, rules = set.rules.len(), added = ?summary.added, changed = ?summary.changed, removed = ?summary.removed, "rules reloaded");
                outcome.ok = true;
                outcome.added = summary.added;
                outcome.changed = summary.changed;
                outcome.removed = summary.removed;
                outcome.unchanged = summary.unchanged;
                let mut v = view_of(&set, &dir.display().to_string(), true, at);
                v.last_reload = Some(outcome.clone());
                self.view.send_replace(Arc::new(v));
            }
            Err(report) => {
                tracing::warn!(
                    trigger,
                    "changed rules rejected; the previous rules keep running:\n{report}"
                );
                let _ = self
                    .world
                    .send(WorldRequest {
                        command: Command::RulesRejected {
                            report: report.clone(),
                        },
                        reply: None,
                    })
                    .await;
                outcome.errors = Some(report);
                let mut v = (*self.view.borrow().clone()).clone();
                v.last_reload = Some(outcome.clone());
                self.view.send_replace(Arc::new(v));
            }
        }
        outcome
    }

    /// Serves reloads and alert actions until shutdown.
    pub async fn run(self, mut api: mpsc::Receiver<Control>, mut shutdown: watch::Receiver<bool>) {
        let (fs_tx, mut fs_rx) = mpsc::channel::<()>(64);
        let _watcher = self.dir.as_ref().and_then(|dir| {
            let tx = fs_tx.clone();
            let mut w = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if let Ok(ev) = res
                    && !ev.kind.is_access()
                    && ev.paths.iter().any(|p| p.extension().is_some_and(|x| x == "toml"))
                {
                    let _ = tx.try_send(());
                }
            }) {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the rules directory; reload with SIGHUP or the API");
                    return None;
                }
            };
            use notify::Watcher;
            match w.watch(dir, notify::RecursiveMode::NonRecursive) {
                Ok(()) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the rules directory; reload with SIGHUP or the API");
                    None
                }
            }
        });
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            tokio::select! {
                c = api.recv() => match c {
                    Some(Control::World { command, reply }) => {
                        // If the world is gone the reply is dropped and the API says so.
                        let _ = self
                            .world
                            .send(WorldRequest {
                                command,
                                reply: Some(reply),
                            })
                            .await;
                    }
                    Some(Control::Reload { reply }) => {
                        let _ = reply.send(self.reload("api").await);
                    }
                    None => break,
                },
                Some(()) = fs_rx.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while fs_rx.try_recv().is_ok() {}
                    self.reload("file change").await;
                }
                Some(()) = hangup => {
                    self.reload("SIGHUP").await;
                }
                _ = shutdown.changed() => break,
            }
        }
    }
}
