//! A standby's HL7 listener: every connection an interface engine opens is passed through to
//! the site's owner's HL7 listener as it came, byte for byte (TLS included, so the owner's
//! certificate and the engine's trust are the same as when it connects directly), and the
//! acknowledgements come back the same way: the owner acknowledges a message only once it is
//! committed, so the relay adds no way to lose one. When no owner is known or it does not
//! answer, the engine's connection is closed without a byte: the engine keeps the message
//! and sends it again (as when any listener is down), counted per reason.

use crate::{Counted, Stats};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How the relay limits itself.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Connections passed through at once; more are closed at once.
    pub max_connections: usize,
    /// How long to wait for the owner's listener to accept.
    pub connect: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            max_connections: crate::Config::default().max_connections,
            connect: Duration::from_secs(5),
        }
    }
}

/// Passes every connection to `listener` through to the address `owner` holds (the site's
/// owner's HL7 listener; None: no owner known, or it has none) until `shutdown` turns true;
/// connections in flight are closed then (this instance is about to serve HL7 itself, or
/// stop). `me` is this instance's own HL7 address: never relayed to (a stale owner record
/// naming it would loop).
pub async fn relay(
    listener: TcpListener,
    owner: watch::Receiver<Option<String>>,
    me: Option<String>,
    cfg: RelayConfig,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut open = tokio::task::JoinSet::new();
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "HL7 relay: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
            Some(_) = open.join_next(), if !open.is_empty() => continue,
        };
        let target = owner.borrow().clone();
        let Some(target) = target.filter(|t| me.as_deref() != Some(t.as_str())) else {
            stats.refuse("no_owner");
            tracing::warn!(%peer, "HL7 connection closed: this instance is a standby and no owner of the site with an HL7 listener is known; the interface engine will send again");
            continue;
        };
        if stats.connections.load(Ordering::Relaxed) >= cfg.max_connections {
            stats.refuse("too_many_connections");
            tracing::warn!(%peer, limit = cfg.max_connections, "HL7 connection refused: too many open");
            continue;
        }
        let counted = Counted::new(stats.clone());
        let (stats, connect) = (stats.clone(), cfg.connect);
        open.spawn(async move {
            let _counted = counted;
            let mut sock = sock;
            match tokio::time::timeout(connect, TcpStream::connect(&target)).await {
                Ok(Ok(mut upstream)) => {
                    stats.relayed.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("orderly_hl7_relayed_total").increment(1);
                    tracing::info!(%peer, owner = %target, "HL7 connection passed through to the site's owner");
                    let _ = upstream.set_nodelay(true);
                    let _ = sock.set_nodelay(true);
                    match tokio::io::copy_bidirectional(&mut sock, &mut upstream).await {
                        Ok((up, down)) => {
                            tracing::info!(%peer, owner = %target, bytes_in = up, bytes_out = down, "HL7 relayed connection closed")
                        }
                        Err(e) => {
                            tracing::info!(%peer, owner = %target, error = %e, "HL7 relayed connection ended")
                        }
                    }
                }
                Ok(Err(e)) => {
                    stats.refuse("owner_unreachable");
                    tracing::warn!(%peer, owner = %target, error = %e, "HL7 connection closed: the site's owner does not accept HL7; the interface engine will send again");
                }
                Err(_) => {
                    stats.refuse("owner_unreachable");
                    tracing::warn!(%peer, owner = %target, "HL7 connection closed: the site's owner did not accept HL7 in time; the interface engine will send again");
                }
            }
        });
    }
    // Dropping the set aborts the connections in flight.
    open.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An owner that answers each byte string with it reversed, then closes when told.
    async fn owner() -> (String, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    loop {
                        let n = s.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        let mut b = buf[..n].to_vec();
                        b.reverse();
                        s.write_all(&b).await.unwrap();
                    }
                });
            }
        });
        (addr, t)
    }

    async fn exchange(addr: &str, msg: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        match tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got)).await {
            Ok(Ok(_)) => got,
            _ => Vec::new(),
        }
    }

    #[tokio::test]
    async fn connections_pass_through_to_the_owner_and_are_closed_when_there_is_none() {
        let (owner_addr, _owner) = owner().await;
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let me = l.local_addr().unwrap().to_string();
        let (owner_tx, owner_rx) = watch::channel(None::<String>);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stats = Arc::new(Stats::default());
        let relay = tokio::spawn(relay(
            l,
            owner_rx,
            Some(me.clone()),
            RelayConfig::default(),
            stats.clone(),
            stop_rx,
        ));

        // No owner known: closed without a byte, counted.
        assert_eq!(exchange(&me, b"\x0bMSH|one\x1c\x0d").await, b"");
        // The owner known: what the engine sends reaches it, its answer comes back.
        owner_tx.send_replace(Some(owner_addr.clone()));
        assert_eq!(exchange(&me, b"abc").await, b"cba");
        assert_eq!(stats.relayed.load(Ordering::Relaxed), 1);
        // A record naming this instance itself is not followed (it would loop).
        owner_tx.send_replace(Some(me.clone()));
        assert_eq!(exchange(&me, b"abc").await, b"");
        // An owner that does not listen: closed, counted.
        let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone_addr = gone.local_addr().unwrap().to_string();
        drop(gone);
        owner_tx.send_replace(Some(gone_addr));
        assert_eq!(exchange(&me, b"abc").await, b"");
        let refused = stats.refused();
        assert_eq!(refused.get("no_owner"), Some(&2), "{refused:?}");
        assert_eq!(refused.get("owner_unreachable"), Some(&1), "{refused:?}");

        // A connection open at the stop is closed with it.
        owner_tx.send_replace(Some(owner_addr));
        let mut open = TcpStream::connect(&me).await.unwrap();
        open.write_all(b"xy").await.unwrap();
        let mut two = [0u8; 2];
        open.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"yx");
        stop_tx.send_replace(true);
        relay.await.unwrap();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), open.read_to_end(&mut rest))
            .await
            .expect("closed at the stop");
        assert_eq!(n.unwrap_or(0), 0);
        assert_eq!(stats.connections.load(Ordering::Relaxed), 0);
    }
}
