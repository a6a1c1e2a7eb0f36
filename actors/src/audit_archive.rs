//! Archiving: the audit verifier's second duty. Entries older than the organization's retention,
//! already verified (at or before the verified mark) and already read by every cursor over the
//! chain (each SIEM destination, the notification router and its digests), move from the live
//! chain into an archive segment file; the live chain keeps a checkpoint.
//! Invariant: one resumable step that loses and duplicates nothing. The segment is written,
//! fsynced and renamed into place first; only then does one store transaction delete the entries,
//! move the checkpoint (only from where this round found it) and write `audit.archived`. A round
//! cut off between the two leaves a segment whose entries are still live: the next round writes it
//! again from the store, under the same name, and commits. The chain's head always stays live.

use std::path::PathBuf;
use std::sync::Arc;

use certautopilot_core::audit::{AuditDraft, Checkpoint, SegmentWriter, segment_starting_at};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{AuditObject, Organization};
use certautopilot_core::store::AuditWrite;
use certautopilot_core::{OrgScope, Principal, Store, StoreError, Timestamp};

const ACTOR: &str = "audit-archiver";
/// Entries read from the store at a time while a segment is written.
const PAGE: usize = 1_000;

/// Where segments go and what may hold archiving back.
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    pub dir: PathBuf,
    /// The SIEM destinations configured: one that has delivered nothing yet has no cursor row.
    pub siem_destinations: Vec<String>,
    /// The most entries one segment (one round) takes: bounds the store transaction.
    pub max_entries: u64,
}

/// What one archiving step did for one organization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archived {
    pub entries: u64,
    pub segment: Option<String>,
    /// The cursor that held archiving back, and how far it is: (name, seq), when one did.
    pub held_by: Option<(String, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("writing the archive segment: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Archives what `org`'s retention lets go, up to `verified_through` (the verified mark's `seq`).
pub async fn archive_once(
    store: &Arc<dyn Store>,
    org: &Organization,
    secret: &SecretBytes,
    verified_through: u64,
    settings: &ArchiveSettings,
    now: Timestamp,
) -> Result<Archived, ArchiveError> {
    let mut done = Archived::default();
    let Some(days) = org.audit_retention_days else { return Ok(done) };
    let checkpoint = store.audit_checkpoint(org.id).await?.and_then(|doc| Checkpoint::from_json(&doc));
    let from = checkpoint.as_ref().map_or(0, |c| c.seq);
    let head = store.audit_head(org.id).await?.map_or(0, |h| h.seq);
    let mut limit = verified_through.min(head.saturating_sub(1));
    for (name, seq) in cursors(store, org, settings).await? {
        if seq < limit {
            limit = seq;
            done.held_by = Some((name, seq));
        }
    }
    let cutoff = now.as_unix_millis() - i64::from(days) * 86_400_000;
    if limit <= from {
        return Ok(done);
    }
    let scope = OrgScope::for_system(ACTOR, org);
    // A segment left by a round cut off before its store step holds entries that are still live:
    // it is written again from the store, so the file committed is the one this round wrote.
    if let Some((stale, _)) = segment_starting_at(&settings.dir, org.id, from + 1)? {
        std::fs::remove_file(stale)?;
    }
    let mut writer = SegmentWriter::create(&settings.dir, org.id)?;
    let mut after = from;
    'pages: while writer.entries() < settings.max_entries {
        let entries = store.list_audit_events(&scope, after, PAGE).await?;
        if entries.is_empty() {
            break;
        }
        for entry in &entries {
            if entry.seq > limit || entry.at.as_unix_millis() >= cutoff || writer.entries() >= settings.max_entries {
                break 'pages;
            }
            writer.push(entry)?;
            after = entry.seq;
        }
    }
    let Some(end) = writer.finish()? else { return Ok(done) };
    crate::failpoint::hit("audit.archive.after_segment").await;
    let sealed = Checkpoint::seal(secret, org.id, &end, now);
    let audit = AuditWrite {
        draft: AuditDraft {
            org_id: org.id,
            actor: Principal::System(ACTOR.into()),
            action: "audit.archived".into(),
            object: Some(AuditObject { kind: "audit_segment".into(), id: end.name.clone() }),
            project_id: None,
            details: serde_json::json!({
                "segment": end.name, "first_seq": end.first_seq, "last_seq": end.last_seq,
                "entries": end.last_seq - end.first_seq + 1, "sha256": end.sha256,
            }),
        },
    };
    store.archive_audit(org.id, from, end.last_seq, &sealed.to_json(), audit).await?;
    crate::failpoint::hit("audit.archive.after_commit").await;
    tracing::info!(org_id = %org.id, segment = %end.name, first = end.first_seq, last = end.last_seq, "audit entries archived");
    done.entries = end.last_seq - end.first_seq + 1;
    done.segment = Some(end.name);
    Ok(done)
}

/// Every cursor over the chain, a configured SIEM destination without one at 0.
async fn cursors(
    store: &Arc<dyn Store>,
    org: &Organization,
    settings: &ArchiveSettings,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut all = store.siem_cursors_of(org.id).await?;
    for destination in &settings.siem_destinations {
        if !all.iter().any(|(name, _)| name == destination) {
            all.push((destination.clone(), 0));
        }
    }
    Ok(all)
}
