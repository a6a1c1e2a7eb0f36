//! The store conformance suite: every backend must pass it unchanged. One file per concern of the
//! store (`traits/`), each check written once, generic over the backend.
//! `store_conformance_tests!(factory)` expands to one `#[tokio::test]` per check of every concern;
//! `store_conformance_tests!(factory; records, job_queue)` to those of the concerns named only. Each
//! `factory()` returns a fresh, empty `Fixture` whose clock only moves when the check moves it.
//! Each check is bounded by the concerns it calls (the audit checks by `Store`: the chain writer
//! they drive takes a whole store), so a backend compiles and runs a concern's checks once it
//! implements that concern and the few it builds on (organizations and records for the fixtures).
//! `transfer` (`StoreTransfer`, outside `Store`) is checked with the concerns: a copy between two
//! fresh stores of the backend.

pub mod audit_log;
pub mod batch_reads;
pub mod certificate_stats;
pub mod fencing;
pub mod job_queue;
pub mod login_throttle;
pub mod organizations;
pub mod records;
pub mod sealed_secrets;
pub mod siem_cursors;
pub mod store_health;
pub mod tenancy;
pub mod transfer;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::ManualClock;
use crate::ids::*;
use crate::model::*;
use crate::scope::{OrgScope, Principal, ProjectScope, SystemScope};
use crate::store::{
    AuditLog, ClaimRequest, Fencing, JobFailure, JobQueue, LoginThrottle, Organizations, Page, PageRequest, Record,
    RecordKind, RecordStore, Records, SealedSecrets, SiemCursors, Store, StoreError, StoreHealth, Unsealed,
};
use crate::timestamp::Timestamp;

/// A store under test, its clock, and whatever keeps its storage alive.
pub struct Fixture<S> {
    pub store: S,
    pub clock: Arc<ManualClock>,
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

/// A fixed start so every run of the suite sees the same instants.
pub fn suite_start() -> Timestamp {
    Timestamp::from_unix_millis(1_764_000_000_000)
}

impl crate::store::sqlite::SqliteStore {
    /// A fresh store in a temporary directory with a manual clock.
    pub async fn for_test() -> Fixture<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let clock = Arc::new(ManualClock::new(suite_start()));
        let store =
            Self::open(dir.path().join("test.db"), Default::default(), clock.clone()).await.expect("open store");
        Fixture { store, clock, guard: Box::new(dir) }
    }
}

impl crate::store::mongodb::MongoStore {
    /// A fresh store in a database of its own on the shared test server
    /// (`testsupport::shared_mongodb_uri`), with a manual clock.
    pub async fn for_test() -> Fixture<Self> {
        let clock = Arc::new(ManualClock::new(suite_start()));
        let database = format!("t{}", uuid::Uuid::new_v4().simple());
        let options = crate::store::mongodb::MongoOptions::new(crate::testsupport::shared_mongodb_uri(), database);
        let store = Self::connect(options, clock.clone()).await.expect("connect to the test MongoDB server");
        Fixture { store, clock, guard: Box::new(()) }
    }
}

#[macro_export]
macro_rules! store_conformance_tests {
    // Every concern: what a complete backend runs.
    ($factory:expr) => {
        $crate::store_conformance_tests!($factory; organizations, records, tenancy, job_queue, fencing, audit_log,
            sealed_secrets, login_throttle, siem_cursors, store_health, transfer, batch_reads, certificate_stats);
    };
    // Only the concerns named: what a backend under construction runs, one concern at a time.
    ($factory:expr; $($concern:ident),+ $(,)?) => {
        $( $crate::store_conformance_tests!(@concern $concern $factory); )+
    };
    (@concern organizations $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; organizations;
            first_organization_is_created_once, organizations_crud);
    };
    (@concern records $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; records;
            record_and_job_commit_together, batch_updates_land_together_or_not_at_all,
            empty_projects_delete_with_their_memberships, every_scoped_kind_crud, unique_keys_are_enforced_per_scope,
            pagination_walks_every_record_once, certificates_due_in_window_order, certificate_expiries_soonest_first,
            paused_certificates_are_never_due, a_deleted_certificate_takes_its_deployments_and_keys);
    };
    (@concern tenancy $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; tenancy;
            project_scope_cannot_reach_other_projects, org_scope_cannot_reach_other_organizations,
            org_records_stay_in_their_organization, memberships_name_a_project_and_a_user_of_their_own_organization);
    };
    (@concern job_queue $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; job_queue;
            enqueue_dedupes_by_key, claim_leases_and_completion_is_logged, claim_respects_kinds_and_run_at,
            expired_lease_is_reclaimed_and_old_holder_fenced, heartbeat_keeps_the_lease,
            backoff_grows_then_job_is_dead, permanent_failure_is_dead_at_once, one_running_job_per_subject,
            release_gives_the_attempt_back, project_jobs_are_scoped, concurrent_claimers_never_share_a_job,
            concurrent_enqueue_with_one_key_makes_one_job, restarted_node_reclaims_its_former_leases);
    };
    (@concern batch_reads $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; batch_reads;
            batch_record_reads_take_one_trip_and_stay_in_scope, members_of_many_projects_are_read_together,
            newest_jobs_and_log_lines_per_subject, newest_audit_entries_per_object);
    };
    (@concern certificate_stats $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; certificate_stats;
            overview_figures_match_the_rules_record_by_record, an_empty_project_has_zero_figures,
            certificates_by_expiry_walk_soonest_first_across_pages, a_forged_expiry_cursor_is_refused,
            an_expiry_cursor_stays_in_the_callers_project);
    };
    (@concern fencing $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; fencing;
            scheduler_writes_from_an_older_term_are_refused, the_newest_scheduler_beat_is_kept_per_node);
    };
    (@concern audit_log $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; audit_log;
            audited_writes_are_atomic_and_chain, audit_sequence_is_gap_free, racing_chain_writers_never_fork_or_repeat,
            a_certificates_story_is_found_by_object_and_subject, audit_chains_stay_in_their_organization);
    };
    (@concern sealed_secrets $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; sealed_secrets;
            sealed_fields_live_apart_and_rewrap_in_place, a_page_read_to_show_leaves_sealed_fields_unread,
            a_record_and_its_sealed_values_are_read_as_one_version);
    };
    (@concern login_throttle $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; login_throttle;
            failed_logins_slow_the_account_and_lock_the_pair_and_the_address,
            concurrent_login_guesses_cannot_outrun_the_count);
    };
    (@concern siem_cursors $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; siem_cursors; siem_cursors_start_at_zero_and_never_move_back,
            audit_marks_are_kept_per_organization_and_never_move_back);
    };
    (@concern store_health $factory:expr) => {
        $crate::store_conformance_tests!(@each $factory; store_health;
            a_fresh_store_is_consistent_and_writable);
    };
    // Not a concern of `Store`, but every backend has it: a copy between two fresh stores of the
    // backend (`store copy`; copies between backends are in the backends' own tests).
    (@concern transfer $factory:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn copies_every_part_into_an_empty_store() {
            let (source, target) = ($factory().await, $factory().await);
            $crate::store::conformance::transfer::copies_every_part_into_an_empty_store(&source, &target).await;
        }
    };
    (@each $factory:expr; $concern:ident; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture = $factory().await;
                $crate::store::conformance::$concern::$check(&fixture).await;
            }
        )*
    };
}

/// An organization with an owner, two projects and a member of each project: the tenancy playground.
pub struct World {
    pub org: Organization,
    pub owner: User,
    pub org_scope: OrgScope,
    pub a: ProjectScope,
    pub b: ProjectScope,
}

pub async fn world<S: Organizations + Records>(f: &Fixture<S>) -> World {
    let now = f.clock.now_ts();
    let org = Organization::new("acme", now);
    f.store.create_organization(&org).await.unwrap();
    let owner = User::new(org.id, "owner@example.com", OrgRole::Owner, now);
    let org_scope = OrgScope::for_user(&owner).unwrap();
    f.store.insert(&org_scope, &owner).await.unwrap();
    let mut scopes = Vec::new();
    for name in ["project-a", "project-b"] {
        let project = Project::new(org.id, name, now);
        f.store.insert(&org_scope, &project).await.unwrap();
        let user = User::new(org.id, &format!("member@{name}.example"), OrgRole::Member, now);
        f.store.insert(&org_scope, &user).await.unwrap();
        let membership = Membership::new(org.id, project.id, user.id, Role::Admin, now);
        f.store.insert(&org_scope, &membership).await.unwrap();
        scopes.push(ProjectScope::for_member(&user, &membership).unwrap());
    }
    let b = scopes.pop().unwrap();
    let a = scopes.pop().unwrap();
    World { org, owner, org_scope, a, b }
}

trait NowTs {
    fn now_ts(&self) -> Timestamp;
}
impl NowTs for ManualClock {
    fn now_ts(&self) -> Timestamp {
        crate::clock::Clock::now(self)
    }
}

fn certificate(scope: &ProjectScope, name: &str, now: Timestamp) -> Certificate {
    Certificate::new(scope.project_id(), name, vec![name.to_owned()], KeyType::EcdsaP256, AcmeAccountId::new(), now)
}

/// One record of every project-scoped kind, named `name`.
fn one_of_each(scope: &ProjectScope, name: &str, now: Timestamp) -> ScopedSet {
    let credential = DnsCredential::new(scope.project_id(), name, Rfc2136Config::default(), now);
    ScopedSet {
        account: AcmeAccount::new(scope.project_id(), name, "https://ca.example/dir", now),
        zone: Zone::new(scope.project_id(), format!("{name}.example"), credential.id, now),
        credential,
        certificate: certificate(scope, &format!("www.{name}.example"), now),
        target: DistributionTarget::new(scope.project_id(), name, TargetKind::File, now),
    }
}

struct ScopedSet {
    account: AcmeAccount,
    credential: DnsCredential,
    zone: Zone,
    certificate: Certificate,
    target: DistributionTarget,
}

async fn insert_set<S: Records>(store: &S, scope: &ProjectScope, set: &ScopedSet) {
    store.insert(scope, &set.account).await.unwrap();
    store.insert(scope, &set.credential).await.unwrap();
    store.insert(scope, &set.zone).await.unwrap();
    store.insert(scope, &set.certificate).await.unwrap();
    store.insert(scope, &set.target).await.unwrap();
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(matches!(result, Err(StoreError::NotFound { .. })), "{what}: expected NotFound, got {result:?}");
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(matches!(result, Err(StoreError::Conflict { .. })), "{what}: expected Conflict, got {result:?}");
}

fn sealed(version: u32, tag: &str) -> SealedSecret {
    SealedSecret {
        kek_version: version,
        wrapped_dek: format!("wrapped-{tag}"),
        nonce: format!("nonce-{tag}"),
        ciphertext: format!("ct-{tag}"),
    }
}

/// An event by a system component about nothing in particular, for tests of the outbox and chain.
pub fn system_audit(org_id: crate::ids::OrgId, action: &str) -> crate::store::AuditWrite {
    crate::store::AuditWrite {
        draft: crate::audit::AuditDraft {
            org_id,
            actor: Principal::System("test".into()),
            action: action.into(),
            object: None,
            project_id: None,
            details: serde_json::json!({}),
        },
    }
}

fn audit_write(w: &World, action: &str) -> crate::store::AuditWrite {
    crate::store::AuditWrite {
        draft: crate::audit::AuditDraft {
            org_id: w.org.id,
            actor: Principal::System("conformance".into()),
            action: action.into(),
            object: None,
            project_id: Some(w.a.project_id()),
            details: serde_json::json!({ "action": action }),
        },
    }
}

/// Joins futures without pulling in the `futures` crate: each runs as its own task on this runtime.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future,
{
    // Polled together in one task via a simple round-robin, so borrowed data may be used.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, fut) in pinned.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => outputs[i] = Some(out),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}
