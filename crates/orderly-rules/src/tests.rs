use super::*;
use orderly_model::{AlertState, EventKind, Timestamp};

fn known() -> Known {
    Known {
        units: ["ICU", "MS3"].map(String::from).into(),
        roles: ["nurse", "charge_nurse", "biomed", "admin"]
            .map(String::from)
            .into(),
        kinds: ["bed", "infusion_pump"].map(String::from).into(),
        models: Default::default(),
        sensor_profiles: Default::default(),
    }
}

fn compile(text: &str) -> Result<RuleSet, orderly_model::FileErrors> {
    RuleSet::compile(&[("rules/test.toml".into(), text.into())], &known())
}

fn errors(text: &str) -> String {
    compile(text).expect_err("should be rejected").to_string()
}

const GOOD: &str = r#"
[[rule]]
id = "hob-low"
title = "Head of bed below 30 degrees"
subject = "bed"
when = "patient.ventilated && bed.hob_deg < 30.0"
unless = "room.caregiver_present"
for = "5m"
clear_for = "30s"
priority = "medium"
kind = "physiological"
notify = ["station"]
escalate = [
  { after = "30s", to = ["role:charge_nurse"] },
  { after = "90s", to = ["overhead"] },
]
remind_every = "10m"
message = "Head of bed at {bed.hob_deg} degrees for {patient.name} in {room.name}"
"#;

#[test]
fn a_good_rule_compiles_with_everything_it_says() {
    let set = compile(GOOD).unwrap();
    let r = &set.rules[0];
    assert_eq!(r.id, "hob-low");
    assert_eq!(r.subject, SubjectType::Bed);
    assert_eq!(r.hold_ms, 300_000);
    assert_eq!(r.clear_for_ms, 30_000);
    assert_eq!(r.escalate.len(), 2);
    assert_eq!(r.escalate[1].after_ms, 90_000);
    assert_eq!(r.remind_every_ms, Some(600_000));
    assert_eq!(r.defined_at, "rules/test.toml:3");
    assert_eq!(r.groups(), ["bed", "patient", "room"]);
    assert_eq!(r.audience(0, Some("ICU")), ["station:ICU"]);
    assert_eq!(r.audience(1, Some("ICU")), ["role:charge_nurse"]);
    assert_eq!(r.audience(2, Some("ICU")), ["overhead"]);
}

#[test]
fn an_unknown_fact_is_located_and_a_fix_suggested() {
    let e = errors(&GOOD.replace("bed.hob_deg < 30.0", "bed.hob_dg < 30.0"));
    // Line 6 is `when = "..."`; the fact starts at column 31.
    assert!(
        e.contains(
            "rules/test.toml:6:31: unknown fact `bed.hob_dg` (fix: did you mean `bed.hob_deg`?)"
        ),
        "{e}"
    );
    let e = errors(&GOOD.replace("patient.ventilated", "patien.ventilated"));
    assert!(e.contains("unknown fact `patien`"), "{e}");
    assert!(e.contains("did you mean `patient`?"), "{e}");
    // A pump rule cannot read a bed.
    let e = errors(
        &GOOD
            .replace("subject = \"bed\"", "subject = \"pump\"")
            .replace("{bed.hob_deg}", "{pump.battery_pct}")
            .replace(" for {patient.name}", ""),
    );
    assert!(e.contains("unknown fact `patient`"), "{e}");
}

#[test]
fn type_errors_and_misspelt_values_are_found_before_they_run() {
    let e = errors(&GOOD.replace("bed.hob_deg < 30.0", "bed.hob_deg < '30'"));
    assert!(e.contains("cannot order a double and a string"), "{e}");
    let e = errors(&GOOD.replace("bed.hob_deg < 30.0", "bed.exit_alarm == 'alarmng'"));
    assert!(e.contains("'alarmng' is never a value of this fact"), "{e}");
    assert!(e.contains("did you mean 'alarming'?"), "{e}");
    let e = errors(&GOOD.replace("bed.hob_deg < 30.0", "bed.exit_alarm in ['armed', 'of']"));
    assert!(e.contains("'of' is never a value"), "{e}");
    let e = errors(&GOOD.replace("patient.ventilated && bed.hob_deg < 30.0", "bed.hob_deg"));
    assert!(
        e.contains("a condition must be true or false, this is a double"),
        "{e}"
    );
    let e = errors(&GOOD.replace("bed.hob_deg < 30.0", "sise(bed.hob_deg) > 1"));
    assert!(e.contains("unknown function `sise`"), "{e}");
    let e = errors(&GOOD.replace("patient.ventilated &&", "patient.morse &&"));
    assert!(e.contains("expected true or false, found a int"), "{e}");
    // A group is read by its facts, never used whole.
    let e = errors(&GOOD.replace("bed.hob_deg < 30.0", "size(bed) > 3"));
    assert!(
        e.contains("rules/test.toml:6:36: `bed` is a group of facts, not a value (fix: read one of its facts, e.g. `bed.id`)"),
        "{e}"
    );
    let e = errors(&GOOD.replace("bed.hob_deg < 30.0", "bed == {'id': 'B1'}"));
    assert!(e.contains("`bed` is a group of facts, not a value"), "{e}");
    let ok = GOOD.replace(
        "bed.hob_deg < 30.0",
        "bed['hob_deg'] < 30.0 && has(bed.height)",
    );
    assert!(compile(&ok).is_ok());
}

#[test]
fn a_syntax_error_points_into_the_file() {
    let e = errors(&GOOD.replace("bed.hob_deg < 30.0", "bed.hob_deg < (30.0"));
    assert!(e.starts_with("rules/test.toml:6:50:"), "{e}");
    assert!(e.contains("the condition does not parse"), "{e}");
}

#[test]
fn units_roles_durations_fields_and_templates_are_checked() {
    let e = errors(&GOOD.replace("role:charge_nurse", "role:charge_nuse"));
    assert!(
        e.contains("unknown role `charge_nuse` (fix: did you mean `role:charge_nurse`?)"),
        "{e}"
    );
    let e = errors(&GOOD.replace("[\"station\"]", "[\"unit:ICX\"]"));
    assert!(e.contains("rules/test.toml:12:11:"), "{e}");
    assert!(e.contains("unknown unit `ICX`"), "{e}");
    let e = errors(&GOOD.replace("\"5m\"", "\"5 mins or so\""));
    assert!(
        e.contains("rules/test.toml:8:7: `5 mins or so` is not a duration"),
        "{e}"
    );
    let e = errors(&GOOD.replace(
        "kind = \"physiological\"",
        "kind = \"physiological\"\ncolour = \"red\"",
    ));
    assert!(
        e.contains("rules/test.toml:12:1: unknown field `colour`"),
        "{e}"
    );
    let e = errors(&GOOD.replace("{room.name}", "{room.nam}"));
    assert!(
        e.contains("unknown fact `room.nam` in the message (fix: did you mean `{room.name}`?)"),
        "{e}"
    );
    let e = errors(&GOOD.replace("{ after = \"90s\"", "{ after = \"20s\""));
    assert!(e.contains("must come later than the one before"), "{e}");
    let e = errors(&format!(
        "{GOOD}\n{}",
        GOOD.replace("Head of bed below", "Again")
    ));
    assert!(
        e.contains("rule `hob-low` is already defined at rules/test.toml:3"),
        "{e}"
    );
    let e = errors(&GOOD.replace("id = \"hob-low\"", "id = \"orderly.x\""));
    assert!(
        e.contains("not a rule id") || e.contains("Orderly's own"),
        "{e}"
    );
    let e = errors(&GOOD.replace("priority = \"medium\"", "priority = \"urgent\""));
    assert!(e.contains("unknown priority `urgent`"), "{e}");
}

#[test]
fn every_problem_of_every_file_is_reported() {
    let bad = GOOD
        .replace("role:charge_nurse", "role:x")
        .replace("\"5m\"", "\"soon\"");
    let e = RuleSet::compile(
        &[
            ("a.toml".into(), bad.clone()),
            ("b.toml".into(), bad.replace("hob-low", "other")),
        ],
        &known(),
    )
    .unwrap_err();
    assert_eq!(e.0.len(), 4, "{e}");
}

proptest::proptest! {
    #[test]
    fn any_condition_text_is_accepted_or_rejected_without_panicking(s in "\\PC{0,80}") {
        let text = format!("[[rule]]\nid = \"x\"\ntitle = \"x\"\nsubject = \"bed\"\nwhen = {}\npriority = \"low\"\nkind = \"technical\"\nmessage = \"m\"\n",
            toml::Value::String(s));
        let _ = compile(&text);
    }
}

// ---------------------------------------------------------------- lifecycle

fn facts(hob: f64) -> Facts {
    let mut f = Facts::default();
    f.set("bed", "hob_deg", Fact::Double(hob));
    f.set("patient", "name", Fact::String("Bo".into()));
    f.set("room", "name", Fact::String("ICU 1".into()));
    f.room = Some("F2-ICU-01".into());
    f.unit = Some("ICU".into());
    f
}

fn t(s: i64) -> Timestamp {
    Timestamp(s * 1000)
}

fn kinds(ev: &[EventKind]) -> Vec<&'static str> {
    ev.iter().map(EventKind::name).collect()
}

#[test]
fn a_hold_timer_raises_only_after_the_condition_held_long_enough() {
    let set = compile(GOOD).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    assert!(a.observe(r, "BED-1", true, &facts(20.0), t(0)).is_empty());
    assert!(a.tick(&set, t(299)).is_empty());
    // Cleared and back: the timer starts again.
    assert!(
        a.observe(r, "BED-1", false, &facts(35.0), t(200))
            .is_empty()
    );
    assert!(a.observe(r, "BED-1", true, &facts(20.0), t(250)).is_empty());
    assert!(a.tick(&set, t(549)).is_empty());
    let ev = a.tick(&set, t(550));
    assert_eq!(kinds(&ev), ["alert.raised"]);
    let EventKind::AlertRaised(al) = &ev[0] else {
        unreachable!()
    };
    assert_eq!(al.message, "Head of bed at 20 degrees for Bo in ICU 1");
    assert_eq!(al.unit.as_deref(), Some("ICU"));
    assert_eq!(al.audience, ["station:ICU"]);
    assert_eq!(al.id, "hob-low:BED-1:550000");
}

#[test]
fn escalation_follows_the_chain_until_acknowledged_and_reminders_follow() {
    let set = compile(&GOOD.replace("for = \"5m\"", "for = \"0s\"")).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    assert_eq!(
        kinds(&a.observe(r, "BED-1", true, &facts(20.0), t(0))),
        ["alert.raised"]
    );
    assert!(a.tick(&set, t(29)).is_empty());
    let ev = a.tick(&set, t(30));
    assert_eq!(kinds(&ev), ["alert.escalated"]);
    let EventKind::AlertEscalated(al) = &ev[0] else {
        unreachable!()
    };
    assert_eq!(
        (al.escalation, al.audience.clone()),
        (1, vec!["role:charge_nurse".to_string()])
    );
    let id = al.id.clone();
    let ev = a.acknowledge(&id, "N-1", t(60)).unwrap();
    assert_eq!(ev.name(), "alert.acknowledged");
    assert_eq!(
        a.acknowledge(&id, "N-2", t(61)),
        Err(CommandError::AlreadyAcknowledged { by: "N-1".into() })
    );
    // Acknowledged: no overhead page at 90 s; a reminder 10 min after the acknowledgement.
    assert!(a.tick(&set, t(90)).is_empty());
    assert!(a.tick(&set, t(659)).is_empty());
    assert_eq!(kinds(&a.tick(&set, t(660))), ["alert.reminder"]);
    // Cleared for 30 s: resolved by the system.
    assert!(
        a.observe(r, "BED-1", false, &facts(40.0), t(700))
            .is_empty()
    );
    let ev = a.tick(&set, t(730));
    assert_eq!(kinds(&ev), ["alert.resolved"]);
    let EventKind::AlertResolved(al) = &ev[0] else {
        unreachable!()
    };
    assert_eq!(al.state, AlertState::Resolved);
    assert_eq!(al.resolution.as_deref(), Some("condition cleared"));
    assert!(a.open.is_empty() && a.trackers.is_empty());
}

#[test]
fn a_repeat_while_clearing_updates_the_open_alert() {
    let set = compile(&GOOD.replace("for = \"5m\"", "for = \"0s\"")).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    a.observe(r, "BED-1", true, &facts(20.0), t(0));
    a.observe(r, "BED-1", false, &facts(40.0), t(5));
    let ev = a.observe(r, "BED-1", true, &facts(10.0), t(10));
    assert_eq!(kinds(&ev), ["alert.updated"]);
    let EventKind::AlertUpdated(al) = &ev[0] else {
        unreachable!()
    };
    assert_eq!(al.count, 2);
    assert!(al.message.contains("10 degrees"));
    // Same value again: no event.
    assert!(a.observe(r, "BED-1", true, &facts(10.0), t(11)).is_empty());
    assert_eq!(a.open.len(), 1);
}

/// A rule a person resolves (a fall) that rises again while its alert is open is a new event:
/// the station is told again and an acknowledgement of the first no longer covers it. A rule
/// that resolves itself keeps a flap within its clearing time quiet (alarm fatigue).
#[test]
fn a_new_occurrence_of_a_manually_resolved_alert_notifies_again_and_needs_a_new_acknowledgement() {
    let manual = GOOD
        .replace("for = \"5m\"", "for = \"0s\"")
        .replace("clear_for = \"30s\"", "resolve = \"manual\"");
    let set = compile(&manual).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    a.observe(r, "BED-1", true, &facts(20.0), t(0));
    let id = a.open.values().next().unwrap().id.clone();
    a.acknowledge(&id, "Nurse Ana", t(5)).unwrap();
    assert!(
        a.tick(&set, t(60)).is_empty(),
        "acknowledged: no escalation"
    );
    a.observe(r, "BED-1", false, &facts(40.0), t(100));
    let ev = a.observe(r, "BED-1", true, &facts(10.0), t(200));
    assert_eq!(kinds(&ev), ["alert.updated"]);
    let EventKind::AlertUpdated(al) = &ev[0] else {
        unreachable!()
    };
    assert_eq!((al.count, al.state), (2, AlertState::Active));
    assert_eq!((al.notified_at, al.escalation_base), (t(200), t(200)));
    assert_eq!(al.acknowledged_by, None);
    // Unacknowledged again, it escalates again from the new event.
    assert_eq!(kinds(&a.tick(&set, t(230))), ["alert.escalated"]);

    // The same with a rule that resolves itself: the acknowledgement stands.
    let set = compile(&GOOD.replace("for = \"5m\"", "for = \"0s\"")).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    a.observe(r, "BED-1", true, &facts(20.0), t(0));
    let id = a.open.values().next().unwrap().id.clone();
    a.acknowledge(&id, "Nurse Ana", t(5)).unwrap();
    a.observe(r, "BED-1", false, &facts(40.0), t(10));
    let ev = a.observe(r, "BED-1", true, &facts(10.0), t(20));
    let EventKind::AlertUpdated(al) = &ev[0] else {
        unreachable!()
    };
    assert_eq!((al.count, al.state), (2, AlertState::Acknowledged));
}

#[test]
fn a_silence_runs_out_by_itself_and_escalation_restarts_from_then() {
    let set = compile(&GOOD.replace("for = \"5m\"", "for = \"0s\"")).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    a.observe(r, "BED-1", true, &facts(20.0), t(0));
    let id = a.open.values().next().unwrap().id.clone();
    assert_eq!(
        a.silence(&id, "N-1", 0, t(1)),
        Err(CommandError::BadSilence)
    );
    assert_eq!(
        a.silence(&id, "N-1", 120_000, t(10)).unwrap().name(),
        "alert.silenced"
    );
    assert!(
        a.tick(&set, t(100)).is_empty(),
        "no escalation while silenced"
    );
    assert_eq!(kinds(&a.tick(&set, t(130))), ["alert.unsilenced"]);
    assert!(a.tick(&set, t(159)).is_empty());
    assert_eq!(kinds(&a.tick(&set, t(160))), ["alert.escalated"]);
}

#[test]
fn resolved_by_hand_it_waits_for_the_condition_to_clear_before_raising_again() {
    let set = compile(&GOOD.replace("for = \"5m\"", "for = \"0s\"")).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    a.observe(r, "BED-1", true, &facts(20.0), t(0));
    let id = a.open.values().next().unwrap().id.clone();
    assert_eq!(
        a.resolve(&id, "N-1", " ", t(1)),
        Err(CommandError::NoReason)
    );
    let ev = a
        .resolve(&id, "N-1", "patient repositioned, bed broken", t(5))
        .unwrap();
    let EventKind::AlertResolved(al) = &ev else {
        unreachable!()
    };
    assert_eq!(al.resolved_by.as_deref(), Some("N-1"));
    assert!(a.observe(r, "BED-1", true, &facts(21.0), t(6)).is_empty());
    assert!(a.tick(&set, t(100)).is_empty());
    a.observe(r, "BED-1", false, &facts(40.0), t(200));
    assert_eq!(
        kinds(&a.observe(r, "BED-1", true, &facts(20.0), t(300))),
        ["alert.raised"]
    );
    assert_eq!(
        a.resolve("nope", "N-1", "x", t(301)),
        Err(CommandError::NotFound("nope".into()))
    );
}

#[test]
fn a_manual_rule_stays_open_when_its_condition_clears() {
    let set = compile(&GOOD.replace("for = \"5m\"", "for = \"0s\"\nresolve = \"manual\"")).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    a.observe(r, "BED-1", true, &facts(20.0), t(0));
    a.observe(r, "BED-1", false, &facts(40.0), t(1));
    assert!(
        a.tick(&set, t(100))
            .iter()
            .all(|e| e.name() != "alert.resolved")
    );
    assert_eq!(a.open.len(), 1);
}

#[test]
fn a_reload_keeps_surviving_rules_and_resolves_the_alerts_of_removed_ones() {
    let set = compile(&format!(
        "{}\n{}",
        GOOD.replace("for = \"5m\"", "for = \"0s\""),
        GOOD.replace("hob-low", "other")
    ))
    .unwrap();
    let mut a = Alerting::default();
    a.observe(&set.rules[0], "BED-1", true, &facts(20.0), t(0));
    a.observe(&set.rules[1], "BED-1", true, &facts(20.0), t(0));
    assert_eq!(a.open.len(), 1);
    assert_eq!(a.trackers.len(), 2);
    let only_first = compile(&GOOD.replace("for = \"5m\"", "for = \"0s\"")).unwrap();
    assert!(a.retain_rules(&only_first, t(1)).is_empty());
    assert_eq!(a.trackers.len(), 1);
    let none = RuleSet::default();
    let ev = a.retain_rules(&none, t(2));
    assert_eq!(kinds(&ev), ["alert.resolved"]);
    let EventKind::AlertResolved(al) = &ev[0] else {
        unreachable!()
    };
    assert_eq!(al.resolution.as_deref(), Some("rule removed"));
}

#[test]
fn restored_alerts_are_not_repeated_when_their_condition_still_holds() {
    let set = compile(&GOOD.replace("for = \"5m\"", "for = \"0s\"")).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    a.observe(r, "BED-1", true, &facts(20.0), t(0));
    let open: Vec<_> = a.open.values().cloned().collect();
    let mut b = Alerting::default();
    b.restore(open);
    assert!(b.observe(r, "BED-1", true, &facts(20.0), t(50)).is_empty());
    assert_eq!(b.open.len(), 1);
}

#[test]
fn conditions_evaluate_over_facts() {
    let set = compile(GOOD).unwrap();
    let r = &set.rules[0];
    let mut f = facts(20.0);
    f.set("patient", "ventilated", Fact::Bool(true));
    f.set("room", "caregiver_present", Fact::Bool(false));
    assert_eq!(r.holds(&f), Ok(true));
    f.set("room", "caregiver_present", Fact::Bool(true));
    assert_eq!(r.holds(&f), Ok(false), "unless");
    let mut missing = Facts::default();
    missing.set("bed", "hob_deg", Fact::Double(1.0));
    assert!(
        r.holds(&missing).is_err(),
        "a missing fact is an error, not false"
    );
}

/// A subject's rules, found by its kinds, are every rule about any of them, in the set's order.
#[test]
fn a_subjects_rules_are_found_by_its_kinds_in_order() {
    let pump = GOOD
        .replace("id = \"hob-low\"", "id = \"pump-1\"")
        .replace("subject = \"bed\"", "subject = \"pump\"")
        .replace(
            "patient.ventilated && bed.hob_deg < 30.0",
            "pump.on_battery",
        )
        .replace(
            "{bed.hob_deg} degrees for {patient.name}",
            "{pump.battery_pct}",
        );
    let asset = pump
        .replace("\"pump-1\"", "\"asset-1\"")
        .replace("subject = \"pump\"", "subject = \"asset\"")
        .replace("pump.on_battery", "asset.lost")
        .replace("{pump.battery_pct}", "{asset.id}");
    let text = [
        GOOD.to_string(),
        pump.clone(),
        asset.clone(),
        GOOD.replace("\"hob-low\"", "\"hob-low-2\""),
        pump.replace("\"pump-1\"", "\"pump-2\""),
    ]
    .concat();
    let set = compile(&text).unwrap_or_else(|e| panic!("{e}"));
    let ids = |types: &[SubjectType]| -> Vec<String> {
        set.for_subject(types)
            .iter()
            .map(|r| r.id.clone())
            .collect()
    };
    assert_eq!(ids(&[SubjectType::Bed]), ["hob-low", "hob-low-2"]);
    assert_eq!(
        ids(&[SubjectType::Pump, SubjectType::Asset]),
        ["pump-1", "asset-1", "pump-2"]
    );
    assert_eq!(
        ids(&[SubjectType::Asset, SubjectType::Pump]),
        ["pump-1", "asset-1", "pump-2"]
    );
    assert!(ids(&[SubjectType::Staff]).is_empty());
}

/// A condition a required boolean fact decides is not run, and says what running it says:
/// over every combination of the facts its terms read, including terms that fail (division by
/// zero, a fact missing) beside the deciding one.
#[test]
fn a_condition_decided_by_a_required_fact_gives_what_running_it_gives() {
    let conditions = [
        "patient.ventilated && bed.hob_deg < 30.0",
        "bed.hob_deg < 30.0 && !bed.brakes && patient.ventilated",
        "(bed.rails_up / 0 > 1) && bed.brakes",
        "bed.brakes && (bed.rails_up / bed.upper_rails_up > 1)",
        "!bed.brakes && bed.exit_alarm == 'armed'",
        "bed.brakes || patient.ventilated",
        "(bed.brakes && patient.ventilated) && !(bed.occupied)",
    ];
    let mut refuted = 0;
    for when in conditions {
        let set = compile(&GOOD.replace("patient.ventilated && bed.hob_deg < 30.0", when))
            .unwrap_or_else(|e| panic!("{when}: {e}"));
        let r = &set.rules[0];
        for bits in 0..64u32 {
            let b = |i: u32| bits & (1 << i) != 0;
            let mut f = Facts::default();
            f.set(
                "bed",
                "hob_deg",
                Fact::Double(if b(0) { 20.0 } else { 40.0 }),
            );
            f.set("bed", "brakes", Fact::Bool(b(1)));
            f.set("bed", "occupied", Fact::Bool(b(2)));
            f.set("bed", "rails_up", Fact::Int(2));
            f.set("bed", "upper_rails_up", Fact::Int(0));
            f.set("bed", "exit_alarm", Fact::String("armed".into()));
            f.set("room", "caregiver_present", Fact::Bool(b(3)));
            if !b(4) {
                // Missing now and then: an error when the term is reached.
                f.set("patient", "ventilated", Fact::Bool(b(5)));
            }
            let ctx = f.context();
            let run = (r.when.eval(&ctx), r.unless.as_ref().map(|u| u.eval(&ctx)));
            let short = r.standing(&f, &ctx);
            let full = r.standing_in(&ctx);
            assert_eq!(short, full, "{when} over {bits:06b}: {run:?}");
            refuted += usize::from(r.when.refuted_by(&f));
        }
    }
    assert!(refuted > 100, "the shortcut was taken {refuted} times");
}

/// docs/rules.md lists every fact with its type, so rule authors see what the checker sees.
#[test]
fn the_rules_documentation_lists_every_fact() {
    let doc = include_str!("../../../docs/rules.md");
    for subject in SubjectType::ALL {
        for g in subject.groups() {
            for d in schema::group(g).unwrap() {
                let row = format!("| `{g}.{}` | {} |", d.name, d.ty.name());
                assert!(doc.contains(&row), "docs/rules.md lacks the row {row}");
            }
        }
    }
}

#[test]
fn a_bundle_rule_says_when_the_bundle_applies_and_when_it_is_complied_with() {
    let text = GOOD.replace(
        "for = \"5m\"",
        "for = \"5m\"\nbundle = \"ventilated\"\napplies = \"patient.ventilated && bed.occupied\"",
    );
    let set = compile(&text).unwrap();
    let r = &set.rules[0];
    assert_eq!(r.bundle.as_deref(), Some("ventilated"));
    let facts = |vent: bool, occupied: bool, hob: f64, caregiver: bool| {
        let mut f = Facts::default();
        f.set("patient", "ventilated", Fact::Bool(vent));
        f.set("bed", "occupied", Fact::Bool(occupied));
        f.set("bed", "hob_deg", Fact::Double(hob));
        f.set("room", "caregiver_present", Fact::Bool(caregiver));
        f
    };
    let c = |f: Facts| r.compliance_in(&f.context()).unwrap();
    assert_eq!(c(facts(true, true, 35.0, false)), Some((true, true)));
    assert_eq!(c(facts(true, true, 20.0, false)), Some((true, false)));
    // Care in progress (`unless`) and an empty bed take the time out.
    assert_eq!(c(facts(true, true, 20.0, true)), Some((false, false)));
    assert_eq!(c(facts(true, false, 20.0, false)), Some((false, false)));
    // A rule without a bundle says nothing; half a bundle is an error with the fix.
    assert_eq!(
        compile(GOOD).unwrap().rules[0]
            .compliance_in(&facts(true, true, 1.0, false).context())
            .unwrap(),
        None
    );
    let e = errors(&GOOD.replace("for = \"5m\"", "for = \"5m\"\nbundle = \"ventilated\""));
    assert!(e.contains("a bundle needs `applies`"), "{e}");
    // The bundle is part of the definition: changing it is a changed rule on reload.
    assert_ne!(r.definition(), compile(GOOD).unwrap().rules[0].definition());
}

#[test]
fn a_bed_command_sets_only_what_moves_nothing_and_only_on_beds() {
    let cmd = |set: &str| {
        GOOD.replace(
            "remind_every = \"10m\"",
            &format!("remind_every = \"10m\"\naction = \"bed_command\"\nset = {set}"),
        )
    };
    let set = compile(&cmd("{ exit_alarm = \"armed\", brakes = true }")).unwrap();
    assert_eq!(
        set.rules[0].action,
        Action::BedCommand(
            [("brakes", "true"), ("exit_alarm", "armed")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into()
        )
    );
    let e = errors(&cmd("{ hob_deg = 30 }"));
    assert!(
        e.contains("`hob_deg` moves the bed: a rule never commands it"),
        "{e}"
    );
    let e = errors(&cmd("{ exit_alarm = \"alarming\" }"));
    assert!(
        e.contains("cannot be set to alarming (fix: one of: off, armed)"),
        "{e}"
    );
    let e = errors(&cmd("{ colour = \"red\" }"));
    assert!(e.contains("not a bed setting"), "{e}");
    let e = errors(&GOOD.replace("remind_every = \"10m\"", "action = \"bed_command\""));
    assert!(e.contains("a bed command needs `set`"), "{e}");
    let e = errors(&GOOD.replace("remind_every = \"10m\"", "set = { brakes = true }"));
    assert!(e.contains("`set` belongs to a bed command"), "{e}");
    let e = errors(
        &cmd("{ brakes = true }")
            .replace("subject = \"bed\"", "subject = \"patient\"")
            .replace("bed.hob_deg < 30.0", "patient.morse > 1")
            .replace("{bed.hob_deg}", "{patient.morse}"),
    );
    assert!(e.contains("a bed command needs subject = \"bed\""), "{e}");
    // A bed rule may open a work order; a patient rule may not.
    let set = compile(&GOOD.replace("remind_every = \"10m\"", "action = \"work_order\"")).unwrap();
    assert_eq!(set.rules[0].action, Action::WorkOrder);
    let e = errors(
        &GOOD
            .replace("remind_every = \"10m\"", "action = \"work_order\"")
            .replace("subject = \"bed\"", "subject = \"patient\"")
            .replace("bed.hob_deg < 30.0", "patient.morse > 1")
            .replace("{bed.hob_deg}", "{patient.morse}"),
    );
    assert!(e.contains("a work order is opened on equipment"), "{e}");
}

#[test]
fn a_bed_suggestion_offers_only_what_moves_the_bed() {
    let suggest = |set: &str| {
        GOOD.replace(
            "remind_every = \"10m\"",
            &format!("remind_every = \"10m\"\naction = \"bed_suggestion\"\nset = {set}"),
        )
    };
    let set = compile(&suggest("{ hob_deg = 30, height = \"low\" }")).unwrap();
    assert_eq!(
        set.rules[0].action,
        Action::BedSuggestion(
            [("height", "low"), ("hob_deg", "30")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into()
        )
    );
    assert_eq!(set.rules[0].action.settings().map(|s| s.len()), Some(2));
    let e = errors(&suggest("{ exit_alarm = \"armed\" }"));
    assert!(
        e.contains("`exit_alarm` moves nothing: it is a command, not a suggestion"),
        "{e}"
    );
    for bad in ["{ hob_deg = 90 }", "{ hob_deg = -5 }", "{ hob_deg = 30.5 }"] {
        let e = errors(&suggest(bad));
        assert!(e.contains("whole degrees from 0 to 75"), "{bad}: {e}");
    }
    let e = errors(&suggest("{ height = \"floor\" }"));
    assert!(e.contains("one of: low, raised"), "{e}");
    let e = errors(&GOOD.replace("remind_every = \"10m\"", "action = \"bed_suggestion\""));
    assert!(e.contains("a bed suggestion needs `set`"), "{e}");
    // A command may not move the bed; the error says what to use instead.
    let e = errors(&GOOD.replace(
        "remind_every = \"10m\"",
        "action = \"bed_command\"\nset = { height = \"low\" }",
    ));
    assert!(e.contains("use action = \"bed_suggestion\""), "{e}");
    // Command and suggestion of the same settings are different definitions.
    assert_ne!(
        compile(&suggest("{ hob_deg = 30 }")).unwrap().rules[0].definition(),
        compile(GOOD).unwrap().rules[0].definition()
    );
}

#[test]
fn while_unless_holds_nothing_is_raised_and_an_open_alert_stays_open_until_when_clears() {
    let set = compile(&GOOD.replace("for = \"5m\"", "for = \"60s\"")).unwrap();
    let r = &set.rules[0];
    let mut a = Alerting::default();
    // (when, holds): a nurse at the bedside from 0 to 100 s: nothing raised, the hold starts
    // when she leaves.
    assert!(
        a.observe_standing(r, "BED-1", (true, false), &facts(20.0), t(0))
            .is_empty()
    );
    assert!(
        a.observe_standing(r, "BED-1", (true, false), &facts(20.0), t(100))
            .is_empty()
    );
    // Paused since she came in, and the board can say why.
    let paused: Vec<_> = a
        .paused()
        .map(|((rule, s), at)| (rule.clone(), s.clone(), at))
        .collect();
    assert_eq!(paused, [(r.id.clone(), "BED-1".to_string(), t(0))]);
    assert_eq!(r.paused_why(), "`room.caregiver_present` holds");
    assert!(
        a.observe_standing(r, "BED-1", (true, true), &facts(20.0), t(101))
            .is_empty()
    );
    assert_eq!(a.paused().count(), 0);
    assert!(
        a.observe_standing(r, "BED-1", (true, true), &facts(20.0), t(150))
            .is_empty()
    );
    assert_eq!(
        kinds(&a.observe_standing(r, "BED-1", (true, true), &facts(20.0), t(161))),
        ["alert.raised"]
    );
    // She comes back for ten minutes and leaves it as it was: the same alert, open throughout,
    // not resolved and raised again, not even counted again.
    for s in (200..800).step_by(30) {
        let ev = a.observe_standing(r, "BED-1", (true, false), &facts(20.0), t(s));
        assert!(ev.is_empty(), "{ev:?}");
    }
    assert!(
        a.observe_standing(r, "BED-1", (true, true), &facts(20.0), t(800))
            .is_empty()
    );
    assert_eq!(a.open.values().next().unwrap().count, 1);
    // Put right: resolved after clear_for.
    a.observe_standing(r, "BED-1", (false, false), &facts(40.0), t(900));
    assert_eq!(
        kinds(&a.observe_standing(r, "BED-1", (false, false), &facts(40.0), t(931))),
        ["alert.resolved"]
    );
}

/// `paused_because` says why a rule waits; it needs an `unless` and words.
#[test]
fn paused_because_explains_an_unless_and_needs_one() {
    let with = GOOD.replace(
        "unless = \"room.caregiver_present\"",
        "unless = \"room.caregiver_present\"\npaused_because = \"a caregiver is in the room\"",
    );
    assert_ne!(with, GOOD);
    let set = compile(&with).unwrap();
    assert_eq!(set.rules[0].paused_why(), "a caregiver is in the room");
    let without = GOOD.replace(
        "unless = \"room.caregiver_present\"",
        "paused_because = \"x\"",
    );
    let e = compile(&without).unwrap_err().to_string();
    assert!(e.contains("`paused_because` without `unless`"), "{e}");
}

/// What a rule reads comes from its checked expression: `reads` for any fact in `when`,
/// `requires` for a boolean term of its top-level conjunction (negated or not), and nothing
/// for a fact named only in a string or under `||`.
#[test]
fn a_rule_says_which_facts_it_reads_and_needs() {
    let set = compile(
        r#"
[[rule]]
id = "assisted"
title = "t"
subject = "bed"
priority = "low"
kind = "advisory"
notify = ["station"]
when = "bed.exited && bed.exit_assisted && patient.fall_risk == 'high'"
message = "m"

[[rule]]
id = "alone"
title = "t"
subject = "bed"
priority = "low"
kind = "advisory"
notify = ["station"]
when = "(bed.exited && !bed.exit_assisted) && room.id != 'bed.moving'"
message = "m"

[[rule]]
id = "either"
title = "t"
subject = "bed"
priority = "low"
kind = "advisory"
notify = ["station"]
when = "bed.exited || bed.exit_assisted"
message = "m"
"#,
    )
    .unwrap();
    let r = |id: &str| set.get(id).unwrap();
    assert!(r("assisted").reads("bed", "exited"));
    assert!(r("assisted").reads("patient", "fall_risk"));
    assert!(!r("assisted").reads("bed", "moving"));
    assert_eq!(r("assisted").requires("bed", "exit_assisted"), Some(true));
    assert_eq!(r("alone").requires("bed", "exit_assisted"), Some(false));
    assert_eq!(r("alone").requires("bed", "exited"), Some(true));
    // A string that looks like a fact is not one.
    assert!(!r("alone").reads("bed", "moving"));
    // Under `||` neither is required.
    assert!(r("either").reads("bed", "exit_assisted"));
    assert_eq!(r("either").requires("bed", "exit_assisted"), None);
    assert_eq!(r("either").requires("bed", "exited"), None);
}

/// Finding: a lost wristband's alert read "last in ?" when the wearer had never been placed. A
/// message says in words what is not known, never "?".
#[test]
fn a_message_says_in_words_what_is_not_known() {
    let set = compile(&GOOD.replace("for = \"5m\"", "for = \"0s\"")).unwrap();
    let r = &set.rules[0];
    let mut f = facts(20.0);
    f.set("room", "name", Fact::String(String::new()));
    f.groups.get_mut("patient").map(|p| p.remove("name"));
    let ev = Alerting::default().observe(r, "BED-1", true, &f, t(0));
    let EventKind::AlertRaised(al) = &ev[0] else {
        unreachable!()
    };
    assert_eq!(
        al.message,
        "Head of bed at 20 degrees for a patient with no name on file in an unknown room"
    );
}

#[test]
fn a_rule_depends_on_the_groups_its_conditions_and_message_read() {
    let set = compile(GOOD).unwrap();
    let r = &set.rules[0];
    // Conditions read patient, bed and room; the message also reads them.
    for g in ["patient", "bed", "room"] {
        assert!(r.depends_on(|x| x == g), "{g}");
    }
    assert!(!r.depends_on(|x| x == "asset"));
    assert!(!r.depends_on(|_| false));
    // A group only the message reads still counts: the message must follow it.
    let text = GOOD.replace("in {room.name}\"", "in {room.name}, bed {asset.id}\"");
    let set = compile(&text).unwrap();
    assert!(set.rules[0].depends_on(|x| x == "asset"));
}

#[test]
fn a_delta_names_the_groups_that_differ_and_the_placement_apart() {
    let delta = |placed: bool, groups: &[&'static str]| {
        Some(crate::FactDelta {
            placed,
            groups: groups.to_vec(),
        })
    };
    let before = facts(25.0);
    assert_eq!(facts(25.0).delta(&before), delta(false, &[]));
    assert_eq!(facts(35.0).delta(&before), delta(false, &["bed"]));
    let mut more = facts(25.0);
    more.set("location", "room", Fact::String("F2-ICU-02".into()));
    assert_eq!(more.delta(&before), delta(false, &["location"]));
    assert_eq!(before.delta(&more), delta(false, &["location"]));
    // Moved to another room or unit: an alert's placement follows (the rules that stand for
    // something are evaluated again).
    let mut moved = facts(25.0);
    moved.room = Some("F2-ICU-02".into());
    assert_eq!(moved.delta(&before), delta(true, &[]));
    // Which groups wait for their device changed: every rule again.
    let mut waiting = facts(25.0);
    waiting.unreported.push("bed");
    assert_eq!(waiting.delta(&before), None);
    let mut moved_and_changed = facts(35.0);
    moved_and_changed.room = Some("F2-ICU-02".into());
    assert_eq!(moved_and_changed.delta(&before), delta(true, &["bed"]));
    // Two rebuilds in one step: both changes.
    let mut merged = facts(35.0).delta(&before).unwrap();
    merged.merge(moved.delta(&before).unwrap());
    assert_eq!(Some(merged), delta(true, &["bed"]));
}

proptest::proptest! {
    /// A tick that returns early because nothing is due yet gives what a full pass gives, for
    /// any run of evaluations, acknowledgements, silences and ticks.
    #[test]
    fn a_tick_before_anything_is_due_changes_nothing_a_full_pass_would(
        ops in proptest::collection::vec((0u8..6, 0i64..40_000, 0usize..3), 1..60)
    ) {
        let set = compile(&GOOD.replace("for = \"5m\"", "for = \"20s\"").replace("remind_every = \"10m\"", "remind_every = \"2m\"")).unwrap();
        let r = &set.rules[0];
        let (mut cached, mut full) = (Alerting::default(), Alerting::default());
        let mut now = 0i64;
        for (op, gap, bed) in ops {
            now += gap;
            let at = Timestamp(now);
            let subject = format!("BED-{bed}");
            let (x, y) = match op {
                0 | 1 => (
                    cached.observe(r, &subject, op == 0, &facts(20.0), at),
                    full.observe(r, &subject, op == 0, &facts(20.0), at),
                ),
                2 => (cached.tick(&set, at), full.tick_all(&set, at)),
                3 | 4 => {
                    let Some(id) = full.open.values().find(|a| a.subject == subject).map(|a| a.id.clone()) else {
                        continue;
                    };
                    if op == 3 {
                        (cached.acknowledge(&id, "N-1", at).into_iter().collect(), full.acknowledge(&id, "N-1", at).into_iter().collect())
                    } else {
                        (cached.silence(&id, "N-1", 45_000, at).into_iter().collect(), full.silence(&id, "N-1", 45_000, at).into_iter().collect())
                    }
                }
                _ => (cached.tick(&set, at), full.tick_all(&set, at)),
            };
            proptest::prop_assert_eq!(x, y);
        }
        proptest::prop_assert_eq!(cached.open, full.open);
    }
}
