use super::*;

fn units() -> BTreeSet<String> {
    ["ICU", "MS3", "ED"].iter().map(|s| s.to_string()).collect()
}

fn library() -> DrugLibrary {
    let text = "version = \"t\"\n\
        [[profile]]\nid = \"cc\"\nunits = [\"ICU\"]\n\
        [[profile]]\nid = \"ms\"\nunits = [\"MS3\"]\n\
        [[drug]]\nname = \"Heparin\"\nconcentration = \"25000 units/250 mL\"\ndose_unit = \"units/kg/h\"\nhigh_alert = true\nsoft_min = 5\nsoft_max = 25\nhard_max = 40\nbolus_unit = \"units/kg\"\nbolus_soft_max = 80\nbolus_hard_max = 100\n\
        [[drug]]\nname = \"Norepinephrine\"\nconcentration = \"4 mg/250 mL\"\ndose_unit = \"mcg/min\"\nprofiles = [\"cc\"]\nhard_min = 0.5\nsoft_min = 1\nsoft_max = 30\nhard_max = 50\n\
        [[drug]]\nname = \"Propofol\"\nconcentration = \"1000 mg/100 mL\"\ndose_unit = \"mcg/kg/min\"\nprofiles = [\"cc\"]\nsoft_max = 80\nhard_max = 100\n";
    parse("lib.toml", text, &units()).unwrap()
}

fn heparin(dose: f64) -> Infusion {
    Infusion {
        library: true,
        profile: Some("cc".into()),
        drug: Some("Heparin".into()),
        concentration: Some("25000 units/250 mL".into()),
        dose: Some(dose),
        dose_unit: Some("units/kg/h".into()),
        weight_kg: Some(80.0),
        rate_ml_h: dose * 80.0 / 100.0,
        vtbi_ml: Some(250.0),
        infused_ml: 10.0,
        ..Infusion::default()
    }
}

#[test]
fn each_limit_holds_at_its_boundary_and_is_crossed_just_past_it() {
    let lib = library();
    let at = |d: f64| lib.check(&heparin(d), Some("ICU"), None).unwrap().standing;
    assert_eq!(at(25.0), Standing::Within);
    assert_eq!(at(25.01), Standing::AboveSoft);
    assert_eq!(at(40.0), Standing::AboveSoft);
    assert_eq!(at(40.01), Standing::AboveHard);
    assert_eq!(at(5.0), Standing::Within);
    assert_eq!(at(4.99), Standing::BelowSoft);
    let c = lib.check(&heparin(41.0), Some("ICU"), None).unwrap();
    assert_eq!(c.crossed, "hard max 40 units/kg/h");
    assert!(c.high_alert);
    // A hard minimum, on a drug that has one.
    let norepi = |mcg_min: f64| Infusion {
        library: true,
        profile: Some("cc".into()),
        drug: Some("norepinephrine".into()),
        concentration: Some("4 mg/250 mL".into()),
        dose: Some(mcg_min),
        dose_unit: Some("mcg/min".into()),
        rate_ml_h: mcg_min * 60.0 / 16.0,
        ..Infusion::default()
    };
    let at = |d: f64| lib.check(&norepi(d), Some("ICU"), None).unwrap().standing;
    assert_eq!(at(0.5), Standing::BelowSoft);
    assert_eq!(at(0.49), Standing::BelowHard);
    assert_eq!(at(1.0), Standing::Within);
    assert_eq!(at(30.0), Standing::Within);
    assert_eq!(at(50.0), Standing::AboveSoft);
    assert_eq!(at(50.5), Standing::AboveHard);
}

#[test]
fn a_weight_based_dose_is_checked_per_kg_of_the_census_weight() {
    let lib = library();
    // Programmed at 22 units/kg/h for 80 kg: 1760 units/h. The census says 50 kg: that is 35.2
    // units/kg/h for this patient, past the soft maximum.
    let c = lib.check(&heparin(22.0), Some("ICU"), Some(50.0)).unwrap();
    assert_eq!(c.standing, Standing::AboveSoft);
    assert!((c.dose.unwrap() - 35.2).abs() < 1e-9);
    assert_eq!(c.weight_mismatch, Some((80.0, 50.0)));
    // Within 10 %: the same patient, rounding on the pump.
    let c = lib.check(&heparin(22.0), Some("ICU"), Some(76.0)).unwrap();
    assert_eq!(c.weight_mismatch, None);
    assert_eq!(c.standing, Standing::Within);
    // Exactly at the soft limit once rescaled.
    let c = lib.check(&heparin(20.0), Some("ICU"), Some(64.0)).unwrap();
    assert_eq!(c.standing, Standing::Within, "{c:?}");
    // No dose from the pump: worked out from the rate and concentration. Propofol 1000 mg/100 mL
    // at 48 mL/h for 100 kg is 80 mcg/kg/min: at the soft limit, within the rate's rounding.
    let p = Infusion {
        library: true,
        profile: Some("cc".into()),
        drug: Some("Propofol".into()),
        concentration: Some("1000 mg/100 mL".into()),
        rate_ml_h: 48.0,
        ..Infusion::default()
    };
    let c = lib.check(&p, Some("ICU"), Some(100.0)).unwrap();
    assert!((c.dose.unwrap() - 80.0).abs() < 1e-9, "{c:?}");
    assert_eq!(c.standing, Standing::Within);
    let c = lib.check(&p, Some("ICU"), Some(79.0)).unwrap();
    assert_eq!(c.standing, Standing::AboveHard, "{c:?}");
    // Without any weight a per-kg dose cannot be worked out: no standing, never a guess.
    let c = lib.check(&p, Some("ICU"), None).unwrap();
    assert_eq!((c.dose, c.standing), (None, Standing::None));
}

#[test]
fn a_bolus_is_checked_against_the_bolus_limits() {
    let lib = library();
    let mut i = heparin(18.0);
    i.bolus_dose = Some(80.0);
    assert_eq!(
        lib.check(&i, Some("ICU"), None).unwrap().bolus,
        Standing::Within
    );
    i.bolus_dose = Some(100.5);
    let c = lib.check(&i, Some("ICU"), None).unwrap();
    assert_eq!(
        (c.standing, c.bolus),
        (Standing::Within, Standing::AboveHard)
    );
    assert_eq!(c.crossed, "bolus hard max 100 units/kg");
}

#[test]
fn basic_mode_a_wrong_profile_and_unknown_drugs() {
    let lib = library();
    let basic = Infusion {
        library: false,
        profile: Some("cc".into()),
        rate_ml_h: 100.0,
        ..Infusion::default()
    };
    let c = lib.check(&basic, Some("MS3"), None).unwrap();
    assert_eq!(c.standing, Standing::None);
    assert_eq!(c.expected_profile.as_deref(), Some("ms"));
    let c = lib.check(&heparin(10.0), Some("ICU"), None).unwrap();
    assert_eq!(c.expected_profile, None);
    let mut i = heparin(10.0);
    i.drug = Some("Heparine".into());
    assert!(matches!(
        lib.check(&i, Some("ICU"), None),
        Err(Unchecked::UnknownDrug(_))
    ));
    // Propofol is only in the critical-care profile.
    let p = Infusion {
        library: true,
        profile: Some("ms".into()),
        drug: Some("Propofol".into()),
        concentration: Some("1000 mg/100 mL".into()),
        rate_ml_h: 10.0,
        ..Infusion::default()
    };
    assert!(matches!(
        lib.check(&p, Some("MS3"), None),
        Err(Unchecked::UnknownDrug(_))
    ));
    let mut i = heparin(10.0);
    i.profile = Some("nicu".into());
    assert_eq!(
        lib.check(&i, Some("ICU"), None).unwrap_err().reason(),
        crate::RejectReason::UnknownProfile
    );
    let mut i = heparin(10.0);
    i.dose_unit = Some("units/h".into());
    assert_eq!(
        lib.check(&i, Some("ICU"), None).unwrap_err().reason(),
        crate::RejectReason::WrongUnits
    );
    // The same concentration written another way is the same entry.
    let mut i = heparin(10.0);
    i.concentration = Some("100 units/mL".into());
    assert!(lib.check(&i, Some("ICU"), None).is_ok());
}

#[test]
fn minutes_left_and_impossible_values() {
    let mut i = heparin(10.0);
    i.rate_ml_h = 60.0;
    i.vtbi_ml = Some(100.0);
    i.infused_ml = 90.0;
    assert_eq!(i.minutes_left(), Some(10.0));
    i.rate_ml_h = 0.0;
    assert_eq!(i.minutes_left(), None);
    assert!(heparin(10.0).check_ranges().is_ok());
    for bad in [
        Infusion {
            rate_ml_h: -1.0,
            ..heparin(10.0)
        },
        Infusion {
            rate_ml_h: 5000.0,
            ..heparin(10.0)
        },
        Infusion {
            dose: Some(f64::NAN),
            ..heparin(10.0)
        },
        Infusion {
            dose_unit: Some("units/fortnight".into()),
            ..heparin(10.0)
        },
        Infusion {
            concentration: Some("lots".into()),
            ..heparin(10.0)
        },
        Infusion {
            drug: None,
            ..heparin(10.0)
        },
    ] {
        assert!(bad.check_ranges().is_err(), "{bad:?}");
    }
}

#[test]
fn every_mistake_in_a_library_is_located_with_its_fix() {
    let text = "[[profile]]\nid = \"cc\"\nunits = [\"ICX\"]\n\
        [[drug]]\nname = \"A\"\nconcentration = \"5 mg\"\ndose_unit = \"mg/h\"\nsoft_max = 1\n\
        [[drug]]\nname = \"B\"\nconcentration = \"5 mg/50 mL\"\ndose_unit = \"units/h\"\nsoft_max = 1\n\
        [[drug]]\nname = \"C\"\nconcentration = \"5 mg/50 mL\"\ndose_unit = \"mg/h\"\nprofiles = [\"cx\"]\nsoft_max = 10\nhard_max = 5\n\
        [[drug]]\nname = \"D\"\nconcentration = \"5 mg/50 mL\"\ndose_unit = \"mg/h\"\nsoft_min = 1\n";
    let e = parse("lib.toml", text, &units()).unwrap_err().to_string();
    for want in [
        "lib.toml:3:9: unit \"ICX\" is not in the floorplan (fix: did you mean \"ICU\"?)",
        "lib.toml:6:17: write it as",
        "lib.toml:12:13: dose_unit \"units/h\" does not measure what the concentration",
        "lib.toml:18:12: profile \"cx\" is not defined (fix: did you mean \"cc\"?)",
        "lib.toml:15:8: C: limits must go hard_min <= soft_min <= soft_max <= hard_max",
        "lib.toml:22:8: D has no upper limit (fix: give it a soft_max, a hard_max or both)",
    ] {
        assert!(e.contains(want), "{want}\nnot in\n{e}");
    }
    // A unit this site does not have at all: left out and said, not an error.
    let other = "[[profile]]\nid = \"cc\"\nunits = [\"ICU\", \"Paediatrics\"]\n";
    let lib = parse("lib.toml", other, &units()).unwrap();
    assert_eq!(lib.profiles[0].units, ["ICU"]);
    assert!(
        lib.ignored[0].to_string().starts_with(
            "lib.toml:3:9: unit \"Paediatrics\" is not in the floorplan: left out of profile \"cc\""
        ),
        "{:?}",
        lib.ignored
    );
    let typo = "[[drug]]\nname = \"A\"\nconcentration = \"5 mg/5 mL\"\ndose_unit = \"mg/h\"\nsoft_mx = 1\n";
    let e = parse("lib.toml", typo, &units()).unwrap_err().to_string();
    assert!(e.starts_with("lib.toml:5:1:"), "{e}");
}

#[test]
fn the_shipped_library_parses_for_the_demo_units() {
    let units: BTreeSet<String> = ["ICU", "MS3", "MS4", "ED"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let lib = parse(
        "drug-library.toml",
        include_str!("../../../../rules/drug-library.toml"),
        &units,
    )
    .unwrap();
    assert!(lib.entries.len() >= 8);
    assert_eq!(lib.profile_of_unit("MS4").unwrap().id, "med-surg");
}

#[test]
fn the_report_counts_infusions_library_use_overrides_and_hours_in_the_window() {
    use crate::Timestamp;
    let h = |x: f64| Timestamp((x * 3_600_000.0) as i64);
    let rec =
        |pump: &str, change, start: f64, unit: &str, library: bool, count: u64| InfusionRecord {
            pump: pump.into(),
            change,
            started_at: h(start),
            model: "Alaris".into(),
            unit: Some(unit.into()),
            room: None,
            patient: None,
            library,
            profile: None,
            drug: library.then(|| "Heparin".to_string()),
            concentration: None,
            dose: None,
            dose_unit: None,
            rate_ml_h: 10.0,
            infused_ml: 0.0,
            standing: Standing::Within,
            soft_overrides_total: 0,
            hard_stops_total: 0,
            count,
        };
    use InfusionChange::*;
    let records = [
        // Running since hour 0, before the window [10, 20): 4 hours in it.
        (rec("p1", Started, 0.0, "ICU", true, 0), h(0.0)),
        (rec("p1", Ended, 0.0, "ICU", true, 0), h(14.0)),
        (rec("p2", Started, 11.0, "ICU", false, 0), h(11.0)),
        (rec("p2", Ended, 11.0, "ICU", false, 0), h(13.0)),
        (rec("p3", Started, 12.0, "MS3", true, 0), h(12.0)),
        (rec("p3", SoftOverride, 12.0, "MS3", true, 2), h(12.5)),
        (rec("p3", HardStop, 12.0, "MS3", true, 1), h(12.6)),
    ];
    // The store gives the last record before the window, then the window's.
    let window: Vec<_> = records
        .iter()
        .filter(|(_, at)| *at >= h(10.0) || *at == h(0.0))
        .cloned()
        .collect();
    let alerts = vec![(Some("ICU".to_string()), "Alaris".to_string())];
    let r = report(&window, &alerts, h(10.0), h(20.0));
    assert_eq!(r.total.infusions, 2);
    assert_eq!(r.total.with_library, 1);
    assert_eq!(r.total.compliance, Some(0.5));
    // p1 4 h, p2 2 h, p3 8 h (still running at the window's end).
    assert_eq!(r.total.infusion_hours, 14.0);
    assert_eq!((r.total.soft_overrides, r.total.hard_stops), (2, 1));
    let icu = r.units.iter().find(|u| u.key == "ICU").unwrap();
    assert_eq!(
        (icu.infusions, icu.basic_mode, icu.infusion_hours),
        (1, 1, 6.0)
    );
    assert_eq!(icu.alerts_per_infusion_hour, Some(1.0 / 6.0));
    let d: Vec<&str> = r.drugs.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(d, ["(basic mode) @ ICU", "Heparin @ ICU", "Heparin @ MS3"]);
    let csv = r.to_csv();
    assert!(csv.starts_with("table,key,infusions,"), "{csv}");
    assert!(
        csv.contains("\nunit,MS3,1,1,1.000,0,8.000,2,1,0,0.000\n"),
        "{csv}"
    );
}
