//! One delivery round of a SIEM forwarder: for each organization, read the events after the
//! destination's cursor, send them as one batch, and move the cursor once the batch is delivered.
//! Invariant: the cursor moves only past events the destination took (or a damaged entry that can
//! never be sent, which is reported and counted); a failure stops the round, to be retried whole.

use std::sync::Arc;

use certautopilot_connectors::siem::{SiemClient, format_event};
use certautopilot_core::model::Organization;
use certautopilot_core::store::Store;
use certautopilot_core::{OrgScope, StoreError, Timestamp};

use super::SiemDestination;

/// About 12 KiB of acknowledgements at most; each batch still costs one acknowledgement round trip,
/// (about 45 ms against rsyslog), so smaller windows cost throughput (128: ~2,900 events/s).
const RELP_WINDOW: usize = 1_024;

/// What a forwarder instance owns to deliver: the store, the destination and its connection.
pub(super) struct Delivery {
    pub store: Arc<dyn Store>,
    pub destination: SiemDestination,
    pub hostname: String,
    pub client: SiemClient,
    /// Events per batch, capped for RELP.
    pub batch: usize,
}

/// What one round did.
#[derive(Debug, Default)]
pub(super) struct Round {
    pub progressed: bool,
    pub failure: Option<String>,
    pub sent: u64,
    pub skipped_corrupt: u64,
    pub chain_truncated: bool,
    pub backlog: u64,
    pub oldest: Option<Timestamp>,
}

/// Whether the round goes on to the next organization.
enum Next {
    Organization,
    Stop,
}

impl Delivery {
    pub fn new(store: Arc<dyn Store>, destination: SiemDestination, hostname: String) -> Self {
        // Unacknowledged RELP messages in flight are capped so the receiver's acknowledgements (about
        // 12 bytes each) can never fill a socket buffer while we are still writing.
        let batch = if destination.transport.acknowledged() {
            destination.batch.clamp(1, RELP_WINDOW)
        } else {
            destination.batch.max(1)
        };
        let client = SiemClient::new(destination.transport.clone());
        Delivery { store, destination, hostname, client, batch }
    }

    pub async fn round(&mut self) -> Round {
        let mut round = Round::default();
        match self.store.list_organizations().await {
            Err(e) => round.failure = Some(e.to_string()),
            Ok(orgs) => {
                for org in orgs {
                    if let Next::Stop = self.deliver_organization(&org, &mut round).await {
                        break;
                    }
                }
            }
        }
        round
    }

    async fn deliver_organization(&mut self, org: &Organization, round: &mut Round) -> Next {
        let name = self.destination.name.clone();
        let scope = OrgScope::for_system("siem-forwarder", org);
        let cursor = match self.store.siem_cursor(&name, org.id).await {
            Ok(cursor) => cursor,
            Err(e) => return stop(round, e),
        };
        let events = match self.store.list_audit_events(&scope, cursor, self.batch).await {
            Ok(events) => events,
            // A damaged entry is reported and stepped over: it must not stop the rest of the chain
            // from reaching the SIEM (and `audit verify` names it anyway). The good entries before it
            // in this page go first.
            Err(StoreError::CorruptAuditEntry { org: bad_org, seq, reason }) if bad_org == org.id => {
                if seq > cursor + 1 {
                    match self.store.list_audit_events(&scope, cursor, (seq - cursor - 1) as usize).await {
                        Ok(events) => events,
                        Err(e) => return stop(round, e),
                    }
                } else {
                    tracing::error!(destination = %name, org = %org.id, seq, reason = %reason,
                        "audit entry cannot be decoded; skipped, not forwarded");
                    round.skipped_corrupt += 1;
                    if let Err(e) = self.store.advance_siem_cursor(&name, org.id, seq).await {
                        return stop(round, e);
                    }
                    round.progressed = true;
                    return Next::Organization;
                }
            }
            Err(e) => return stop(round, e),
        };
        let Some(last) = events.last().map(|e| e.seq) else {
            // Nothing after the cursor: fine, unless the chain is now shorter than what was already
            // delivered (entries deleted from the end).
            if let Ok(head) = self.store.audit_head(org.id).await
                && head.map(|h| h.seq).unwrap_or(0) < cursor
            {
                tracing::error!(destination = %name, org = %org.id, delivered = cursor,
                    "AUDIT CHAIN IS SHORTER THAN WHAT WAS ALREADY DELIVERED: entries were deleted from its end");
                round.chain_truncated = true;
            }
            return Next::Organization;
        };
        let head = self.store.audit_head(org.id).await.ok().flatten().map(|h| h.seq).unwrap_or(last);
        let lines: Vec<String> =
            events.iter().map(|e| format_event(e, &self.hostname, self.destination.format)).collect();
        match self.client.send_batch(&lines).await {
            Ok(()) => {
                if let Err(e) = self.store.advance_siem_cursor(&name, org.id, last).await {
                    return stop(round, e);
                }
                round.progressed = true;
                round.sent += lines.len() as u64;
                round.backlog += head.saturating_sub(last);
                Next::Organization
            }
            Err(e) => {
                round.backlog += head.saturating_sub(cursor);
                round.oldest = round.oldest.or(events.first().map(|e| e.at));
                stop(round, e)
            }
        }
    }
}

fn stop(round: &mut Round, error: impl std::fmt::Display) -> Next {
    round.failure = Some(error.to_string());
    Next::Stop
}
