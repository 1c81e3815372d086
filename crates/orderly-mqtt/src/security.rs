//! How a client proves who it is to the broker and keeps the link private: a user name and
//! password, and TLS (rustls, ring) with the broker's CA and an optional client certificate.
//! Orderly's own link and the simulator's devices use the same settings.

use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A user name and password for the broker. The password never appears in `Debug` output.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// TLS to the broker: the CA bundle that signed its certificate (PEM), and optionally this
/// client's own certificate and key (PEM) for brokers that require one.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// How to connect: in the clear and anonymous by default.
#[derive(Clone, Debug, Default)]
pub struct Security {
    pub credentials: Option<Credentials>,
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----; give the CA that signed the broker's certificate)"
    )]
    NoCertificate { path: String },
    #[error("{path} is not a PEM certificate file: {detail}")]
    BadCertificate { path: String, detail: String },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {detail}")]
    BadKey { path: String, detail: String },
    #[error("TLS settings refused: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the password file {path} is empty")]
    EmptyPassword { path: String },
}

impl Security {
    /// Applies the credentials and TLS to `o`. Files are read now, so a bad path or a bad
    /// certificate is an error at startup, not a silent reconnect loop.
    pub fn apply(&self, o: &mut MqttOptions) -> Result<(), SecurityError> {
        if let Some(c) = &self.credentials {
            o.set_credentials(&c.username, &c.password);
        }
        if let Some(tls) = &self.tls {
            let config = client_config(tls)?;
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                Arc::new(config),
            )));
        }
        Ok(())
    }

    /// What a log line may say about these settings.
    pub fn describe(&self) -> String {
        let who = match &self.credentials {
            Some(c) => format!("user {}", c.username),
            None => "anonymous".into(),
        };
        let tls = match &self.tls {
            Some(t) if t.client.is_some() => "TLS with a client certificate",
            Some(_) => "TLS",
            None => "no TLS",
        };
        format!("{who}, {tls}")
    }
}

/// Reads a password from a file: its first line, without the line end.
pub fn read_password(path: &Path) -> Result<String, SecurityError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecurityError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let line = text.lines().next().unwrap_or("").trim_end().to_string();
    if line.is_empty() {
        return Err(SecurityError::EmptyPassword {
            path: path.display().to_string(),
        });
    }
    Ok(line)
}

fn read(path: &Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|source| SecurityError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn certificates(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, SecurityError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SecurityError::BadCertificate {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(SecurityError::NoCertificate {
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

fn client_config(tls: &TlsFiles) -> Result<rustls::ClientConfig, SecurityError> {
    use rustls::pki_types::{PrivateKeyDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(&tls.ca)? {
        roots.add(cert).map_err(|e| SecurityError::BadCertificate {
            path: tls.ca.display().to_string(),
            detail: e.to_string(),
        })?;
    }
    // ring, not aws-lc-rs: it builds in seconds with no C toolchain beyond cc. rustls 0.23.48
    // marks it deprecated for lacking post-quantum key exchange (X25519MLKEM768); the brokers
    // Orderly meets (Mosquitto on OpenSSL 3.0, EMQX) negotiate X25519 or P-256 anyway. Move to
    // aws-lc-rs when a site's broker demands post-quantum key exchange.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match &tls.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certificates(cert)?;
            let key_bytes = read(key)?;
            let key =
                PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| SecurityError::BadKey {
                    path: key.display().to_string(),
                    detail: e.to_string(),
                })?;
            builder.with_client_auth_cert(chain, key)?
        }
    })
}

/// Why the broker link is down, in words a person can act on.
pub fn explain(e: &rumqttc::ConnectionError) -> String {
    use rumqttc::{ConnectReturnCode, ConnectionError};
    match e {
        ConnectionError::ConnectionRefused(code) => {
            let why = match code {
                ConnectReturnCode::BadUserNamePassword => {
                    "bad user name or password (check --mqtt-username and --mqtt-password-file against the broker's password file)"
                }
                ConnectReturnCode::NotAuthorized => {
                    "not authorised (a wrong user name or password, none given where the broker needs one, or a user that may not connect; check --mqtt-username and --mqtt-password-file)"
                }
                ConnectReturnCode::BadClientId => "the client id was rejected",
                ConnectReturnCode::ServiceUnavailable => "the broker is unavailable",
                ConnectReturnCode::RefusedProtocolVersion => "the broker does not speak MQTT 3.1.1",
                ConnectReturnCode::Success => "refused",
            };
            format!("the broker refused the connection: {why}")
        }
        ConnectionError::Tls(t) => format!(
            "TLS failed: {t} (is --mqtt-tls-ca the CA that signed the broker's certificate, and --mqtt-host the name in it?)"
        ),
        ConnectionError::Io(io) => format!("cannot reach the broker: {io}"),
        ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => {
            "the broker did not answer in time".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_in_debug_output() {
        let s = Security {
            credentials: Some(Credentials {
                username: "orderly".into(),
                password: "hunter2-secret".into(),
            }),
            tls: None,
        };
        let shown = format!("{s:?} {}", s.describe());
        assert!(shown.contains("orderly"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_bad_ca_file_is_an_error_at_startup_that_names_it() {
        let dir = std::env::temp_dir().join(format!("orderly-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let s = Security {
            credentials: None,
            tls: Some(TlsFiles {
                ca: ca.clone(),
                client: None,
            }),
        };
        let mut o = MqttOptions::new("x", "localhost", 8883);
        let e = s.apply(&mut o).unwrap_err().to_string();
        assert!(
            e.contains("ca.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let missing = Security {
            credentials: None,
            tls: Some(TlsFiles {
                ca: dir.join("missing.pem"),
                client: None,
            }),
        };
        let e = missing.apply(&mut o).unwrap_err().to_string();
        assert!(e.contains("missing.pem"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_refused_connection_says_why_in_plain_words() {
        let e = rumqttc::ConnectionError::ConnectionRefused(
            rumqttc::ConnectReturnCode::BadUserNamePassword,
        );
        assert!(explain(&e).contains("bad user name or password"));
        let e =
            rumqttc::ConnectionError::ConnectionRefused(rumqttc::ConnectReturnCode::NotAuthorized);
        assert!(explain(&e).contains("not authorised"));
    }
}
