//! The store conformance suite: every backend must pass it unchanged.
//! `store_conformance_tests!(factory)` expands to one `#[tokio::test]` per check, where `factory()`
//! returns a fresh, empty `Fixture` whose clock only moves when the check moves it.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::ManualClock;
use crate::ids::*;
use crate::model::*;
use crate::scope::{OrgScope, Principal, ProjectScope, SystemScope};
use crate::store::{ClaimRequest, JobFailure, PageRequest, Record, RecordKind, RecordStore, Store, StoreError};
use crate::timestamp::Timestamp;

/// A store under test, its clock, and whatever keeps its storage alive.
pub struct Fixture<S: Store> {
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

#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr) => {
        $crate::store_conformance_tests!(@each $factory;
            first_organization_is_created_once, record_and_job_commit_together, sealed_fields_live_apart_and_rewrap_in_place, audited_writes_are_atomic_and_chain, batch_updates_land_together_or_not_at_all, empty_projects_delete_with_their_memberships, organizations_crud, every_scoped_kind_crud, unique_keys_are_enforced_per_scope,
            project_scope_cannot_reach_other_projects, org_scope_cannot_reach_other_organizations,
            org_records_stay_in_their_organization, memberships_name_a_project_and_a_user_of_their_own_organization,
            audit_chains_stay_in_their_organization,
            pagination_walks_every_record_once, certificates_due_in_window_order,
            enqueue_dedupes_by_key, claim_leases_and_completion_is_logged, claim_respects_kinds_and_run_at,
            expired_lease_is_reclaimed_and_old_holder_fenced, heartbeat_keeps_the_lease,
            backoff_grows_then_job_is_dead, permanent_failure_is_dead_at_once, one_running_job_per_subject,
            release_gives_the_attempt_back, project_jobs_are_scoped, concurrent_claimers_never_share_a_job,
            concurrent_enqueue_with_one_key_makes_one_job, audit_sequence_is_gap_free, racing_chain_writers_never_fork_or_repeat,
            scheduler_writes_from_an_older_term_are_refused,
            a_certificates_story_is_found_by_object_and_subject, certificate_expiries_soonest_first,
            failed_logins_slow_the_account_and_lock_the_pair_and_the_address, concurrent_login_guesses_cannot_outrun_the_count,
            paused_certificates_are_never_due, a_deleted_certificate_takes_its_deployments_and_keys);
    };
    (@each $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture = $factory().await;
                $crate::store::conformance::$check(&fixture).await;
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

pub async fn world<S: Store>(f: &Fixture<S>) -> World {
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

async fn insert_set<S: Store>(store: &S, scope: &ProjectScope, set: &ScopedSet) {
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

/// First-run setup creates the organization and its owner once; a second setup changes nothing.
pub async fn first_organization_is_created_once<S: Store>(f: &Fixture<S>) {
    let now = f.clock.now_ts();
    let org = Organization::new("acme", now);
    let owner = User::new(org.id, "owner@example.com", OrgRole::Owner, now);
    f.store.create_first_organization(&org, &owner, None).await.unwrap();
    let other = Organization::new("again", now);
    let other_owner = User::new(other.id, "x@example.com", OrgRole::Owner, now);
    assert!(matches!(
        f.store.create_first_organization(&other, &other_owner, None).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(f.store.list_organizations().await.unwrap(), vec![org.clone()]);
    let scope = OrgScope::for_user(&owner).unwrap();
    assert_eq!(f.store.get::<User>(&scope, &owner.id).await.unwrap(), owner);
}

fn sealed(version: u32, tag: &str) -> SealedSecret {
    SealedSecret {
        kek_version: version,
        wrapped_dek: format!("wrapped-{tag}"),
        nonce: format!("nonce-{tag}"),
        ciphertext: format!("ct-{tag}"),
    }
}

/// Sealed fields live apart from their records: they round-trip, the record's document does not hold
/// them, usage per KEK version is counted, a re-wrap only lands on the value it read, and deleting the
/// record deletes its sealed values.
pub async fn sealed_fields_live_apart_and_rewrap_in_place<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let mut credential = DnsCredential::new(w.a.project_id(), "tsig", Rfc2136Config::default(), now);
    credential.secret = Some(sealed(1, "cred"));
    f.store.insert(&w.a, &credential).await.unwrap();
    let mut account = AcmeAccount::new(w.a.project_id(), "acct", "https://ca.test/d", now);
    account.eab_hmac_key = Some(sealed(1, "eab"));
    account.account_key = Some(sealed(2, "key"));
    f.store.insert(&w.a, &account).await.unwrap();
    assert_eq!(f.store.get::<DnsCredential>(&w.a, &credential.id).await.unwrap(), credential);
    assert_eq!(f.store.get::<AcmeAccount>(&w.a, &account.id).await.unwrap(), account);
    let raw = f.store.get_raw(&(&w.a).into(), RecordKind::DnsCredential, &credential.id.to_string()).await.unwrap();
    assert!(!raw.doc.contains("wrapped-cred"), "the document holds no sealed value: {}", raw.doc);
    assert_eq!(f.store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(1, 2), (2, 1)]));
    // A sample of exactly one version (the start-up check), and every value a page at a time in key
    // order (a migration's final check): nothing missed, nothing twice.
    let v2 = f.store.sealed_with_version(2, 10).await.unwrap();
    assert_eq!(v2.iter().map(|r| Some(&r.secret)).collect::<Vec<_>>(), vec![account.account_key.as_ref()]);
    let first = f.store.sealed_after(None, 2).await.unwrap();
    let rest = f.store.sealed_after(first.last().map(|r| r.key.clone()), 2).await.unwrap();
    assert_eq!((first.len(), rest.len()), (2, 1));
    let mut seen: Vec<_> = first.iter().chain(&rest).map(|r| r.secret.wrapped_dek.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3);
    assert!(f.store.sealed_after(rest.last().map(|r| r.key.clone()), 2).await.unwrap().is_empty());

    let old = f.store.sealed_older_than(2, 10).await.unwrap();
    assert_eq!(old.len(), 2);
    let row = old.iter().find(|r| r.key.field == "secret").unwrap().clone();
    let rewrapped = SealedSecret { kek_version: 2, wrapped_dek: "wrapped-cred-v2".into(), ..row.secret.clone() };
    assert_eq!(f.store.rewrap_sealed(vec![(row.clone(), rewrapped.clone())]).await.unwrap(), 1);
    // The same re-wrap again finds the value changed and leaves it alone.
    let again = SealedSecret { wrapped_dek: "wrapped-cred-v2-again".into(), ..rewrapped.clone() };
    assert_eq!(f.store.rewrap_sealed(vec![(row.clone(), again)]).await.unwrap(), 0);
    // A re-wrap may not change the data itself.
    let forged = SealedSecret { ciphertext: "other".into(), ..rewrapped.clone() };
    assert!(f.store.rewrap_sealed(vec![(row, forged)]).await.is_err());
    let read: DnsCredential = f.store.get(&w.a, &credential.id).await.unwrap();
    assert_eq!(read.secret, Some(rewrapped));
    assert_eq!(f.store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(1, 1), (2, 2)]));

    // A record read before the re-wrap and saved after it keeps the re-wrapped key, not the old one.
    let mut stale_credential = credential.clone();
    stale_credential.version = read.version;
    stale_credential.name = "renamed".into();
    let saved = f.store.update(&w.a, &stale_credential).await.unwrap();
    assert_eq!(saved.secret.as_ref().map(|s| s.kek_version), Some(2), "an unchanged secret keeps its newer wrap");

    f.store.delete::<AcmeAccount>(&w.a, &account.id, None).await.unwrap();
    assert_eq!(f.store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(2, 1)]));
    // Organization keys are sealed values too.
    let mut org = f.store.get_organization(w.org.id).await.unwrap();
    org.jwt_signing_key = Some(sealed(1, "org"));
    let org = f.store.update_organization(&org).await.unwrap();
    assert_eq!(f.store.get_organization(w.org.id).await.unwrap().jwt_signing_key, org.jwt_signing_key);
    assert_eq!(f.store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(1, 1), (2, 1)]));
}

/// A record and its job land together, and neither lands when one of them cannot.
pub async fn record_and_job_commit_together<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let cert = certificate(&w.a, "atomic.example", f.clock.now_ts());
    let job = NewJob::for_project(&w.a, JobKind::Issue, 3).subject(cert.id.to_string()).dedupe_key("issue:atomic");
    let enqueued = f.store.insert_and_enqueue(&w.a, &cert, job, None).await.unwrap();
    assert!(enqueued.created);
    let _: Certificate = f.store.get(&w.a, &cert.id).await.unwrap();
    // Same certificate again: the insert fails, so the (new) job must not appear either.
    let job = NewJob::for_project(&w.a, JobKind::Issue, 3).dedupe_key("issue:atomic-2");
    assert!(matches!(f.store.insert_and_enqueue(&w.a, &cert, job, None).await, Err(StoreError::AlreadyExists { .. })));
    assert_eq!(f.store.list_project_jobs(&w.a, &PageRequest::default()).await.unwrap().items.len(), 1);
    // A job for another project than the scope is refused.
    let foreign = NewJob::for_project(&w.b, JobKind::Issue, 3);
    let other = certificate(&w.a, "other.example", f.clock.now_ts());
    assert!(matches!(
        f.store.insert_and_enqueue(&w.a, &other, foreign, None).await,
        Err(StoreError::ScopeMismatch { .. })
    ));
}

/// A project is deleted with its memberships in one step, only when empty; its members are listed
/// by project.
pub async fn empty_projects_delete_with_their_memberships<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let members = f.store.project_members(&w.org_scope, w.a.project_id()).await.unwrap();
    assert_eq!(members.len(), 1);
    insert_set(&f.store, &w.a, &one_of_each(&w.a, "busy", now)).await;
    assert!(matches!(
        f.store.delete_empty_project(&w.org_scope, w.a.project_id(), None).await,
        Err(StoreError::NotEmpty { .. })
    ));
    assert_eq!(f.store.project_members(&w.org_scope, w.a.project_id()).await.unwrap().len(), 1, "nothing deleted");
    f.store.delete_empty_project(&w.org_scope, w.b.project_id(), None).await.unwrap();
    assert!(f.store.project_members(&w.org_scope, w.b.project_id()).await.unwrap().is_empty());
    assert_not_found(f.store.get::<Project>(&w.org_scope, &w.b.project_id()).await, "deleted project");
    assert_not_found(f.store.delete_empty_project(&w.org_scope, w.b.project_id(), None).await, "deleted twice");
}

/// Organizations: create, read, list, versioned update, stale update refused, duplicate refused.
pub async fn organizations_crud<S: Store>(f: &Fixture<S>) {
    let org = Organization::new("acme", f.clock.now_ts());
    f.store.create_organization(&org).await.unwrap();
    assert_eq!(f.store.get_organization(org.id).await.unwrap(), org);
    assert!(matches!(f.store.create_organization(&org).await, Err(StoreError::AlreadyExists { .. })));
    assert_eq!(f.store.list_organizations().await.unwrap(), vec![org.clone()]);
    f.clock.advance(Duration::from_secs(1));
    let mut renamed = org.clone();
    renamed.name = "acme corp".into();
    let updated = f.store.update_organization(&renamed).await.unwrap();
    assert_eq!((updated.version, updated.name.as_str()), (2, "acme corp"));
    assert!(updated.updated_at > org.updated_at);
    assert_conflict(f.store.update_organization(&renamed).await, "stale organization update");
    assert_not_found(f.store.get_organization(OrgId::new()).await, "missing organization");
}

/// The life of one record of `R`: insert, read back equal, list, update with version bump, stale
/// update and stale delete refused, delete, gone.
async fn crud_one<S: Store, R: Record + PartialEq + std::fmt::Debug>(
    f: &Fixture<S>,
    scope: &R::Scope,
    record: R,
    change: impl Fn(&mut R),
) {
    let kind = R::KIND.name();
    f.store.insert(scope, &record).await.unwrap();
    let id = record.record_id();
    let read: R = f.store.get(scope, &id).await.unwrap();
    assert_eq!(read, record, "{kind}: read back");
    let listed = f.store.list::<R>(scope, &PageRequest::first(1_000)).await.unwrap();
    assert!(listed.items.contains(&record), "{kind}: listed");

    f.clock.advance(Duration::from_secs(1));
    let mut changed = read.clone();
    change(&mut changed);
    let updated = f.store.update(scope, &changed).await.unwrap();
    assert_eq!(updated.version(), 2, "{kind}: version bumped");
    let reread: R = f.store.get(scope, &id).await.unwrap();
    assert_eq!(reread, updated, "{kind}: update persisted");
    assert_ne!(reread, read, "{kind}: update changed the record");

    assert_conflict(f.store.update(scope, &changed).await, &format!("{kind}: stale update"));
    assert_conflict(f.store.delete::<R>(scope, &id, Some(1)).await, &format!("{kind}: stale delete"));
    f.store.delete::<R>(scope, &id, Some(2)).await.unwrap();
    assert_not_found(f.store.get::<R>(scope, &id).await, &format!("{kind}: deleted"));
    assert_not_found(f.store.delete::<R>(scope, &id, None).await, &format!("{kind}: deleted twice"));
}

/// Every scoped record kind goes through the same create/read/update/delete life.
pub async fn every_scoped_kind_crud<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let set = one_of_each(&w.a, "crud", now);
    crud_one(f, &w.a, set.account, |r| r.contact = vec!["mailto:ops@example.com".into()]).await;
    crud_one(f, &w.a, set.credential, |r| {
        r.config = Rfc2136Config { server: "127.0.0.1:53".into(), ..Default::default() }.into()
    })
    .await;
    crud_one(f, &w.a, set.zone, |r| r.apex = "other.example".into()).await;
    crud_one(f, &w.a, set.certificate, |r| r.sans.push("api.crud.example".into())).await;
    crud_one(f, &w.a, set.target, |r| {
        r.config = TargetConfig::File(FileConfig { cert_path: "/etc/ssl/c.pem".into(), ..Default::default() })
    })
    .await;
    let user = User::new(w.org.id, "new@example.com", OrgRole::Member, now);
    crud_one(f, &w.org_scope, user.clone(), |r| r.disabled = true).await;
    crud_one(f, &w.org_scope, Project::new(w.org.id, "project-c", now), |r| r.name = "project-d".into()).await;
    f.store.insert(&w.org_scope, &user).await.unwrap();
    crud_one(f, &w.org_scope, Membership::new(w.org.id, w.a.project_id(), user.id, Role::Viewer, now), |r| {
        r.role = Role::Operator
    })
    .await;
    let session = Session {
        id: SessionId::new(),
        org_id: w.org.id,
        user_id: user.id,
        csrf_token_sha256: "00".repeat(32),
        expires_at: now.saturating_add(Duration::from_secs(3_600)),
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    crud_one(f, &w.org_scope, session, |r| r.revoked = true).await;
    let token = ApiToken {
        id: ApiTokenId::new(),
        org_id: w.org.id,
        user_id: user.id,
        name: "ci".into(),
        secret_sha256: "11".repeat(32),
        expires_at: None,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    crud_one(f, &w.org_scope, token, |r| r.revoked = true).await;
}

/// Names, e-mails and apexes are unique within their scope and free across scopes.
pub async fn unique_keys_are_enforced_per_scope<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    insert_set(&f.store, &w.a, &one_of_each(&w.a, "dup", now)).await;
    // The same names in another project are fine.
    insert_set(&f.store, &w.b, &one_of_each(&w.b, "dup", now)).await;
    let again = one_of_each(&w.a, "dup", now);
    for result in [
        f.store.insert(&w.a, &again.account).await,
        f.store.insert(&w.a, &again.credential).await,
        f.store.insert(&w.a, &again.zone).await,
        f.store.insert(&w.a, &again.target).await,
        f.store.insert(&w.org_scope, &User::new(w.org.id, "OWNER@example.com", OrgRole::Member, now)).await,
        f.store.insert(&w.org_scope, &Project::new(w.org.id, "project-a", now)).await,
    ] {
        assert!(matches!(result, Err(StoreError::AlreadyExists { .. })), "{result:?}");
    }
    let by_email: User = f.store.find_unique(&w.org_scope, "owner@example.com").await.unwrap();
    assert_eq!(by_email.id, w.owner.id);
}

/// A scope for project A can neither read, list, update, delete nor create an object of project B,
/// for every project-scoped kind (deployment records included); and B's objects are unchanged
/// afterwards. B's own scope reaches each of them the same ways, so an empty answer is the scope's.
pub async fn project_scope_cannot_reach_other_projects<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let theirs = one_of_each(&w.b, "theirs", now);
    insert_set(&f.store, &w.b, &theirs).await;

    async fn probe<S: Store, R: Record<Scope = ProjectScope> + PartialEq + std::fmt::Debug>(
        f: &Fixture<S>,
        attacker: &ProjectScope,
        owner: &ProjectScope,
        victim: &R,
        forge: impl Fn(&mut R),
    ) {
        let kind = R::KIND.name();
        let id = victim.record_id();
        assert_not_found(f.store.get::<R>(attacker, &id).await, &format!("{kind}: cross-project read"));
        let listed = f.store.list::<R>(attacker, &PageRequest::first(1_000)).await.unwrap();
        assert!(listed.items.iter().all(|r| r.record_id() != id), "{kind}: cross-project list");
        // Updating B's record as it is (project B) under scope A: refused as a scope mismatch.
        assert!(
            matches!(f.store.update(attacker, victim).await, Err(StoreError::ScopeMismatch { .. })),
            "{kind}: cross-project update"
        );
        // Forging the record into project A while keeping B's id: no such record in A.
        let mut forged = victim.clone();
        forge(&mut forged);
        assert_not_found(f.store.update(attacker, &forged).await, &format!("{kind}: forged update"));
        assert_not_found(f.store.delete::<R>(attacker, &id, None).await, &format!("{kind}: cross-project delete"));
        assert!(
            matches!(f.store.insert(attacker, victim).await, Err(StoreError::ScopeMismatch { .. })),
            "{kind}: insert into another project"
        );
        let still: R = f.store.get(owner, &id).await.unwrap();
        assert_eq!(&still, victim, "{kind}: victim unchanged");
    }

    let pa = w.a.project_id();
    probe(f, &w.a, &w.b, &theirs.account, |r| r.project_id = pa).await;
    probe(f, &w.a, &w.b, &theirs.credential, |r| r.project_id = pa).await;
    probe(f, &w.a, &w.b, &theirs.zone, |r| r.project_id = pa).await;
    probe(f, &w.a, &w.b, &theirs.certificate, |r| r.project_id = pa).await;
    probe(f, &w.a, &w.b, &theirs.target, |r| r.project_id = pa).await;

    // A deployment record (B's certificate on B's target): the same probe, plus the two ways the
    // API and the workers reach one, by its certificate (lookup key) and by (certificate, target).
    let mut deployment = Deployment::new(w.b.project_id(), theirs.certificate.id, theirs.target.id, now);
    deployment.status = DeploymentStatus::Deployed;
    deployment.serial = Some("b-serial".into());
    f.store.insert(&w.b, &deployment).await.unwrap();
    probe(f, &w.a, &w.b, &deployment, |r| r.project_id = pa).await;
    let by_certificate = theirs.certificate.id.to_string();
    let listed = f.store.list_by_lookup::<Deployment>(&w.a, &by_certificate, &PageRequest::first(100)).await.unwrap();
    assert!(listed.items.is_empty(), "deployment: listed by another project's certificate: {listed:?}");
    let key = Deployment::key(theirs.certificate.id, theirs.target.id);
    assert_not_found(f.store.find_unique::<Deployment>(&w.a, &key).await, "deployment: cross-project by key");
    let many: Vec<Deployment> = f.store.get_many(&w.a, &[deployment.id]).await.unwrap();
    assert!(many.is_empty(), "deployment: cross-project batch read");
    // The control: B's own scope finds it by each of those ways.
    let own = f.store.list_by_lookup::<Deployment>(&w.b, &by_certificate, &PageRequest::first(100)).await.unwrap();
    assert_eq!(own.items, vec![deployment.clone()]);
    assert_eq!(f.store.find_unique::<Deployment>(&w.b, &key).await.unwrap(), deployment);
    assert_eq!(f.store.get_many::<Deployment>(&w.b, &[deployment.id]).await.unwrap(), vec![deployment.clone()]);

    let job = f.store.enqueue_job(NewJob::for_project(&w.b, JobKind::Issue, 3)).await.unwrap().job;
    assert_not_found(f.store.get_project_job(&w.a, job.id).await, "job: cross-project read");
    // Locating only says where a record lives; reading it still needs that project's scope.
    let system = SystemScope::new("gateway");
    let located =
        f.store.locate_project(&system, RecordKind::Certificate, &theirs.certificate.id.to_string()).await.unwrap();
    assert_eq!(located, Some(w.b.project_id()));
    assert_eq!(f.store.locate_project(&system, RecordKind::Certificate, "no-such-id").await.unwrap(), None);
    assert_eq!(f.store.locate_project(&system, RecordKind::User, &w.owner.id.to_string()).await.unwrap(), None);
    assert!(f.store.list_project_jobs(&w.a, &PageRequest::default()).await.unwrap().items.is_empty());
}

/// Users, projects and memberships of one organization are invisible to another's scope.
pub async fn org_scope_cannot_reach_other_organizations<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let other = Organization::new("other", now);
    f.store.create_organization(&other).await.unwrap();
    let stranger = User::new(other.id, "stranger@other.example", OrgRole::Owner, now);
    let other_scope = OrgScope::for_user(&stranger).unwrap();
    f.store.insert(&other_scope, &stranger).await.unwrap();

    assert_not_found(f.store.get::<User>(&other_scope, &w.owner.id).await, "user of another org");
    assert_not_found(f.store.find_unique::<User>(&other_scope, "owner@example.com").await, "user by e-mail");
    let projects = f.store.list::<Project>(&other_scope, &PageRequest::default()).await.unwrap();
    assert!(projects.items.is_empty());
    let users = f.store.list::<User>(&other_scope, &PageRequest::default()).await.unwrap();
    assert_eq!(users.items.len(), 1);
    assert_not_found(f.store.delete::<User>(&other_scope, &w.owner.id, None).await, "delete user of another org");
    assert!(matches!(f.store.insert(&other_scope, &w.owner).await, Err(StoreError::ScopeMismatch { .. })));
    let _: User = f.store.get(&w.org_scope, &w.owner.id).await.unwrap();

    // A batch read keeps to the scope too: another org's ids and unknown ids are left out.
    let ids = [w.owner.id, stranger.id, UserId::new(), w.owner.id];
    let mine: Vec<User> = f.store.get_many(&w.org_scope, &ids).await.unwrap();
    assert_eq!(mine.iter().map(|u| u.id).collect::<Vec<_>>(), vec![w.owner.id, w.owner.id]);
    let theirs: Vec<User> = f.store.get_many(&other_scope, &ids).await.unwrap();
    assert_eq!(theirs.iter().map(|u| u.id).collect::<Vec<_>>(), vec![stranger.id]);
}

/// Another organization with its owner and one project, and its owner's scope.
async fn other_organization<S: Store>(f: &Fixture<S>) -> (Organization, User, OrgScope, Project) {
    let now = f.clock.now_ts();
    let other = Organization::new("other", now);
    f.store.create_organization(&other).await.unwrap();
    let stranger = User::new(other.id, "stranger@other.example", OrgRole::Owner, now);
    let other_scope = OrgScope::for_user(&stranger).unwrap();
    f.store.insert(&other_scope, &stranger).await.unwrap();
    let project = Project::new(other.id, "project-x", now);
    f.store.insert(&other_scope, &project).await.unwrap();
    (other, stranger, other_scope, project)
}

/// Organization 1's users, projects, memberships, sessions and API tokens cannot be read, listed,
/// found by key, updated, deleted or inserted through organization 2's scope, kind by kind; the
/// same reads through organization 1's scope find each one (so an empty answer is the scope's).
/// Project-level helpers (members of a project, deleting an empty one) keep to the scope as well,
/// and a refused delete of a non-empty project reads like an unknown one, not "still holds".
pub async fn org_records_stay_in_their_organization<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let (other, _, attacker, _) = other_organization(f).await;

    async fn probe<S: Store, R: Record<Scope = OrgScope> + PartialEq + std::fmt::Debug>(
        f: &Fixture<S>,
        attacker: &OrgScope,
        owner: &OrgScope,
        victim: &R,
        forge: impl Fn(&mut R),
    ) {
        let kind = R::KIND.name();
        let id = victim.record_id();
        let raw = victim.to_raw(&crate::store::RecordScope::from(owner)).unwrap();
        assert_not_found(f.store.get::<R>(attacker, &id).await, &format!("{kind}: cross-org read"));
        let listed = f.store.list::<R>(attacker, &PageRequest::first(1_000)).await.unwrap();
        assert!(listed.items.iter().all(|r| r.record_id() != id), "{kind}: cross-org list");
        assert!(
            f.store.get_many::<R>(attacker, std::slice::from_ref(&id)).await.unwrap().is_empty(),
            "{kind}: batch read"
        );
        if let Some(key) = &raw.lookup_key {
            let page = f.store.list_by_lookup::<R>(attacker, key, &PageRequest::first(1_000)).await.unwrap();
            assert!(page.items.is_empty(), "{kind}: cross-org list by {key}");
            let own = f.store.list_by_lookup::<R>(owner, key, &PageRequest::first(1_000)).await.unwrap();
            assert!(own.items.contains(victim), "{kind}: its own org lists it by {key}");
        }
        if let Some(key) = &raw.unique_key {
            assert_not_found(f.store.find_unique::<R>(attacker, key).await, &format!("{kind}: cross-org by key"));
            assert_eq!(&f.store.find_unique::<R>(owner, key).await.unwrap(), victim, "{kind}: own org by key");
        }
        assert!(
            matches!(f.store.update(attacker, victim).await, Err(StoreError::ScopeMismatch { .. })),
            "{kind}: cross-org update"
        );
        // Forged into the attacker's organization while keeping the id: no such record there (or,
        // for a membership still naming organization 1's project, refused for that).
        let mut forged = victim.clone();
        forge(&mut forged);
        let result = f.store.update(attacker, &forged).await;
        assert!(
            matches!(result, Err(StoreError::NotFound { .. } | StoreError::ScopeMismatch { .. })),
            "{kind}: forged update: {result:?}"
        );
        assert_not_found(f.store.delete::<R>(attacker, &id, None).await, &format!("{kind}: cross-org delete"));
        assert!(
            matches!(f.store.insert(attacker, victim).await, Err(StoreError::ScopeMismatch { .. })),
            "{kind}: insert into another org"
        );
        let still: R = f.store.get(owner, &id).await.unwrap();
        assert_eq!(&still, victim, "{kind}: victim unchanged");
    }
    let member = User::new(w.org.id, "member@acme.example", OrgRole::Member, now);
    f.store.insert(&w.org_scope, &member).await.unwrap();
    let project: Project = f.store.get(&w.org_scope, &w.a.project_id()).await.unwrap();
    let membership = Membership::new(w.org.id, project.id, member.id, Role::Operator, now);
    f.store.insert(&w.org_scope, &membership).await.unwrap();
    let session = Session {
        id: SessionId::new(),
        org_id: w.org.id,
        user_id: member.id,
        csrf_token_sha256: "22".repeat(32),
        expires_at: now.saturating_add(Duration::from_secs(3_600)),
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    f.store.insert(&w.org_scope, &session).await.unwrap();
    let token = ApiToken {
        id: ApiTokenId::new(),
        org_id: w.org.id,
        user_id: member.id,
        name: "ci".into(),
        secret_sha256: "33".repeat(32),
        expires_at: None,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    f.store.insert(&w.org_scope, &token).await.unwrap();

    let theirs = other.id;
    probe(f, &attacker, &w.org_scope, &member, |r| r.org_id = theirs).await;
    probe(f, &attacker, &w.org_scope, &project, |r| r.org_id = theirs).await;
    probe(f, &attacker, &w.org_scope, &membership, |r| r.org_id = theirs).await;
    probe(f, &attacker, &w.org_scope, &session, |r| r.org_id = theirs).await;
    probe(f, &attacker, &w.org_scope, &token, |r| r.org_id = theirs).await;

    assert!(f.store.project_members(&attacker, project.id).await.unwrap().is_empty(), "members across orgs");
    assert!(f.store.project_members(&w.org_scope, project.id).await.unwrap().contains(&membership));
    // Project A holds a certificate: its own org is told so, the other org only "not found".
    f.store.insert(&w.a, &certificate(&w.a, "held.example", now)).await.unwrap();
    assert_not_found(f.store.delete_empty_project(&attacker, project.id, None).await, "delete a non-empty project");
    let holds = f.store.delete_empty_project(&w.org_scope, project.id, None).await;
    assert!(matches!(holds, Err(StoreError::NotEmpty { .. })), "{holds:?}");
    assert_not_found(f.store.delete_empty_project(&attacker, w.b.project_id(), None).await, "delete an empty one");
    let _: Project = f.store.get(&w.org_scope, &w.b.project_id()).await.unwrap();
    assert_eq!(f.store.project_members(&w.org_scope, w.b.project_id()).await.unwrap().len(), 1, "B's member kept");
}

/// A membership names a project and a user of its own organization: the store refuses one that
/// names another organization's project or user, on insert and on update, and stores nothing. (A
/// membership of organization 1 naming organization 2's project would otherwise build a
/// `ProjectScope` of org 1 for org 2's project, and jobs are kept per project.)
pub async fn memberships_name_a_project_and_a_user_of_their_own_organization<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let (other, stranger, other_scope, their_project) = other_organization(f).await;
    let member = User::new(w.org.id, "member@acme.example", OrgRole::Member, now);
    f.store.insert(&w.org_scope, &member).await.unwrap();
    let refused = |result: Result<_, StoreError>, what: &str| {
        assert!(
            matches!(result, Err(StoreError::ScopeMismatch { .. })),
            "{what}: expected ScopeMismatch, got {result:?}"
        );
    };
    let their_project_for_ours = Membership::new(w.org.id, their_project.id, member.id, Role::Admin, now);
    refused(
        f.store.insert(&w.org_scope, &their_project_for_ours).await.map(|_| ()),
        "org 1 membership in org 2's project",
    );
    let our_project_for_theirs = Membership::new(w.org.id, w.a.project_id(), stranger.id, Role::Admin, now);
    refused(
        f.store.insert(&w.org_scope, &our_project_for_theirs).await.map(|_| ()),
        "org 1 membership of org 2's user",
    );
    let ours_from_there = Membership::new(other.id, w.a.project_id(), stranger.id, Role::Admin, now);
    refused(f.store.insert(&other_scope, &ours_from_there).await.map(|_| ()), "org 2 membership in org 1's project");
    let unknown = Membership::new(w.org.id, ProjectId::new(), member.id, Role::Admin, now);
    refused(f.store.insert(&w.org_scope, &unknown).await.map(|_| ()), "membership in no project");

    let membership = Membership::new(w.org.id, w.a.project_id(), member.id, Role::Viewer, now);
    f.store.insert(&w.org_scope, &membership).await.unwrap();
    let mut moved = membership.clone();
    moved.project_id = their_project.id;
    refused(f.store.update(&w.org_scope, &moved).await.map(|_| ()), "membership moved to org 2's project");
    assert_eq!(f.store.get::<Membership>(&w.org_scope, &membership.id).await.unwrap(), membership, "unchanged");
    let page = PageRequest::first(100);
    let listed = f.store.list_by_lookup::<Membership>(&w.org_scope, &member.id.to_string(), &page).await.unwrap();
    assert_eq!(listed.items, vec![membership.clone()], "only the legitimate membership is stored");
    assert!(f.store.project_members(&other_scope, their_project.id).await.unwrap().is_empty());
}

/// Each organization's audit chain holds its own events only: listing and searching through one
/// organization's scope never returns the other's (not even filtered by the other's project), each
/// chain is gap-free from 1 and verifies with its own secret, and fails with the other's (so
/// verification is per organization and proves whose chain it read).
pub async fn audit_chains_stay_in_their_organization<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let (other, _, other_scope, their_project) = other_organization(f).await;
    let ours = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![1; 32]));
    let theirs = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![2; 32]));
    // Interleaved, so a chain that ignored the organization would mix them.
    for i in 0..3 {
        f.store.append_audit(audit_write(&w, &format!("ours.{i}"))).await.unwrap();
        let mut write = system_audit(other.id, &format!("theirs.{i}"));
        write.draft.project_id = Some(their_project.id);
        f.store.append_audit(write).await.unwrap();
    }
    f.store.append_audit(audit_write(&w, "ours.3")).await.unwrap();
    assert_eq!(f.store.pending_audit(other.id, 100).await.unwrap().len(), 3, "the other org's outbox");
    crate::audit::ChainWriter::new(w.org.id, ours.clone()).drain(&f.store).await.unwrap();
    crate::audit::ChainWriter::new(other.id, theirs.clone()).drain(&f.store).await.unwrap();

    let actions = |events: Vec<AuditEvent>| events.into_iter().map(|e| (e.seq, e.action)).collect::<Vec<_>>();
    let listed = actions(f.store.list_audit_events(&w.org_scope, 0, 100).await.unwrap());
    let expected: Vec<(u64, String)> = (0..4).map(|i| (i + 1, format!("ours.{i}"))).collect();
    assert_eq!(listed, expected);
    let listed = actions(f.store.list_audit_events(&other_scope, 0, 100).await.unwrap());
    let expected: Vec<(u64, String)> = (0..3).map(|i| (i + 1, format!("theirs.{i}"))).collect();
    assert_eq!(listed, expected);
    let everything = crate::store::AuditFilter::default();
    assert_eq!(f.store.search_audit_events(&other_scope, &everything, 0, 100).await.unwrap().len(), 3);
    let in_our_project = crate::store::AuditFilter { project_id: Some(w.a.project_id()), ..Default::default() };
    assert!(f.store.search_audit_events(&other_scope, &in_our_project, 0, 100).await.unwrap().is_empty());
    assert_eq!(f.store.search_audit_events(&w.org_scope, &in_our_project, 0, 100).await.unwrap().len(), 4);
    let in_their_project = crate::store::AuditFilter { project_id: Some(their_project.id), ..Default::default() };
    assert!(f.store.search_audit_events(&w.org_scope, &in_their_project, 0, 100).await.unwrap().is_empty());
    assert_eq!(f.store.audit_head(w.org.id).await.unwrap().unwrap().seq, 4);
    assert_eq!(f.store.audit_head(other.id).await.unwrap().unwrap().seq, 3);

    let store: &dyn Store = &f.store;
    let verify = crate::audit::verify_chain;
    assert_eq!(verify(store, &w.org_scope, &ours, drop).await.unwrap().entries, 4);
    assert_eq!(verify(store, &other_scope, &theirs, drop).await.unwrap().entries, 3);
    let crossed = verify(store, &other_scope, &ours, drop).await;
    assert!(matches!(crossed, Err(crate::audit::VerifyError::Broken(ref link)) if link.seq == 1), "{crossed:?}");
}

/// Walking pages returns every record exactly once, in id order; a garbled cursor is refused.
pub async fn pagination_walks_every_record_once<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let certs: Vec<Certificate> = (0..25).map(|i| certificate(&w.a, &format!("c{i}.example"), now)).collect();
    f.store.insert_many(&w.a, &certs).await.unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(10);
    let mut pages = 0;
    loop {
        let got = f.store.list::<Certificate>(&w.a, &page).await.unwrap();
        pages += 1;
        seen.extend(got.items.into_iter().map(|c| c.id));
        match got.next_cursor {
            Some(cursor) => page = PageRequest::after(10, cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<CertificateId> = certs.iter().map(|c| c.id).collect();
    assert_eq!(seen, expected);
    let bad = f.store.list::<Certificate>(&w.a, &PageRequest::after(10, "not-a-cursor")).await;
    assert!(matches!(bad, Err(StoreError::InvalidCursor)), "{bad:?}");
}

/// The renewal scan sees only issued certificates whose window opens before T, across projects,
/// oldest window first, page by page.
pub async fn certificates_due_in_window_order<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let day = Duration::from_secs(86_400);
    let mut expected = Vec::new();
    for (i, scope) in [&w.a, &w.b, &w.a, &w.b, &w.a, &w.b].into_iter().enumerate() {
        let mut cert = certificate(scope, &format!("due{i}.example"), now);
        // Lifetimes of 90 days starting on different days: windows open on day 60 − i.
        let start = now.saturating_sub(day * i as u32);
        cert.mark_issued(format!("{i:02x}"), start, start.saturating_add(day * 90), "00".into());
        f.store.insert(scope, &cert).await.unwrap();
        expected.push((cert.renew_at.unwrap(), cert.id));
    }
    let mut not_issued = certificate(&w.a, "pending.example", now);
    not_issued.renew_at = Some(now);
    f.store.insert(&w.a, &not_issued).await.unwrap();
    expected.sort();
    let cutoff = now.saturating_add(day * 58); // windows on days 55..60 open before day 58: i = 3, 4, 5
    let wanted: Vec<CertificateId> = expected.iter().filter(|(at, _)| *at < cutoff).map(|(_, id)| *id).collect();
    assert_eq!(wanted.len(), 3);

    let system = SystemScope::new("scheduler");
    let first = f.store.certificates_due(&system, cutoff, &PageRequest::first(2)).await.unwrap();
    let second = f
        .store
        .certificates_due(&system, cutoff, &PageRequest::after(2, first.next_cursor.clone().unwrap()))
        .await
        .unwrap();
    assert_eq!(second.next_cursor, None);
    let got: Vec<CertificateId> = first.items.iter().chain(&second.items).map(|c| c.id).collect();
    assert_eq!(got, wanted);
}

fn claim(node: &str, kinds: &[JobKind], limit: usize) -> ClaimRequest {
    ClaimRequest { node_id: node.into(), kinds: kinds.to_vec(), limit, lease: Duration::from_secs(30) }
}

fn backoff() -> crate::jobs::Backoff {
    crate::jobs::Backoff { base: Duration::from_secs(5), max: Duration::from_secs(3_600) }
}

/// A second enqueue with the same dedupe key returns the first job and creates nothing.
pub async fn enqueue_dedupes_by_key<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let first =
        f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Renew, 3).dedupe_key("renew:c1:2026")).await.unwrap();
    let second =
        f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Renew, 3).dedupe_key("renew:c1:2026")).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.job.id, second.job.id);
    let other =
        f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Renew, 3).dedupe_key("renew:c1:2027")).await.unwrap();
    assert!(other.created);
    assert_eq!(f.store.list_project_jobs(&w.a, &PageRequest::default()).await.unwrap().items.len(), 2);
}

/// The fencing rule: once term N has written, a write under a term below N changes nothing (neither
/// a claim nor a job, not even a dedupe hit), while N itself and newer terms go on being accepted.
pub async fn scheduler_writes_from_an_older_term_are_refused<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let renew =
        |key: &str, fence: Fence| NewJob::for_project(&w.a, JobKind::Renew, 3).dedupe_key(key).fenced(Some(fence));
    f.store.fence_claim(&Fence::new(4, "node-1")).await.unwrap();
    assert!(f.store.enqueue_job(renew("renew:a", Fence::new(4, "node-1"))).await.unwrap().created);
    f.clock.advance(Duration::from_millis(10));
    f.store.fence_claim(&Fence::new(5, "node-2")).await.unwrap();

    // The paused old leader wakes up: its claim, its new job and its repeat of an old one all fail.
    for attempt in [
        f.store.fence_claim(&Fence::new(4, "node-1")).await.err(),
        f.store.enqueue_job(renew("renew:b", Fence::new(4, "node-1"))).await.err(),
        f.store.enqueue_job(renew("renew:a", Fence::new(4, "node-1"))).await.err(),
        f.store.enqueue_job(renew("renew:c", Fence::new(3, "node-3"))).await.err(),
    ] {
        assert!(matches!(attempt, Some(StoreError::Fenced { newest: 5, .. })), "{attempt:?}");
    }
    let jobs = f.store.list_project_jobs(&w.a, &PageRequest::default()).await.unwrap().items;
    assert_eq!(jobs.len(), 1, "a refused write created a job");

    assert!(f.store.enqueue_job(renew("renew:b", Fence::new(5, "node-2"))).await.unwrap().created);
    assert!(f.store.enqueue_job(renew("renew:c", Fence::new(6, "node-3"))).await.unwrap().created);
    // Unfenced writes (the API, a single node) are not the scheduler's and are never refused.
    assert!(f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3)).await.unwrap().created);

    let history = f.store.fence_history().await.unwrap();
    let summary: Vec<(u64, &str, u64)> = history.iter().map(|r| (r.term, r.node.as_str(), r.writes)).collect();
    assert_eq!(summary, vec![(4, "node-1", 2), (5, "node-2", 2), (6, "node-3", 1)]);
    assert!(history[1].first_write_at > history[0].first_write_at);
}

/// Claiming leases a job to one node; completing it records timings and a structured log.
pub async fn claim_leases_and_completion_is_logged<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let queued = f
        .store
        .enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3).payload(serde_json::json!({"n": 1})))
        .await
        .unwrap()
        .job;
    assert_eq!((queued.status, queued.attempts), (JobStatus::Queued, 0));
    f.clock.advance(Duration::from_millis(250));
    let claimed = f.store.claim_jobs(&claim("node-a", &[JobKind::Issue], 5)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let job = &claimed[0];
    let lease = job.lease().unwrap();
    assert_eq!((job.status, job.attempts, lease.node_id.as_str()), (JobStatus::Running, 1, "node-a"));
    assert_eq!(lease.expires_at, f.clock.now_ts().saturating_add(Duration::from_secs(30)));
    assert!(f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 5)).await.unwrap().is_empty());
    f.store.append_job_log(&lease, LogLevel::Info, "order created", serde_json::json!({"order": "o1"})).await.unwrap();
    f.clock.advance(Duration::from_secs(2));
    let done = f.store.complete_job(&lease, "issued").await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.payload, serde_json::json!({"n": 1}));
    assert_eq!(done.finished_at.unwrap().duration_since(done.started_at.unwrap()), Duration::from_secs(2));
    assert_eq!(done.started_at.unwrap().duration_since(done.queued_at), Duration::from_millis(250));
    let system = SystemScope::new("test");
    let logs = f.store.job_logs(&system, done.id).await.unwrap();
    let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["queued", "claimed", "order created", "issued"]);
    assert_eq!(logs[2].fields, serde_json::json!({"order": "o1"}));
    assert!(matches!(f.store.complete_job(&lease, "again").await, Err(StoreError::LeaseLost { .. })));
    assert!(f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 5)).await.unwrap().is_empty());
}

/// Workers only get the kinds they ask for, and delayed jobs only once due.
pub async fn claim_respects_kinds_and_run_at<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Scan, 3)).await.unwrap();
    let later =
        f.store.enqueue_job(NewJob::system(JobKind::RotateKek, 3).delay(Duration::from_secs(60))).await.unwrap().job;
    assert!(f.store.claim_jobs(&claim("n", &[JobKind::Issue], 5)).await.unwrap().is_empty());
    assert!(f.store.claim_jobs(&claim("n", &[], 5)).await.unwrap().is_empty());
    assert!(f.store.claim_jobs(&claim("n", &[JobKind::RotateKek], 5)).await.unwrap().is_empty());
    f.clock.advance(Duration::from_secs(60));
    let got = f.store.claim_jobs(&claim("n", &[JobKind::RotateKek, JobKind::Issue], 5)).await.unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![later.id]);
    assert_eq!(f.store.claim_jobs(&claim("n", &[JobKind::Scan], 5)).await.unwrap().len(), 1);
}

/// A lease nobody renews expires; another node takes the job as a new attempt, and the first node's
/// heartbeat, completion and failure are refused from then on.
pub async fn expired_lease_is_reclaimed_and_old_holder_fenced<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let id = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 5)).await.unwrap().job.id;
    let first = f.store.claim_jobs(&claim("node-a", &[JobKind::Issue], 1)).await.unwrap().remove(0).lease().unwrap();
    f.clock.advance(Duration::from_secs(29));
    assert!(f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 1)).await.unwrap().is_empty());
    f.clock.advance(Duration::from_secs(1));
    let second = f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 1)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].id, second[0].attempts), (id, 2));
    let failure = JobFailure { error: "x".into(), retryable: true, backoff: backoff() };
    assert!(matches!(f.store.heartbeat_job(&first, Duration::from_secs(30)).await, Err(StoreError::LeaseLost { .. })));
    assert!(matches!(f.store.complete_job(&first, "done").await, Err(StoreError::LeaseLost { .. })));
    assert!(matches!(f.store.fail_job(&first, &failure).await, Err(StoreError::LeaseLost { .. })));
    let done = f.store.complete_job(&second[0].lease().unwrap(), "done").await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    let logs = f.store.job_logs(&SystemScope::new("t"), id).await.unwrap();
    assert!(logs.iter().any(|l| l.message == "lease of node node-a expired"), "{logs:?}");
}

/// Heartbeats push the lease forward, so a live worker keeps its job past the first lease.
pub async fn heartbeat_keeps_the_lease<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 5)).await.unwrap();
    let mut lease =
        f.store.claim_jobs(&claim("node-a", &[JobKind::Issue], 1)).await.unwrap().remove(0).lease().unwrap();
    for _ in 0..4 {
        f.clock.advance(Duration::from_secs(20));
        lease = f.store.heartbeat_job(&lease, Duration::from_secs(30)).await.unwrap();
        assert!(f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 1)).await.unwrap().is_empty());
    }
    assert_eq!(lease.expires_at, f.clock.now_ts().saturating_add(Duration::from_secs(30)));
    f.store.complete_job(&lease, "done").await.unwrap();
}

/// Each failure schedules a retry further out than the last, within the jitter bounds; the last
/// allowed attempt's failure makes the job dead and unclaimable.
pub async fn backoff_grows_then_job_is_dead<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let id = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 5)).await.unwrap().job.id;
    let failure = JobFailure { error: "ca unavailable".into(), retryable: true, backoff: backoff() };
    let mut previous = Duration::ZERO;
    for attempt in 1..=5u32 {
        let job = f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().remove(0);
        assert_eq!(job.attempts, attempt);
        let failed = f.store.fail_job(&job.lease().unwrap(), &failure).await.unwrap();
        assert_eq!(failed.last_error.as_deref(), Some("ca unavailable"));
        if attempt == 5 {
            assert_eq!(failed.status, JobStatus::Dead);
            assert!(failed.finished_at.is_some());
            break;
        }
        assert_eq!(failed.status, JobStatus::Failed);
        let delay = failed.run_at.duration_since(f.clock.now_ts());
        let ceiling = backoff().ceiling(attempt);
        assert!(
            delay >= ceiling / 2 && delay <= ceiling,
            "attempt {attempt}: {delay:?} outside [{:?}, {ceiling:?}]",
            ceiling / 2
        );
        assert!(delay >= previous, "attempt {attempt}: {delay:?} < {previous:?}");
        previous = delay;
        // Not claimable before its retry time, claimable at it.
        f.clock.advance(delay - Duration::from_millis(1));
        assert!(f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().is_empty());
        f.clock.advance(Duration::from_millis(1));
    }
    f.clock.advance(Duration::from_secs(86_400));
    assert!(f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().is_empty());
    assert_eq!(f.store.get_job(&SystemScope::new("t"), id).await.unwrap().status, JobStatus::Dead);
}

/// A failure that no retry can fix ends the job at once, whatever attempts remain.
pub async fn permanent_failure_is_dead_at_once<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 8)).await.unwrap();
    let job = f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().remove(0);
    let failure = JobFailure { error: "rejected identifier".into(), retryable: false, backoff: backoff() };
    let dead = f.store.fail_job(&job.lease().unwrap(), &failure).await.unwrap();
    assert_eq!((dead.status, dead.attempts), (JobStatus::Dead, 1));
}

/// Two jobs on one certificate never run together: the second waits until the first finishes.
pub async fn one_running_job_per_subject<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let first = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3).subject("cert-1")).await.unwrap().job;
    let second =
        f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Distribute, 3).subject("cert-1")).await.unwrap().job;
    let other = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3).subject("cert-2")).await.unwrap().job;
    let got = f.store.claim_jobs(&claim("n", &JobKind::ALL, 10)).await.unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![first.id, other.id]);
    assert!(f.store.claim_jobs(&claim("m", &JobKind::ALL, 10)).await.unwrap().is_empty());
    f.store.complete_job(&got[0].lease().unwrap(), "done").await.unwrap();
    let next = f.store.claim_jobs(&claim("m", &JobKind::ALL, 10)).await.unwrap();
    assert_eq!(next.iter().map(|j| j.id).collect::<Vec<_>>(), vec![second.id]);
}

/// Releasing (graceful shutdown) puts the job back at once without spending an attempt, and the
/// released lease stays dead even when the same node claims the job again with the same attempt
/// number: the lease sequence, not the attempt count, is the fencing token.
pub async fn release_gives_the_attempt_back<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 1)).await.unwrap();
    let job = f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().remove(0);
    let released = f.store.release_job(&job.lease().unwrap(), "node shutting down").await.unwrap();
    assert_eq!((released.status, released.attempts, released.lease_owner.clone()), (JobStatus::Queued, 0, None));
    let again = f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().remove(0);
    assert_eq!((again.attempts, again.lease_owner.as_deref()), (1, Some("n")));
    assert!(again.lease_seq > job.lease_seq);
    let stale = job.lease().unwrap();
    assert!(matches!(f.store.release_job(&stale, "late").await, Err(StoreError::LeaseLost { .. })));
    assert!(matches!(f.store.complete_job(&stale, "late").await, Err(StoreError::LeaseLost { .. })));
    f.store.complete_job(&again.lease().unwrap(), "done").await.unwrap();
}

/// Project job listings show only that project's jobs, never system jobs.
pub async fn project_jobs_are_scoped<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let mine = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3)).await.unwrap().job;
    f.store.enqueue_job(NewJob::for_project(&w.b, JobKind::Issue, 3)).await.unwrap();
    f.store.enqueue_job(NewJob::system(JobKind::RotateKek, 3)).await.unwrap();
    let listed = f.store.list_project_jobs(&w.a, &PageRequest::default()).await.unwrap();
    assert_eq!(listed.items.iter().map(|j| j.id).collect::<Vec<_>>(), vec![mine.id]);
    assert_eq!(f.store.get_project_job(&w.a, mine.id).await.unwrap().project_id, Some(w.a.project_id()));
}

/// Many tasks claiming at once from one store: every job is claimed exactly once.
pub async fn concurrent_claimers_never_share_a_job<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    for i in 0..200 {
        f.store
            .enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3).subject(format!("c{}", i % 150)))
            .await
            .unwrap();
    }
    let store = &f.store;
    let claimers = (0..8).map(|n| async move {
        let mut mine = Vec::new();
        loop {
            let got = store.claim_jobs(&claim(&format!("node-{n}"), &[JobKind::Issue], 3)).await.unwrap();
            if got.is_empty() {
                return mine;
            }
            for job in got {
                mine.push(job.id);
                store.complete_job(&job.lease().unwrap(), "done").await.unwrap();
            }
        }
    });
    let all: Vec<JobId> = futures_join_all(claimers).await.into_iter().flatten().collect();
    let unique: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!(all.len(), 200);
    assert_eq!(unique.len(), 200);
}

/// Many tasks enqueueing the same dedupe key at once make exactly one job.
pub async fn concurrent_enqueue_with_one_key_makes_one_job<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let store = &f.store;
    let scope = &w.a;
    let results = futures_join_all((0..50).map(|_| async move {
        store.enqueue_job(NewJob::for_project(scope, JobKind::Renew, 3).dedupe_key("renew:x")).await.unwrap()
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    assert!(results.iter().all(|r| r.job.id == results[0].job.id));
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

/// Drains `w`'s outbox with a fresh writer and returns the whole chain.
async fn chained<S: Store>(
    f: &Fixture<S>,
    w: &World,
    secret: &std::sync::Arc<crate::crypto::SecretBytes>,
) -> Vec<AuditEvent> {
    crate::audit::ChainWriter::new(w.org.id, secret.clone()).drain(&f.store).await.unwrap();
    f.store.list_audit_events(&w.org_scope, 0, 10_000).await.unwrap()
}

/// A state change and its audit event land together: a refused change (conflict, duplicate) leaves
/// nothing in the outbox, a successful one exactly one row. The writer chains the rows in commit
/// order, leaves the outbox empty, and concurrent writes form one gap-free chain that verifies.
pub async fn audited_writes_are_atomic_and_chain<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let secret = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![5; 32]));
    let now = f.clock.now_ts();
    let project = Project::new(w.org.id, "audited", now);
    f.store.insert_audited(&w.org_scope, &project, audit_write(&w, "project.created")).await.unwrap();
    assert!(f.store.insert_audited(&w.org_scope, &project, audit_write(&w, "project.created")).await.is_err());
    let stale = project.clone();
    let mut renamed = project.clone();
    renamed.name = "renamed".into();
    f.store.update_audited(&w.org_scope, &renamed, audit_write(&w, "project.updated")).await.unwrap();
    assert!(matches!(
        f.store.update_audited(&w.org_scope, &stale, audit_write(&w, "project.updated")).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        f.store.delete_audited::<Project>(&w.org_scope, &ProjectId::new(), None, audit_write(&w, "x")).await.is_err()
    );
    let pending = f.store.pending_audit(w.org.id, 100).await.unwrap();
    let drafts: Vec<_> = pending.iter().map(|p| p.draft.as_ref().unwrap().action.as_str()).collect();
    assert_eq!(drafts, ["project.created", "project.updated"]);
    assert!(pending[0].id < pending[1].id);
    assert_eq!(f.store.pending_audit_orgs().await.unwrap(), vec![(w.org.id, 2)]);
    assert!(f.store.list_audit_events(&w.org_scope, 0, 100).await.unwrap().is_empty(), "nothing chained yet");

    let events = chained(f, &w, &secret).await;
    assert_eq!(events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["project.created", "project.updated"]);
    assert_eq!(events[0].at, pending[0].at, "an entry keeps the time its change committed");
    assert!(f.store.pending_audit(w.org.id, 100).await.unwrap().is_empty());
    assert!(f.store.pending_audit_orgs().await.unwrap().is_empty());

    let store = &f.store;
    let w_ref = &w;
    futures_join_all(
        (0..40).map(|i| async move { store.append_audit(audit_write(w_ref, &format!("burst.{i}"))).await.unwrap() }),
    )
    .await;
    let events = chained(f, &w, &secret).await;
    assert_eq!(events.len(), 42);
    let mut verifier = crate::audit::Verifier::new(&secret);
    for e in &events {
        verifier.check(e).unwrap();
    }
    assert_eq!(verifier.finish().entries, 42);
}

/// `update_raw_many` is one transaction across kinds: a stale version in the last record leaves
/// the earlier ones and the outbox untouched; a fresh batch lands whole, bumps every version, and
/// writes its one audit entry.
pub async fn batch_updates_land_together_or_not_at_all<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let scope = crate::store::RecordScope::from(&w.org_scope);
    let mut user = User::new(w.org.id, "batch@example.com", OrgRole::Member, now);
    f.store.insert(&w.org_scope, &user).await.unwrap();
    let session = Session {
        id: SessionId::new(),
        org_id: w.org.id,
        user_id: user.id,
        csrf_token_sha256: "00".into(),
        expires_at: now,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    f.store.insert(&w.org_scope, &session).await.unwrap();
    user.disabled = true;
    let mut revoked = session.clone();
    revoked.revoked = true;
    let mut stale = revoked.clone();
    stale.version = 7;
    let batch = |s: &Session| vec![user.to_raw(&scope).unwrap(), s.to_raw(&scope).unwrap()];
    let refused = f.store.update_raw_many(&scope, batch(&stale), Some(audit_write(&w, "user.disabled"))).await;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
    assert!(!f.store.get::<User>(&w.org_scope, &user.id).await.unwrap().disabled, "first update kept");
    assert!(f.store.pending_audit(w.org.id, 10).await.unwrap().is_empty(), "audit kept");

    let stored =
        f.store.update_raw_many(&scope, batch(&revoked), Some(audit_write(&w, "user.disabled"))).await.unwrap();
    assert_eq!(stored.iter().map(|r| r.version).collect::<Vec<_>>(), [2, 2]);
    assert!(f.store.get::<User>(&w.org_scope, &user.id).await.unwrap().disabled);
    assert!(f.store.get::<Session>(&w.org_scope, &session.id).await.unwrap().revoked);
    assert_eq!(f.store.pending_audit(w.org.id, 10).await.unwrap().len(), 1);
}

/// Two writers draining one organization's outbox (as two processes sharing a store would): the
/// one that loses a race reloads the head and goes on, so every event is chained once, in commit
/// order, on one unforked chain.
pub async fn racing_chain_writers_never_fork_or_repeat<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let secret = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![6; 32]));
    let mut a = crate::audit::ChainWriter::new(w.org.id, secret.clone());
    let mut b = crate::audit::ChainWriter::new(w.org.id, secret.clone());
    f.store.append_audit(audit_write(&w, "first")).await.unwrap();
    assert_eq!(a.drain(&f.store).await.unwrap(), 1);
    // `b` has never seen the head; `a` believes it knows it. Both go at the next rows together.
    for i in 0..300 {
        f.store.append_audit(audit_write(&w, &format!("n{i}"))).await.unwrap();
    }
    let (ra, rb) = {
        let (a, b, store) = (&mut a, &mut b, &f.store);
        let both = futures_join_all([
            Box::pin(async move { a.drain(store).await.unwrap() })
                as std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>>,
            Box::pin(async move { b.drain(store).await.unwrap() }),
        ])
        .await;
        (both[0], both[1])
    };
    assert_eq!(ra + rb, 300, "each row chained by exactly one writer");
    // A writer whose remembered head went stale is refused by the store, reloads, and chains.
    f.store.append_audit(audit_write(&w, "s1")).await.unwrap();
    assert_eq!(a.drain(&f.store).await.unwrap(), 1);
    f.store.append_audit(audit_write(&w, "s2")).await.unwrap();
    assert_eq!(b.drain(&f.store).await.unwrap(), 1);
    f.store.append_audit(audit_write(&w, "s3")).await.unwrap();
    let races = a.stats().races;
    assert_eq!(a.drain(&f.store).await.unwrap(), 1);
    assert_eq!(a.stats().races, races + 1);
    let events = f.store.list_audit_events(&w.org_scope, 0, 1_000).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.action.clone()).collect();
    let expected: Vec<_> = std::iter::once("first".to_owned())
        .chain((0..300).map(|i| format!("n{i}")))
        .chain(["s1", "s2", "s3"].map(String::from))
        .collect();
    assert_eq!(actions, expected);
    let mut verifier = crate::audit::Verifier::new(&secret);
    for e in &events {
        verifier.check(e).unwrap();
    }
    assert!(f.store.pending_audit_orgs().await.unwrap().is_empty());
    // Chaining a row that is no longer in the outbox is refused and appends nothing.
    let head = f.store.audit_head(w.org.id).await.unwrap().unwrap();
    let extra = crate::audit::seal_entry(
        &secret,
        Some(&crate::audit::ChainHead { seq: head.seq, hmac: head.hmac.clone() }),
        audit_write(&w, "ghost").draft,
        f.clock.now_ts(),
    );
    assert!(matches!(
        f.store.chain_audit(vec![extra], vec![999_999]).await,
        Err(StoreError::AuditOutboxTaken { id: 999_999 })
    ));
    assert_eq!(f.store.audit_head(w.org.id).await.unwrap().unwrap().seq, head.seq);
}

/// The store refuses audit entries that would leave a gap or repeat a sequence number.
pub async fn audit_sequence_is_gap_free<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let event = |seq: u64| AuditEvent {
        org_id: w.org.id,
        seq,
        at: f.clock.now_ts(),
        actor: Principal::System("test".into()),
        action: "cert.requested".into(),
        object: None,
        project_id: Some(w.a.project_id()),
        details: serde_json::json!({ "n": seq }),
        prev_hmac: String::new(),
        hmac: format!("h{seq}"),
    };
    let chain = |events: Vec<AuditEvent>| f.store.chain_audit(events, Vec::new());
    assert_eq!(f.store.audit_head(w.org.id).await.unwrap(), None);
    chain(vec![event(1), event(2)]).await.unwrap();
    assert!(matches!(chain(vec![event(2)]).await, Err(StoreError::AuditSequence { expected: 3, got: 2 })));
    assert!(matches!(chain(vec![event(4)]).await, Err(StoreError::AuditSequence { expected: 3, .. })));
    // All or nothing: a bad entry in a batch keeps the good ones out too.
    assert!(chain(vec![event(3), event(5)]).await.is_err());
    assert_eq!(f.store.audit_head(w.org.id).await.unwrap().unwrap().seq, 2);
    chain(vec![event(3)]).await.unwrap();
    let listed = f.store.list_audit_events(&w.org_scope, 1, 10).await.unwrap();
    assert_eq!(listed.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(listed[0], event(2));
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

/// A certificate's timeline sources: audit entries found by object id (only that object's), and
/// the log lines of its jobs by subject, within its project only.
pub async fn a_certificates_story_is_found_by_object_and_subject<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let secret = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![7; 32]));
    let now = f.clock.now_ts();
    let cert = certificate(&w.a, "story.example", now);
    let other = certificate(&w.a, "other.example", now);
    for (c, action) in [(&cert, "cert.requested"), (&other, "cert.requested"), (&cert, "cert.issued")] {
        let mut write = audit_write(&w, action);
        write.draft.object = Some(crate::model::AuditObject { kind: "certificate".into(), id: c.id.to_string() });
        f.store.append_audit(write).await.unwrap();
    }
    chained(f, &w, &secret).await;
    let filter = crate::store::AuditFilter {
        project_id: Some(w.a.project_id()),
        object_id: Some(cert.id.to_string()),
        ..Default::default()
    };
    let found = f.store.search_audit_events(&w.org_scope, &filter, 0, 100).await.unwrap();
    assert_eq!(found.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["cert.requested", "cert.issued"]);

    let job = NewJob::for_project(&w.a, JobKind::Issue, 3).subject(cert.id.to_string());
    f.store.enqueue_job(job).await.unwrap();
    let lease = f.store.claim_jobs(&claim("node-a", &[JobKind::Issue], 1)).await.unwrap()[0].lease().unwrap();
    f.store.append_job_log(&lease, LogLevel::Info, "order placed", serde_json::json!({})).await.unwrap();
    let lines = f.store.subject_job_logs(&w.a, &cert.id.to_string(), 100).await.unwrap();
    let messages: Vec<&str> = lines.iter().map(|(_, _, l)| l.message.as_str()).collect();
    assert_eq!(messages, ["queued", "claimed", "order placed"]);
    assert!(lines.iter().all(|(id, kind, _)| *id == lease.job_id && *kind == JobKind::Issue));
    assert!(
        f.store.subject_job_logs(&w.b, &cert.id.to_string(), 100).await.unwrap().is_empty(),
        "another project sees nothing"
    );
    assert!(f.store.subject_job_logs(&w.a, &other.id.to_string(), 100).await.unwrap().is_empty());
}

/// Expiries of certificates holding one, soonest first, across projects; the rest, and revoked
/// certificates (soonest to expire here, so a leak would show first), are left out.
pub async fn certificate_expiries_soonest_first<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let day = Duration::from_secs(86_400);
    let mut ids = Vec::new();
    for (i, (scope, days)) in [(&w.a, 30u32), (&w.b, 10), (&w.a, 20)].into_iter().enumerate() {
        let mut cert = certificate(scope, &format!("exp{i}.example"), now);
        cert.mark_issued(format!("{i:02x}"), now, now.saturating_add(day * days), "00".into());
        f.store.insert(scope, &cert).await.unwrap();
        ids.push((days, cert.id));
    }
    f.store.insert(&w.a, &certificate(&w.a, "never.example", now)).await.unwrap();
    // A revoked certificate is not live: it leaves the expiry metric.
    let mut revoked = certificate(&w.a, "revoked.example", now);
    revoked.mark_issued("ff".into(), now, now.saturating_add(day), "00".into());
    revoked.status = crate::model::CertificateStatus::Revoked;
    f.store.insert(&w.a, &revoked).await.unwrap();
    ids.sort();
    let expiries = f.store.certificate_expiries(&SystemScope::new("metrics"), 10).await.unwrap();
    assert_eq!(expiries.iter().map(|e| e.id).collect::<Vec<_>>(), ids.iter().map(|(_, id)| *id).collect::<Vec<_>>());
    assert_eq!(expiries[0].common_name, "exp1.example");
    assert_eq!(f.store.certificate_expiries(&SystemScope::new("metrics"), 2).await.unwrap().len(), 2);
}

const LOGIN_POLICY: crate::model::LoginPolicy = crate::model::LoginPolicy {
    slowdown_after: 3,
    slowdown_max: Duration::from_secs(2),
    lockout_after_per_account_address: 5,
    lockout_after_per_address: 8,
    lockout: Duration::from_secs(60),
};

fn login_keys() -> crate::model::LoginKeys {
    crate::model::LoginKeys::new(&crate::crypto::SecretBytes::new(vec![5; 32]))
}

/// Failed logins are counted per account, per address and per (account, address): the account's
/// failures slow every attempt on it down (capped) but refuse none, so another address still gets
/// through; the pair is refused until the lockout has passed since its last failure; a success
/// clears the account and the pair and gives the address its attempt back; an address trying many
/// accounts is refused for every account.
pub async fn failed_logins_slow_the_account_and_lock_the_pair_and_the_address<S: Store>(f: &Fixture<S>) {
    use crate::model::LoginVerdict;
    let keys = login_keys();
    let attempt = |email: &str, address: Option<&str>| {
        let keys = keys.attempt(email, address);
        async move { f.store.reserve_login_attempt(&keys, &LOGIN_POLICY).await.unwrap() }
    };
    let proceed = |ms| LoginVerdict::Proceed { delay: Duration::from_millis(ms) };
    let refused = LoginVerdict::Refuse { retry_after: LOGIN_POLICY.lockout };
    let (victim, ip, other_ip) = ("victim@x.test", Some("192.0.2.1"), Some("192.0.2.2"));
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        verdicts.push(attempt(victim, ip).await);
    }
    assert_eq!(verdicts, [proceed(0), proceed(0), proceed(0), proceed(500), proceed(1_000)]);
    assert_eq!(attempt(victim, ip).await, refused, "the pair is locked");
    assert_eq!(attempt(victim, other_ip).await, proceed(2_000), "the account is slowed, not locked");
    assert_eq!(attempt(victim, None).await, proceed(2_000), "the delay is capped");
    // A refused attempt is not a failure: the lockout runs from the last counted one.
    f.clock.advance(Duration::from_secs(59));
    assert_eq!(attempt(victim, ip).await, refused);
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(attempt(victim, ip).await, proceed(0), "everything expired");
    f.store.login_succeeded(&keys.attempt(victim, ip)).await.unwrap();
    for _ in 0..4 {
        attempt(victim, ip).await;
    }
    assert_eq!(attempt(victim, ip).await, proceed(1_000), "a success cleared the account and the pair");

    // One address, many accounts: the address is refused, the accounts elsewhere are not.
    let spray = Some("192.0.2.3");
    for i in 0..8 {
        let verdict = attempt(&format!("user{i}@x.test"), spray).await;
        assert_eq!(verdict, proceed(0), "{i}");
    }
    assert_eq!(attempt("fresh@x.test", spray).await, refused);
    assert_eq!(attempt("fresh@x.test", other_ip).await, proceed(0));
    // A success from the address takes one attempt back: one more may be made, not two.
    f.store.login_succeeded(&keys.attempt("user0@x.test", spray)).await.unwrap();
    assert_eq!(attempt("next@x.test", spray).await, proceed(0));
    assert_eq!(attempt("last@x.test", spray).await, refused);
}

/// Attempts are counted when they start, in one step with the decision: a burst of concurrent
/// guesses is cut off at the limit although none has finished.
pub async fn concurrent_login_guesses_cannot_outrun_the_count<S: Store>(f: &Fixture<S>) {
    let policy = crate::model::LoginPolicy { slowdown_after: 100, lockout_after_per_address: 1_000, ..LOGIN_POLICY };
    let keys = login_keys().attempt("victim@x.test", Some("192.0.2.9"));
    let guesses = (0..50).map(|_| f.store.reserve_login_attempt(&keys, &policy));
    let verdicts = futures_join_all(guesses).await;
    let admitted = verdicts.iter().filter(|v| matches!(v, Ok(crate::model::LoginVerdict::Proceed { .. }))).count();
    assert_eq!(admitted, 5);
}

/// A paused certificate has no renewal window in the store's index, whatever its `renew_at`, and
/// gets it back when resumed: the scheduler's only source of due certificates never names it.
pub async fn paused_certificates_are_never_due<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let day = Duration::from_secs(86_400);
    let start = now.saturating_sub(day * 80);
    let mut paused = certificate(&w.a, "paused.example", now);
    paused.mark_issued("01".into(), start, start.saturating_add(day * 90), "00".into());
    paused.paused = true;
    f.store.insert(&w.a, &paused).await.unwrap();
    let mut running = certificate(&w.a, "running.example", now);
    running.mark_issued("02".into(), start, start.saturating_add(day * 90), "00".into());
    f.store.insert(&w.a, &running).await.unwrap();
    assert_eq!(due_ids(f, now).await, vec![running.id], "the paused certificate is left out");
    let mut resumed: Certificate = f.store.get(&w.a, &paused.id).await.unwrap();
    resumed.paused = false;
    f.store.update(&w.a, &resumed).await.unwrap();
    let mut both = due_ids(f, now).await;
    both.sort();
    let mut expected = vec![running.id, paused.id];
    expected.sort();
    assert_eq!(both, expected, "resumed, it is due again");
}

async fn due_ids<S: Store>(f: &Fixture<S>, now: Timestamp) -> Vec<CertificateId> {
    let page = f.store.certificates_due(&SystemScope::new("scheduler"), now, &PageRequest::first(10)).await.unwrap();
    page.items.into_iter().map(|c| c.id).collect()
}

async fn sealed_rows_of<S: Store>(f: &Fixture<S>, record_id: &str) -> usize {
    let rows = f.store.sealed_older_than(u32::MAX, 10_000).await.unwrap();
    rows.into_iter().filter(|r| r.key.record_id == record_id).count()
}

/// Deleting a certificate takes its deployment records and sealed keys with it, in one
/// transaction with its audit event; a stale version deletes nothing, and other certificates'
/// deployments stay.
pub async fn a_deleted_certificate_takes_its_deployments_and_keys<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let mut cert = certificate(&w.a, "gone.example", now);
    cert.private_key = Some(sealed(1, "gone-key"));
    f.store.insert(&w.a, &cert).await.unwrap();
    let other = certificate(&w.a, "kept.example", now);
    f.store.insert(&w.a, &other).await.unwrap();
    let target = DistributionTarget::new(w.a.project_id(), "t", TargetKind::File, now);
    f.store.insert(&w.a, &target).await.unwrap();
    let deployed = Deployment::new(w.a.project_id(), cert.id, target.id, now);
    f.store.insert(&w.a, &deployed).await.unwrap();
    let kept = Deployment::new(w.a.project_id(), other.id, target.id, now);
    f.store.insert(&w.a, &kept).await.unwrap();
    let audit = |action: &str| crate::store::AuditWrite {
        draft: crate::audit::AuditDraft {
            org_id: w.org.id,
            actor: Principal::System("test".into()),
            action: action.into(),
            object: Some(AuditObject { kind: "certificate".into(), id: cert.id.to_string() }),
            project_id: Some(w.a.project_id()),
            details: serde_json::json!({}),
        },
    };
    assert_eq!(sealed_rows_of(f, &cert.id.to_string()).await, 1);

    let stale = f.store.delete_certificate(&w.a, cert.id, cert.version + 1, audit("cert.deleted")).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
    assert!(f.store.get::<Certificate>(&w.a, &cert.id).await.is_ok(), "a stale version deletes nothing");
    assert!(f.store.get::<Deployment>(&w.a, &deployed.id).await.is_ok());
    let other_project = f.store.delete_certificate(&w.b, cert.id, cert.version, audit("cert.deleted")).await;
    assert_not_found(other_project, "another project's certificate");

    f.store.delete_certificate(&w.a, cert.id, cert.version, audit("cert.deleted")).await.unwrap();
    assert_not_found(f.store.get::<Certificate>(&w.a, &cert.id).await, "the deleted certificate");
    assert_not_found(f.store.get::<Deployment>(&w.a, &deployed.id).await, "its deployment");
    assert_eq!(sealed_rows_of(f, &cert.id.to_string()).await, 0, "its sealed key is gone");
    assert!(f.store.get::<Deployment>(&w.a, &kept.id).await.is_ok(), "another certificate's deployment stays");
    let pending = f.store.pending_audit(w.org.id, 100).await.unwrap();
    let deleted = pending.iter().filter(|p| p.draft.as_ref().is_ok_and(|d| d.action == "cert.deleted")).count();
    assert_eq!(deleted, 1, "one event, for the delete that landed");
}
