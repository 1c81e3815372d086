//! The corpus (`tests/corpus/`): each message read as its file name says, `aa-*` as a census
//! message, `ae-NNN-*` and `ar-NNN-*` refused with that acknowledgement and table-0357 code.

use orderly_hl7::{AckCode, CensusMessage, Message, read};
use std::path::Path;

fn corpus() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            // As an interface engine sends it: segments ended by CR.
            let text = std::fs::read_to_string(&p).unwrap().replace('\n', "\r");
            (name, text)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_corpus_message_is_read_or_refused_as_its_name_says() {
    let all = corpus();
    assert!(all.len() >= 20, "{} messages", all.len());
    for (name, text) in &all {
        let msg = Message::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = read(&msg);
        let mut parts = name.splitn(3, '-');
        let (kind, code) = (parts.next().unwrap(), parts.next().unwrap());
        match kind {
            "aa" => {
                assert!(got.is_ok(), "{name}: {got:?}");
            }
            "ae" | "ar" => {
                let p = got.expect_err(name);
                let want = if kind == "ae" {
                    AckCode::Ae
                } else {
                    AckCode::Ar
                };
                assert_eq!(p.ack_code(), want, "{name}: {p:?}");
                assert_eq!(p.code.to_string(), code, "{name}: {p:?}");
                assert!(!p.text.is_empty(), "{name}");
            }
            k => panic!("{name}: unknown prefix {k}"),
        }
    }
}

#[test]
fn the_corpus_reads_what_each_message_carries() {
    let get = |file: &str| {
        let (_, text) = corpus().into_iter().find(|(n, _)| n == file).unwrap();
        read(&Message::parse(&text).unwrap()).unwrap()
    };
    let CensusMessage::Adt {
        header,
        patient,
        visit,
        ..
    } = get("aa-adt-a01-v28-standard.hl7")
    else {
        panic!()
    };
    assert_eq!(
        (header.version.as_str(), header.control_id.as_str()),
        ("2.8", "MSG00001")
    );
    assert_eq!(patient.key().as_deref(), Some("ADT1/PATID1234"));
    assert_eq!(patient.name(), "ADAM EVERYMAN");
    let l = visit.location.unwrap();
    assert_eq!(
        (l.point_of_care.as_str(), l.room.as_str(), l.bed.as_str()),
        ("2000", "2012", "01")
    );
    let CensusMessage::Adt { patient, .. } = get("aa-adt-a08-v23-update-pid2.hl7") else {
        panic!()
    };
    assert_eq!(patient.ids[0].id, "0000112234", "2.3's PID-2");
    let CensusMessage::Adt { patient, visit, .. } = get("aa-adt-a01-other-delimiters.hl7") else {
        panic!()
    };
    assert_eq!(
        (patient.family.as_str(), patient.given.as_str()),
        ("SMITH%JONES", "MARY")
    );
    assert_eq!(visit.location.unwrap().room, "203");
    let CensusMessage::Adt { other, .. } = get("aa-adt-a17-swap.hl7") else {
        panic!()
    };
    assert_eq!(other.unwrap().0.ids[0].id, "PATID1234");
    let CensusMessage::Adt { merged, .. } = get("aa-adt-a40-merge.hl7") else {
        panic!()
    };
    assert_eq!(merged[0].id, "MR2");
    let CensusMessage::Observations { observations, .. } = get("aa-oru-r01-risk-scores.hl7") else {
        panic!()
    };
    let codes: Vec<(&str, &str)> = observations
        .iter()
        .map(|o| (o.code.as_str(), o.value.as_str()))
        .collect();
    assert_eq!(
        codes,
        [("59460-6", "55"), ("38227-5", "12"), ("29463-7", "81.5")]
    );
}
