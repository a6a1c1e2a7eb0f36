//! Computing and checking the chain's HMACs. Pure: no store, no clock.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::audit::canonical_bytes;
use crate::crypto::SecretBytes;
use crate::ids::{OrgId, ProjectId};
use crate::model::{AuditEvent, AuditObject};
use crate::scope::Principal;
use crate::timestamp::Timestamp;

/// The `prev_hmac` of an organization's first entry.
pub const GENESIS: &str = "";

/// An event to append: everything but `seq`, `at` and the chain fields, which the AuditActor fills
/// in when it chains the event. Stored as JSON in the outbox until then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditDraft {
    pub org_id: OrgId,
    pub actor: Principal,
    pub action: String,
    pub object: Option<AuditObject>,
    pub project_id: Option<ProjectId>,
    pub details: serde_json::Value,
}

/// The last entry of a chain: where the next one attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hmac: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn entry_hmac(secret: &SecretBytes, entry: &AuditEvent) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose()).expect("HMAC takes keys of any length");
    mac.update(entry.prev_hmac.as_bytes());
    mac.update(&canonical_bytes(entry));
    hex(&mac.finalize().into_bytes())
}

/// Turns a draft into the entry that follows `head`.
pub fn seal_entry(secret: &SecretBytes, head: Option<&ChainHead>, draft: AuditDraft, at: Timestamp) -> AuditEvent {
    let mut entry = AuditEvent {
        org_id: draft.org_id,
        seq: head.map(|h| h.seq + 1).unwrap_or(1),
        at,
        actor: draft.actor,
        action: draft.action,
        object: draft.object,
        project_id: draft.project_id,
        details: draft.details,
        prev_hmac: head.map(|h| h.hmac.clone()).unwrap_or_else(|| GENESIS.to_owned()),
        hmac: String::new(),
    };
    entry.hmac = entry_hmac(secret, &entry);
    entry
}

/// Why a link is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkFault {
    /// The entry's content no longer matches its HMAC.
    ContentChanged,
    /// A sequence number is missing before this entry.
    EntryMissing { expected: u64 },
    /// Sequence numbers go backwards or repeat here.
    Reordered { previous: u64 },
    /// The entry does not chain to the one before it.
    PrevHmacMismatch,
    /// The stored entry cannot be decoded, or its indexed columns disagree with it.
    Damaged { reason: String },
    /// The verified-up-to mark was not made with this organization's audit secret.
    MarkNotGenuine,
    /// The archive checkpoint (where the live chain begins) was not made with the audit secret.
    CheckpointNotGenuine,
}

impl std::fmt::Display for LinkFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkFault::ContentChanged => f.write_str("content changed (its hmac does not match)"),
            LinkFault::EntryMissing { expected } => write!(f, "entry missing (expected seq {expected})"),
            LinkFault::Reordered { previous } => write!(f, "entries reordered (follows seq {previous})"),
            LinkFault::PrevHmacMismatch => f.write_str("prev_hmac does not match the previous entry's hmac"),
            LinkFault::Damaged { reason } => write!(f, "the stored entry is damaged: {reason}"),
            LinkFault::CheckpointNotGenuine => f.write_str(
                "the archive checkpoint is not genuine (not made with this organization's audit secret)",
            ),
            LinkFault::MarkNotGenuine => f.write_str(
                "the verified-up-to mark is not genuine (not made with this organization's audit secret); verify with --full",
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: u64,
    pub fault: LinkFault,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySummary {
    pub entries: u64,
    pub head: Option<String>,
}

/// Walks a chain entry by entry (so a million entries never sit in memory at once) and stops at the
/// first broken link.
pub struct Verifier<'a> {
    /// `None`: links only (`links_only`).
    secret: Option<&'a SecretBytes>,
    previous: Option<(u64, String)>,
    entries: u64,
}

impl<'a> Verifier<'a> {
    pub fn new(secret: &'a SecretBytes) -> Self {
        Verifier { secret: Some(secret), previous: None, entries: 0 }
    }

    /// Checks what can be checked without the organization's audit secret: `seq` gap-free from 1
    /// and each `prev_hmac` the previous entry's `hmac`, but not whether an entry's content still
    /// matches its HMAC (a store copy's target checked by a host that has no KEK).
    pub fn links_only() -> Self {
        Verifier { secret: None, previous: None, entries: 0 }
    }

    /// Goes on after an entry already checked (its `seq` and `hmac`): a reader that checks the chain
    /// a page at a time, across restarts (the notification router).
    pub fn resume(secret: Option<&'a SecretBytes>, previous: Option<(u64, String)>) -> Self {
        Verifier { secret, previous, entries: 0 }
    }

    pub fn check(&mut self, entry: &AuditEvent) -> Result<(), BrokenLink> {
        let broken = |fault| BrokenLink { seq: entry.seq, fault };
        let (expected_seq, expected_prev) = match &self.previous {
            Some((seq, hmac)) => (seq + 1, hmac.as_str()),
            None => (1, GENESIS),
        };
        if entry.seq < expected_seq {
            return Err(broken(LinkFault::Reordered { previous: expected_seq - 1 }));
        }
        if entry.seq > expected_seq {
            return Err(broken(LinkFault::EntryMissing { expected: expected_seq }));
        }
        if let Some(secret) = self.secret
            && entry_hmac(secret, entry) != entry.hmac
        {
            return Err(broken(LinkFault::ContentChanged));
        }
        if entry.prev_hmac != expected_prev {
            return Err(broken(LinkFault::PrevHmacMismatch));
        }
        self.previous = Some((entry.seq, entry.hmac.clone()));
        self.entries += 1;
        Ok(())
    }

    pub fn finish(self) -> VerifySummary {
        VerifySummary { entries: self.entries, head: self.previous.map(|(_, h)| h) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(org: OrgId, action: &str) -> AuditDraft {
        AuditDraft {
            org_id: org,
            actor: Principal::System("test".into()),
            action: action.into(),
            object: Some(AuditObject { kind: "certificate".into(), id: "c1".into() }),
            project_id: None,
            details: serde_json::json!({ "b": 1, "a": [2, { "z": 1, "y": 2 }] }),
        }
    }

    fn chain(secret: &SecretBytes, n: u64) -> Vec<AuditEvent> {
        let org = OrgId::new();
        let mut entries: Vec<AuditEvent> = Vec::new();
        for i in 0..n {
            let head = entries.last().map(|e| ChainHead { seq: e.seq, hmac: e.hmac.clone() });
            entries.push(seal_entry(
                secret,
                head.as_ref(),
                draft(org, &format!("a{i}")),
                Timestamp::from_unix_millis(i as i64),
            ));
        }
        entries
    }

    fn verify(secret: &SecretBytes, entries: &[AuditEvent]) -> Result<VerifySummary, BrokenLink> {
        let mut v = Verifier::new(secret);
        for e in entries {
            v.check(e)?;
        }
        Ok(v.finish())
    }

    /// An untouched chain verifies; each kind of tampering is caught at the right entry.
    #[test]
    fn every_tamper_names_the_first_broken_link() {
        let secret = SecretBytes::new(vec![3; 32]);
        let entries = chain(&secret, 6);
        assert_eq!(verify(&secret, &entries).unwrap().entries, 6);

        let mut changed = entries.clone();
        changed[2].details = serde_json::json!({ "b": 2 });
        assert_eq!(verify(&secret, &changed).unwrap_err(), BrokenLink { seq: 3, fault: LinkFault::ContentChanged });

        let mut missing = entries.clone();
        missing.remove(3);
        assert_eq!(
            verify(&secret, &missing).unwrap_err(),
            BrokenLink { seq: 5, fault: LinkFault::EntryMissing { expected: 4 } }
        );

        let mut swapped = entries.clone();
        swapped.swap(1, 2);
        assert_eq!(
            verify(&secret, &swapped).unwrap_err(),
            BrokenLink { seq: 3, fault: LinkFault::EntryMissing { expected: 2 } }
        );

        // Renumbered after a deletion, with the hmac recomputed by someone without the secret.
        let mut forged = entries.clone();
        forged[4].action = "cert.revoked".into();
        forged[4].hmac = entry_hmac(&SecretBytes::new(vec![9; 32]), &forged[4]);
        assert_eq!(verify(&secret, &forged).unwrap_err(), BrokenLink { seq: 5, fault: LinkFault::ContentChanged });

        // Even with the secret, splicing a re-chained entry in breaks the next link.
        let mut spliced = entries.clone();
        spliced[2].prev_hmac = "0".repeat(64);
        spliced[2].hmac = entry_hmac(&secret, &spliced[2]);
        assert_eq!(verify(&secret, &spliced).unwrap_err(), BrokenLink { seq: 3, fault: LinkFault::PrevHmacMismatch });
    }

    /// The canonical encoding ignores object key order and the chain fields themselves.
    #[test]
    fn canonical_bytes_are_stable() {
        let secret = SecretBytes::new(vec![3; 32]);
        let mut a = chain(&secret, 1).remove(0);
        let before = canonical_bytes(&a);
        a.details = serde_json::json!({ "a": [2, { "y": 2, "z": 1 }], "b": 1 });
        a.hmac = "x".into();
        assert_eq!(canonical_bytes(&a), before);
        assert!(before.starts_with(b"cap-audit-v1"));
    }
}
