//! The environment of care: each environment sensor of the seed (`[[sensor]]`, in a room or on
//! an appliance there) checked against its profile of `rules/environment.toml`. The `env`
//! facts let `rules/environment-alerts.toml` raise what must be acted on (a fridge out of
//! 2-8 °C for half an hour or past a hard limit, an occupied isolation room not negative
//! enough, an operating room out of range, a door left open, a silent sensor); every
//! excursion is an `env.excursion` event when it starts and when it ends, and every sensor's
//! hour an `env.summary`, from which the daily log is made. A restart carries the excursions
//! under way on, so their minutes keep counting.

use crate::facts::{FactCtx, FactProviders, FactSheet, watch};
use crate::ingest::EnvIn;
use crate::outbox::Outbox;
use crate::registry::{Mounted, SensorInfo};
use crate::{Capability, Clock, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::environment::{
    Excursion, Place, Profile, Profiles, Quantity, Stat, Summary, hour_of,
};
use orderly_model::infusion::Standing;
use orderly_model::view::SensorView;
use orderly_model::{EventKind, Timestamp};
use orderly_rules::Fact;
use std::sync::Arc;

/// The profiles in force.
#[derive(Resource, Clone, Default)]
pub struct EnvProfiles(pub Arc<Profiles>);

/// A sensor's state.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct EnvState {
    /// Device time of the last reading taken: an older one changes nothing.
    last_ts: Option<Timestamp>,
    /// Receive time of the last reading.
    pub heard_at: Option<Timestamp>,
    pub values: [Option<f64>; 3],
    pub standing: [Standing; 3],
    /// The excursion under way per quantity.
    pub open: [Option<Excursion>; 3],
    pub door_open_since: Option<Timestamp>,
    pub battery_pct: Option<f64>,
    /// The hour in progress.
    pub hour: Option<Summary>,
    /// What time passing changes, in whole minutes (kept here so facts are rebuilt only when
    /// a minute turns): out of range per quantity, door open, silent.
    pub minutes: [i64; 3],
    pub door_minutes: i64,
    pub silent_minutes: i64,
    /// A patient has a bed in the sensor's room.
    pub occupied: bool,
}

const QS: [Quantity; 3] = [
    Quantity::Temperature,
    Quantity::Humidity,
    Quantity::Pressure,
];

fn idx(q: Quantity) -> usize {
    match q {
        Quantity::Temperature => 0,
        Quantity::Humidity => 1,
        Quantity::Pressure => 2,
    }
}

fn out(s: Standing) -> bool {
    !matches!(s, Standing::Within | Standing::None)
}

fn hard(s: Standing) -> bool {
    matches!(s, Standing::AboveHard | Standing::BelowHard)
}

/// How long after an hour ends its summary waits for late readings.
const HOUR_GRACE_MS: i64 = 120_000;

/// Every sensor's view, for the snapshot.
#[derive(Resource, Clone, Default)]
pub struct EnvViews(pub orderly_model::view::SensorMap);

pub struct EnvironmentPlugin;

impl Capability for EnvironmentPlugin {
    fn name(&self) -> &'static str {
        "environment"
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        world.insert_resource(EnvProfiles(Arc::new(config.environment.clone())));
        // New ranges apply from each sensor's next reading; the views say them at once.
        let sensors: Vec<Entity> = world
            .query_filtered::<Entity, With<EnvState>>()
            .iter(world)
            .collect();
        for e in sensors {
            if let Some(mut s) = world.get_mut::<EnvState>(e) {
                s.set_changed();
            }
        }
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        world.init_resource::<EnvViews>();
        self.configure(world, config);
        let sensors: Vec<Entity> = world
            .query_filtered::<Entity, With<SensorInfo>>()
            .iter(world)
            .collect();
        for e in sensors {
            world.entity_mut(e).insert(EnvState::default());
        }
        schedule.add_systems((take, sweep, views).chain().in_set(Phase::Derive));
        world
            .resource_mut::<FactProviders>()
            .add(self.name(), &[("env", FACTS)], env_facts);
        watch::<EnvState>(schedule);
    }
    /// The excursions under way when Orderly stopped.
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        for x in &restored.excursions {
            if x.ended_at.is_some() {
                continue;
            }
            let Some(e) = world
                .resource::<Registry>()
                .subjects
                .get(&x.place.sensor)
                .copied()
            else {
                continue;
            };
            if let Some(mut s) = world.get_mut::<EnvState>(e) {
                let i = idx(x.quantity);
                s.standing[i] = x.standing;
                s.open[i] = Some(x.clone());
            }
        }
    }
}

const FACTS: &[&str] = &[
    "id",
    "appliance",
    "profile",
    "kind",
    "where",
    "reported",
    "temperature_c",
    "temperature",
    "temperature_minutes",
    "humidity_pct",
    "humidity",
    "humidity_minutes",
    "pressure_pa",
    "pressure",
    "pressure_minutes",
    "excursion",
    "range",
    "door_open",
    "door_open_minutes",
    "silent_minutes",
    "occupied",
    "battery_pct",
];

/// The ranges of a profile in words: `temperature 2 to 8 °C, humidity 20 to 60 %`.
fn ranges(p: Option<&Profile>) -> String {
    let Some(p) = p else {
        return "no profile".into();
    };
    QS.iter()
        .filter_map(|q| Some(format!("{} {}", q.as_str(), p.range(*q)?.describe(*q))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `the 4 West medication fridge in 4 West clean utility`, or the room alone.
fn where_words(site: &Site, info: &SensorInfo, mounted: Option<&Mounted>) -> String {
    let room = mounted
        .map(|m| site.0.rooms[m.0 as usize].name.clone())
        .unwrap_or_else(|| info.0.room.clone());
    match &info.0.appliance {
        Some(a) => format!("{a} in {room}"),
        None => room,
    }
}

fn env_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if !ctx.wants("env") {
        return;
    }
    let Some(info) = ctx.own::<SensorInfo>() else {
        return;
    };
    let g = "env";
    let st = ctx.own::<EnvState>().cloned().unwrap_or_default();
    let profiles = ctx.world.resource::<EnvProfiles>();
    let profile = profiles.0.0.get(&info.0.profile);
    let site = ctx.world.resource::<Site>();
    f.set(g, "id", Fact::String(info.0.id.clone()));
    f.set(
        g,
        "appliance",
        Fact::String(info.0.appliance.clone().unwrap_or_default()),
    );
    f.set(g, "profile", Fact::String(info.0.profile.clone()));
    f.set(
        g,
        "kind",
        Fact::String(
            profile
                .map_or(orderly_model::environment::SpaceKind::Room, |p| p.kind)
                .as_str()
                .into(),
        ),
    );
    f.set(
        g,
        "where",
        Fact::String(where_words(site, info, ctx.own::<Mounted>())),
    );
    f.set(g, "reported", Fact::Bool(st.heard_at.is_some()));
    for q in QS {
        let i = idx(q);
        let (value, standing, minutes) = match q {
            Quantity::Temperature => ("temperature_c", "temperature", "temperature_minutes"),
            Quantity::Humidity => ("humidity_pct", "humidity", "humidity_minutes"),
            Quantity::Pressure => ("pressure_pa", "pressure", "pressure_minutes"),
        };
        f.set(g, value, Fact::Double(st.values[i].unwrap_or(0.0)));
        f.set(g, standing, Fact::String(st.standing[i].as_str().into()));
        f.set(g, minutes, Fact::Int(st.minutes[i]));
    }
    let now = ctx.world.resource::<Clock>().now;
    let longest = st
        .open
        .iter()
        .flatten()
        .min_by_key(|x| x.started_at)
        .map(|x| x.describe(now))
        .unwrap_or_default();
    f.set(g, "excursion", Fact::String(longest));
    f.set(g, "range", Fact::String(ranges(profile)));
    f.set(g, "door_open", Fact::Bool(st.door_open_since.is_some()));
    f.set(g, "door_open_minutes", Fact::Int(st.door_minutes));
    f.set(g, "silent_minutes", Fact::Int(st.silent_minutes));
    f.set(g, "occupied", Fact::Bool(st.occupied));
    f.set(
        g,
        "battery_pct",
        Fact::Double(st.battery_pct.unwrap_or(100.0)),
    );
}

/// The summary of the hour starting at `from`, empty.
fn blank_hour(place: &Place, from: Timestamp) -> Summary {
    Summary {
        place: place.clone(),
        from,
        to: Timestamp(from.0 + 3_600_000),
        ..Summary::default()
    }
}

/// The sensor, its appliance and profile, its room and the room's unit.
fn place(site: &Site, info: &SensorInfo, mounted: Option<&Mounted>) -> Place {
    let (room, unit) = match mounted {
        Some(m) => {
            let r = &site.0.rooms[m.0 as usize];
            (r.id.clone(), r.unit.clone())
        }
        None => (info.0.room.clone(), None),
    };
    Place {
        sensor: info.0.id.clone(),
        appliance: info.0.appliance.clone(),
        profile: info.0.profile.clone(),
        room,
        unit,
    }
}

/// Readings: values, excursions starting and ending, the hour's figures.
fn take(
    mut input: MessageReader<EnvIn>,
    profiles: Res<EnvProfiles>,
    site: Res<Site>,
    mut sensors: Query<(&SensorInfo, Option<&Mounted>, &mut EnvState)>,
    mut outbox: ResMut<Outbox>,
) {
    for m in input.read() {
        let Ok((info, mounted, mut st)) = sensors.get_mut(m.sensor) else {
            continue;
        };
        if st.last_ts.is_some_and(|t| m.ts < t) {
            continue;
        }
        let st = st.as_mut();
        let prev_ts = st.last_ts;
        st.last_ts = Some(m.ts);
        st.heard_at = Some(m.at);
        // Who and where, for a new hour or excursion record only (not per reading).
        let here = || place(&site, info, mounted);
        let profile = profiles.0.0.get(&info.0.profile);
        // The hour: a reading of a later hour closes the one in progress.
        let hour = hour_of(m.ts);
        if st.hour.as_ref().is_some_and(|h| h.from < hour)
            && let Some(h) = st.hour.take()
        {
            outbox.push(m.at, EventKind::EnvSummary(Box::new(h)));
        }
        let door_was_open = st.door_open_since.is_some();
        let h = st.hour.get_or_insert_with(|| blank_hour(&here(), hour));
        // The door's time open since the last reading counts in this hour.
        if let (true, Some(prev)) = (door_was_open, prev_ts) {
            h.door_open_s += (m.ts.since(prev.max(hour)).max(0) as f64) / 1000.0;
        }
        h.readings = h.readings.saturating_add(1);
        for q in QS {
            if let Some(v) = m.reading.value(q) {
                let s = h.stat_mut(q);
                match s {
                    Some(s) => s.add(v),
                    None => *s = Some(Stat::of(v)),
                }
            }
        }
        match m.reading.door_open {
            Some(true) => {
                st.door_open_since.get_or_insert(m.ts);
            }
            Some(false) => {
                st.door_open_since = None;
                st.door_minutes = 0;
            }
            None => {}
        }
        if m.reading.battery_pct.is_some() {
            st.battery_pct = m.reading.battery_pct;
        }
        for q in QS {
            let Some(v) = m.reading.value(q) else {
                continue;
            };
            let i = idx(q);
            st.values[i] = Some(v);
            let Some(range) = profile.and_then(|p| p.range(q)) else {
                // No range any more (a reloaded profile): nothing is out of it.
                st.standing[i] = Standing::None;
                if let Some(mut x) = st.open[i].take() {
                    x.ended_at = Some(m.ts.max(x.started_at));
                    outbox.push(m.at, EventKind::EnvExcursion(Box::new(x)));
                }
                st.minutes[i] = 0;
                continue;
            };
            let s = range.stand(v);
            st.standing[i] = s;
            match (&mut st.open[i], out(s)) {
                (Some(x), true) => {
                    let above = matches!(x.standing, Standing::AboveSoft | Standing::AboveHard);
                    x.peak = if above { x.peak.max(v) } else { x.peak.min(v) };
                    if hard(s) && !hard(x.standing) {
                        x.standing = s;
                        x.limit = range.crossed(s).unwrap_or(x.limit);
                    }
                }
                (slot @ None, true) => {
                    let x = Excursion {
                        place: here(),
                        quantity: q,
                        standing: s,
                        limit: range.crossed(s).unwrap_or(v),
                        range: range.describe(q),
                        started_at: m.ts,
                        ended_at: None,
                        peak: v,
                    };
                    outbox.push(m.at, EventKind::EnvExcursion(Box::new(x.clone())));
                    *slot = Some(x);
                }
                (slot @ Some(_), false) => {
                    if let Some(mut x) = slot.take() {
                        x.ended_at = Some(m.ts.max(x.started_at));
                        outbox.push(m.at, EventKind::EnvExcursion(Box::new(x)));
                    }
                    st.minutes[i] = 0;
                }
                (None, false) => {}
            }
        }
    }
}

/// Time passing: minutes out of range, door open and silent; occupancy; hours that ended with
/// no reading after them. Every 5 s of the clock.
fn sweep(
    clock: Res<Clock>,
    feed: Res<crate::Feed>,
    registry: Res<Registry>,
    mut sensors: Query<(&Mounted, &mut EnvState)>,
    mut outbox: ResMut<Outbox>,
    mut last: Local<Option<Timestamp>>,
    mut started: Local<Option<Timestamp>>,
) {
    let now = clock.now;
    let start = *started.get_or_insert(now);
    if last.is_some_and(|t| now.since(t) < 5_000 && now >= t) {
        return;
    }
    *last = Some(now);
    let whole = |since: Timestamp| now.since(since).max(0) / 60_000;
    // Rooms with a patient's bed, once per sweep.
    let occupied_rooms: std::collections::BTreeSet<u32> = registry
        .bed_patient
        .keys()
        .filter_map(|b| registry.bed_room.get(b).copied())
        .collect();
    for (mounted, mut st) in &mut sensors {
        let minutes = [0, 1, 2].map(|i| st.open[i].as_ref().map_or(0, |x| whole(x.started_at)));
        let door = st.door_open_since.map_or(0, whole);
        // Silent since the last reading, or since Orderly started when none came yet, or since
        // the feed came back after an outage (a sensor's silence then proves nothing); held
        // while the feed is down.
        let silent = match feed.live_since {
            Some(live) => whole(st.heard_at.unwrap_or(start).max(start).max(live)),
            None => st.silent_minutes,
        };
        let occupied = occupied_rooms.contains(&mounted.0);
        if minutes != st.minutes
            || door != st.door_minutes
            || silent != st.silent_minutes
            || occupied != st.occupied
        {
            let st = st.as_mut();
            st.minutes = minutes;
            st.door_minutes = door;
            st.silent_minutes = silent;
            st.occupied = occupied;
        }
        if st
            .hour
            .as_ref()
            .is_some_and(|h| now.since(h.to) > HOUR_GRACE_MS)
            && let Some(h) = st.as_mut().hour.take()
        {
            outbox.push(now, EventKind::EnvSummary(Box::new(h)));
        }
    }
}

/// The sensors whose state changed, as the API shows them.
fn views(
    site: Res<Site>,
    profiles: Res<EnvProfiles>,
    changed: Query<(&SensorInfo, Option<&Mounted>, &EnvState), Changed<EnvState>>,
    mut views: ResMut<EnvViews>,
) {
    for (info, mounted, st) in &changed {
        let Place { room, unit, .. } = place(&site, info, mounted);
        let profile = profiles.0.0.get(&info.0.profile);
        let view = SensorView {
            id: info.0.id.clone(),
            appliance: info.0.appliance.clone(),
            profile: info.0.profile.clone(),
            profile_title: profile.map_or(info.0.profile.clone(), |p| p.title.clone()),
            room_name: mounted.map_or(room.clone(), |m| site.0.rooms[m.0 as usize].name.clone()),
            room,
            unit,
            range: ranges(profile),
            last_reading: st.heard_at,
            temperature_c: st.values[0],
            humidity_pct: st.values[1],
            pressure_pa: st.values[2],
            temperature: st.standing[0],
            humidity: st.standing[1],
            pressure: st.standing[2],
            door_open: st.door_open_since.is_some(),
            door_open_since: st.door_open_since,
            battery_pct: st.battery_pct,
            silent_minutes: st.silent_minutes,
            excursions: st.open.iter().flatten().cloned().collect(),
            hour: st.hour.clone(),
        };
        orderly_model::view::put(&mut views.0, &info.0.id, view);
    }
}
