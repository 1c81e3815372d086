//! The alert engine: rules over facts, holds, acknowledgement, escalation, reloads, failures, restarts, the read model.

use super::*;

pub(super) fn bed_state(at: Timestamp, alarm: ExitAlarm) -> Inbound {
    Inbound::Reading(Reading {
        at,
        device: "bed-icu-01".into(),
        ts: at,
        seq: None,
        payload: Payload::BedState(BedState {
            occupied: true,
            hob_deg: 30.0,
            height: BedHeight::Low,
            brakes: true,
            rails: Rails::default(),
            exit_alarm: alarm,
            surface: Surface::Static,
            moving: false,
        }),
    })
}

#[test]
fn a_bed_exit_alarm_raises_one_alert_and_resolves() {
    let mut h = hospital();
    walk(
        &mut h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    h.push(bed_state(t(3), ExitAlarm::Alarming));
    let ev = h.step(t(3));
    // The exit is logged (bed.exit, from the bed's alarm), then alerted.
    assert!(
        matches!(&ev[0].kind, EventKind::BedExit { source, assisted: false, .. } if source == "bed alarm"),
        "{ev:?}"
    );
    let EventKind::AlertRaised(a) = &ev[1].kind else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (a.rule.as_str(), a.unit.as_deref(), a.room.as_deref()),
        ("bed-exit-alarm", Some("ICU"), Some("F2-ICU-01"))
    );
    assert!(a.message.contains("P-1001"), "{}", a.message);
    // The same state again (beds repeat every 30 s): no second alert.
    h.push(bed_state(t(4), ExitAlarm::Alarming));
    assert!(h.step(t(4)).is_empty());
    assert_eq!(h.snapshot().alerts.len(), 1);
    // Cleared: resolved once it stayed clear for the rule's 10 s.
    h.push(bed_state(t(5), ExitAlarm::Armed));
    assert!(h.step(t(5)).is_empty());
    assert!(h.step(t(14)).is_empty());
    let ev = h.step(t(15));
    assert!(
        matches!(&ev[0].kind, EventKind::AlertResolved(a) if a.state == orderly_model::AlertState::Resolved),
        "{ev:?}"
    );
    assert!(h.snapshot().alerts.is_empty());
}

/// A bed's alarm that reaches Orderly four minutes late (the broker kept it through an outage)
/// is still alerted, and the alert says how old its data is; the bed's next timely alarm is
/// alerted as news.
#[test]
fn an_alarm_delivered_late_is_alerted_with_how_old_it_is() {
    let mut h = hospital();
    walk(
        &mut h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    let mut late = bed_state(t(300), ExitAlarm::Alarming);
    if let Inbound::Reading(r) = &mut late {
        r.ts = t(60);
    }
    h.push(late);
    let ev = h.step(t(300));
    let a = ev.iter().find_map(|e| e.kind.alert()).expect("alerted");
    assert_eq!(a.rule, "bed-exit-alarm");
    assert_eq!(a.data_at, Some(t(60)));
    assert!(
        a.message
            .ends_with("(from data sent 4 min ago, delivered late)"),
        "{}",
        a.message
    );
    h.push(bed_state(t(301), ExitAlarm::Armed));
    h.step(t(301));
    h.step(t(312));
    assert!(h.snapshot().alerts.is_empty());
    // A backlog read in one step: the alarm from four minutes ago, then the bed's timely state.
    let mut old = bed_state(t(400), ExitAlarm::Alarming);
    if let Inbound::Reading(r) = &mut old {
        r.ts = t(160);
    }
    h.push(old);
    h.push(bed_state(t(400), ExitAlarm::Armed));
    let ev = h.step(t(400));
    let a = ev.iter().find_map(|e| e.kind.alert()).expect("alerted");
    assert_eq!(a.data_at, Some(t(160)), "{a:?}");
    h.step(t(401));
    h.step(t(412));
    assert!(h.snapshot().alerts.is_empty());
    h.push(bed_state(t(320), ExitAlarm::Alarming));
    let ev = h.step(t(320));
    let a = ev.iter().find_map(|e| e.kind.alert()).expect("alerted");
    assert_eq!(a.data_at, None);
    assert!(!a.message.contains("late"), "{}", a.message);
}

/// A backlog read in one step (after a broker outage) holds a bed's alarm and the bed armed
/// again after it: the exit is still logged and alerted once, and resolves as usual.
#[test]
fn an_alarm_that_came_and_went_within_one_step_is_still_alerted() {
    let mut h = hospital();
    walk(
        &mut h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    h.push(bed_state(t(3), ExitAlarm::Armed));
    h.step(t(3));
    h.push(bed_state(t(4), ExitAlarm::Alarming));
    h.push(bed_state(t(6), ExitAlarm::Armed));
    let ev = h.step(t(7));
    assert!(
        ev.iter()
            .any(|e| matches!(&e.kind, EventKind::BedExit { source, .. } if source == "bed alarm")),
        "{ev:?}"
    );
    let raised: Vec<_> = ev
        .iter()
        .filter(|e| e.kind.name() == "alert.raised")
        .collect();
    assert_eq!(raised.len(), 1, "{ev:?}");
    // Cleared from the next step on: resolved after the rule's 10 s.
    assert!(h.step(t(8)).is_empty());
    let ev = h.step(t(19));
    assert!(
        ev.iter().any(|e| e.kind.name() == "alert.resolved"),
        "{ev:?}"
    );
}

#[test]
fn the_same_inputs_give_the_same_events() {
    let run = || {
        let mut h = hospital();
        let mut all = Vec::new();
        for s in 0..30 {
            for (i, tag) in ["TP-0001", "TP-0002", "B-0003", "TWC-0004"]
                .iter()
                .enumerate()
            {
                let rssi = -60.0 - ((s * 7 + i as i64 * 13) % 20) as f32;
                h.push(sighting(t(s), "rx-f2-c01", tag, rssi, false));
                h.push(sighting(t(s), "rx-f2-icu-01", tag, -130.0 - rssi, false));
            }
            all.extend(h.step(t(s)));
        }
        serde_json::to_string(&all).unwrap()
    };
    let a = run();
    assert!(a.contains("location.changed"));
    assert_eq!(a, run());
}

#[test]
fn a_restart_restores_locations_alerts_and_numbering() {
    let mut h = hospital();
    walk(
        &mut h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    h.push(bed_state(t(3), ExitAlarm::Alarming));
    let events = h.step(t(3));
    let snap = h.snapshot();
    let mut again = hospital();
    let loc = snap.assets["BED-ICU-01"].location.clone().unwrap();
    again.restore(Restored {
        statuses: vec![],
        next_seq: events.last().unwrap().seq,
        locations: vec![(
            "BED-ICU-01".into(),
            loc.room.clone(),
            loc.since,
            loc.last_seen,
            loc.confidence,
        )],
        alerts: snap.alerts.values().cloned().collect(),
        turned: vec![],
        ..Restored::default()
    });
    // Still alarming after the restart: no duplicate alert. Heard in the same room: no move.
    again.push(bed_state(t(10), ExitAlarm::Alarming));
    let ev = walk(
        &mut again,
        10,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    // (Bundles restate where they stand after a restart.) Numbering goes on from before.
    assert!(no_bundles(&ev).is_empty(), "{ev:?}");
    assert_eq!(ev[0].seq, events.last().unwrap().seq + 1);
    let last = ev.last().unwrap().seq;
    again.push(bed_state(t(12), ExitAlarm::Off));
    assert!(no_bundles(&again.step(t(12))).is_empty());
    // (The exit alarm off for 5 s also has Orderly arm it: a bed command in the same step.)
    let ev = again.step(t(22));
    assert!(
        ev.iter().any(|e| e.kind.name() == "alert.resolved"),
        "{ev:?}"
    );
    assert_eq!(ev[0].seq, last + 1);
}

#[test]
fn a_restored_alert_waits_for_its_device_before_it_can_resolve() {
    let mut h = hospital();
    walk(
        &mut h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    h.push(bed_state(t(3), ExitAlarm::Alarming));
    h.step(t(3));
    let open: Vec<_> = h.snapshot().alerts.values().cloned().collect();
    let mut again = hospital();
    again.restore(Restored {
        statuses: vec![],
        next_seq: 100,
        locations: vec![],
        alerts: open,
        turned: vec![],
        ..Restored::default()
    });
    // The bed has not spoken since the restart: its exit-alarm fact is unknown, not "off".
    let ev = walk(
        &mut again,
        10,
        20,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    assert!(ev.iter().all(|e| e.kind.alert().is_none()), "{ev:?}");
    assert_eq!(again.snapshot().alerts.len(), 1);
}

#[test]
fn the_shipped_detector_file_is_valid_and_typos_are_located() {
    let text = include_str!("../../../../rules/detectors.toml");
    let c = WorldConfig::parse("rules/detectors.toml", text).unwrap();
    assert_eq!(c.locator.enter_p, 0.9);
    // The file shows the fall detector's values; a deployment without it gets the same.
    assert_eq!(c.falls, crate::fall::FallConfig::default());
    let e = WorldConfig::parse("d.toml", "[locator]\nenter_pp = 0.8\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("d.toml:2:1: unknown field `enter_pp`"),
        "{e}"
    );
}

/// The read model kept up to date step by step equals one built from scratch.
#[test]
fn the_incremental_read_model_matches_a_full_rebuild() {
    let mut h = hospital();
    for s in 0..20 {
        for (i, tag) in ["TP-0001", "TB-ICU-01", "B-0003", "TW-1001", "TWC-0004"]
            .iter()
            .enumerate()
        {
            let (a, b) = if (s / 5 + i as i64) % 2 == 0 {
                ("rx-f2-icu-01", "rx-f2-c01")
            } else {
                ("rx-f2-c01", "rx-f2-icu-01")
            };
            h.push(sighting(t(s), a, tag, -55.0, s % 7 == 0));
            h.push(sighting(t(s), b, tag, -80.0, false));
        }
        if s == 10 {
            h.push(bed_state(t(s), ExitAlarm::Alarming));
        }
        h.step(t(s));
    }
    h.step(t(200));
    let live = h.snapshot();
    snapshot::rebuild(h.world_mut());
    let fresh = h.snapshot();
    assert!(!live.rooms.is_empty());
    assert_eq!(live.assets, fresh.assets);
    assert_eq!(live.staff, fresh.staff);
    assert_eq!(live.patients, fresh.patients);
    assert_eq!(live.rooms, fresh.rooms);
}

pub(super) fn bed_with(at: Timestamp, hob: f32, alarm: ExitAlarm) -> Inbound {
    let mut b = bed_state(at, alarm);
    if let Inbound::Reading(Reading {
        payload: Payload::BedState(s),
        ..
    }) = &mut b
    {
        s.hob_deg = hob;
    }
    b
}

pub(super) const HOB: &str = r#"
[[rule]]
id = "hob"
title = "Head of bed low"
subject = "bed"
when = "bed.occupied && bed.hob_deg < 30.0"
unless = "room.caregiver_present"
for = "2m"
priority = "medium"
kind = "physiological"
escalate = [{ after = "30s", to = ["role:charge_nurse"] }]
message = "HOB {bed.hob_deg} for {patient.name}"
"#;

/// The events other than care-bundle standings.
pub(super) fn no_bundles(ev: &[OutEvent]) -> Vec<&OutEvent> {
    ev.iter()
        .filter(|e| e.kind.name() != "bundle.changed")
        .collect()
}

pub(super) fn alert_kinds(ev: &[OutEvent]) -> Vec<&'static str> {
    ev.iter()
        .filter(|e| e.kind.alert().is_some())
        .map(|e| e.kind_name())
        .collect()
}

pub(super) fn place_bed(h: &mut Hospital) {
    walk(
        h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
}

#[test]
fn a_hold_timer_survives_a_reload_that_changes_its_rule() {
    let mut h = hospital_with(rules(&[("hob.toml", HOB)]));
    place_bed(&mut h);
    h.push(bed_with(t(10), 20.0, ExitAlarm::Armed));
    assert!(alert_kinds(&h.step(t(10))).is_empty());
    // One minute into the two: a reload changes the message and adds a rule.
    let changed = HOB.replace("HOB {bed.hob_deg}", "Head of bed at {bed.hob_deg}");
    let added = format!(
        "{changed}\n{}",
        HOB.replace("id = \"hob\"", "id = \"hob2\"")
    );
    let summary = h.replace_rules(rules(&[("hob.toml", &added)]));
    assert_eq!(summary.changed, ["hob"]);
    assert_eq!(summary.added, ["hob2"]);
    assert!(alert_kinds(&h.step(t(70))).is_empty());
    // The surviving rule fires at 2 min after the condition began, not 2 min after the reload.
    let ev = h.step(t(130));
    assert_eq!(alert_kinds(&ev), ["alert.raised"]);
    let a = ev[0].kind.alert().unwrap();
    assert_eq!(a.message, "Head of bed at 20 for Ben Rossi");
    // Escalation step survives a reload too; a removed rule's alert is resolved.
    assert_eq!(alert_kinds(&h.step(t(160))), ["alert.escalated"]);
    h.replace_rules(rules(&[("hob.toml", &added)]));
    assert!(alert_kinds(&h.step(t(161))).is_empty());
    assert_eq!(h.snapshot().alerts.values().next().unwrap().escalation, 1);
    h.replace_rules(rules(&[]));
    let ev = h.step(t(162));
    assert_eq!(alert_kinds(&ev), ["alert.resolved"]);
    assert_eq!(
        ev[0].kind.alert().unwrap().resolution.as_deref(),
        Some("rule removed")
    );
}

#[test]
fn a_caregiver_in_the_room_holds_the_alert_back() {
    let mut h = hospital_with(rules(&[(
        "hob.toml",
        &HOB.replace("for = \"2m\"", "for = \"0s\""),
    )]));
    place_bed(&mut h);
    // Nurse S-0002's badge is in the room first.
    walk(
        &mut h,
        2,
        2,
        "B-0002",
        ("rx-f2-icu-01", -50.0),
        ("rx-f2-c01", -85.0),
    );
    h.push(bed_with(t(10), 20.0, ExitAlarm::Armed));
    assert!(alert_kinds(&h.step(t(10))).is_empty());
    // The nurse leaves: the condition now holds.
    let ev = walk(
        &mut h,
        11,
        8,
        "B-0002",
        ("rx-f2-c01", -50.0),
        ("rx-f2-icu-01", -85.0),
    );
    assert_eq!(alert_kinds(&ev), ["alert.raised"]);
}

#[test]
fn operators_acknowledge_silence_and_resolve_through_the_world() {
    let mut h = hospital();
    place_bed(&mut h);
    h.push(bed_state(t(3), ExitAlarm::Alarming));
    h.step(t(3));
    let id = h.snapshot().alerts.keys().next().unwrap().clone();
    let (seq, a) = h
        .command(AlertCommand::Acknowledge {
            id: id.clone(),
            by: "S-0002".into(),
        })
        .unwrap();
    assert_eq!(a.acknowledged_by.as_deref(), Some("S-0002"));
    let ev = h.step(t(4));
    assert_eq!(ev[0].seq, seq);
    assert_eq!(ev[0].kind_name(), "alert.acknowledged");
    // Acknowledged: no escalation at 30 s.
    assert!(alert_kinds(&h.step(t(40))).is_empty());
    assert!(matches!(
        h.command(AlertCommand::Silence {
            id: "x".into(),
            by: "S-0002".into(),
            for_ms: 60_000
        }),
        Err(CommandError::NotFound(_))
    ));
    h.command(AlertCommand::Resolve {
        id,
        by: "S-0002".into(),
        reason: "patient back in bed, alarm sensor faulty".into(),
    })
    .unwrap();
    assert_eq!(alert_kinds(&h.step(t(41))), ["alert.resolved"]);
    // Still alarming: no new alert until the alarm has cleared.
    h.push(bed_state(t(45), ExitAlarm::Alarming));
    assert!(alert_kinds(&h.step(t(45))).is_empty());
}

#[test]
fn an_unacknowledged_bed_exit_escalates_along_its_chain() {
    let mut h = hospital();
    place_bed(&mut h);
    h.push(bed_state(t(3), ExitAlarm::Alarming));
    h.step(t(3));
    assert!(alert_kinds(&h.step(t(32))).is_empty());
    let ev = h.step(t(33));
    assert_eq!(alert_kinds(&ev), ["alert.escalated"]);
    assert_eq!(
        ev[0].kind.alert().unwrap().audience,
        ["station:ICU", "role:charge_nurse"]
    );
    let ev = h.step(t(93));
    assert_eq!(ev[0].kind.alert().unwrap().audience, ["overhead"]);
}

#[test]
fn a_rule_that_fails_is_disabled_with_a_technical_alert_and_the_rest_keep_running() {
    let failing = HOB.replace("id = \"hob\"", "id = \"broken\"").replace(
        "bed.occupied && bed.hob_deg < 30.0",
        "bed.rails_up / (bed.rails_up - bed.rails_up) > 1",
    );
    let both = format!("{failing}\n{}", HOB.replace("for = \"2m\"", "for = \"0s\""));
    let mut h = hospital_with(rules(&[("r.toml", &both)]));
    place_bed(&mut h);
    h.push(bed_with(t(10), 20.0, ExitAlarm::Armed));
    let ev = h.step(t(10));
    let raised: Vec<_> = ev
        .iter()
        .filter_map(|e| e.kind.alert())
        .map(|a| a.rule.as_str())
        .collect();
    assert_eq!(raised, [alerts::RULE_FAILED, "hob"]);
    let tech = ev[0].kind.alert().unwrap();
    assert_eq!(tech.audience, ["role:admin"]);
    assert!(tech.message.contains("broken"), "{}", tech.message);
    assert_eq!(h.rules().1.len(), 1);
    // Disabled: the next change does not fail again.
    h.push(bed_with(t(11), 21.0, ExitAlarm::Armed));
    assert!(alert_kinds(&h.step(t(11))).is_empty());
    // A reload gives it another chance (and resolves the technical alert).
    h.replace_rules(rules(&[("r.toml", HOB)]));
    let ev = h.step(t(12));
    assert!(ev.iter().any(|e| e.kind_name() == "alert.resolved"
        && e.kind.alert().unwrap().rule == alerts::RULE_FAILED));
}

#[test]
fn a_rejected_rule_set_raises_one_technical_alert_until_a_good_one_loads() {
    let mut h = hospital();
    h.rules_rejected("rules/x.toml:3:1: unknown field".into());
    h.rules_rejected("rules/x.toml:3:1: unknown field".into());
    let ev = h.step(t(1));
    assert_eq!(alert_kinds(&ev), ["alert.raised"]);
    h.replace_rules(rules(&shipped_rules()));
    assert_eq!(alert_kinds(&h.step(t(2))), ["alert.resolved"]);
}

/// The facts the world builds are exactly the ones the schema (and docs/rules.md) promise.
#[test]
fn built_facts_match_the_schema() {
    use orderly_rules::{Fact, FactType, schema};
    let all_kinds = orderly_rules::SubjectType::ALL
        .map(|k| format!(
            "[[rule]]\nid = \"all-{0}\"\ntitle = \"x\"\nsubject = \"{0}\"\nwhen = \"true\"\npriority = \"low\"\nkind = \"advisory\"\nnotify = [\"role:admin\"]\nmessage = \"m\"\n",
            k.as_str()
        ))
        .join("\n");
    let mut h = hospital_with(rules(&[("all.toml", &all_kinds)]));
    h.set_config(WorldConfig {
        par: vec![par_level("ICU", "infusion_pump", 2, 1)],
        ..WorldConfig::default()
    });
    place_bed(&mut h);
    h.step(t(5));
    let world = h.world_mut();
    let mut q = world.query::<(
        AnyOf<(&registry::Subject, &par::ParSubject)>,
        &facts::SubjectFacts,
    )>();
    let mut seen = std::collections::BTreeSet::new();
    for ((subject, par), f) in q.iter(world) {
        let id = subject.map_or_else(|| par.unwrap().id.clone(), |s| s.id.clone());
        for (g, facts) in &f.facts().groups {
            let defs = schema::group(g).unwrap();
            let names: Vec<_> = facts.keys().copied().collect();
            let mut want: Vec<_> = defs.iter().map(|d| d.name).collect();
            want.sort_unstable();
            assert_eq!(names, want, "{id} group {g}");
            for d in defs {
                let ok = match (facts.get(d.name).unwrap(), d.ty) {
                    (Fact::Bool(_), FactType::Bool)
                    | (Fact::Int(_), FactType::Int)
                    | (Fact::Double(_), FactType::Double)
                    | (Fact::String(_), FactType::String)
                    | (Fact::StringList(_), FactType::StringList) => true,
                    (Fact::String(v), FactType::Enum(vals)) => vals.contains(&v.as_str()),
                    _ => false,
                };
                assert!(ok, "{id}: {g}.{} = {:?}", d.name, facts.get(d.name));
            }
            seen.insert(*g);
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
}

/// Each fact of the schema is declared by exactly one capability, and each provider, run on
/// every subject, sets only the facts it declared: two capabilities never fight over a fact,
/// and a fact with no provider is found here, not by a rule that never fires.
#[test]
fn every_fact_is_declared_by_one_capability_and_provided_only_by_it() {
    use std::collections::{BTreeMap, BTreeSet};
    let mut h = hospital();
    place_bed(&mut h);
    h.step(t(5));
    let world = h.world_mut();
    let mut q = world.query_filtered::<Entity, With<registry::Subject>>();
    let subjects: Vec<Entity> = q.iter(world).collect();
    let world = &*world;
    let providers = world.resource::<facts::FactProviders>();
    let mut owner: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (cap, provides) in providers.declared() {
        for (g, names) in provides.iter() {
            for n in names.iter() {
                if let Some(other) = owner.insert((*g, *n), *cap) {
                    panic!("{g}.{n} is declared by both {other} and {cap}");
                }
            }
        }
    }
    let schema: BTreeSet<(&str, &str)> = orderly_rules::SubjectType::ALL
        .iter()
        .flat_map(|t| t.groups().iter())
        .flat_map(|g| {
            orderly_rules::schema::group(g)
                .unwrap()
                .iter()
                .map(move |d| (*g, d.name))
        })
        .collect();
    let declared: BTreeSet<(&str, &str)> = owner.keys().copied().collect();
    assert_eq!(
        schema.difference(&declared).collect::<Vec<_>>(),
        Vec::<&(&str, &str)>::new(),
        "facts of the schema no capability declares"
    );
    assert_eq!(
        declared.difference(&schema).collect::<Vec<_>>(),
        Vec::<&(&str, &str)>::new(),
        "declared facts the schema does not have"
    );
    // Each provider alone, on every subject of the demo hospital.
    let mut checked = 0;
    for e in subjects {
        let (ctx, _) = alerts::fact_ctx(world, e).unwrap();
        for (cap, provide) in &providers.providers {
            let mut sheet = facts::FactSheet::default();
            provide(&ctx, &mut sheet);
            for (g, group) in &sheet.facts.groups {
                for n in group.keys() {
                    assert_eq!(
                        owner.get(&(*g, *n)),
                        Some(cap),
                        "{cap} set {g}.{n} on {} without declaring it",
                        ctx.id
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn the_shipped_rules_are_valid() {
    let set = rules(&shipped_rules());
    assert!(set.rules.len() >= 8);
    assert!(set.get("bed-exit-alarm").is_some());
}

/// A bundle's message says in words what is missing, and only that (issue 20: it read "bed
/// raised, brakes true, upper rails up 2, exit alarm armed").
#[test]
fn the_fall_bundle_message_says_what_is_missing() {
    let mut h = hospital();
    let state = |s: i64| {
        Inbound::Reading(Reading {
            at: t(s),
            device: "bed-icu-01".into(),
            ts: t(s),
            seq: None,
            payload: Payload::BedState(BedState {
                occupied: true,
                hob_deg: 30.0,
                height: BedHeight::Raised,
                brakes: false,
                rails: Rails {
                    head_left: true,
                    ..Rails::default()
                },
                exit_alarm: ExitAlarm::Armed,
                surface: Surface::Static,
                moving: false,
            }),
        })
    };
    let mut raised = Vec::new();
    for s in (0..=400).step_by(20) {
        h.push(state(s));
        raised.extend(
            h.step(t(s))
                .into_iter()
                .filter_map(|e| e.kind.alert().cloned())
                .filter(|a| a.rule == "fall-bundle-incomplete"),
        );
    }
    let a = raised.first().expect("the bundle alert after 5 minutes");
    assert!(
        a.message
            .ends_with(": bed not in its low position, brakes off, one head rail down. Set it right at the bedside"),
        "{}",
        a.message
    );
    assert!(
        a.message
            .starts_with("Fall-risk bundle incomplete for Ben Rossi in ICU room 1"),
        "{}",
        a.message
    );
}

/// A rule whose condition does not read where its subject is, but whose message does: a move
/// while it stands idle does not evaluate it (a tag's move evaluated every rule about its
/// pump), yet an alert waiting out its `for` when the subject moves is raised where it is now.
#[test]
fn an_alert_waiting_out_its_hold_is_raised_in_the_room_its_subject_moved_to() {
    const LOW: &str = r#"
[[rule]]
id = "low-cell"
title = "Tag cell low"
subject = "asset"
when = "asset.tag_battery_known && asset.tag_battery_pct <= 15.0"
for = "10s"
priority = "advisory"
kind = "technical"
notify = ["role:facilities"]
message = "{asset.id} last in {room.name}"
"#;
    let heard = |s: i64, rx: &str, battery: f32| {
        Inbound::Reading(Reading {
            at: t(s),
            device: rx.into(),
            ts: t(s),
            seq: None,
            payload: Payload::Sightings(Sightings {
                sightings: vec![Sighting {
                    tag: "TP-0001".into(),
                    rssi: -60.0,
                    battery: Some(battery),
                    ir: true,
                }],
            }),
        })
    };
    let mut h = hospital_with(rules(&[("low.toml", LOW)]));
    // Moves with a good cell: nothing holds, nothing is raised.
    for (s, rx) in [(0, "rx-f2-c01"), (3, "rx-f2-icu-dirty"), (6, "rx-f2-c01")] {
        h.push(heard(s, rx, 0.9));
        assert!(alert_kinds(&h.step(t(s))).is_empty());
    }
    // The cell reads low in the dirty utility room: the 10 s hold starts there.
    h.push(heard(10, "rx-f2-icu-dirty", 0.1));
    assert!(alert_kinds(&h.step(t(10))).is_empty());
    // Carried to the corridor while the hold runs.
    h.push(heard(14, "rx-f2-c01", 0.1));
    assert!(alert_kinds(&h.step(t(14))).is_empty());
    let ev = h.step(t(21));
    assert_eq!(alert_kinds(&ev), ["alert.raised"]);
    let a = ev[0].kind.alert().unwrap();
    assert_eq!(a.room.as_deref(), Some("F2-C01"));
    assert_eq!(a.message, "PUMP-0001 last in Second floor corridor 1");
    // Raised, it follows a later move in what the next evaluation places.
    h.push(heard(25, "rx-f2-icu-dirty", 0.1));
    h.step(t(25));
    assert_eq!(
        h.snapshot().alerts.values().next().unwrap().room.as_deref(),
        Some("F2-C01"),
        "an open alert keeps the room it was raised in"
    );
}
