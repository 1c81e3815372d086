//! The facts a rule can read, per subject kind: the one list that the checker, the world's fact
//! builder and the documentation (`docs/rules.md`) agree on. A test in orderly-world checks that
//! the facts it builds match this schema exactly.

use serde::{Deserialize, Serialize};

/// What a rule is about: each subject of this kind is evaluated on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// A smart bed (an asset of kind `bed`; its facts come from the bed when it is smart), with its patient and room.
    Bed,
    /// An infusion pump (an asset of kind `infusion_pump`), with its room.
    Pump,
    /// Any tracked asset, with its room.
    Asset,
    /// A patient, with their bed and room.
    Patient,
    /// A staff member, with their room.
    Staff,
    /// A unit's stock of one kind of equipment against its PAR level (`rules/par.toml`).
    Par,
    /// An environment sensor (`[[sensor]]` of the seed) in a room or on an appliance, checked
    /// against its profile of `rules/environment.toml`.
    Sensor,
}

impl SubjectType {
    pub const ALL: [SubjectType; 7] = [
        SubjectType::Bed,
        SubjectType::Pump,
        SubjectType::Asset,
        SubjectType::Patient,
        SubjectType::Staff,
        SubjectType::Par,
        SubjectType::Sensor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Bed => "bed",
            SubjectType::Pump => "pump",
            SubjectType::Asset => "asset",
            SubjectType::Patient => "patient",
            SubjectType::Staff => "staff",
            SubjectType::Par => "par",
            SubjectType::Sensor => "sensor",
        }
    }

    /// The fact groups (CEL variables) a rule on this subject can read.
    pub fn groups(self) -> &'static [&'static str] {
        match self {
            SubjectType::Bed => &["bed", "asset", "patient", "room"],
            SubjectType::Pump => &["pump", "infusion", "asset", "room"],
            SubjectType::Asset => &["asset", "room"],
            SubjectType::Patient => &["patient", "bed", "room"],
            SubjectType::Staff => &["staff", "room"],
            SubjectType::Par => &["par"],
            SubjectType::Sensor => &["env", "room"],
        }
    }
}

/// The type of one fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactType {
    Bool,
    Int,
    Double,
    String,
    /// A string from a fixed set of values (a typo in a comparison is an error).
    Enum(&'static [&'static str]),
    StringList,
}

impl FactType {
    pub fn name(self) -> &'static str {
        match self {
            FactType::Bool => "bool",
            FactType::Int => "int",
            FactType::Double => "double",
            FactType::String | FactType::Enum(_) => "string",
            FactType::StringList => "list(string)",
        }
    }
}

/// One fact of a group.
#[derive(Clone, Copy, Debug)]
pub struct FactDef {
    pub name: &'static str,
    pub ty: FactType,
    pub doc: &'static str,
}

const fn f(name: &'static str, ty: FactType, doc: &'static str) -> FactDef {
    FactDef { name, ty, doc }
}

use FactType::*;

pub const EXIT_ALARM: &[&str] = &["off", "armed", "alarming"];
pub const HEIGHT: &[&str] = &["low", "raised"];
pub const EXIT_ZONE: &[&str] = &["off", "exit", "pre_exit", "movement"];
pub const TURN_STATE: &[&str] = &[
    "off",
    "paused",
    "ok",
    "due_soon",
    "due",
    "overdue",
    "severely_overdue",
];
pub const SURFACE: &[&str] = &["static", "alternating", "rotation"];
pub const PUMP_STATE: &[&str] = &["off", "idle", "infusing", "paused", "alarm"];
pub const ASSET_STATUS: &[&str] = &[
    "available",
    "in_use",
    "needs_cleaning",
    "clean",
    "out_of_service",
];
pub const FALL_RISK: &[&str] = &["none", "low", "high"];
pub const NEWS2_RESPONSE: &[&str] = &[
    "none",
    "routine",
    "low",
    "single_parameter_3",
    "medium",
    "high",
];
pub const STANDING: &[&str] = &[
    "none",
    "within",
    "below_hard",
    "below_soft",
    "above_soft",
    "above_hard",
];
pub const PRESSURE_RISK: &[&str] = &["none", "mild", "moderate", "high", "very_high"];

const BED: &[FactDef] = &[
    f("id", String, "the bed's asset id"),
    f(
        "reported",
        Bool,
        "the bed has reported its state since Orderly started",
    ),
    f("occupied", Bool, "the bed reports a patient on it"),
    f("hob_deg", Double, "head-of-bed angle, degrees"),
    f("height", Enum(HEIGHT), "`low` or `raised`"),
    f("brakes", Bool, "brakes set"),
    f("rails_up", Int, "how many of the four side rails are up"),
    f(
        "upper_rails_up",
        Int,
        "how many of the two upper (head) side rails are up",
    ),
    f(
        "exit_alarm",
        Enum(EXIT_ALARM),
        "the bed's own exit alarm: `off`, `armed`, `alarming`",
    ),
    f(
        "surface",
        Enum(SURFACE),
        "`static`, `alternating`, `rotation`",
    ),
    f("moving", Bool, "the frame is moving"),
    f(
        "command_failed",
        Bool,
        "the bed refused Orderly's last command or did not acknowledge it in time (until one is applied)",
    ),
    f(
        "command_failure",
        String,
        "what failed: the settings, refused or timed out, and the bed's reason (empty when none)",
    ),
    f(
        "exited",
        Bool,
        "the patient is out of (or leaving) the bed: the load cells passed the watched zone, or the bed's own exit alarm sounds; until they are back",
    ),
    f(
        "exit_source",
        String,
        "what saw the exit: `load cells` or `bed alarm` (empty when none)",
    ),
    f(
        "exit_zone",
        String,
        "the zone that was passed: `movement`, `pre_exit`, `exit` (empty when none)",
    ),
    f(
        "exit_assisted",
        Bool,
        "a caregiver was in the room when the exit began (helping the patient up)",
    ),
    f(
        "in_bed",
        Bool,
        "the load cells hold the patient's weight (armed and not out)",
    ),
    f(
        "exit_armed",
        Bool,
        "the load cells have learnt a patient's weight (in bed, or out after an exit)",
    ),
    f(
        "exit_watch",
        Enum(EXIT_ZONE),
        "the zone watched, from the patient's fall risk (`[bed_exit] zones`): `off`, `exit`, `pre_exit`, `movement`",
    ),
    f(
        "fall_bundle_missing",
        String,
        "what the fall-prevention bundle lacks, in words (bed not in its low position, brakes off, a head rail down, no exit alarm), `nothing` when complete: for messages",
    ),
];

const PUMP: &[FactDef] = &[
    f("id", String, "the pump's asset id"),
    f(
        "reported",
        Bool,
        "the pump has reported telemetry since Orderly started",
    ),
    f(
        "state",
        Enum(PUMP_STATE),
        "`off`, `idle`, `infusing`, `paused`, `alarm`",
    ),
    f("battery_pct", Double, "battery charge, 0..100"),
    f("on_battery", Bool, "running on battery (unplugged)"),
    f("runtime_hours", Double, "the pump's usage meter"),
    f("occlusion_alarms_total", Int, "occlusion alarms since new"),
    f("faults", StringList, "active fault codes"),
];

const INFUSION: &[FactDef] = &[
    f(
        "running",
        Bool,
        "the pump runs a program it reported (infusing, paused or alarming on it)",
    ),
    f(
        "infusing",
        Bool,
        "the pump is infusing now (running, not paused, not alarming)",
    ),
    f(
        "basic_mode",
        Bool,
        "the infusion runs without the drug library (a rate, no drug, no limits)",
    ),
    f(
        "checked",
        Bool,
        "the infusion was checked against Orderly's drug library (false: a drug, profile or dose unit the library does not have, counted as a rejection)",
    ),
    f("drug", String, "the drug as the library names it, or empty"),
    f("concentration", String, "`25000 units/250 mL`, or empty"),
    f(
        "high_alert",
        Bool,
        "the library marks the drug an ISMP high-alert medication",
    ),
    f(
        "dose",
        Double,
        "the dose checked, in `dose_unit`: the programmed dose, per kg of the census weight when the pump was given another (0 when none)",
    ),
    f("dose_unit", String, "`units/kg/h`, `mcg/min`, `mL/h`, ..."),
    f("rate_ml_h", Double, "the rate, mL/h"),
    f(
        "limit",
        Enum(STANDING),
        "the dose against the library's limits: `none` (no limits apply), `within`, `below_hard`, `below_soft`, `above_soft`, `above_hard` (a value equal to a limit is within it)",
    ),
    f(
        "bolus_limit",
        Enum(STANDING),
        "a bolus being given against the bolus limits (`none` when no bolus)",
    ),
    f(
        "crossed",
        String,
        "the limit crossed, in words: `hard max 40 units/kg/h` (empty when within)",
    ),
    f(
        "profile",
        String,
        "the care-area profile selected on the pump",
    ),
    f(
        "profile_mismatch",
        Bool,
        "the pump's profile is not the one the library gives the unit it is in",
    ),
    f(
        "expected_profile",
        String,
        "the profile of the pump's unit when it differs, or empty",
    ),
    f(
        "weight_mismatch",
        Bool,
        "a weight-based dose was programmed for a weight more than 10 % from the census's",
    ),
    f(
        "weight_detail",
        String,
        "`80.0 kg on the pump, 50.0 kg in the census` (empty when none)",
    ),
    f("vtbi_set", Bool, "the pump reports a volume to be infused"),
    f(
        "minutes_left",
        Double,
        "minutes until the volume to be infused is reached at this rate (-1 when not set)",
    ),
    f(
        "overrides",
        Int,
        "soft-limit overrides the pump reported during this infusion",
    ),
    f(
        "hard_stops",
        Int,
        "programs the pump stopped at a hard limit during this infusion",
    ),
    f(
        "patient",
        String,
        "the patient infused: the one the pump was programmed for, or the only patient in its room (empty when not known)",
    ),
];

const ASSET: &[FactDef] = &[
    f("id", String, "asset id"),
    f("kind", String, "`bed`, `infusion_pump`, `wheelchair`, ..."),
    f(
        "status",
        Enum(ASSET_STATUS),
        "`available`, `in_use`, `needs_cleaning`, `clean`, `out_of_service`",
    ),
    f("model", String, "model, or empty"),
    f("home_unit", String, "the unit it belongs to, or empty"),
    f("located", Bool, "the locator has placed it in a room"),
    f(
        "recalled",
        Bool,
        "a recall open against its model and serial covers it (and its recall work order is not done)",
    ),
    f(
        "open_work_orders",
        Int,
        "its maintenance work orders not yet done or cancelled",
    ),
    f(
        "lost",
        Bool,
        "silent past its class's timeout (shown as last seen)",
    ),
    f(
        "tag_battery_known",
        Bool,
        "the tag has reported its battery",
    ),
    f(
        "tag_battery_pct",
        Double,
        "the tag's battery as last reported, 0..100 (100 when not reported)",
    ),
    f(
        "clock_wrong",
        Bool,
        "its own device (smart bed, pump) stamps messages beyond the allowed clock skew, so they are refused",
    ),
    f(
        "clock_offset_s",
        Double,
        "how far its device's clock is from Orderly's, seconds (ahead > 0), as last refused; 0 when right",
    ),
];

const PATIENT: &[FactDef] = &[
    f("assigned", Bool, "a patient is assigned to the bed"),
    f("id", String, "patient id, or empty"),
    f("name", String, "patient name, or empty"),
    f("morse", Int, "Morse Fall Scale, 0..125"),
    f(
        "fall_risk",
        Enum(FALL_RISK),
        "from Morse: `none` 0-24, `low` 25-44, `high` 45+ (Morse 1989)",
    ),
    f("braden", Int, "Braden Scale, 6..23 (lower is worse)"),
    f(
        "pressure_risk",
        Enum(PRESSURE_RISK),
        "from Braden: `none` 19+, `mild` 15-18, `moderate` 13-14, `high` 10-12, `very_high` 9 or less",
    ),
    f("ventilated", Bool, "on a ventilator"),
    f(
        "turn_state",
        Enum(TURN_STATE),
        "the repositioning timer (`[turning]` in detectors.toml): `off` (not at risk, or no load cells), `paused` (out of bed), `ok`, `due_soon`, `due`, `overdue`, `severely_overdue`",
    ),
    f(
        "turn_every_min",
        Int,
        "minutes between repositionings for this patient's Braden band (0: not timed)",
    ),
    f(
        "turn_minutes",
        Int,
        "minutes in bed since the last repositioning, as of the timer's last change of state",
    ),
    f("elopement_risk", Bool, "at risk of wandering off"),
    f(
        "news2_scored",
        Bool,
        "vital signs within `[vitals] max_age_min` give a NEWS2 score",
    ),
    f(
        "news2",
        Int,
        "the NEWS2 aggregate (RCP 2017) of the latest values, 0-20 (0 when none)",
    ),
    f(
        "news2_complete",
        Bool,
        "all seven NEWS2 parameters are in the score",
    ),
    f(
        "news2_response",
        Enum(NEWS2_RESPONSE),
        "the RCP chart 2 response: `none` (no score), `routine` (0), `low` (1-4), `single_parameter_3` (a 3 in one parameter, under 5), `medium` (5-6), `high` (7 or more)",
    ),
    f(
        "news2_rise",
        Int,
        "the aggregate now minus the lowest within `[vitals] trend_h`",
    ),
    f(
        "news2_detail",
        String,
        "the values and their sub-scores in words: `RR 24 (2), SpO2 93 (2), on oxygen (2), ...`",
    ),
    f(
        "obs_overdue",
        Bool,
        "the next observations are overdue for the score's minimum frequency (12 h, 4 h, 1 h, 15 min)",
    ),
    f(
        "fallen",
        Bool,
        "a fall was detected (wearable or device) and not suppressed by the bed, within `[falls] fact_s`",
    ),
    f(
        "fell_alone",
        Bool,
        "no caregiver was in the room when that fall happened",
    ),
    f(
        "fall_confidence",
        Double,
        "how sure the detector is of that fall, 0..1 (0 when none)",
    ),
    f(
        "nearest_staff",
        String,
        "the three nearest staff badges by walking distance when that fall happened: `Ana Silva (nurse, 12 m), ...`",
    ),
    f(
        "located",
        Bool,
        "the locator has placed the patient's wristband in a room",
    ),
    f(
        "lost",
        Bool,
        "the wristband is silent past its timeout (removed, or out of range)",
    ),
    f(
        "tag_battery_known",
        Bool,
        "the wristband has reported its battery",
    ),
    f(
        "tag_battery_pct",
        Double,
        "the wristband's battery as last reported, 0..100 (100 when not reported)",
    ),
];

const ROOM: &[FactDef] = &[
    f("known", Bool, "the subject is placed in a room"),
    f("id", String, "room id, or empty"),
    f("name", String, "room name, or empty"),
    f("kind", String, "`patient_room`, `corridor`, `utility`, ..."),
    f("unit", String, "the room's unit, or empty"),
    f("floor", String, "floor id, or empty"),
    f(
        "caregiver_present",
        Bool,
        "a staff member with a caregiver role (detectors.toml `[presence]`) is in the room",
    ),
    f("staff_count", Int, "staff members in the room"),
    f(
        "roles_present",
        StringList,
        "roles of the staff in the room",
    ),
];

const STAFF: &[FactDef] = &[
    f("id", String, "staff id"),
    f("name", String, "name"),
    f("role", String, "role, as in the seed"),
    f(
        "located",
        Bool,
        "the locator has placed the badge in a room",
    ),
    f("lost", Bool, "the badge is silent past its timeout"),
    f(
        "tag_battery_known",
        Bool,
        "the badge has reported its battery",
    ),
    f(
        "tag_battery_pct",
        Double,
        "the badge's battery as last reported, 0..100 (100 when not reported)",
    ),
];

const PAR: &[FactDef] = &[
    f("unit", String, "the unit's id"),
    f("unit_name", String, "the unit's name"),
    f("kind", String, "the asset kind, as in the registry"),
    f(
        "ready",
        Int,
        "items of the kind on the unit, `available` or `clean`, heard lately",
    ),
    f(
        "target",
        Int,
        "the PAR level: items the unit should hold ready",
    ),
    f("critical", Int, "below this the unit is critically short"),
    f(
        "short",
        Int,
        "items missing to reach the target (0 when at or above)",
    ),
    f(
        "source_known",
        Bool,
        "somewhere nearby has ready items to spare",
    ),
    f(
        "source_room",
        String,
        "the nearest room with items to spare (a unit above its own level, or a room outside any unit), or empty",
    ),
    f("source_name", String, "that room's name, or empty"),
    f("source_spare", Int, "items that room can spare"),
    f(
        "source_metres",
        Int,
        "walking distance from the unit's station to that room, metres",
    ),
    f(
        "pull_from",
        String,
        "where to pull from, for messages: `F1-EQUIP Equipment depot (6 spare, 85 m)`, or `no spare nearby`",
    ),
];

pub const SPACE_KIND: &[&str] = &["fridge", "freezer", "isolation", "operating_room", "room"];

const ENV: &[FactDef] = &[
    f("id", String, "the sensor's id (its device id)"),
    f(
        "appliance",
        String,
        "the appliance it is on (`4 West medication fridge`), or empty for a room's air",
    ),
    f("profile", String, "its profile in rules/environment.toml"),
    f(
        "kind",
        Enum(SPACE_KIND),
        "what its profile monitors: `fridge`, `freezer`, `isolation`, `operating_room`, `room`",
    ),
    f(
        "where",
        String,
        "the appliance and room in words, for messages",
    ),
    f(
        "reported",
        Bool,
        "the sensor has sent a reading since Orderly started",
    ),
    f(
        "temperature_c",
        Double,
        "the last temperature, °C (0 when not measured)",
    ),
    f(
        "temperature",
        Enum(STANDING),
        "the temperature against the profile's range: `none` (not measured or no range), `within`, `below_soft` (below `low`), `above_soft` (above `high`), `below_hard`, `above_hard` (a value equal to a limit is within it)",
    ),
    f(
        "temperature_minutes",
        Int,
        "whole minutes the temperature has been out of range (0 when within)",
    ),
    f(
        "humidity_pct",
        Double,
        "the last relative humidity, % (0 when not measured)",
    ),
    f(
        "humidity",
        Enum(STANDING),
        "the humidity against the range, as `temperature`",
    ),
    f(
        "humidity_minutes",
        Int,
        "whole minutes the humidity has been out of range",
    ),
    f(
        "pressure_pa",
        Double,
        "the last differential pressure against the reference space, Pa (negative: air flows in; 0 when not measured)",
    ),
    f(
        "pressure",
        Enum(STANDING),
        "the pressure against the range, as `temperature`",
    ),
    f(
        "pressure_minutes",
        Int,
        "whole minutes the pressure has been out of range",
    ),
    f(
        "excursion",
        String,
        "the longest excursion under way in words (`temperature above 8 °C for 34 min, peak 11.2 °C`), or empty",
    ),
    f(
        "range",
        String,
        "the ranges the profile sets, in words (`temperature 2 to 8 °C`)",
    ),
    f("door_open", Bool, "the sensor reports its door open"),
    f(
        "door_open_minutes",
        Int,
        "whole minutes the door has been open (0 when closed)",
    ),
    f(
        "silent_minutes",
        Int,
        "whole minutes since the sensor's last reading (since Orderly started when it has not reported yet)",
    ),
    f(
        "occupied",
        Bool,
        "a patient of the census has a bed in the sensor's room",
    ),
    f(
        "battery_pct",
        Double,
        "the sensor's battery, 0..100 (100 when not reported)",
    ),
];

/// The facts of a group.
pub fn group(name: &str) -> Option<&'static [FactDef]> {
    Some(match name {
        "bed" => BED,
        "pump" => PUMP,
        "infusion" => INFUSION,
        "asset" => ASSET,
        "patient" => PATIENT,
        "room" => ROOM,
        "staff" => STAFF,
        "par" => PAR,
        "env" => ENV,
        _ => return None,
    })
}

/// The definition of `group.name`.
pub fn fact(group_name: &str, name: &str) -> Option<&'static FactDef> {
    group(group_name)?.iter().find(|d| d.name == name)
}

/// Fall risk from the Morse Fall Scale (Morse 1989; 0-24 no risk, 25-44 low, 45+ high).
pub fn fall_risk(morse: u8) -> &'static str {
    match morse {
        0..=24 => "none",
        25..=44 => "low",
        _ => "high",
    }
}

/// Pressure-injury risk from the Braden Scale (Bergstrom 1987; cut-offs as used by NPIAP).
pub fn pressure_risk(braden: u8) -> &'static str {
    match braden {
        19.. => "none",
        15..=18 => "mild",
        13..=14 => "moderate",
        10..=12 => "high",
        _ => "very_high",
    }
}

pub use orderly_model::source::suggest;
