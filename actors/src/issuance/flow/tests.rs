//! The runtime against a real SQLite store: a job asked to stop writes nothing more. The control
//! run beside it (the same job, not asked to stop) shows the run would have written.

use std::sync::Arc;
use std::time::Duration;

use certautopilot_core::ids::AcmeAccountId;
use certautopilot_core::jobs::JobSpec;
use certautopilot_core::model::{Certificate, CertificateStatus, JobKind, KeyType};
use certautopilot_core::store::{ClaimRequest, RecordStore};
use tokio::sync::watch;

use super::Flow;
use crate::issuance::account::AccountHub;
use crate::issuance::test_fixture::fixture;
use crate::job_pump::JobContext;

/// Runs one issuance of a new certificate (whose account does not exist, so a run that goes on
/// fails at the account), asked to stop before it begins or not; the stored certificate after it.
async fn run_issue(asked_to_stop: bool) -> (Result<String, crate::job_pump::JobError>, Certificate, Certificate) {
    let f = fixture().await;
    let cert = Certificate::new(
        f.project.id,
        "a.example",
        vec!["a.example".into()],
        KeyType::EcdsaP256,
        AcmeAccountId::new(),
        certautopilot_core::Timestamp::now(),
    );
    f.store.insert(&f.scope, &cert).await.unwrap();
    let cert: Certificate = f.store.get(&f.scope, &cert.id).await.unwrap();
    let spec = JobSpec::Issue { certificate_id: cert.id };
    f.store.enqueue_job(spec.into_job(&f.scope, 3)).await.unwrap();
    let claim = ClaimRequest {
        node_id: "node-1".into(),
        incarnation: "start-1".into(),
        kinds: vec![JobKind::Issue],
        limit: 1,
        lease: Duration::from_secs(60),
    };
    let job = f.store.claim_jobs(&claim).await.unwrap().pop().expect("the job is claimed");
    let (cancel, cancel_rx) = watch::channel(asked_to_stop);
    let lease = Arc::new(tokio::sync::Mutex::new(job.lease().unwrap()));
    let ctx = JobContext { store: f.store.clone(), lease, cancel: cancel_rx };
    let accounts = AccountHub::new(f.deps.clone(), actix_rt::Arbiter::current());
    let probe = f.deps.registry.register("certificate", cert.id.to_string());
    let flow = Flow { deps: &f.deps, accounts: &accounts, probe: &probe, id: cert.id, job: &job, ctx: &ctx };
    let result = flow.run().await;
    drop(cancel);
    let stored = f.store.get(&f.scope, &cert.id).await.unwrap();
    (result, cert, stored)
}

#[actix_rt::test]
async fn a_job_asked_to_stop_saves_nothing_and_is_retried() {
    let (result, before, after) = run_issue(true).await;
    let error = result.expect_err("an interrupted run does not succeed");
    assert!(error.retryable, "{error:?}");
    assert!(error.message.contains("interrupted"), "{error:?}");
    assert_eq!((after.version, after.status), (before.version, CertificateStatus::Requested), "nothing was saved");
    assert_eq!(after.last_error, None);

    let (result, before, after) = run_issue(false).await;
    assert!(result.is_err(), "the control run fails at its missing account: {result:?}");
    assert!(after.version > before.version, "the control run saves its start and its failure");
}
