//! Conformance of the batch reads (`BatchReads`, and `Records::get_many_raw`): every key answered in
//! one read whatever their number, the newest N per key, and nothing of another project.
//! Invariant: a key of another project finds nothing, like a key that does not exist.

use super::job_queue::claim;
use super::*;
use crate::store::{BatchReads, ScopeArg};

/// How many times the store went to its database while `read` ran.
async fn trips_of<S: StoreHealth, T>(store: &S, read: impl std::future::Future<Output = T>) -> (T, u64) {
    let before: u64 = store.round_trips().values().sum();
    let out = read.await;
    let after: u64 = store.round_trips().values().sum();
    (out, after - before)
}

/// `get_many` answers in the order given (an id given twice twice), leaves out unknown ids and
/// other projects' ids, and costs the same few trips for 3 ids as for 30; `list_by_lookups_raw`
/// finds the deployments of many certificates at once, never another project's, and stops at its
/// limit.
pub async fn batch_record_reads_take_one_trip_and_stay_in_scope<
    S: Organizations + Records + BatchReads + StoreHealth,
>(
    f: &Fixture<S>,
) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let mut mine = Vec::new();
    for i in 0..30 {
        let cert = certificate(&w.a, &format!("c{i}.a.example"), now);
        f.store.insert(&w.a, &cert).await.unwrap();
        mine.push(cert);
    }
    let theirs = certificate(&w.b, "c.b.example", now);
    f.store.insert(&w.b, &theirs).await.unwrap();

    let ids = [mine[2].id, theirs.id, CertificateId::new(), mine[0].id, mine[2].id];
    let found: Vec<Certificate> = f.store.get_many(&w.a, &ids).await.unwrap();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [mine[2].id, mine[0].id, mine[2].id]);

    let few: Vec<CertificateId> = mine.iter().take(3).map(|c| c.id).collect();
    let all: Vec<CertificateId> = mine.iter().map(|c| c.id).collect();
    let (got, few_trips) = trips_of(&f.store, f.store.get_many::<Certificate>(&w.a, &few)).await;
    assert_eq!(got.unwrap().len(), 3);
    let (got, all_trips) = trips_of(&f.store, f.store.get_many::<Certificate>(&w.a, &all)).await;
    assert_eq!(got.unwrap(), mine);
    assert!(all_trips <= few_trips.max(3), "30 ids took {all_trips} trips, 3 ids {few_trips}");

    let target = DistributionTarget::new(w.a.project_id(), "t", TargetKind::File, now);
    f.store.insert(&w.a, &target).await.unwrap();
    for cert in &mine[..3] {
        f.store.insert(&w.a, &Deployment::new(w.a.project_id(), cert.id, target.id, now)).await.unwrap();
    }
    let b_target = DistributionTarget::new(w.b.project_id(), "t", TargetKind::File, now);
    f.store.insert(&w.b, &b_target).await.unwrap();
    f.store.insert(&w.b, &Deployment::new(w.b.project_id(), theirs.id, b_target.id, now)).await.unwrap();

    let keys: Vec<String> = [mine[0].id, mine[1].id, mine[2].id, mine[3].id, theirs.id].map(|i| i.to_string()).into();
    let scope = w.a.record_scope();
    let raws = f.store.list_by_lookups_raw(&scope, RecordKind::Deployment, &keys, 100).await.unwrap();
    let deployments: Vec<Deployment> = raws.into_iter().map(|r| Deployment::from_raw(r).unwrap()).collect();
    let mut expected: Vec<CertificateId> = mine[..3].iter().map(|c| c.id).collect();
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(deployments.iter().map(|d| d.certificate_id).collect::<Vec<_>>(), expected);
    let capped = f.store.list_by_lookups_raw(&scope, RecordKind::Deployment, &keys, 2).await.unwrap();
    assert_eq!(capped.len(), 2, "the limit holds");
    let b_scope = w.b.record_scope();
    let b_keys = [mine[0].id.to_string()];
    assert!(f.store.list_by_lookups_raw(&b_scope, RecordKind::Deployment, &b_keys, 100).await.unwrap().is_empty());
}

/// The members of several projects come in one read, each project's own, none of another
/// organization's.
pub async fn members_of_many_projects_are_read_together<S: Organizations + Records + BatchReads>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let extra = User::new(w.org.id, "extra@example.com", OrgRole::Member, now);
    f.store.insert(&w.org_scope, &extra).await.unwrap();
    f.store
        .insert(&w.org_scope, &Membership::new(w.org.id, w.b.project_id(), extra.id, Role::Viewer, now))
        .await
        .unwrap();
    let projects = [w.a.project_id(), w.b.project_id(), ProjectId::new()];
    let members = f.store.members_of_projects(&w.org_scope, &projects).await.unwrap();
    let count = |p: ProjectId| members.iter().filter(|m| m.project_id == p).count();
    assert_eq!((count(w.a.project_id()), count(w.b.project_id()), members.len()), (1, 2, 3));
    let singles = f.store.project_members(&w.org_scope, w.b.project_id()).await.unwrap();
    assert!(singles.iter().all(|m| members.contains(m)), "the same records as one project's list");

    let other_org = Organization::new("other", now);
    f.store.create_organization(&other_org).await.unwrap();
    let stranger = User::new(other_org.id, "s@other.example", OrgRole::Owner, now);
    let stranger_scope = OrgScope::for_user(&stranger).unwrap();
    assert!(f.store.members_of_projects(&stranger_scope, &projects).await.unwrap().is_empty());
}

/// The newest N jobs and the newest N log lines per certificate, for several certificates at once;
/// another project's scope finds none of them.
pub async fn newest_jobs_and_log_lines_per_subject<S: Organizations + Records + JobQueue + BatchReads>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let (busy, quiet) = (certificate(&w.a, "busy.example", now), certificate(&w.a, "quiet.example", now));
    let mut busy_jobs = Vec::new();
    for kind in [JobKind::Issue, JobKind::Renew, JobKind::Distribute] {
        let job = NewJob::for_project(&w.a, kind, 3).subject(busy.id.to_string());
        busy_jobs.push(f.store.enqueue_job(job).await.unwrap().job.id);
    }
    let quiet_job = NewJob::for_project(&w.a, JobKind::Issue, 3).subject(quiet.id.to_string());
    let quiet_job = f.store.enqueue_job(quiet_job).await.unwrap().job.id;
    let subjects = [busy.id.to_string(), quiet.id.to_string(), "no-such-subject".to_owned()];

    let jobs = f.store.subject_jobs(&w.a, &subjects, 2).await.unwrap();
    let of = |subject: &Certificate| -> Vec<JobId> {
        jobs.iter().filter(|j| j.subject.as_deref() == Some(&subject.id.to_string())).map(|j| j.id).collect()
    };
    assert_eq!(of(&busy), [busy_jobs[2], busy_jobs[1]], "the two newest, newest first");
    assert_eq!(of(&quiet), [quiet_job]);
    assert_eq!(jobs.len(), 3);
    assert!(f.store.subject_jobs(&w.b, &subjects, 2).await.unwrap().is_empty(), "another project sees none");

    // Every job logs `queued`; the busy certificate's first job also logs its claim and a step.
    let lease = f.store.claim_jobs(&claim("node-a", &[JobKind::Issue], 1)).await.unwrap()[0].lease().unwrap();
    f.clock.advance(Duration::from_secs(1));
    f.store.append_job_log(&lease, LogLevel::Info, "order placed", serde_json::json!({})).await.unwrap();
    let claimed_subject = if lease.job_id == quiet_job { &quiet } else { &busy };
    let tails = f.store.subject_log_tails(&w.a, &subjects, 2).await.unwrap();
    let lines = |subject: &Certificate| -> Vec<String> {
        tails.iter().filter(|l| l.subject == subject.id.to_string()).map(|l| l.line.message.clone()).collect()
    };
    assert_eq!(lines(claimed_subject).last().map(String::as_str), Some("order placed"), "the newest line last");
    assert_eq!(lines(claimed_subject).len(), 2);
    let full = f.store.subject_job_logs(&w.a, &claimed_subject.id.to_string(), 100).await.unwrap();
    let last_two: Vec<String> = full[full.len() - 2..].iter().map(|(_, _, l)| l.message.clone()).collect();
    assert_eq!(lines(claimed_subject), last_two, "the same lines as the single read's tail");
    assert!(f.store.subject_log_tails(&w.b, &subjects, 2).await.unwrap().is_empty(), "another project sees none");
}

/// The newest N chained audit entries per object, for several objects at once, in chain order; a
/// project other than the objects' finds none.
pub async fn newest_audit_entries_per_object<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let secret = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![9; 32]));
    let now = f.clock.now_ts();
    let (busy, quiet) = (certificate(&w.a, "busy.example", now), certificate(&w.a, "quiet.example", now));
    let story =
        [(&busy, "cert.requested"), (&quiet, "cert.requested"), (&busy, "cert.issued"), (&busy, "cert.renewed")];
    for (c, action) in story {
        let mut write = audit_write(&w, action);
        write.draft.object = Some(crate::model::AuditObject { kind: "certificate".into(), id: c.id.to_string() });
        f.store.append_audit(write).await.unwrap();
    }
    crate::audit::ChainWriter::new(w.org.id, secret).drain(&f.store).await.unwrap();
    let objects = [busy.id.to_string(), quiet.id.to_string()];
    let tails = f.store.object_audit_tails(&w.org_scope, w.a.project_id(), &objects, 2).await.unwrap();
    let seen: Vec<(String, &str)> =
        tails.iter().map(|e| (e.object.as_ref().unwrap().id.clone(), e.action.as_str())).collect();
    assert_eq!(
        seen,
        [
            (quiet.id.to_string(), "cert.requested"),
            (busy.id.to_string(), "cert.issued"),
            (busy.id.to_string(), "cert.renewed")
        ]
    );
    assert!(tails.windows(2).all(|p| p[0].seq < p[1].seq), "chain order");
    let elsewhere = f.store.object_audit_tails(&w.org_scope, w.b.project_id(), &objects, 2).await.unwrap();
    assert!(elsewhere.is_empty(), "another project's entries are not this project's");
}
