//! MQTT security end to end: Mosquitto over TLS with the users and topic permissions that
//! `orderly devices` writes; Orderly connects with its own user; forged devices, forged
//! commands and anonymous clients are refused by the broker and change nothing.

use orderly_tests::{Device, Login, Mosquitto, Setup, binary, free_port, now_rfc3339};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A CA, and a server certificate for 127.0.0.1 signed by it (PEM files in `dir`).
pub(crate) fn certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Orderly test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "broker.test");
    let cert = server.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    // Another CA that signed nothing of this broker's.
    let other_key = KeyPair::generate().unwrap();
    let mut other = CertificateParams::new(Vec::<String>::new()).unwrap();
    other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = other.self_signed(&other_key).unwrap();
    std::fs::write(dir.join("other-ca.pem"), other.pem()).unwrap();
}

/// `orderly devices` for this setup's site; every user's password.
fn devices(setup: &Setup, out: &Path) -> BTreeMap<String, String> {
    let run = Command::new(binary())
        .arg("devices")
        .arg("--floorplan")
        .arg(&setup.floorplan)
        .arg("--seed")
        .arg(&setup.seed)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(out.join("credentials.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["passwords"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn bed_state(exit_alarm: &str, height: &str) -> Value {
    json!({"ts": now_rfc3339(), "occupied": true, "hob_deg": 30.0, "height": height, "brakes": true,
           "rails": {"head_left": true, "head_right": true, "foot_left": false, "foot_right": false},
           "exit_alarm": exit_alarm, "surface": "static", "moving": false})
}

#[test]
fn with_the_brokers_permissions_a_forged_device_or_command_moves_no_bed() {
    if Mosquitto::binary().is_none() {
        eprintln!("skipped: Mosquitto is not installed");
        return;
    }
    let mut setup = Setup::new();
    let dir = setup.dir.path().to_path_buf();
    certificates(&dir);
    let auth = dir.join("auth");
    let pw = devices(&setup, &auth);
    let port = free_port();
    let _broker = Mosquitto::start_with(
        &dir,
        port,
        &format!(
            "cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\nallow_anonymous false\npassword_file {a}/mosquitto.passwd\nacl_file {a}/mosquitto.acl\n",
            d = dir.display(),
            a = auth.display()
        ),
    )
    .unwrap();
    setup.mqtt = ("127.0.0.1".into(), port);
    setup.embedded = false;
    let tls = |user: &str| Login {
        user: Some((user.to_string(), pw[user].clone())),
        ca: Some(dir.join("ca.pem")),
    };

    // Refused by the broker: no password, a wrong one, no TLS, a CA that is not the broker's.
    let anonymous = Login {
        user: None,
        ca: Some(dir.join("ca.pem")),
    };
    let e = Device::connect_as(&setup.mqtt, &anonymous, None).err();
    assert!(e.is_some(), "an anonymous client was let in");
    let mut wrong = tls("bed-icu-02");
    wrong.user = Some(("bed-icu-02".into(), "guessed".into()));
    assert!(Device::connect_as(&setup.mqtt, &wrong, None).is_err());
    let plain = Login {
        user: Some(("bed-icu-02".into(), pw["bed-icu-02"].clone())),
        ca: None,
    };
    assert!(Device::connect_as(&setup.mqtt, &plain, None).is_err());
    let mut other_ca = tls("bed-icu-02");
    other_ca.ca = Some(dir.join("other-ca.pem"));
    assert!(Device::connect_as(&setup.mqtt, &other_ca, None).is_err());

    // Orderly with a wrong password is not ready, and says why.
    let bad = dir.join("bad.password");
    std::fs::write(&bad, "not-the-password\n").unwrap();
    setup.args = vec![
        "--mqtt-username".into(),
        "orderly".into(),
        "--mqtt-password-file".into(),
        bad.display().to_string(),
        "--mqtt-tls-ca".into(),
        dir.join("ca.pem").display().to_string(),
    ];
    let o = setup.spawn();
    o.wait_until("readyz to say why", Duration::from_secs(20), || {
        let (status, body) = o.get("/readyz");
        status == 503 && body.to_string().contains("user name or password")
    });
    o.stop();

    // Orderly with its own user, over TLS: ready means connected and subscribed.
    setup.args[3] = auth.join("orderly.password").display().to_string();
    let o = setup.start();
    let topic = |s: &str| o.topic(s);
    // The attacker: bed ICU-02's own credentials, listening to everything it can.
    let attacker = Device::connect_as(&o.mqtt, &tls("bed-icu-02"), Some("#")).unwrap();
    // Bed ICU-01 (Ben Rossi, Morse 85) hears only its own command topic.
    let bed = Device::connect_as(
        &o.mqtt,
        &tls("bed-icu-01"),
        Some(&topic("bed/bed-icu-01/command")),
    )
    .unwrap();
    let receiver = Device::connect_as(&o.mqtt, &tls("rx-f2-icu-01"), None).unwrap();

    // Forged: a command to ICU-01 and ICU-01's state, both from ICU-02's login.
    attacker.json(
        &topic("bed/bed-icu-01/command"),
        &json!({"command_id": "c-forged", "ts": now_rfc3339(),
                "set": {"height": "raised", "hob_deg": 0, "exit_alarm": "off"}, "reason": "forged"}),
    );
    attacker.json(&topic("bed/bed-icu-01/state"), &bed_state("off", "raised"));
    attacker.json(&topic("alerts/ICU"), &json!({"forged": true}));
    // Then ICU-02's own state, which is allowed: once Orderly has it, the forgeries (sent
    // before it on the same connection) have been refused, not delayed.
    attacker.json(&topic("bed/bed-icu-02/state"), &bed_state("armed", "low"));
    o.wait_until("ICU-02's own state", Duration::from_secs(20), || {
        o.get("/api/v1/assets/BED-ICU-02").1["bed"]["exit_alarm"] == "armed"
    });
    let (_, icu01) = o.get("/api/v1/assets/BED-ICU-01");
    assert!(icu01["bed"].is_null(), "a forged state was taken: {icu01}");
    assert!(
        bed.received.recv_timeout(Duration::from_secs(2)).is_err(),
        "a forged command reached the bed"
    );

    // The real bed, in its room, reports its exit alarm off: Orderly (and only Orderly)
    // commands it armed.
    o.heard(&receiver, "rx-f2-icu-01", "TB-ICU-01");
    bed.json(&topic("bed/bed-icu-01/state"), &bed_state("off", "low"));
    let (t, payload) = bed
        .received
        .recv_timeout(Duration::from_secs(30))
        .expect("Orderly's command to arm the exit alarm");
    assert_eq!(t, topic("bed/bed-icu-01/command"));
    let cmd: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(cmd["set"], json!({"exit_alarm": "armed"}), "{cmd}");
    assert_ne!(cmd["command_id"], "c-forged");
    // The attacker, subscribed to everything, heard nothing: not the command, no alert.
    let heard: Vec<String> = attacker.received.try_iter().map(|(t, _)| t).collect();
    assert!(heard.is_empty(), "bed ICU-02 could read {heard:?}");

    attacker.close();
    bed.close();
    receiver.close();
    o.stop();
}

/// Failed sign-ins are audited with the client's address; after ten in a minute, further
/// unknown tokens from that address are refused (429) without a database lookup or an audit
/// row, while tokens known to be valid keep working.
#[test]
fn failed_sign_ins_are_audited_and_limited_per_address() {
    let setup = Setup::new();
    let o = setup.start();
    assert_eq!(o.get("/api/v1/assets").0, 200);
    for i in 0..10 {
        let (status, _) = o.get_as("/api/v1/assets", &format!("ord_guess{i}"));
        assert_eq!(status, 401);
    }
    let (status, body) = o.get_as("/api/v1/assets", "ord_guess10");
    assert_eq!(status, 429, "{body}");
    assert!(
        body.to_string()
            .contains("too many failed sign-ins from 127.0.0.1"),
        "{body}"
    );
    // A token known to be valid still works from that address (many staff may share one
    // address behind a proxy).
    let (status, _) = o.get("/api/v1/assets");
    assert_eq!(status, 200);
    o.stop();
    // After a restart (the limit is in memory) the audit shows the ten failures, with where
    // they came from and what they tried.
    let o = setup.start();
    let (_, audit) = o.get("/api/v1/audit?limit=100");
    let failed: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "authentication failed")
        .collect();
    assert_eq!(failed.len(), 10, "{audit}");
    assert_eq!(failed[0]["who"], "unauthenticated client 127.0.0.1");
    assert_eq!(failed[0]["target"], "/api/v1/assets");
    assert!(
        !audit.to_string().contains("ord_guess"),
        "a guessed secret in the audit log"
    );
    o.stop();
}

/// A misspelt value in a query is a 400 that lists the valid ones (issue 20), never an empty
/// answer or a stream that stays silent for ever.
#[test]
fn unknown_enum_values_in_queries_are_400_with_the_valid_values() {
    let setup = Setup::new();
    let o = setup.start();
    for (path, says) in [
        (
            "/api/v1/alerts?priority=urgent",
            "one of high, medium, low, advisory",
        ),
        (
            "/api/v1/alerts?state=open",
            "one of active, acknowledged, resolved",
        ),
        (
            "/api/v1/alerts/open?priority=HIGH",
            "unknown priority \"HIGH\"",
        ),
        (
            "/api/v1/assets?status=broken",
            "unknown status \"broken\" (one of available",
        ),
        (
            "/api/v1/events?kind=alert.rasied",
            "unknown event kind \"alert.rasied\" (one of",
        ),
    ] {
        let (status, body) = o.get(path);
        assert_eq!(status, 400, "{path}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{path}: {body}");
    }
}
