//! The HTTP API: an axum [`Router`] built by [`router`] from an [`ApiState`], so tests drive it
//! without a socket. Bearer tokens with roles (nurses scoped to units), JSON reads of the
//! live snapshot, history from the store, a Server-Sent Events stream of what the world
//! decides, health and readiness, Prometheus metrics, and an OpenAPI document generated from
//! the code with a page to browse it, and the web pages for staff (embedded HTML and script
//! over this same API). Alert actions and rule reloads go to the world through [`Control`]
//! messages and are answered once committed.
//!
//! Edge crate: serves HTTP. Depends on orderly-model, orderly-floorplan, orderly-store, axum,
//! orderly-rules (commands), utoipa, metrics. Reads never block ingest: they see an `Arc<Snapshot>` the world published.

mod app;
mod auth;
pub mod census;
mod control;
mod docs;
mod error;
mod fhir;
mod forward;
mod integrations;
mod locate;
mod maintenance;
pub mod outage;
mod pages;
mod params;
mod reports;
mod routes;
pub mod server;
mod site;
mod sse;
mod vitals;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use orderly_floorplan::Floorplan;
use orderly_model::{OutEvent, Snapshot, Timestamp};
use orderly_store::Store;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};

pub use auth::{Auth, FailedLogins};
pub use control::{Control, ReloadOutcome, RuleInfo, RulesView};
pub use docs::openapi;
pub use error::ApiError;
pub use locate::Found;

/// Reports what keeps the service from being ready (empty when ready).
pub type ReadinessCheck = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Everything the handlers need.
#[derive(Clone)]
pub struct ApiState {
    /// The latest read model, replaced by the world after each batch.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Events after they are committed, for live streams.
    pub events: broadcast::Sender<Arc<OutEvent>>,
    pub store: Store,
    /// The database's health as the API sees it, the token cache and the audit records that
    /// wait for the database.
    pub database: outage::Database,
    /// Failed sign-ins per client address (429 after too many).
    pub failed_logins: auth::FailedLogins,
    pub floorplan: Arc<Floorplan>,
    /// Prometheus exposition, when a recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    pub readiness: ReadinessCheck,
    /// The wall clock (audit times).
    pub clock: fn() -> Timestamp,
    /// Alert actions and rule reloads, to the process that owns the world.
    pub control: mpsc::Sender<Control>,
    /// Sequence number of the last committed event.
    pub committed: watch::Receiver<u64>,
    /// The rules in force.
    pub rules: watch::Receiver<Arc<RulesView>>,
    /// Turns true when Orderly stops: live streams end then, so they do not hold the shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Where alerts go out (alert managers, webhooks) and how each stands.
    pub outbound: orderly_outbound::Board,
    /// This instance's name in the cluster (`GET /api/v1/cluster`).
    pub instance: Arc<str>,
    /// The other sites' stores when this instance serves several (each site's leases and
    /// instances are in its own database or schema): `GET /api/v1/cluster` shows them all.
    pub other_sites: Arc<[orderly_store::Store]>,
    /// Every site this instance serves, with its weight (how the sites are shared out).
    pub site_weights: Arc<std::collections::BTreeMap<String, u64>>,
}

impl ApiState {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    app::router(state)
}

/// What a standby serves itself: its own metrics (a process's counters are its own: the HL7
/// connections it passed through, its sign-in failures), to an admin's token checked against
/// the site's store as the owner checks it.
#[derive(Clone)]
pub struct Standby {
    pub store: Store,
    pub database: outage::Database,
    pub failed_logins: FailedLogins,
    /// The wall clock (token expiry, audit times).
    pub clock: fn() -> Timestamp,
    /// Prometheus exposition, when a recorder is installed.
    pub metrics: Option<PrometheusHandle>,
}

impl auth::Gated for Standby {
    fn gate(&self) -> auth::Gate<'_> {
        auth::Gate {
            store: &self.store,
            database: &self.database,
            failed_logins: &self.failed_logins,
            clock: self.clock,
        }
    }
}

/// What a standby serves while another instance owns the site: health, readiness (503, with
/// who owns the site), its own `/metrics`, and everything else forwarded to the owner's API
/// (`owner`: its host:port), or 503 with `why` when there is none to forward to.
pub fn standby_router(
    why: watch::Receiver<String>,
    owner: watch::Receiver<Option<String>>,
    own: Standby,
) -> Router {
    app::standby_router(why, owner, own)
}
