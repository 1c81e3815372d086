use super::*;

const SMALL: &str = r#"
[site]
id = "general"
name = "Test General"

[[building]]
id = "main"
name = "Main"

[[floor]]
id = "F1"
building = "main"
level = 1
name = "Ground"

[[floor]]
id = "F2"
building = "main"
level = 2
name = "Second"

[[unit]]
id = "ICU"
name = "Intensive care"
floor = "F2"
kind = "icu"
station = "F2-NS"

[[room]]
id = "F1-LOBBY"
floor = "F1"
kind = "lobby"
receivers = ["rx-lobby"]

[[room]]
id = "F1-ELEV"
floor = "F1"
kind = "elevator"

[[room]]
id = "F2-ELEV"
floor = "F2"
kind = "elevator"

[[room]]
id = "F2-C1"
floor = "F2"
kind = "corridor"
receivers = ["rx-c1"]

[[room]]
id = "F2-NS"
floor = "F2"
unit = "ICU"
kind = "nursing_station"
receivers = ["rx-ns"]

[[room]]
id = "F2-ICU-01"
floor = "F2"
unit = "ICU"
kind = "patient"
beds = ["ICU-01"]
receivers = ["rx-icu-01"]

[[link]]
a = "F1-LOBBY"
b = "F1-ELEV"
kind = "door"
metres = 10

[[link]]
a = "F1-ELEV"
b = "F2-ELEV"
kind = "elevator"
metres = 4

[[link]]
a = "F2-ELEV"
b = "F2-C1"
kind = "door"
metres = 2

[[link]]
a = "F2-C1"
b = "F2-NS"
kind = "door"
metres = 3

[[link]]
a = "F2-C1"
b = "F2-ICU-01"
kind = "door"
metres = 5
"#;

#[test]
fn builds_the_walking_graph() {
    let fp = Floorplan::parse("f.toml", SMALL).unwrap();
    assert_eq!(fp.site.id, "general");
    let lobby = fp.room_index("F1-LOBBY").unwrap();
    let icu = fp.room_index("F2-ICU-01").unwrap();
    let r = fp.route(lobby, icu).unwrap();
    assert_eq!(
        r.rooms,
        ["F1-LOBBY", "F1-ELEV", "F2-ELEV", "F2-C1", "F2-ICU-01"]
    );
    assert_eq!(r.metres, 10.0 + 4.0 + 36.0 + 2.0 + 5.0);
    let d = fp.distances_from(icu);
    assert_eq!(d[fp.room_index("F2-NS").unwrap()], 8.0);
    assert_eq!(fp.receiver_room("rx-c1"), fp.room_index("F2-C1"));
    assert!(fp.adjacent(fp.room_index("F2-C1").unwrap(), icu));
    assert!(!fp.adjacent(lobby, icu));
    assert_eq!(fp.neighbours(icu).count(), 1);
}

#[test]
fn adjacent_is_what_the_walking_graph_links() {
    let fp = Floorplan::parse("demo.toml", include_str!("../../../floorplans/demo.toml")).unwrap();
    let n = fp.rooms.len();
    let mut links = 0;
    for a in 0..n {
        for b in 0..n {
            let linked = fp.graph.contains_edge(
                petgraph::graph::NodeIndex::new(a),
                petgraph::graph::NodeIndex::new(b),
            );
            assert_eq!(
                fp.adjacent(a, b),
                linked,
                "{} {}",
                fp.rooms[a].id,
                fp.rooms[b].id
            );
            links += usize::from(linked);
        }
    }
    assert!(links > n, "{links} links among {n} rooms");
    assert!(!fp.adjacent(0, n) && !fp.adjacent(n, 0) && !fp.adjacent(usize::MAX, 0));
}

/// Each case: a change to the good file, and the line:column and words the error must carry.
#[test]
fn bad_files_are_rejected_with_file_line_and_reason() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "station = \"F2-NS\"",
            "station = \"F2-C1\"",
            "f.toml:27:11",
            "not a nursing_station",
        ),
        (
            "unit = \"ICU\"\nkind = \"patient\"",
            "unit = \"ICUU\"\nkind = \"patient\"",
            "f.toml:61:8",
            "unknown unit \"ICUU\"",
        ),
        (
            "receivers = [\"rx-icu-01\"]",
            "receivers = [\"rx-c1\"]",
            "f.toml:64:14",
            "already mounted on line 49",
        ),
        (
            "metres = 5\n",
            "metres = -5\n",
            "f.toml:94:10",
            "metres -5 is out of range",
        ),
        (
            "kind = \"lobby\"",
            "kind = \"ballroom\"",
            "f.toml:32:8",
            "unknown variant `ballroom`",
        ),
        (
            "a = \"F2-C1\"\nb = \"F2-ICU-01\"",
            "a = \"F1-LOBBY\"\nb = \"F2-ICU-01\"",
            "f.toml:91:5",
            "on different floors",
        ),
        (
            "id = \"F2-NS\"",
            "id = \"F2-C1\"",
            "f.toml:52:6",
            "already used on line 46",
        ),
        (
            "name = \"Test General\"",
            "name = \"Test General\"\ncolour = 1",
            "f.toml:5:1",
            "unknown field `colour`",
        ),
    ];
    for (from, to, at, words) in cases {
        assert!(SMALL.contains(from), "case {from:?} does not apply");
        let text = SMALL.replacen(from, to, 1);
        let err = Floorplan::parse("f.toml", &text).unwrap_err().to_string();
        assert!(
            err.contains(at) && err.contains(words),
            "for {to:?} expected {at} {words:?}, got:\n{err}"
        );
    }
}

#[test]
fn unreachable_rooms_are_reported() {
    let text =
        format!("{SMALL}\n[[room]]\nid = \"F2-ISLAND\"\nfloor = \"F2\"\nkind = \"storage\"\n");
    let err = Floorplan::parse("f.toml", &text).unwrap_err().to_string();
    assert!(
        err.contains("room \"F2-ISLAND\" cannot be reached"),
        "{err}"
    );
}

#[test]
fn the_demo_floorplan_is_valid_and_large_enough() {
    let text = include_str!("../../../floorplans/demo.toml");
    let fp = Floorplan::parse("floorplans/demo.toml", text).unwrap_or_else(|e| panic!("{e}"));
    assert!(fp.floors.len() >= 3);
    let beds = |unit: &str| {
        fp.rooms
            .iter()
            .filter(|r| r.unit.as_deref() == Some(unit))
            .map(|r| r.beds.len())
            .sum::<usize>()
    };
    assert!(beds("ICU") >= 12);
    assert!(beds("MS3") >= 24 && beds("MS4") >= 24);
    assert!(fp.units.iter().any(|u| u.kind == "emergency"));
    assert!(
        fp.rooms
            .iter()
            .filter(|r| r.kind == RoomKind::Elevator)
            .count()
            >= 2 * fp.floors.len()
    );
    for r in &fp.rooms {
        if r.kind != RoomKind::Elevator {
            assert!(!r.receivers.is_empty(), "room {} has no receiver", r.id);
        }
    }
    for k in [
        RoomKind::CleanUtility,
        RoomKind::DirtyUtility,
        RoomKind::Storage,
        RoomKind::Stairs,
        RoomKind::Exit,
    ] {
        assert!(fp.rooms.iter().any(|r| r.kind == k), "no {k:?} room");
    }
}

#[test]
fn room_kind_names_match_the_file_format() {
    for k in [
        RoomKind::Patient,
        RoomKind::Bay,
        RoomKind::NursingStation,
        RoomKind::CleanUtility,
        RoomKind::DirtyUtility,
        RoomKind::Storage,
        RoomKind::Corridor,
        RoomKind::Elevator,
        RoomKind::Stairs,
        RoomKind::Lobby,
        RoomKind::Office,
        RoomKind::Procedure,
        RoomKind::Exit,
    ] {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
}

#[test]
fn a_round_visits_every_stop_once_and_is_no_longer_than_visiting_them_in_file_order() {
    let fp = Floorplan::parse("demo.toml", include_str!("../../../floorplans/demo.toml")).unwrap();
    let from = fp.room_index("F2-C01").unwrap();
    let ids = [
        "F4-MS4-05",
        "F2-ICU-03",
        "F3-MS3-11",
        "F2-ICU-09",
        "F4-MS4-20",
        "F3-MS3-02",
        "F2-ICU-03",
    ];
    let stops: Vec<usize> = ids.iter().map(|r| fp.room_index(r).unwrap()).collect();
    let r = fp.round(from, &stops);
    let mut visited = r.order.clone();
    visited.sort_unstable();
    let mut want = stops.clone();
    want.sort_unstable();
    want.dedup();
    assert_eq!(visited, want, "each stop once");
    assert_eq!(r.legs.len(), r.order.len());
    assert!((r.legs.iter().sum::<f32>() - r.metres).abs() < 0.01);
    // Not longer than the order given.
    let mut naive = 0.0;
    let mut at = from;
    for &s in &want {
        naive += fp.distances_from(at)[s];
        at = s;
    }
    assert!(r.metres <= naive + 0.01, "{} > {naive}", r.metres);
    // The ICU rooms (this floor) come before the other floors'.
    let first_two: Vec<&str> = r.order[..2]
        .iter()
        .map(|&i| fp.rooms[i].id.as_str())
        .collect();
    assert!(
        first_two.iter().all(|id| id.starts_with("F2-ICU")),
        "{first_two:?}"
    );
    // The route starts at the start and passes through every stop.
    assert_eq!(r.rooms[0], "F2-C01");
    for id in ids {
        assert!(r.rooms.iter().any(|x| x == id), "{id} not on {:?}", r.rooms);
    }
    // Nothing to visit: an empty round.
    assert_eq!(fp.round(from, &[]).metres, 0.0);
}

/// Wheeled things go by lift: from every 3 West room to every ICU room the wheeled route never
/// enters a stairwell and is never shorter than walking (which may take the stairs), and its
/// cost is the distance `distances_for` gives.
#[test]
fn a_wheeled_route_goes_by_lift_never_by_stairs() {
    let fp = Floorplan::parse("demo.toml", include_str!("../../../floorplans/demo.toml")).unwrap();
    let from: Vec<usize> = (0..fp.rooms.len())
        .filter(|&i| fp.rooms[i].id.starts_with("F3-MS3-"))
        .collect();
    let to: Vec<usize> = (0..fp.rooms.len())
        .filter(|&i| fp.rooms[i].id.starts_with("F2-ICU-"))
        .collect();
    assert!(!from.is_empty() && !to.is_empty());
    let mut stairs_walked = 0;
    for &a in &from {
        let wheeled = fp.distances_for(a, Way::Wheeled);
        for &b in &to {
            let r = fp.route_for(a, b, Way::Wheeled).expect("a lift goes there");
            let kinds: Vec<RoomKind> = r.rooms.iter().map(|id| fp.room(id).unwrap().kind).collect();
            assert!(!kinds.contains(&RoomKind::Stairs), "{:?}", r.rooms);
            assert!(kinds.contains(&RoomKind::Elevator), "{:?}", r.rooms);
            assert!((r.metres - wheeled[b]).abs() < 0.01);
            let walk = fp.route(a, b).unwrap();
            assert!(walk.metres <= r.metres + 0.01);
            if walk
                .rooms
                .iter()
                .any(|id| fp.room(id).unwrap().kind == RoomKind::Stairs)
            {
                stairs_walked += 1;
            }
        }
    }
    // The demo's stairs are the shorter way on foot for some of these pairs: the test means it.
    assert!(stairs_walked > 0);
}

#[test]
fn borders_and_receiver_positions() {
    let text = include_str!("../../../floorplans/eval-flat.toml");
    let fp = Floorplan::parse("eval-flat.toml", text).unwrap();
    let i = |id: &str| fp.room_index(id).unwrap();
    assert_eq!(fp.border(i("HALL"), i("BEDROOM")), Border::Door);
    assert_eq!(fp.border(i("HALL"), i("LIVING")), Border::Open);
    assert_eq!(fp.border(i("LIVING"), i("KITCHEN")), Border::Open);
    assert_eq!(fp.border(i("BEDROOM"), i("BATH")), Border::Wall);
    assert_eq!(fp.border(i("BATH"), i("KITCHEN")), Border::Apart);
    assert_eq!(fp.receiver_at("rx-living-e"), Some([10.8, 4.5]));
    assert_eq!(fp.receiver_at("rx-nowhere"), None);
    // A corner touching is not a wall.
    assert_eq!(fp.border(i("BEDROOM"), i("KITCHEN")), Border::Apart);

    let cases: &[(&str, &str, &str)] = &[
        (
            "at = [0.5, 7.0]",
            "at = [5.5, 7.0]",
            "outside its room \"BEDROOM\"",
        ),
        (
            "id = \"rx-bed\"\nat",
            "id = \"rx-bedd\"\nat",
            "not mounted in any room",
        ),
        (
            "id = \"rx-bath\"\nat = [1.5, 0.5]",
            "id = \"rx-bed\"\nat = [0.6, 7.0]",
            "placed twice",
        ),
        (
            "kind = \"open\"\nmetres = 4.0",
            "kind = \"wall\"\nmetres = 4.0",
            "unknown variant `wall`",
        ),
    ];
    for (from, to, words) in cases {
        assert!(text.contains(from), "case {from:?} does not apply");
        let err = Floorplan::parse("f.toml", &text.replacen(from, to, 1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(words),
            "for {to:?} expected {words:?}, got:\n{err}"
        );
    }
    // A building without rects has no walls to speak of.
    let small = Floorplan::parse("f.toml", SMALL).unwrap();
    let (a, b) = (
        small.room_index("F2-C1").unwrap(),
        small.room_index("F2-NS").unwrap(),
    );
    assert!(matches!(
        small.border(a, b),
        Border::Door | Border::Open | Border::Apart
    ));
}

/// `open_border` (the locator's quick question) says what `border` says of every pair of
/// rooms, in the demo hospital and the evaluation flat.
#[test]
fn open_border_agrees_with_border_for_every_pair() {
    for (file, text) in [
        ("demo.toml", include_str!("../../../floorplans/demo.toml")),
        (
            "eval-flat.toml",
            include_str!("../../../floorplans/eval-flat.toml"),
        ),
    ] {
        let fp = Floorplan::parse(file, text).unwrap();
        let mut open = 0;
        for a in 0..fp.rooms.len() {
            for b in 0..fp.rooms.len() {
                let want = fp.border(a, b) == Border::Open;
                assert_eq!(fp.open_border(a, b), want, "{file}: {a} {b}");
                open += usize::from(want && a != b);
            }
        }
        assert!(open > 0, "{file} has open borders");
    }
}
