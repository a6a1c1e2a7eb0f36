//! The status table: which lifecycle event moves which status where, and the audit action each move
//! writes. Invariant: every status change of a certificate is one row of `transition`; the engine
//! (`certificate.rs`) and the fixtures in `record.rs` are its only callers that write a status.
//!
//! ```text
//! requested ──issue──▶ issuing ──issued──▶ issued ──renew──▶ renewing ──issued──▶ issued
//!                         │                  │  ╲               │
//!                       failed             expire revoke      failed
//!                         ▼                  ▼     ╲            ▼
//!                       failed ──issue──▶ …  expired ─▶ revoked ◀── (issued, renewing, expired, failed with a certificate)
//! ```

use crate::model::CertificateStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleEvent {
    /// A job starts (or resumes) the first issuance.
    StartIssue,
    /// A job starts (or resumes) a renewal.
    StartRenew,
    /// The CA issued and the certificate was stored.
    Issued,
    /// The work ended without a certificate; the reason goes with the audit entry.
    Failed,
    Revoked,
    Expired,
    /// An imported or discovered certificate is put under management: its issuer renews it.
    Managed,
    /// The request for it was rejected, or expired, before its first issuance (M2.8 approvals).
    NotApproved,
}

/// Where an event leads. `audit` is `None` for a resume, which changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub to: CertificateStatus,
    pub audit: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} certificate cannot take {event:?}")]
pub struct InvalidTransition {
    pub from: CertificateStatus,
    pub event: LifecycleEvent,
}

impl std::fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertificateStatus::Requested => "requested",
            CertificateStatus::Issuing => "issuing",
            CertificateStatus::Issued => "issued",
            CertificateStatus::Renewing => "renewing",
            CertificateStatus::Failed => "failed",
            CertificateStatus::Revoked => "revoked",
            CertificateStatus::Expired => "expired",
            CertificateStatus::Unmanaged => "unmanaged",
        })
    }
}

/// The move `event` makes from `from`. `has_certificate` tells a failed first issuance (which can
/// only be issued again) from a failed renewal (which still holds a certificate to renew or revoke).
pub fn transition(
    from: CertificateStatus,
    event: LifecycleEvent,
    has_certificate: bool,
) -> Result<Transition, InvalidTransition> {
    use CertificateStatus as S;
    use LifecycleEvent as E;
    let to = |to, audit| Ok(Transition { to, audit: Some(audit) });
    match (from, event) {
        (S::Requested, E::StartIssue) => to(S::Issuing, "cert.issuing"),
        (S::Failed, E::StartIssue) if !has_certificate => to(S::Issuing, "cert.issuing"),
        (S::Issuing, E::StartIssue) => Ok(Transition { to: S::Issuing, audit: None }),
        (S::Issued | S::Expired, E::StartRenew) => to(S::Renewing, "cert.renewing"),
        (S::Failed, E::StartRenew) if has_certificate => to(S::Renewing, "cert.renewing"),
        (S::Renewing, E::StartRenew) => Ok(Transition { to: S::Renewing, audit: None }),
        (S::Issuing, E::Issued) => to(S::Issued, "cert.issued"),
        (S::Renewing, E::Issued) => to(S::Issued, "cert.renewed"),
        (S::Issuing | S::Renewing, E::Failed) => to(S::Failed, "cert.failed"),
        (S::Issued | S::Renewing | S::Expired, E::Revoked) => to(S::Revoked, "cert.revoked"),
        (S::Failed, E::Revoked) if has_certificate => to(S::Revoked, "cert.revoked"),
        (S::Issued, E::Expired) => to(S::Expired, "cert.expired"),
        (S::Unmanaged, E::Managed) => to(S::Issued, "cert.managed"),
        (S::Requested, E::NotApproved) => to(S::Failed, "cert.failed"),
        _ => Err(InvalidTransition { from, event }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CertificateStatus as S;
    use LifecycleEvent as E;

    fn walk(start: S, events: &[(E, bool)]) -> Vec<(S, Option<&'static str>)> {
        let mut status = start;
        events
            .iter()
            .map(|(event, has)| {
                let t = transition(status, *event, *has).unwrap();
                status = t.to;
                (t.to, t.audit)
            })
            .collect()
    }

    /// The happy path from request to a renewed certificate writes exactly these audit actions.
    #[test]
    fn issue_then_renew_writes_each_move_once() {
        let moves = walk(
            S::Requested,
            &[
                (E::StartIssue, false),
                (E::StartIssue, false),
                (E::Issued, false),
                (E::StartRenew, true),
                (E::Issued, true),
            ],
        );
        assert_eq!(
            moves,
            vec![
                (S::Issuing, Some("cert.issuing")),
                (S::Issuing, None),
                (S::Issued, Some("cert.issued")),
                (S::Renewing, Some("cert.renewing")),
                (S::Issued, Some("cert.renewed")),
            ]
        );
    }

    /// Failures, retries after failure, expiry and revocation.
    #[test]
    fn failures_expiry_and_revocation() {
        assert_eq!(
            walk(S::Requested, &[(E::StartIssue, false), (E::Failed, false), (E::StartIssue, false)]),
            vec![
                (S::Issuing, Some("cert.issuing")),
                (S::Failed, Some("cert.failed")),
                (S::Issuing, Some("cert.issuing"))
            ]
        );
        assert_eq!(
            walk(S::Issued, &[(E::Expired, true), (E::StartRenew, true), (E::Failed, true), (E::Revoked, true)]),
            vec![
                (S::Expired, Some("cert.expired")),
                (S::Renewing, Some("cert.renewing")),
                (S::Failed, Some("cert.failed")),
                (S::Revoked, Some("cert.revoked")),
            ]
        );
    }

    /// What may not happen: renewing or revoking what was never issued, anything after revocation,
    /// anything but being put under management for a certificate issued elsewhere.
    #[test]
    fn impossible_moves_are_refused() {
        for (from, event, has) in [
            (S::Requested, E::StartRenew, false),
            (S::Requested, E::Revoked, false),
            (S::Failed, E::StartRenew, false),
            (S::Failed, E::Revoked, false),
            (S::Failed, E::StartIssue, true),
            (S::Revoked, E::StartRenew, true),
            (S::Revoked, E::StartIssue, true),
            (S::Issued, E::StartIssue, true),
            (S::Issued, E::Issued, true),
            (S::Requested, E::Issued, false),
            (S::Unmanaged, E::StartRenew, true),
            (S::Unmanaged, E::Revoked, true),
            (S::Unmanaged, E::Expired, true),
            (S::Issued, E::Managed, true),
        ] {
            assert_eq!(transition(from, event, has), Err(InvalidTransition { from, event }), "{from} {event:?}");
        }
    }
}
