//! `orderly devices`: the broker's users and topic permissions, from the floorplan (room
//! receivers) and the registry (smart beds, pumps, wearables). Every device gets its own user
//! and password and may publish only its own topics and read only its own commands; Orderly is
//! the only user that publishes alerts and bed commands; each unit's alert subscriber reads
//! that unit's alerts only. Written for Mosquitto (`password_file`, `acl_file`) and EMQX
//! (`acl.conf`); docs/security.md says how to use them.
//!
//! Running it again keeps the passwords of the users that remain, adds new ones and drops the
//! users the registry no longer names.

use anyhow::{Context, Result, bail};
use clap::Args;
use orderly_model::DeviceClass;
use orderly_mqtt::Topics;
use orderly_mqtt::contract::Permissions;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Floorplan (its room receivers) [default: the bundled demo hospital; give both
    /// --floorplan and --seed, or neither].
    #[arg(long)]
    pub floorplan: Option<PathBuf>,
    /// The seed: asset registry and census (beds, pumps, wearables) [default: the bundled demo's].
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Folder to write the files in (created; its files are secrets).
    #[arg(long, default_value = "mqtt-auth")]
    pub out: PathBuf,
}

/// The broker user Orderly connects as.
pub const ORDERLY_USER: &str = "orderly";
/// Prefix of the alert subscribers' users (`alerts-ICU`, and `alerts-all` for every unit).
const ALERTS_USER: &str = "alerts-";

/// One broker user: who it is for and what it may do.
struct User {
    name: String,
    what: String,
    permissions: Permissions,
}

pub fn main(args: DevicesArgs) -> Result<()> {
    let (fp, seed) = crate::files::site_or_demo(args.floorplan.as_deref(), args.seed.as_deref())?;
    let name = |p: &Option<PathBuf>, demo: &str| {
        p.as_ref()
            .map_or_else(|| demo.to_string(), |p| p.display().to_string())
    };
    let (fp_name, seed_name) = (
        name(&args.floorplan, crate::files::DEMO_FLOORPLAN_NAME),
        name(&args.seed, crate::files::DEMO_SEED_NAME),
    );
    let topics = Topics::new(&fp.site.id);
    let mut users = vec![User {
        name: ORDERLY_USER.into(),
        what: "Orderly: reads every device topic, the only publisher of alerts and bed commands"
            .into(),
        permissions: topics.orderly_permissions(),
    }];
    users.push(User {
        name: format!("{ALERTS_USER}all"),
        what: "an integration receiving every unit's alerts (alarm manager)".into(),
        permissions: topics.alert_subscriber_permissions(None),
    });
    for u in &fp.units {
        if u.id.contains(['+', '#', '/', ' ', '\t']) {
            bail!(
                "unit id {:?} in {} cannot be an MQTT topic level (no '+', '#', '/' or spaces): rename it",
                u.id,
                fp_name
            );
        }
        users.push(User {
            name: format!("{ALERTS_USER}{}", u.id),
            what: format!("alert subscriber of unit {} ({})", u.id, u.name),
            permissions: topics.alert_subscriber_permissions(Some(&u.id)),
        });
    }
    let mut devices: Vec<(&str, DeviceClass)> = fp
        .receivers()
        .into_iter()
        .map(|(r, _)| (r, DeviceClass::Receiver))
        .collect();
    devices.extend(seed.devices());
    for (id, class) in devices {
        if id == ORDERLY_USER || id.starts_with(ALERTS_USER) {
            bail!(
                "device id {id:?} would be the broker user {} that is not a device's: rename the device in {}",
                if id == ORDERLY_USER {
                    "Orderly connects as"
                } else {
                    "of an alert subscriber"
                },
                seed_name
            );
        }
        users.push(User {
            name: id.to_string(),
            what: format!("{} {id}", class_name(class)),
            permissions: topics.device_permissions(class, id),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for u in &users {
        if !seen.insert(u.name.as_str()) {
            bail!(
                "device id {:?} is used twice (two devices would share one broker user): make device ids unique across {} and {}",
                u.name,
                fp_name,
                seed_name
            );
        }
    }

    create_private_dir(&args.out)?;
    let cred_path = args.out.join("credentials.toml");
    let old = read_credentials(&cred_path)?;
    let mut passwords = BTreeMap::new();
    let (mut kept, mut added) = (0, 0);
    for u in &users {
        let p = match old.get(&u.name) {
            Some(p) => {
                kept += 1;
                p.clone()
            }
            None => {
                added += 1;
                new_password()
            }
        };
        passwords.insert(u.name.clone(), p);
    }
    let removed = old.keys().filter(|k| !passwords.contains_key(*k)).count();

    let header = format!(
        "# Written by `orderly devices` from {} and {} (site {}). Do not edit: run it again.\n",
        fp_name, seed_name, fp.site.id
    );
    let mut creds = format!(
        "{header}# SECRET: every broker user's password. Give each device its own; keep this file off shared disks.\n\n[passwords]\n"
    );
    let mut passwd = String::new();
    let mut acl =
        format!("{header}# Mosquitto acl_file: a user may do only what is listed under it.\n");
    let mut emqx = format!(
        "{}%% EMQX acl.conf: what a user may do; everything else is denied.\n",
        header.replace("# ", "%% ")
    );
    for u in &users {
        let p = &passwords[&u.name];
        creds.push_str(&format!("{} = {}\n", toml_key(&u.name), toml_str(p)));
        passwd.push_str(&format!("{}:{}\n", u.name, mosquitto_hash(p)));
        acl.push_str(&format!("\n# {}\nuser {}\n", u.what, u.name));
        for t in &u.permissions.publish {
            let rw = if u.permissions.read.contains(t) {
                "readwrite"
            } else {
                "write"
            };
            acl.push_str(&format!("topic {rw} {t}\n"));
        }
        for t in &u.permissions.read {
            if !u.permissions.publish.contains(t) {
                acl.push_str(&format!("topic read {t}\n"));
            }
        }
        let list = |ts: &[String]| {
            ts.iter()
                // A topic with no wildcard matches only itself (`eq`); one with `#` is a filter.
                .map(|t| {
                    if t.contains(['#', '+']) {
                        format!("\"{t}\"")
                    } else {
                        format!("{{eq, \"{t}\"}}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !u.permissions.publish.is_empty() {
            emqx.push_str(&format!(
                "{{allow, {{username, \"{}\"}}, publish, [{}]}}.\n",
                u.name,
                list(&u.permissions.publish)
            ));
        }
        if !u.permissions.read.is_empty() {
            emqx.push_str(&format!(
                "{{allow, {{username, \"{}\"}}, subscribe, [{}]}}.\n",
                u.name,
                list(&u.permissions.read)
            ));
        }
    }
    emqx.push_str("{deny, all}.\n");
    write_private(&cred_path, &creds)?;
    write_private(
        &args.out.join("orderly.password"),
        &format!("{}\n", passwords[ORDERLY_USER]),
    )?;
    write_private(&args.out.join("mosquitto.passwd"), &passwd)?;
    write_file(&args.out.join("mosquitto.acl"), &acl)?;
    write_file(&args.out.join("emqx-acl.conf"), &emqx)?;
    let devices = users.len() - 2 - fp.units.len();
    println!(
        "wrote {} broker users to {}: Orderly, {} alert subscribers, {devices} devices ({added} new, {kept} kept, {removed} removed)",
        users.len(),
        args.out.display(),
        fp.units.len() + 1,
    );
    println!(
        "  credentials.toml  every user's password (secret: give each device only its own)\n  orderly.password  Orderly's: orderly run --mqtt-username {ORDERLY_USER} --mqtt-password-file {}\n  mosquitto.passwd, mosquitto.acl  for Mosquitto's password_file and acl_file\n  emqx-acl.conf     the same permissions for EMQX (docs/security.md)",
        args.out.join("orderly.password").display()
    );
    Ok(())
}

fn class_name(c: DeviceClass) -> &'static str {
    match c {
        DeviceClass::Receiver => "room receiver",
        DeviceClass::Bed => "smart bed",
        DeviceClass::Pump => "infusion pump",
        DeviceClass::Wearable => "wearable",
        DeviceClass::Monitor => "bedside monitor",
        DeviceClass::Environment => "environment sensor",
    }
}

/// The passwords of a credentials file written before (none when there is no file).
pub fn read_credentials(path: &Path) -> Result<BTreeMap<String, String>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        passwords: BTreeMap<String, String>,
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let name = path.display().to_string();
    let f: File = orderly_model::Source::new(&name, &text)
        .parse_toml()
        .map_err(|e| {
            anyhow::anyhow!("{e}\n(delete the file to make new passwords for every user)")
        })?;
    Ok(f.passwords)
}

/// 24 random bytes from the OS, URL-safe base64: 192 bits, no characters a config file or
/// a shell would trip on.
fn new_password() -> String {
    use base64::Engine;
    use rand::TryRngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Mosquitto 2's password hash (`mosquitto_passwd`'s default): `$7$` PBKDF2-HMAC-SHA512 with
/// 101 iterations over a 12-byte salt, salt and hash in standard base64.
pub fn mosquitto_hash(password: &str) -> String {
    use rand::TryRngCore;
    let mut salt = [0u8; 12];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .expect("the operating system's random number generator");
    mosquitto_hash_with(password, &salt)
}

fn mosquitto_hash_with(password: &str, salt: &[u8]) -> String {
    use base64::Engine;
    const ITERATIONS: u32 = 101;
    let mut hash = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), salt, ITERATIONS, &mut hash);
    let b64 = base64::engine::general_purpose::STANDARD;
    format!("$7${ITERATIONS}${}${}", b64.encode(salt), b64.encode(hash))
}

fn toml_key(k: &str) -> String {
    // Device ids are `A-Za-z0-9_.-`: quoted, a dot is not a table separator.
    toml_str(k)
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private", dir.display()))?;
    }
    Ok(())
}

/// Writes a secret: readable by its owner only, replaced whole (never half-written).
fn write_private(path: &Path, text: &str) -> Result<()> {
    write_with_mode(path, text, 0o600)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    write_with_mode(path, text, 0o644)
}

fn write_with_mode(path: &Path, text: &str, mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is PBKDF2-HMAC-SHA512 as Mosquitto checks it: RFC 6070-style known answer
    /// (computed independently with Python's hashlib.pbkdf2_hmac('sha512', b'password',
    /// b'salt', 101)).
    #[test]
    fn the_password_hash_is_mosquittos_pbkdf2_format() {
        let h = mosquitto_hash_with("password", b"salt");
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(&parts[..3], &["", "7", "101"], "{h}");
        assert_eq!(parts[3], "c2FsdA==");
        assert_eq!(
            parts[4],
            "CJmx+PEs0VeoH8TMH48EbxrB9fczoFNLJu6/NOlEFdDjmDk4538OIFtWiTegyeIXksRqaUSrobMKsUGGoRfn8g=="
        );
        assert_ne!(
            mosquitto_hash("password"),
            mosquitto_hash("password"),
            "salted"
        );
    }
}
