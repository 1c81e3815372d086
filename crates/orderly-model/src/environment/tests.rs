use super::*;

const GOOD: &str = r#"
[[profile]]
id = "medication_fridge"
title = "Medication refrigerator"
kind = "fridge"
temperature_c = { low = 2.0, high = 8.0, hard_low = 0.0, hard_high = 12.0 }

[[profile]]
id = "airborne_isolation"
title = "Airborne infection isolation room"
kind = "isolation"
pressure_pa = { high = -2.5 }
"#;

#[test]
fn a_value_on_a_limit_is_within_it_and_just_past_it_is_not() {
    let p = parse("environment.toml", GOOD).unwrap();
    let fridge = &p.0["medication_fridge"];
    let t = Quantity::Temperature;
    for (v, s) in [
        (-0.01, Standing::BelowHard),
        (0.0, Standing::BelowSoft),
        (1.99, Standing::BelowSoft),
        (2.0, Standing::Within),
        (5.0, Standing::Within),
        (8.0, Standing::Within),
        (8.01, Standing::AboveSoft),
        (12.0, Standing::AboveSoft),
        (12.01, Standing::AboveHard),
    ] {
        assert_eq!(fridge.stand(t, v), s, "{v} °C");
    }
    assert_eq!(fridge.stand(Quantity::Humidity, 99.0), Standing::None);
    let iso = &p.0["airborne_isolation"];
    assert_eq!(iso.stand(Quantity::Pressure, -8.0), Standing::Within);
    assert_eq!(iso.stand(Quantity::Pressure, -2.5), Standing::Within);
    assert_eq!(iso.stand(Quantity::Pressure, -2.4), Standing::AboveSoft);
    assert_eq!(iso.stand(Quantity::Pressure, 1.0), Standing::AboveSoft);
    assert_eq!(
        iso.pressure_pa.unwrap().describe(Quantity::Pressure),
        "at most -2.5 Pa"
    );
    assert_eq!(
        fridge
            .temperature_c
            .unwrap()
            .describe(Quantity::Temperature),
        "2 to 8 °C"
    );
}

#[test]
fn a_bad_profile_file_is_refused_with_line_and_fix() {
    for (text, line, says) in [
        (
            "[[profile]]\nid = \"f\"\ntitle = \"F\"\nkind = \"frige\"\ntemperature_c = { low = 2.0 }\n",
            4,
            "did you mean \"fridge\"",
        ),
        (
            "[[profile]]\nid = \"f\"\ntitle = \"F\"\nkind = \"fridge\"\ntemperature_c = { low = 8.0, high = 2.0 }\n",
            5,
            "low 8 is not below high 2",
        ),
        (
            "[[profile]]\nid = \"f\"\ntitle = \"F\"\nkind = \"fridge\"\ntemperature_c = { low = 2.0, high = 8.0, hard_high = 7.0 }\n",
            5,
            "high 8 is not below hard_high 7",
        ),
        (
            "[[profile]]\nid = \"f\"\ntitle = \"F\"\nkind = \"fridge\"\n",
            2,
            "sets no range",
        ),
        (
            "[[profile]]\nid = \"f\"\ntitle = \"F\"\nkind = \"fridge\"\ntemperature_c = { low = 2.0, hihg = 8.0 }\n",
            5,
            "unknown field",
        ),
        (
            "[[profile]]\nid = \"f\"\ntitle = \"F\"\nkind = \"room\"\nhumidity_pct = { high = 160.0 }\n",
            5,
            "outside what a sensor measures",
        ),
    ] {
        let e = parse("environment.toml", text).unwrap_err().to_string();
        assert!(e.contains(&format!("environment.toml:{line}:")), "{e}");
        assert!(e.contains(says), "{e}");
    }
}

#[test]
fn a_reading_outside_what_a_sensor_measures_or_with_no_value_is_refused() {
    let ok = EnvReading {
        temperature_c: Some(4.0),
        ..Default::default()
    };
    assert!(ok.check_ranges().is_ok());
    for bad in [
        EnvReading {
            temperature_c: Some(150.0),
            ..Default::default()
        },
        EnvReading {
            humidity_pct: Some(-1.0),
            ..Default::default()
        },
        EnvReading {
            pressure_pa: Some(f64::NAN),
            ..Default::default()
        },
        EnvReading::default(),
    ] {
        assert!(bad.check_ranges().is_err(), "{bad:?}");
    }
    let door = EnvReading {
        door_open: Some(true),
        ..Default::default()
    };
    assert!(door.check_ranges().is_ok());
}

fn place() -> Place {
    Place {
        sensor: "env-1".into(),
        appliance: Some("Fridge".into()),
        profile: "medication_fridge".into(),
        room: "R1".into(),
        unit: None,
    }
}

fn excursion(start: i64, end: Option<i64>) -> Excursion {
    Excursion {
        place: place(),
        quantity: Quantity::Temperature,
        standing: Standing::AboveSoft,
        limit: 8.0,
        range: "2-8 °C".into(),
        started_at: Timestamp(start),
        ended_at: end.map(Timestamp),
        peak: 9.5,
    }
}

#[test]
fn the_daily_log_merges_hours_and_splits_an_excursion_at_midnight() {
    let h = 3_600_000;
    let d0 = 20_000 * DAY_MS;
    let hour = |i: i64, min: f64, max: f64| Summary {
        place: place(),
        from: Timestamp(d0 + i * h),
        to: Timestamp(d0 + (i + 1) * h),
        temperature_c: Some(Stat {
            min,
            max,
            mean: (min + max) / 2.0,
            n: 60,
        }),
        door_open_s: 90.0,
        readings: 60,
        ..Default::default()
    };
    let summaries = vec![hour(0, 3.0, 5.0), hour(1, 4.0, 9.5), hour(24, 4.0, 4.5)];
    // 23:30 to 00:15 the next day.
    let x = excursion(d0 + 23 * h + 30 * 60_000, Some(d0 + 24 * h + 15 * 60_000));
    let log = daily_log(&summaries, &[x], Timestamp(d0 + 30 * h));
    assert_eq!(log.len(), 2);
    let t = log[0].temperature_c.unwrap();
    assert_eq!((t.min, t.max, t.n), (3.0, 9.5, 120));
    assert_eq!(log[0].hours, 2);
    assert_eq!(log[0].door_open_minutes, 3.0);
    assert_eq!(log[0].minutes_out, 30.0);
    assert_eq!(log[1].minutes_out, 15.0);
    assert_eq!(log[1].excursions.len(), 1);
    assert_eq!(log[0].date, "2024-10-04");
    let csv = to_csv(&log, Timestamp(d0 + 30 * h));
    assert_eq!(csv.lines().count(), 3);
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .contains("temperature above 8 °C for 45 min, peak 9.5 °C"),
        "{csv}"
    );
    // An excursion still under way runs to now.
    let open = daily_log(&[], &[excursion(d0, None)], Timestamp(d0 + 10 * 60_000));
    assert_eq!(open[0].minutes_out, 10.0);
}
