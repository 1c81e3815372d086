//! Bearer-token authentication and role checks.

use crate::{ApiError, ApiState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use orderly_model::Role;
use orderly_store::{AuditEntry, Principal, Store};

/// The authenticated caller. Extracting it rejects requests without a valid token.
#[derive(Clone, Debug)]
pub struct Auth(pub Principal);

/// What checks a bearer token: the store holding the tokens, the token cache and database
/// health, the failed sign-ins per address, the clock. The owner's API and a standby's (which
/// serves its own `/metrics`) both have one.
pub(crate) struct Gate<'a> {
    pub store: &'a Store,
    pub database: &'a crate::outage::Database,
    pub failed_logins: &'a FailedLogins,
    pub clock: fn() -> orderly_model::Timestamp,
}

/// A router's state that checks tokens.
pub(crate) trait Gated: Send + Sync {
    fn gate(&self) -> Gate<'_>;
}

impl Gated for ApiState {
    fn gate(&self) -> Gate<'_> {
        Gate {
            store: &self.store,
            database: &self.database,
            failed_logins: &self.failed_logins,
            clock: self.clock,
        }
    }
}

impl<S: Gated> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = state.gate();
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthenticated)?;
        let secret = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        let client = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(ip) = client
            && state.failed_logins.blocked(ip)
        {
            // Callers behind one address (a proxy, a ward's NAT) keep working with tokens
            // already known to be valid; new guesses get no database lookup and no audit row.
            return match state.database.known_valid(secret) {
                Some(p) => Ok(Auth(p)),
                None => {
                    metrics::counter!("orderly_auth_throttled_total").increment(1);
                    Err(ApiError::TooManyRequests(format!(
                        "too many failed sign-ins from {ip}: wait a minute and check the token"
                    )))
                }
            };
        }
        let principal = state
            .database
            .principal(state.store, secret, (state.clock)())
            .await
            .map_err(ApiError::Unavailable)?;
        match principal {
            Some(p) => Ok(Auth(p)),
            None => {
                let from = client.map_or("an unknown address".to_string(), |ip| ip.to_string());
                metrics::counter!("orderly_auth_failures_total").increment(1);
                tracing::warn!(client = %from, path = %parts.uri.path(), "a request with an unknown, revoked or expired token");
                if let Some(ip) = client {
                    state.failed_logins.record(ip);
                }
                // Audited (never the secret): who tried, from where, on what.
                let entry = AuditEntry {
                    at: (state.clock)(),
                    who: format!("unauthenticated client {from}"),
                    action: "authentication failed".into(),
                    target: parts.uri.path().to_string(),
                    detail: "unknown, revoked or expired token".into(),
                };
                let _ = state.database.audit(state.store, entry).await;
                Err(ApiError::Unauthenticated)
            }
        }
    }
}

/// Failed sign-ins per client address: after [`FailedLogins::LIMIT`] in a minute, a token from
/// that address not already known to be valid is refused (429) until the minute has passed,
/// with no database lookup and no audit row: a flood of guesses cannot load the database or
/// bury the audit log (tokens are 192 random bits: guessing one is hopeless anyway).
#[derive(Clone, Default)]
pub struct FailedLogins {
    seen: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, Vec<std::time::Instant>>>,
    >,
}

impl FailedLogins {
    pub const LIMIT: usize = 10;
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

    fn blocked(&self, ip: std::net::IpAddr) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        let Some(times) = seen.get_mut(&ip) else {
            return false;
        };
        times.retain(|t| t.elapsed() < Self::WINDOW);
        times.len() >= Self::LIMIT
    }

    fn record(&self, ip: std::net::IpAddr) {
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() > 100_000 {
                seen.clear();
            }
            seen.entry(ip).or_default().push(std::time::Instant::now());
        }
    }
}

impl Auth {
    pub fn role(&self) -> Role {
        self.0.role
    }

    /// Only these roles may call.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role may not do this",
                self.0.role.as_str()
            )))
        }
    }

    /// Whether the caller may see a unit's alerts and patients (nurses: only their units).
    pub fn may_see_unit(&self, unit: Option<&str>) -> bool {
        match self.0.role {
            Role::Nurse => unit.is_some_and(|u| self.0.units.iter().any(|x| x == u)),
            _ => true,
        }
    }

    pub fn require_unit(&self, unit: &str) -> Result<(), ApiError> {
        if self.may_see_unit(Some(unit)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{} is not assigned to unit {unit}",
                self.0.name
            )))
        }
    }

    /// A unit of the floorplan (else 404) that the caller may see (else 403).
    pub fn require_known_unit(&self, state: &ApiState, unit: &str) -> Result<(), ApiError> {
        if state.floorplan.unit(unit).is_none() {
            return Err(ApiError::NotFound(format!("no unit {unit:?}")));
        }
        self.require_unit(unit)
    }

    /// Writes an audit record (reads of patient data, every write). Fails the request if the
    /// record cannot be written: no unaudited access.
    pub async fn audit(
        &self,
        state: &ApiState,
        action: &str,
        target: &str,
        detail: String,
    ) -> Result<(), ApiError> {
        let entry = AuditEntry {
            at: (state.clock)(),
            who: format!("{} ({})", self.0.token_id, self.0.name),
            action: action.into(),
            target: target.into(),
            detail,
        };
        state
            .database
            .audit(&state.store, entry)
            .await
            .map_err(ApiError::Unavailable)
    }
}
