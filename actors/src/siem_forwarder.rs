//! Forwards every organization's audit chain to one SIEM destination.
//! The chain in the store is the spool: an event is fsynced there (with the change it records) before
//! it is ever sent, and the destination's cursor (last delivered `seq` per organization) is stored and
//! moved only after a batch is delivered (RELP: acknowledged; TCP/UDP: written). A restart resumes at
//! the cursor, an outage grows the backlog, and a crash repeats at most the batch in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use certautopilot_connectors::siem::{SiemClient, SiemFormat, SiemTransport, format_event};
use certautopilot_core::store::Store;
use certautopilot_core::{OrgScope, Timestamp};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct SiemDestination {
    pub name: String,
    pub format: SiemFormat,
    pub transport: SiemTransport,
    /// Events per batch (per RELP window).
    pub batch: usize,
    /// Undelivered events beyond which the forwarder warns loudly at every round.
    pub backlog_warn: u64,
}

/// What one forwarder is doing, for logs and metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForwarderSnapshot {
    pub destination: String,
    pub sent: u64,
    pub failed_batches: u64,
    /// Events committed to the chain and not yet delivered to this destination.
    pub backlog: u64,
    /// Age of the oldest undelivered event, in seconds.
    pub oldest_undelivered_secs: u64,
    /// Entries that could not be decoded and were skipped (reported each time).
    pub skipped_corrupt: u64,
    /// The chain was found shorter than what this destination already received.
    pub chain_truncated: bool,
    pub last_error: Option<String>,
}

pub struct SiemForwarder {
    store: Arc<dyn Store>,
    destination: SiemDestination,
    hostname: String,
    poll: Duration,
}

pub struct ForwarderHandle {
    snapshot: Arc<Mutex<ForwarderSnapshot>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ForwarderHandle {
    /// The live snapshot, shareable with a metrics endpoint.
    pub fn shared_snapshot(&self) -> Arc<Mutex<ForwarderSnapshot>> {
        self.snapshot.clone()
    }

    pub fn snapshot(&self) -> ForwarderSnapshot {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops after the batch in flight (its cursor is stored only if it was delivered).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// About 12 KiB of acknowledgements at most; each batch still costs one acknowledgement round trip,
/// (about 45 ms against rsyslog), so smaller windows cost throughput (128: ~2,900 events/s).
const RELP_WINDOW: usize = 1_024;

impl SiemForwarder {
    pub fn new(store: Arc<dyn Store>, destination: SiemDestination, hostname: impl Into<String>) -> Self {
        SiemForwarder { store, destination, hostname: hostname.into(), poll: Duration::from_millis(200) }
    }

    pub fn start(self) -> ForwarderHandle {
        let snapshot = Arc::new(Mutex::new(ForwarderSnapshot {
            destination: self.destination.name.clone(),
            ..Default::default()
        }));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(self, snapshot.clone(), stop_rx));
        ForwarderHandle { snapshot, stop, task }
    }
}

async fn run(forwarder: SiemForwarder, snapshot: Arc<Mutex<ForwarderSnapshot>>, mut stop: watch::Receiver<bool>) {
    let SiemForwarder { store, destination, hostname, poll } = forwarder;
    let mut client = SiemClient::new(destination.transport.clone());
    // Unacknowledged RELP messages in flight are capped so the receiver's acknowledgements (about
    // 12 bytes each) can never fill a socket buffer while we are still writing.
    let batch = if destination.transport.acknowledged() {
        destination.batch.clamp(1, RELP_WINDOW)
    } else {
        destination.batch.max(1)
    };
    let mut backoff = Duration::from_millis(200);
    let update = |f: &dyn Fn(&mut ForwarderSnapshot)| f(&mut snapshot.lock().unwrap_or_else(|p| p.into_inner()));
    tracing::info!(destination = %destination.name, addr = %destination.transport.addr(), "siem forwarder started");
    while !*stop.borrow() {
        let mut progressed = false;
        let mut failure = None;
        let (mut backlog, mut oldest) = (0u64, None::<Timestamp>);
        match store.list_organizations().await {
            Err(e) => failure = Some(e.to_string()),
            Ok(orgs) => {
                for org in orgs {
                    let scope = OrgScope::for_system("siem-forwarder", &org);
                    let cursor = match store.siem_cursor(&destination.name, org.id).await {
                        Ok(cursor) => cursor,
                        Err(e) => {
                            failure = Some(e.to_string());
                            break;
                        }
                    };
                    let events = match store.list_audit_events(&scope, cursor, batch).await {
                        Ok(events) => events,
                        // A damaged entry is reported and stepped over: it must not stop the rest of
                        // the chain from reaching the SIEM (and `audit verify` names it anyway). The
                        // good entries before it in this page go first.
                        Err(certautopilot_core::StoreError::CorruptAuditEntry { org: bad_org, seq, reason })
                            if bad_org == org.id =>
                        {
                            if seq > cursor + 1 {
                                match store.list_audit_events(&scope, cursor, (seq - cursor - 1) as usize).await {
                                    Ok(events) => events,
                                    Err(e) => {
                                        failure = Some(e.to_string());
                                        break;
                                    }
                                }
                            } else {
                                tracing::error!(destination = %destination.name, org = %org.id, seq, reason = %reason,
                                    "audit entry cannot be decoded; skipped, not forwarded");
                                update(&|s| s.skipped_corrupt += 1);
                                if let Err(e) = store.advance_siem_cursor(&destination.name, org.id, seq).await {
                                    failure = Some(e.to_string());
                                    break;
                                }
                                progressed = true;
                                continue;
                            }
                        }
                        Err(e) => {
                            failure = Some(e.to_string());
                            break;
                        }
                    };
                    let Some(last) = events.last().map(|e| e.seq) else {
                        // Nothing after the cursor: fine, unless the chain is now shorter than what
                        // was already delivered (entries deleted from the end).
                        if let Ok(head) = store.audit_head(org.id).await
                            && head.map(|h| h.seq).unwrap_or(0) < cursor
                        {
                            tracing::error!(destination = %destination.name, org = %org.id, delivered = cursor,
                                "AUDIT CHAIN IS SHORTER THAN WHAT WAS ALREADY DELIVERED: entries were deleted from its end");
                            update(&|s| s.chain_truncated = true);
                        }
                        continue;
                    };
                    let head = store.audit_head(org.id).await.ok().flatten().map(|h| h.seq).unwrap_or(last);
                    let lines: Vec<String> =
                        events.iter().map(|e| format_event(e, &hostname, destination.format)).collect();
                    match client.send_batch(&lines).await {
                        Ok(()) => {
                            if let Err(e) = store.advance_siem_cursor(&destination.name, org.id, last).await {
                                failure = Some(e.to_string());
                                break;
                            }
                            progressed = true;
                            update(&|s| s.sent += lines.len() as u64);
                            backlog += head.saturating_sub(last);
                        }
                        Err(e) => {
                            failure = Some(e.to_string());
                            backlog += head.saturating_sub(cursor);
                            oldest = oldest.or(events.first().map(|e| e.at));
                            break;
                        }
                    }
                }
            }
        }
        let now = Timestamp::now();
        update(&|s| {
            s.backlog = backlog;
            s.oldest_undelivered_secs = oldest.map(|at| now.duration_since(at).as_secs()).unwrap_or(0);
        });
        if backlog > destination.backlog_warn {
            tracing::error!(destination = %destination.name, backlog, "SIEM BACKLOG IS LARGE: the destination is not keeping up or is down");
        }
        let wait = match failure {
            Some(error) => {
                tracing::warn!(destination = %destination.name, error = %error, retry_in = ?backoff, "siem delivery failed; will retry");
                update(&|s| {
                    s.failed_batches += 1;
                    s.last_error = Some(error.clone());
                });
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
            None if progressed => {
                backoff = Duration::from_millis(200);
                continue;
            }
            None => poll,
        };
        tokio::select! {
            // A dropped handle ends the forwarder too, rather than leaving it spinning.
            changed = stop.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!(destination = %destination.name, "siem forwarder stopped");
}
