//! The MongoDB backend against deployments the conformance suite does not start: a standalone
//! server (refused at connect), and a server that injects transient transaction errors
//! (`configureFailPoint` `failCommand`), through which a transactional write lands exactly once,
//! and a transaction left open by a client that vanished, which claims must not wait on.
//! Each test starts its own server (`testsupport::MongoServer`) in a temporary directory.

use std::sync::Arc;
use std::time::Duration;

use certautopilot_core::audit::{ChainHead, seal_entry};
use certautopilot_core::clock::{ManualClock, SystemClock};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::OrgId;
use certautopilot_core::model::{AuditEvent, JobKind, JobStatus, NewJob, Organization};
use certautopilot_core::store::conformance::system_audit;
use certautopilot_core::store::mongodb::{ConnectError, MongoOptions, MongoStore};
use certautopilot_core::store::prelude::*;
use certautopilot_core::store::{ClaimRequest, StoreError};
use certautopilot_core::testsupport::{MongoServer, MongoServerOptions};
use certautopilot_core::{OrgScope, SystemScope, Timestamp};
use mongodb::bson::{Document, doc};

/// A standalone server cannot run multi-document transactions: connecting refuses it with the
/// error that says what to do (a one-node replica set), not later with a failed write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_server_is_refused_with_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = MongoServer::start(dir.path(), MongoServerOptions { standalone: true, ..Default::default() });
    let refused = MongoStore::connect(MongoOptions::new(server.uri(), "standalone"), Arc::new(SystemClock)).await;
    let error = refused.expect_err("a standalone server must be refused");
    assert!(matches!(error, ConnectError::NeedsReplicaSet), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("needs a replica set"), "{message}");
    assert!(message.contains("a one-node replica set is enough"), "{message}");
}

/// Installs a `failCommand` failpoint that fails the next `times` runs of `command` with `code`
/// and `label`, as a primary stepping down or a write conflict would.
async fn fail_next(admin: &mongodb::Client, command: &str, times: i32, code: i32, label: &str) {
    admin
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": times },
            "data": { "failCommands": [command], "errorCode": code, "errorLabels": [label] },
        })
        .await
        .expect("configureFailPoint (the server runs with --enable-test-commands)");
}

/// Commits a transaction of one insert through the test's own client.
async fn commit_one_insert(admin: &mongodb::Client) -> Result<(), mongodb::error::Error> {
    let mut session = admin.start_session().await?;
    session.start_transaction().await?;
    admin
        .database("retries")
        .collection::<Document>("scratch")
        .insert_one(doc! { "n": 1 })
        .session(&mut session)
        .await?;
    session.commit_transaction().await
}

/// The next entry of `org`'s chain after `head`, sealed as the AuditActor would.
fn next_entry(org: OrgId, head: Option<&AuditEvent>, action: &str) -> AuditEvent {
    let secret = SecretBytes::new(vec![4; 32]);
    let head = head.map(|e| ChainHead { seq: e.seq, hmac: e.hmac.clone() });
    seal_entry(&secret, head.as_ref(), system_audit(org, action).draft, Timestamp::now())
}

/// A transaction whose writes meet `TransientTransactionError` is run again from the start, and
/// a commit answered with `UnknownTransactionCommitResult` is sent again, by the driver's rules:
/// the chain append (an outbox row drained and an entry appended, one transaction) lands exactly
/// once. Each failpoint first fails one command of the test's own, proving it fires with the
/// label; the store's transaction takes the remaining failures, and the same command of the
/// test's afterwards goes through, proving every injected failure was spent on the store's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_transaction_errors_are_retried_and_the_write_lands_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = MongoServer::start(dir.path(), MongoServerOptions { test_commands: true, ..Default::default() });
    let options = MongoOptions::new(server.uri(), "retries");
    let store = MongoStore::connect(options, Arc::new(SystemClock)).await.unwrap();
    let admin = mongodb::Client::with_uri_str(server.uri()).await.unwrap();
    let scratch = admin.database("retries").collection::<Document>("scratch");
    // The chain does not need the organization's record: only its id.
    let organization = Organization::new("acme", Timestamp::now());
    let (org, scope) = (organization.id, OrgScope::for_system("test", &organization));

    // --- a write conflict (transient) on the transaction's inserts, twice
    let outbox_id = store.append_audit(system_audit(org, "first")).await.unwrap();
    fail_next(&admin, "insert", 3, 112, "TransientTransactionError").await;
    let refused = scratch.insert_one(doc! { "probe": 1 }).await.expect_err("the failpoint fires");
    assert!(refused.contains_label("TransientTransactionError"), "{refused:?}");
    let entry = next_entry(org, None, "first");
    store.chain_audit(vec![entry.clone()], vec![outbox_id]).await.expect("retried until it lands");
    scratch.insert_one(doc! { "probe": 2 }).await.expect("every injected failure was spent");
    assert_eq!(store.list_audit_events(&scope, 0, 10).await.unwrap(), vec![entry.clone()]);
    assert!(store.pending_audit(org, 10).await.unwrap().is_empty(), "the outbox row left with it");

    // --- a commit whose outcome is unknown, twice
    let outbox_id = store.append_audit(system_audit(org, "second")).await.unwrap();
    fail_next(&admin, "commitTransaction", 3, 64, "UnknownTransactionCommitResult").await;
    let refused = commit_one_insert(&admin).await.expect_err("the failpoint fires");
    assert!(refused.contains_label("UnknownTransactionCommitResult"), "{refused:?}");
    let second = next_entry(org, Some(&entry), "second");
    store.chain_audit(vec![second.clone()], vec![outbox_id]).await.expect("the commit is sent again");
    commit_one_insert(&admin).await.expect("every injected failure was spent");
    assert_eq!(store.list_audit_events(&scope, 0, 10).await.unwrap(), vec![entry, second.clone()]);
    // Landed once: the same append again finds the head moved and the row gone.
    let again = store.chain_audit(vec![second], vec![outbox_id]).await;
    assert!(matches!(again, Err(StoreError::AuditSequence { expected: 3, got: 2 })), "{again:?}");
}

/// Two store objects on one database (two processes) writing to one organization's outbox at
/// once hand out distinct ids, each store's in the order it wrote them, and the outbox lists
/// every row oldest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_ids_from_two_processes_are_unique_and_ordered() {
    let fixture = MongoStore::for_test().await;
    let options = MongoOptions::new(
        certautopilot_core::testsupport::shared_mongodb_uri(),
        fixture.store.database_name().to_owned(),
    );
    let other = MongoStore::connect(options, fixture.clock.clone()).await.unwrap();
    let org = OrgId::new();
    async fn write(store: &MongoStore, org: OrgId, n: usize) -> Vec<u64> {
        let mut ids = Vec::new();
        for i in 0..n {
            ids.push(store.append_audit(system_audit(org, &format!("n{i}"))).await.unwrap());
        }
        ids
    }
    let (ours, theirs) = tokio::join!(write(&fixture.store, org, 40), write(&other, org, 40));
    assert!(ours.windows(2).all(|w| w[0] < w[1]), "{ours:?}");
    assert!(theirs.windows(2).all(|w| w[0] < w[1]), "{theirs:?}");
    let pending = fixture.store.pending_audit(org, 1_000).await.unwrap();
    let listed: Vec<u64> = pending.iter().map(|p| p.id).collect();
    let mut all: Vec<u64> = ours.iter().chain(&theirs).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 80, "no id handed out twice");
    assert_eq!(listed, all, "oldest first");
}

/// The consistency check on MongoDB passes on a fresh store and names what this backend relies
/// on and the server would not notice losing: a dropped unique index (the chain's guard against a
/// repeated `seq`), a collection gone, and an audit head that disagrees with its chain's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integrity_check_names_a_lost_index_collection_or_audit_head() {
    let fixture = MongoStore::for_test().await;
    let store = &fixture.store;
    store.integrity_check().await.expect("a fresh store is consistent");
    let client = mongodb::Client::with_uri_str(certautopilot_core::testsupport::shared_mongodb_uri()).await.unwrap();
    let db = client.database(store.database_name());

    db.collection::<Document>("audit_events").drop_index("audit_events_seq").await.unwrap();
    db.collection::<Document>("siem_cursors").drop().await.unwrap();
    db.collection::<Document>("audit_heads")
        .insert_one(doc! { "_id": OrgId::new().to_string(), "seq": 3_i64 })
        .await
        .unwrap();
    let found = store.integrity_check().await;
    let Err(StoreError::Integrity(report)) = found else { panic!("expected damage, got {found:?}") };
    assert!(report.contains("index audit_events_seq of audit_events is missing"), "{report}");
    assert!(report.contains("collection siem_cursors is missing"), "{report}");
    assert!(report.contains("is at 3, its chain ends at 0"), "{report}");
}

/// A write refused for lack of space (`OutOfDiskSpace`, injected by a failpoint on the probe's
/// own command) makes the store report itself unwritable and counts it; the next probe that
/// goes through reports it writable again, with the count kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_reports_a_full_disk_and_the_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let server = MongoServer::start(dir.path(), MongoServerOptions { test_commands: true, ..Default::default() });
    let store = MongoStore::connect(MongoOptions::new(server.uri(), "probe"), Arc::new(SystemClock)).await.unwrap();
    let admin = mongodb::Client::with_uri_str(server.uri()).await.unwrap();
    store.probe_writable().await.unwrap();
    assert!(store.write_health().writable);

    admin
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 1 },
            "data": { "failCommands": ["update"], "errorCode": 14031 },
        })
        .await
        .unwrap();
    let refused = store.probe_writable().await;
    assert!(
        matches!(
            refused,
            Err(StoreError::NotWritable { reason: certautopilot_core::store::NotWritableReason::Full, .. })
        ),
        "{refused:?}"
    );
    let health = store.write_health();
    assert!(!health.writable && health.full_failures == 1, "{health:?}");
    store.probe_writable().await.expect("space is back");
    let health = store.write_health();
    assert!(health.writable && health.full_failures == 1, "{health:?}");
}

/// A chain without a head document (entries copied in by `store copy`, which writes no heads)
/// continues from its last entry: the next append lands, a repeated `seq` is still refused, and
/// the head document written then agrees with the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_without_a_head_document_continues_from_its_last_entry() {
    let fixture = MongoStore::for_test().await;
    let store = &fixture.store;
    let organization = Organization::new("acme", Timestamp::now());
    let (org, scope) = (organization.id, OrgScope::for_system("test", &organization));
    let first = next_entry(org, None, "one");
    let second = next_entry(org, Some(&first), "two");
    store.chain_audit(vec![first.clone(), second.clone()], Vec::new()).await.unwrap();
    let client = mongodb::Client::with_uri_str(certautopilot_core::testsupport::shared_mongodb_uri()).await.unwrap();
    let heads = client.database(store.database_name()).collection::<Document>("audit_heads");
    heads.delete_many(doc! {}).await.unwrap();

    let repeated = store.chain_audit(vec![second.clone()], Vec::new()).await;
    assert!(matches!(repeated, Err(StoreError::AuditSequence { expected: 3, got: 2 })), "{repeated:?}");
    let third = next_entry(org, Some(&second), "three");
    store.chain_audit(vec![third.clone()], Vec::new()).await.expect("continues from the last entry");
    assert_eq!(store.list_audit_events(&scope, 0, 10).await.unwrap(), vec![first, second, third]);
    store.integrity_check().await.expect("the new head agrees with the chain");
}

/// A claim by `node` for up to `limit` issue jobs, leased for 30 s.
fn issue_claim(node: &str, limit: usize) -> ClaimRequest {
    ClaimRequest {
        node_id: node.into(),
        incarnation: "first-start".into(),
        kinds: vec![JobKind::Issue],
        limit,
        lease: Duration::from_secs(30),
    }
}

/// A job whose holder was cut off from the store inside its own transaction on the job (recording
/// the outcome) stays held by that transaction until the server expires it, 60 s by default. The
/// claims meanwhile neither wait on it nor fail: once its lease has lapsed they skip it and take
/// the other due jobs at once, and the first claim after that transaction ends takes it for its
/// next attempt. (A plain update of the held job waits on the server until the transaction ends.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_held_by_an_unfinished_transaction_does_not_hold_up_claims() {
    let dir = tempfile::tempdir().unwrap();
    let server = MongoServer::start(dir.path(), MongoServerOptions::default());
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let store = MongoStore::connect(MongoOptions::new(server.uri(), "held"), clock.clone()).await.unwrap();
    let held = store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id;
    let taken = store.claim_jobs(&issue_claim("node-a", 1)).await.unwrap();
    assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), vec![held]);
    let other = store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id;

    // node-a's transaction on its job, never committed nor aborted: its link to the store is gone.
    let admin = mongodb::Client::with_uri_str(server.uri()).await.unwrap();
    let mut cut = admin.start_session().await.unwrap();
    cut.start_transaction().await.unwrap();
    admin
        .database("held")
        .collection::<Document>("jobs")
        .update_one(doc! { "_id": held.to_string() }, doc! { "$set": { "status": "succeeded" } })
        .session(&mut cut)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(31));

    let request = issue_claim("node-b", 2);
    let claimed = tokio::time::timeout(Duration::from_secs(20), store.claim_jobs(&request))
        .await
        .expect("the claim waits on the unfinished transaction")
        .expect("the claim succeeds");
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![other], "the held job is skipped");
    let scope = SystemScope::new("test");
    let still = store.get_job(&scope, held).await.unwrap();
    assert_eq!((still.status, still.lease_owner.as_deref()), (JobStatus::Running, Some("node-a")));

    cut.abort_transaction().await.unwrap();
    let next = store.claim_jobs(&issue_claim("node-b", 2)).await.unwrap();
    assert_eq!(next.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), vec![(held, 2)]);
    let logs = store.job_logs(&scope, held).await.unwrap();
    assert!(logs.iter().any(|l| l.message == "lease of node node-a expired"), "{logs:?}");
}
