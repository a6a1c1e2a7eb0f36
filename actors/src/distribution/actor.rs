//! The distribution-target actor: one per target, the only code that deploys to it. Deployments to
//! one destination are serialized (one atomic message each; across processes the `distribute` job's
//! subject is the target, so the queue runs one at a time). Each deployment's outcome is the
//! certificate's `Deployment` record for that target, written with `cert.distributed` or
//! `cert.distribution_failed` in the certificate's audit trail (and so its timeline).

use std::sync::Arc;

use actix::{Actor, ActorFutureExt, ArbiterHandle, AtomicResponse, Context, Handler, Message, WrapFuture};
use certautopilot_connectors::targets::{DeployReport, Deployable};
use certautopilot_core::ProjectScope;
use certautopilot_core::ids::{CertificateId, TargetId};
use certautopilot_core::model::{Certificate, CertificateStatus, Deployment, DeploymentStatus, DistributionTarget};
use certautopilot_core::store::RecordStore;
use certautopilot_core::{StoreError, Timestamp};
use serde_json::json;

use super::connector::{DeployFailure, connector};
use crate::hub::Hub;
use crate::issuance::{IssuanceDeps, IssueError};
use crate::registry::Probe;
use crate::supervisor::{Lifeline, Spawn, Supervised};

pub const KIND: &str = "distribution_target";

/// Deploy the certificate's current certificate to this target.
pub struct Deploy {
    pub scope: ProjectScope,
    pub certificate_id: CertificateId,
    /// Whether a failure now is final (the job's last attempt).
    pub last_attempt: bool,
}

impl Message for Deploy {
    type Result = Result<String, DeployFailure>;
}

/// Compare what is deployed on this target with the certificates that should be there.
pub struct Scan {
    pub scope: ProjectScope,
}

impl Message for Scan {
    type Result = Result<String, DeployFailure>;
}

pub struct TargetActor {
    id: TargetId,
    deps: IssuanceDeps,
    deployed: u64,
    failed: u64,
    probe: Arc<Probe>,
    _lifeline: Lifeline,
}

impl Actor for TargetActor {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.probe.set_state("idle");
    }
}

impl Handler<Deploy> for TargetActor {
    type Result = AtomicResponse<Self, Result<String, DeployFailure>>;

    fn handle(&mut self, msg: Deploy, _: &mut Context<Self>) -> Self::Result {
        let (deps, id, probe) = (self.deps.clone(), self.id, self.probe.clone());
        probe.set_state("deploying");
        probe.set_detail(json!({ "certificate_id": msg.certificate_id }));
        let work = async move { deploy(&deps, id, &msg).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, act, _| {
            match &result {
                Ok(_) => act.deployed += 1,
                Err(e) => {
                    act.failed += 1;
                    act.probe.set_error(e.message.clone());
                }
            }
            act.probe.set_state("idle");
            act.probe.set_detail(json!({ "deployed": act.deployed, "failed": act.failed }));
            result
        })))
    }
}

impl Handler<Scan> for TargetActor {
    type Result = AtomicResponse<Self, Result<String, DeployFailure>>;

    fn handle(&mut self, msg: Scan, _: &mut Context<Self>) -> Self::Result {
        let (deps, id) = (self.deps.clone(), self.id);
        self.probe.set_state("scanning");
        let work = async move { super::scan::scan(&deps, id, &msg.scope).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, act, _| {
            if let Err(e) = &result {
                act.probe.set_error(e.message.clone());
            }
            act.probe.set_state("idle");
            result
        })))
    }
}

async fn deploy(deps: &IssuanceDeps, target_id: TargetId, msg: &Deploy) -> Result<String, DeployFailure> {
    let scope = &msg.scope;
    let target: DistributionTarget = deps.store.get(scope, &target_id).await?;
    let cert: Certificate = deps.store.get(scope, &msg.certificate_id).await?;
    let org = deps.org().await?;
    let permanent = |message: String| DeployFailure { message, transient: false };
    if cert.status == CertificateStatus::Revoked {
        // A redeploy queued before the revocation (a drift repair) must not put it back.
        return Err(permanent("the certificate is revoked; it is not deployed again".into()));
    }
    let (Some(chain), Some(serial), Some(not_after), Some(fingerprint)) =
        (cert.chain_pem.clone(), cert.serial.clone(), cert.not_after, cert.fingerprint_sha256.clone())
    else {
        return Err(permanent("the certificate has not been issued yet".into()));
    };
    let deployable = Deployable {
        certificate_id: cert.id.to_string(),
        common_name: cert.common_name.clone(),
        sans: cert.sans.clone(),
        serial: serial.clone(),
        not_after,
        fingerprint_sha256: fingerprint.clone(),
        chain_pem: chain,
        key_pem: match &cert.private_key {
            Some(sealed) => {
                Some(deps.envelope.open(&cert.id.to_string(), "private_key", sealed).map_err(IssueError::from)?)
            }
            // Issued from the operator's CSR, or imported without its key: the targets that need a
            // key refuse (`Deployable::key`), the others deploy the chain.
            None if cert.csr_pem.is_some() || cert.chain_pem.is_some() => None,
            None => return Err(permanent("the certificate has not been issued yet".into())),
        },
    };
    let outcome = match connector(deps, &target) {
        Ok(connector) => connector.deploy(&deployable).await,
        Err(e) => Err(e),
    };

    // The record of where this certificate stands on this target.
    let key = Deployment::key(cert.id, target.id);
    let existing = match deps.store.find_unique::<Deployment>(scope, &key).await {
        Ok(d) => Some(d),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let mut record =
        existing.clone().unwrap_or_else(|| Deployment::new(scope.project_id(), cert.id, target.id, Timestamp::now()));
    record.attempts += 1;
    record.serial = Some(serial.clone());
    record.fingerprint_sha256 = Some(fingerprint.clone());
    record.updated_at = Timestamp::now();
    // A drifted deployment put right: the drift is cleared in a second write, with its own entry.
    let repaired_drift = record.drift.clone().filter(|_| outcome.is_ok());
    let (action, details, result) = match outcome {
        Ok(DeployReport { summary, reload }) => {
            record.status = DeploymentStatus::Deployed;
            record.deployed_at = Some(Timestamp::now());
            record.last_error = None;
            record.revoked_served = None;
            let details = json!({ "target_id": target.id, "target": target.name, "serial": serial, "summary": summary, "reload": reload });
            ("cert.distributed", details, Ok(format!("deployed serial {serial} to {}: {summary}", target.name)))
        }
        Err(e) => {
            let transient = e.is_transient() && !msg.last_attempt;
            record.status = if transient { DeploymentStatus::Pending } else { DeploymentStatus::Failed };
            record.last_error = Some(e.to_string());
            let details = json!({ "target_id": target.id, "target": target.name, "serial": serial, "reason": e.to_string(), "will_retry": transient });
            ("cert.distribution_failed", details, Err(DeployFailure { message: e.to_string(), transient }))
        }
    };
    let audit =
        org.write(&deps.actor_name(), action, ("certificate", cert.id.to_string()), scope.project_id(), details);
    if existing.is_some() {
        record = deps.store.update_audited(scope, &record, audit).await?;
    } else {
        deps.store.insert_audited(scope, &record, audit).await?;
    }
    tracing::info!(certificate_id = %cert.id, target_id = %target.id, action, "deployment recorded");
    if let Some(was) = repaired_drift {
        // Crashing before this write leaves the drift recorded; the next scan finds it matching
        // and resolves it then (`by: scan`).
        record.drift = None;
        record.updated_at = Timestamp::now();
        let details = json!({ "target_id": target.id, "target": target.name, "expected": fingerprint, "was": was, "by": "redeploy" });
        let audit = org.write(
            &deps.actor_name(),
            "cert.drift_resolved",
            ("certificate", cert.id.to_string()),
            scope.project_id(),
            details,
        );
        deps.store.update_audited(scope, &record, audit).await?;
    }
    result
}

/// The live target actors of this process.
#[derive(Clone)]
pub struct TargetHub {
    pub(super) deps: IssuanceDeps,
    hub: Hub<TargetId, TargetActor>,
}

impl TargetHub {
    /// What the targets share with the rest of the worker (store, envelope, egress policy).
    pub fn deps(&self) -> &IssuanceDeps {
        &self.deps
    }

    pub fn new(deps: IssuanceDeps, arbiter: ArbiterHandle) -> Self {
        let hub = Hub::new(&deps.registry, KIND, arbiter);
        TargetHub { deps, hub }
    }

    pub fn actor(&self, id: TargetId) -> Supervised<TargetActor> {
        let deps = self.deps.clone();
        self.hub.actor(id, move |s: Spawn| TargetActor {
            id,
            deps: deps.clone(),
            deployed: 0,
            failed: 0,
            probe: s.probe,
            _lifeline: s.lifeline,
        })
    }

    pub async fn stop(&self) {
        self.hub.stop_all().await;
    }
}
