//! Alerts out to the hospital's systems: the alert managers of the configuration and the
//! webhook subscriptions of the store, each following the committed event log
//! (`orderly_outbound`); an unreachable destination becomes the world's technical alert.

use crate::config::Settings;
use anyhow::{Result, anyhow};
use orderly_api::ApiState;
use orderly_outbound::{Context, Notice, acm, webhook};
use orderly_world::Command;
use std::io::Write as _;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Starts a sender per alert manager, the webhook deliveries, and the task that turns their
/// notices into technical alerts.
pub fn spawn(
    settings: &Settings,
    state: &ApiState,
    facility: &str,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>> {
    let (notices_tx, mut notices_rx) = mpsc::channel::<Notice>(64);
    let ctx = Context {
        store: state.store.clone(),
        snapshot: state.snapshot.clone(),
        committed: state.committed.clone(),
        notices: notices_tx,
        board: state.outbound.clone(),
        clock: state.clock,
        shutdown: shutdown.clone(),
    };
    let mut tasks = Vec::new();
    for m in &settings.alert_managers {
        let tls = match &m.tls {
            None => None,
            Some((ca, name)) => Some(
                acm::tls(ca.as_deref(), name)
                    .map_err(|e| anyhow!("alert manager {}: {e}", m.name))?,
            ),
        };
        let manager = acm::Manager {
            name: m.name.clone(),
            address: m.address.clone(),
            tls,
            parties: orderly_hl7::acm::Parties {
                sending_application: "ORDERLY".into(),
                sending_facility: facility.to_string(),
                receiving_application: m.receiving_application.clone(),
                receiving_facility: facility.to_string(),
            },
            ack_timeout: m.ack_timeout,
            unreachable_after: m.unreachable_after,
            max_errors: 3,
            retry_after: std::time::Duration::from_millis(250),
        };
        let _ = writeln!(
            std::io::stdout(),
            "Alerts out: alert manager {} at {} (IHE PCD ACM over MLLP{})",
            m.name,
            m.address,
            if m.tls.is_some() { ", TLS" } else { "" }
        );
        tasks.push(tokio::spawn(acm::run(manager, ctx.clone())));
    }
    tasks.push(tokio::spawn(webhook::supervise(
        settings.webhooks.clone(),
        ctx,
    )));
    let control = state.control.clone();
    let mut stop = shutdown;
    tasks.push(tokio::spawn(async move {
        loop {
            let n = tokio::select! {
                n = notices_rx.recv() => match n { Some(n) => n, None => return },
                _ = stop.changed() => return,
            };
            let (reply, answer) = oneshot::channel();
            let command = Command::Integration {
                destination: n.destination.clone(),
                problem: n.problem,
            };
            if control
                .send(orderly_api::Control::World { command, reply })
                .await
                .is_err()
            {
                return;
            }
            if let Ok(Err(e)) = answer.await {
                tracing::warn!(destination = %n.destination, error = %e, "the technical alert was refused");
            }
        }
    }));
    Ok(tasks)
}
