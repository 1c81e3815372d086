//! Bed turnover: a bed between one patient and the next. The census makes a bed occupied when
//! a patient is put in it and dirty when they leave; environmental services clean it (their
//! badge staying in the bed's room, or a tap in the pages or the API); it is ready for the next
//! patient after a set time clean (or when a person says so); supervisors block and unblock a
//! bed with a reason. Every change is a `bed.turnover` event, restored after a restart, from
//! which the turnaround times are reported.

use crate::locate::Location;
use crate::outbox::Outbox;
use crate::registry::AssetInfo;
use crate::{Capability, Clock, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::census::{BedTurn, TurnoverChange};
use orderly_model::{EventKind, Timestamp};
use serde::Deserialize;

/// Parameters (`[turnover]` in `rules/detectors.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TurnoverConfig {
    /// The staff role whose badge in a dirty bed's room means it is being cleaned.
    pub cleaner_role: String,
    /// A cleaner in the room this long starts the cleaning (passing through does not), seconds.
    pub start_after_s: u32,
    /// A cleaning this long in all counts as done when the cleaner leaves, minutes.
    pub clean_after_min: u32,
    /// A clean bed is ready this long after, unless a person says so sooner; 0: only a person
    /// makes it ready, minutes.
    pub ready_after_min: u32,
}

impl Default for TurnoverConfig {
    fn default() -> Self {
        TurnoverConfig {
            cleaner_role: "environmental_services".into(),
            start_after_s: 120,
            clean_after_min: 8,
            ready_after_min: 10,
        }
    }
}

/// A bed's turnover state.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct Turnover {
    pub state: BedTurn,
    pub since: Timestamp,
    /// When the last patient left (the turnaround counts from then).
    pub vacated_at: Option<Timestamp>,
    pub reason: String,
    /// A cleaner in the room since (not yet counted as cleaning).
    cleaner_since: Option<Timestamp>,
    /// Time a cleaner spent in the room during this cleaning, ms, and since when the current
    /// stretch runs.
    cleaned_ms: i64,
    stretch: Option<Timestamp>,
    /// The patient the census had in the bed at the last look (None before the first).
    patient: Option<Option<Entity>>,
}

impl Turnover {
    fn new(state: BedTurn) -> Self {
        Turnover {
            state,
            since: Timestamp(0),
            vacated_at: None,
            reason: String::new(),
            cleaner_since: None,
            cleaned_ms: 0,
            stretch: None,
            patient: None,
        }
    }
}

#[derive(Resource, Clone)]
pub(crate) struct Turnovers(TurnoverConfig);

/// What a person does to a bed's turnover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnAction {
    /// Environmental services start cleaning a dirty bed.
    StartCleaning,
    /// The cleaning is done.
    Cleaned,
    /// Made up and inspected: ready for the next patient.
    Ready,
    /// Out of use (a supervisor), with why.
    Block { reason: String },
    /// Back in use: it goes to cleaning first.
    Unblock { reason: String },
}

impl TurnAction {
    pub fn name(&self) -> &'static str {
        match self {
            TurnAction::StartCleaning => "start_cleaning",
            TurnAction::Cleaned => "cleaned",
            TurnAction::Ready => "ready",
            TurnAction::Block { .. } => "block",
            TurnAction::Unblock { .. } => "unblock",
        }
    }
}

/// Why a turnover action changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnoverError {
    #[error("{0:?} is not a bed")]
    NotABed(String),
    #[error("bed {bed} is {state}; {action} needs it {needs}")]
    Transition {
        bed: String,
        state: &'static str,
        action: &'static str,
        needs: &'static str,
    },
    #[error("a reason is required to {0} a bed")]
    NoReason(&'static str),
}

pub struct TurnoverPlugin;

impl Capability for TurnoverPlugin {
    fn name(&self) -> &'static str {
        "turnover"
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        world.insert_resource(Turnovers(config.turnover.clone()));
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        world.insert_resource(Turnovers(config.turnover.clone()));
        let beds: Vec<(Entity, String)> = world
            .query::<(Entity, &AssetInfo)>()
            .iter(world)
            .filter(|(_, a)| a.0.kind == "bed")
            .map(|(e, a)| (e, a.0.id.clone()))
            .collect();
        for (e, id) in beds {
            let occupied = world.resource::<Registry>().bed_patient.contains_key(&id);
            world.entity_mut(e).insert(Turnover::new(if occupied {
                BedTurn::Occupied
            } else {
                BedTurn::Ready
            }));
        }
        schedule.add_systems(follow.in_set(crate::facts::RulesStep::Act));
    }
    /// Each bed's turnover as last recorded.
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        for (t, at) in &restored.turnover {
            let Some(e) = world.resource::<Registry>().subjects.get(&t.bed).copied() else {
                continue;
            };
            if let Some(mut x) = world.get_mut::<Turnover>(e) {
                x.state = t.to;
                x.since = *at;
                x.vacated_at = t.vacated_at;
                x.reason = t.reason.clone();
            }
        }
    }
}

/// The bed's unit and room as an event names them.
fn place(
    site: &Site,
    info: &AssetInfo,
    loc: Option<&Location>,
) -> (Option<String>, Option<String>) {
    let (room, unit) = crate::status::unit_and_room(site, info, loc);
    (unit, room)
}

#[allow(clippy::too_many_arguments)]
fn change(
    outbox: &mut Outbox,
    site: &Site,
    info: &AssetInfo,
    loc: Option<&Location>,
    t: &mut Turnover,
    to: BedTurn,
    by: &str,
    reason: String,
    now: Timestamp,
) {
    let from = t.state;
    if from == to {
        return;
    }
    tracing::info!(bed = %info.0.id, from = from.as_str(), to = to.as_str(), by, reason = %reason, "bed turnover");
    t.state = to;
    t.since = now;
    t.reason = reason.clone();
    t.cleaner_since = None;
    t.stretch = None;
    if matches!(to, BedTurn::Dirty | BedTurn::Occupied) {
        t.cleaned_ms = 0;
    }
    let (unit, room) = place(site, info, loc);
    outbox.push(
        now,
        EventKind::BedTurnover(TurnoverChange {
            bed: info.0.id.clone(),
            from,
            to,
            by: by.to_string(),
            reason,
            unit,
            room,
            vacated_at: t.vacated_at,
        }),
    );
}

/// The census, the cleaners' badges and the clock move each bed's turnover on.
fn follow(
    clock: Res<Clock>,
    site: Res<Site>,
    cfg: Res<Turnovers>,
    registry: Res<Registry>,
    presence: Option<Res<crate::presence::Presence>>,
    mut beds: Query<(&AssetInfo, Option<&Location>, &mut Turnover)>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    let cfg = &cfg.0;
    for (info, loc, mut t) in &mut beds {
        let t = t.as_mut();
        // The census first: a patient put in or taken out.
        if registry.is_changed() {
            let patient = registry.bed_patient.get(&info.0.id).copied();
            let before = t.patient.replace(patient);
            if let Some(before) = before
                && before != patient
            {
                match patient {
                    Some(_) => change(
                        &mut outbox,
                        &site,
                        info,
                        loc,
                        t,
                        BedTurn::Occupied,
                        "census",
                        "patient admitted to it".into(),
                        now,
                    ),
                    None => {
                        t.vacated_at = Some(now);
                        change(
                            &mut outbox,
                            &site,
                            info,
                            loc,
                            t,
                            BedTurn::Dirty,
                            "census",
                            "patient left".into(),
                            now,
                        )
                    }
                }
            }
        }
        // Cleaners' badges in the bed's room.
        let cleaner_in = loc.filter(|l| l.present).is_some_and(|l| {
            presence
                .as_deref()
                .is_some_and(|p| p.roles_in(l.room).contains(&cfg.cleaner_role))
        });
        match t.state {
            BedTurn::Dirty if cleaner_in => {
                let since = *t.cleaner_since.get_or_insert(now);
                if now.since(since) >= i64::from(cfg.start_after_s) * 1000 {
                    change(
                        &mut outbox,
                        &site,
                        info,
                        loc,
                        t,
                        BedTurn::Cleaning,
                        "environmental services badge",
                        "cleaner in the room".into(),
                        now,
                    );
                    t.stretch = Some(since);
                }
            }
            BedTurn::Dirty => t.cleaner_since = None,
            BedTurn::Cleaning => match (cleaner_in, t.stretch) {
                (true, None) => t.stretch = Some(now),
                (false, Some(from)) => {
                    t.cleaned_ms += now.since(from).max(0);
                    t.stretch = None;
                    if t.cleaned_ms >= i64::from(cfg.clean_after_min) * 60_000 {
                        let minutes = t.cleaned_ms / 60_000;
                        change(
                            &mut outbox,
                            &site,
                            info,
                            loc,
                            t,
                            BedTurn::Clean,
                            "environmental services badge",
                            format!("cleaned for {minutes} min"),
                            now,
                        );
                    }
                }
                _ => {}
            },
            BedTurn::Clean
                if cfg.ready_after_min > 0
                    && now.since(t.since) >= i64::from(cfg.ready_after_min) * 60_000 =>
            {
                change(
                    &mut outbox,
                    &site,
                    info,
                    loc,
                    t,
                    BedTurn::Ready,
                    "orderly",
                    format!("clean for {} min", cfg.ready_after_min),
                    now,
                );
            }
            _ => {}
        }
    }
}

/// A person moves a bed's turnover on. Returns the event's sequence number.
pub(crate) fn act(
    world: &mut World,
    bed: &str,
    action: TurnAction,
    by: &str,
) -> Result<(u64, BedTurn), TurnoverError> {
    let e = world
        .resource::<Registry>()
        .subjects
        .get(bed)
        .copied()
        .filter(|e| world.get::<Turnover>(*e).is_some())
        .ok_or_else(|| TurnoverError::NotABed(bed.to_string()))?;
    let now = world.resource::<Clock>().now;
    let state = world
        .get::<Turnover>(e)
        .map(|t| t.state)
        .unwrap_or_default();
    let refuse = |needs: &'static str| TurnoverError::Transition {
        bed: bed.to_string(),
        state: state.as_str(),
        action: action.name(),
        needs,
    };
    let (to, reason) = match &action {
        TurnAction::StartCleaning => match state {
            BedTurn::Dirty => (BedTurn::Cleaning, "cleaning started".to_string()),
            _ => return Err(refuse("dirty")),
        },
        TurnAction::Cleaned => match state {
            BedTurn::Dirty | BedTurn::Cleaning => (BedTurn::Clean, "cleaned".to_string()),
            _ => return Err(refuse("dirty or being cleaned")),
        },
        TurnAction::Ready => match state {
            BedTurn::Clean => (BedTurn::Ready, "made ready".to_string()),
            _ => return Err(refuse("clean")),
        },
        TurnAction::Block { reason } => {
            if reason.trim().is_empty() {
                return Err(TurnoverError::NoReason("block"));
            }
            match state {
                BedTurn::Occupied | BedTurn::Blocked => {
                    return Err(refuse("empty and not blocked"));
                }
                _ => (BedTurn::Blocked, reason.trim().to_string()),
            }
        }
        TurnAction::Unblock { reason } => {
            if reason.trim().is_empty() {
                return Err(TurnoverError::NoReason("unblock"));
            }
            match state {
                // Cleaned before its next patient.
                BedTurn::Blocked => (BedTurn::Dirty, reason.trim().to_string()),
                _ => return Err(refuse("blocked")),
            }
        }
    };
    world.resource_scope(|world, mut outbox: Mut<Outbox>| {
        let site = world.resource::<Site>().clone();
        let mut q = world.query::<(&AssetInfo, Option<&Location>, &mut Turnover)>();
        if let Ok((info, loc, mut t)) = q.get_mut(world, e) {
            change(&mut outbox, &site, info, loc, &mut t, to, by, reason, now);
        }
        Ok((outbox.last_seq(), to))
    })
}
