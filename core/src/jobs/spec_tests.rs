//! `JobSpec` against the jobs the hand-written builders queued before it: the same subject, dedupe
//! key and payload text, and a stored job decodes back into the spec it was made from.

use serde_json::json;

use super::{DistributeCause, JobSpec, JobSpecError, RenewReason};
use crate::ids::{CertificateId, JobId, OrgId, TargetId};
use crate::model::{Job, JobKind, JobStatus, NewJob, Project};
use crate::scope::ProjectScope;
use crate::timestamp::Timestamp;

fn scope() -> ProjectScope {
    ProjectScope::for_system("test", &Project::new(OrgId::new(), "p", Timestamp::now()))
}

/// The job the store would hand back for `new`.
fn stored(new: &NewJob) -> Job {
    Job {
        id: JobId::new(),
        project_id: new.project_id(),
        kind: new.kind,
        subject: new.subject.clone(),
        dedupe_key: new.dedupe_key.clone(),
        payload: new.payload.clone(),
        status: JobStatus::Queued,
        attempts: 0,
        max_attempts: new.max_attempts,
        run_at: Timestamp::now(),
        lease_owner: None,
        lease_expires_at: None,
        lease_seq: 0,
        last_error: None,
        queued_at: Timestamp::now(),
        first_started_at: None,
        started_at: None,
        finished_at: None,
        version: 1,
    }
}

/// Each kind's subject, dedupe key and payload (as stored text) are what the builders before
/// `JobSpec` wrote, and each decodes back into itself.
#[test]
fn specs_write_what_the_old_builders_wrote_and_decode_back() {
    let c = CertificateId::new();
    let t = TargetId::new();
    let cases: Vec<(JobSpec, Option<String>, Option<String>, serde_json::Value)> = vec![
        (
            JobSpec::Issue { certificate_id: c },
            Some(c.to_string()),
            Some(format!("issue:{c}")),
            json!({ "certificate_id": c }),
        ),
        (
            JobSpec::Renew { certificate_id: c, reason: RenewReason::Requested, record_version: 7 },
            Some(c.to_string()),
            Some(format!("renew:{c}:manual:v7")),
            json!({ "certificate_id": c, "reason": "requested" }),
        ),
        (
            JobSpec::Renew {
                certificate_id: c,
                reason: RenewReason::WindowOpen { not_after: Some(1_700_000_000_000) },
                record_version: 3,
            },
            Some(c.to_string()),
            Some(format!("renew:{c}:1700000000000:v3")),
            json!({ "certificate_id": c, "not_after": 1_700_000_000_000_i64, "reason": "renewal window open" }),
        ),
        (
            JobSpec::Renew {
                certificate_id: c,
                reason: RenewReason::WindowOpen { not_after: None },
                record_version: 3,
            },
            Some(c.to_string()),
            Some(format!("renew:{c}:0:v3")),
            json!({ "certificate_id": c, "not_after": null, "reason": "renewal window open" }),
        ),
        (
            JobSpec::Revoke { certificate_id: c, reason: Some(1), serial: Some("0a".into()) },
            Some(c.to_string()),
            Some(format!("revoke:{c}:0a")),
            json!({ "certificate_id": c, "reason": 1, "serial": "0a" }),
        ),
        (
            JobSpec::Revoke { certificate_id: c, reason: Some(0), serial: None },
            Some(c.to_string()),
            Some(format!("revoke:{c}:")),
            json!({ "certificate_id": c, "reason": 0, "serial": null }),
        ),
        (
            JobSpec::Distribute {
                certificate_id: c,
                target_ids: Vec::new(),
                force: false,
                cause: DistributeCause::Issued { serial: "0b".into() },
            },
            Some(c.to_string()),
            Some(format!("distribute:{c}:0b")),
            json!({ "certificate_id": c, "target_ids": [], "force": false }),
        ),
        (
            JobSpec::Distribute {
                certificate_id: c,
                target_ids: Vec::new(),
                force: true,
                cause: DistributeCause::Requested,
            },
            Some(c.to_string()),
            None,
            json!({ "certificate_id": c, "target_ids": [], "force": true }),
        ),
        (
            JobSpec::Distribute {
                certificate_id: c,
                target_ids: vec![t],
                force: true,
                cause: DistributeCause::Redeploy { deployment_version: 4 },
            },
            Some(c.to_string()),
            Some(format!("redeploy:{c}:{t}:4")),
            json!({ "certificate_id": c, "target_ids": [t], "force": true }),
        ),
        (
            JobSpec::Scan { target_id: t, window: Some(123) },
            Some(format!("target:{t}")),
            Some(format!("scan:{t}:123")),
            json!({ "target_id": t }),
        ),
        (JobSpec::Scan { target_id: t, window: None }, Some(format!("target:{t}")), None, json!({ "target_id": t })),
    ];
    for (spec, subject, dedupe_key, payload) in cases {
        let job = spec.clone().into_job(&scope(), 3);
        assert_eq!(job.kind, spec.kind());
        assert_eq!(job.subject, subject, "{spec:?}");
        assert_eq!(job.dedupe_key, dedupe_key, "{spec:?}");
        // The stored text, not only the value: it is what older versions queued and read.
        assert_eq!(job.payload.to_string(), payload.to_string(), "{spec:?}");
        assert_eq!(JobSpec::decode(&stored(&job)), Ok(spec));
    }
    let kek = JobSpec::RotateKek { period_ms: 86_400_000, window: 20_000 };
    let job = kek.clone().into_system_job(3);
    assert_eq!(
        (job.project_id(), job.subject.clone(), job.dedupe_key.clone(), job.payload.to_string()),
        (None, None, Some("kek-rotation:86400000:20000".into()), "{}".into())
    );
    assert_eq!(JobSpec::decode(&stored(&job)), Ok(kek));
}

/// Jobs queued without a payload (tests, older writers) name their certificate in the subject; a
/// certificate job naming none, and a malformed payload, are refused with a reason.
#[test]
fn decode_reads_the_subject_and_refuses_what_names_nothing() {
    let c = CertificateId::new();
    let bare = NewJob::for_project(&scope(), JobKind::Issue, 3).subject(c.to_string());
    assert_eq!(JobSpec::decode(&stored(&bare)), Ok(JobSpec::Issue { certificate_id: c }));
    let nothing = NewJob::system(JobKind::Renew, 3);
    assert_eq!(JobSpec::decode(&stored(&nothing)), Err(JobSpecError::NoCertificate));
    let scan = NewJob::system(JobKind::Scan, 3);
    assert_eq!(JobSpec::decode(&stored(&scan)), Err(JobSpecError::NoTarget));
    let malformed = NewJob::system(JobKind::Revoke, 3).payload(json!({ "certificate_id": c, "reason": "x" }));
    assert!(matches!(JobSpec::decode(&stored(&malformed)), Err(JobSpecError::Payload { kind: "revoke", .. })));
}

/// A notify job: one per (rule, channel, entry) or (rule, channel, digest period), serialized per
/// channel, and read back into its spec.
#[test]
fn notify_jobs_round_trip() {
    use super::NotifyDelivery;
    use crate::ids::{ChannelId, RuleId};
    let (rule_id, channel_id) = (RuleId::new(), ChannelId::new());
    let event = JobSpec::Notify { rule_id, channel_id, delivery: NotifyDelivery::Event { seq: 42 } };
    let job = stored(&event.clone().into_job(&scope(), 10));
    assert_eq!(job.dedupe_key.as_deref(), Some(format!("notify:{rule_id}:{channel_id}:42").as_str()));
    assert_eq!(job.subject.as_deref(), Some(format!("channel:{channel_id}").as_str()));
    assert_eq!(JobSpec::decode(&job).unwrap(), event);
    let at = Timestamp::from_unix_millis(3_600_000 * 5 + 1);
    let digest = JobSpec::Notify { rule_id, channel_id, delivery: NotifyDelivery::digest_at(at, 60) };
    assert_eq!(
        digest,
        JobSpec::Notify { rule_id, channel_id, delivery: NotifyDelivery::Digest { window: 5, minutes: 60 } }
    );
    assert_eq!(NotifyDelivery::digest_end(5, 60).as_unix_millis(), 3_600_000 * 6);
    let job = stored(&digest.clone().into_job(&scope(), 10));
    assert_eq!(job.dedupe_key.as_deref(), Some(format!("digest:{rule_id}:{channel_id}:5").as_str()));
    assert_eq!(JobSpec::decode(&job).unwrap(), digest);
    let mut broken = job.clone();
    broken.payload = json!({"rule_id": rule_id, "channel_id": channel_id});
    assert!(matches!(JobSpec::decode(&broken), Err(JobSpecError::Payload { .. })));
}
