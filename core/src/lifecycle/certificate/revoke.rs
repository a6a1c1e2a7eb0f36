//! The engine's revoke path: check the move and the serial asked for, revoke at the CA that issued
//! the certificate, record it, then mark the deployments that still serve it.
//! Invariant: only the serial that was current when the revocation was asked is revoked.

use serde_json::json;

use super::{CertificateEngine, Phase, finish};
use crate::lifecycle::effects::{Effect, Outcome, Request};
use crate::lifecycle::transition::{LifecycleEvent, transition};
use crate::model::{CertificateStatus, revocation_reason_name};

impl CertificateEngine {
    pub(super) fn start_revoke(&mut self, reason: Option<u8>, serial: Option<String>) -> Vec<Effect> {
        if self.cert.status == CertificateStatus::Revoked {
            // A run that stopped between the revocation and the marking finishes the marking.
            self.phase = Phase::MarkingAlreadyRevoked;
            return vec![Effect::MarkRevokedInPlace];
        }
        if let Err(e) = transition(self.cert.status, LifecycleEvent::Revoked, self.cert.chain_pem.is_some()) {
            return finish(Outcome::Fail(e.to_string()));
        }
        // The revocation was asked of the serial current then; a renewal that ran in between made
        // another one current, which nobody asked to revoke.
        if let Some(requested) = serial
            && self.cert.serial.as_deref() != Some(requested.as_str())
        {
            return finish(Outcome::Fail(format!(
                "the certificate was renewed after serial {requested} was asked to be revoked; ask again to revoke the current one"
            )));
        }
        let Some(account_id) = self.cert.revoking_account() else {
            return finish(Outcome::Fail("the current certificate was issued elsewhere: revoke it at its CA".into()));
        };
        self.phase = Phase::Revoking;
        vec![
            Effect::Step("revoking"),
            Effect::Revoke { chain_pem: self.cert.chain_pem.clone().unwrap_or_default(), reason, account_id },
        ]
    }

    pub(super) fn revoked(&mut self, at: crate::Timestamp) -> Vec<Effect> {
        let Request::Revoke { reason, .. } = self.job.request else {
            return finish(Outcome::Fail("a revocation answered a job that is not one".into()));
        };
        self.cert.revoked_at = Some(at);
        self.cert.renew_at = None;
        self.cert.last_error = None;
        // The reason by name, as `cert.revoke_requested` records it (docs/audit.md).
        let details = json!({ "serial": self.cert.serial, "reason": revocation_reason_name(reason.unwrap_or(0)) });
        match self.move_to(LifecycleEvent::Revoked, details, Phase::SavingRevoked) {
            Ok(effects) if !effects.is_empty() => effects,
            Ok(_) => self.saved(Phase::SavingRevoked),
            Err(effects) => effects,
        }
    }
}
