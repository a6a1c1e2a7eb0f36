//! Pure updates of a certificate record that go with a lifecycle move: an issuance applied (with the
//! replaced certificate rotated into the history) and the fixture `mark_issued`.
//! Invariant: the status changes only through `transition`; history keeps at most `HISTORY_KEPT`
//! versions, newest first, each one a certificate that really was current.

use super::effects::Issuance;
use super::transition::{InvalidTransition, LifecycleEvent, Transition, transition};
use crate::model::{Certificate, HISTORY_KEPT, IssuedVersion};
use crate::timestamp::Timestamp;

/// Moves the current certificate, if there is one, to the front of the history (without its key),
/// keeping the newest `HISTORY_KEPT`.
pub fn rotate_history(cert: &mut Certificate, replaced_at: Timestamp) {
    if let (Some(serial), Some(not_before), Some(not_after), Some(fp)) =
        (cert.serial.clone(), cert.not_before, cert.not_after, cert.fingerprint_sha256.clone())
    {
        cert.history.insert(
            0,
            IssuedVersion {
                serial,
                not_before,
                not_after,
                fingerprint_sha256: fp,
                chain_pem: cert.chain_pem.clone(),
                replaced_at,
            },
        );
        cert.history.truncate(HISTORY_KEPT);
    }
}

/// Makes `issuance` the certificate's current one: the move `Issued` (from issuing or renewing), the
/// replaced certificate into the history, the renewal time derived, the issuer that issued it
/// recorded, the order and its key dropped.
pub fn apply_issuance(
    cert: &mut Certificate,
    issuance: Issuance,
    at: Timestamp,
) -> Result<Transition, InvalidTransition> {
    let t = transition(cert.status, LifecycleEvent::Issued, cert.chain_pem.is_some())?;
    rotate_history(cert, at);
    set_current(cert, issuance.serial, issuance.not_before, issuance.not_after, issuance.fingerprint_sha256);
    cert.status = t.to;
    cert.ari_window = issuance.ari_window;
    cert.issued_at = Some(at);
    cert.renew_at = cert.renewal_window_start();
    cert.chain_pem = Some(issuance.chain_pem);
    cert.private_key = issuance.private_key;
    cert.pending_key = None;
    cert.issued_by = cert.order_account();
    // The CSR in hand made this certificate (under `csr_renewal: new` it is now used up).
    cert.csr_spent = cert.csr_pem.is_some();
    cert.order = None;
    cert.revoked_at = None;
    Ok(t)
}

fn set_current(cert: &mut Certificate, serial: String, not_before: Timestamp, not_after: Timestamp, fp: String) {
    cert.ari_window = None;
    cert.serial = Some(serial);
    cert.not_before = Some(not_before);
    cert.not_after = Some(not_after);
    cert.fingerprint_sha256 = Some(fp);
    cert.last_error = None;
    cert.renew_at = cert.renewal_window_start();
}

/// Puts a certificate issued elsewhere under management: `issuer` renews it from now on, when its
/// window opens (at once if that has passed). Refused unless it is `unmanaged`.
pub fn put_under_management(
    cert: &mut Certificate,
    issuer: crate::ids::AcmeAccountId,
) -> Result<Transition, InvalidTransition> {
    let t = transition(cert.status, LifecycleEvent::Managed, cert.chain_pem.is_some())?;
    cert.acme_account_id = Some(issuer);
    cert.status = t.to;
    cert.renew_at = cert.renewal_window_start();
    Ok(t)
}

/// A requested certificate whose request was rejected or expired before any job: failed, with why.
pub fn not_approved(cert: &mut Certificate, why: String) -> Result<Transition, InvalidTransition> {
    let t = transition(cert.status, LifecycleEvent::NotApproved, cert.chain_pem.is_some())?;
    cert.status = t.to;
    cert.last_error = Some(why);
    Ok(t)
}

impl Certificate {
    /// Records an issuance made outside a job (test fixtures, the renewal-scan bench): the moves a
    /// job would make (`StartIssue` or `StartRenew`, then `Issued`) and the renewal time derived.
    ///
    /// # Panics
    /// When the certificate is in a status no issuance can follow (revoked): a fixture bug.
    pub fn mark_issued(&mut self, serial: String, not_before: Timestamp, not_after: Timestamp, fingerprint: String) {
        let has_certificate = self.chain_pem.is_some() || self.serial.is_some();
        let start = if has_certificate { LifecycleEvent::StartRenew } else { LifecycleEvent::StartIssue };
        let started = transition(self.status, start, has_certificate).map_or(self.status, |t| t.to);
        let issued = transition(started, LifecycleEvent::Issued, has_certificate)
            .unwrap_or_else(|e| panic!("mark_issued on a certificate that cannot be issued: {e}"));
        self.status = issued.to;
        set_current(self, serial, not_before, not_after, fingerprint);
    }
}
