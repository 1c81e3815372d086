//! Bearer-token authentication and role checks.

use crate::{ApiError, ApiState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use orderly_model::Role;
use orderly_store::{AuditEntry, Principal};

/// The authenticated caller. Extracting it rejects requests without a valid token.
#[derive(Clone, Debug)]
pub struct Auth(pub Principal);

impl FromRequestParts<ApiState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
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
        let principal = state
            .database
            .principal(&state.store, secret, (state.clock)())
            .await
            .map_err(ApiError::Unavailable)?
            .ok_or(ApiError::Unauthenticated)?;
        Ok(Auth(principal))
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
