//! Conformance of record tenancy: a project scope never reaches another project, an organization
//! scope never another organization, and memberships only name their own organization's objects.
//! Invariant: another scope's id reads exactly like an id that does not exist.

use super::*;

/// A scope for project A can neither read, list, update, delete nor create an object of project B,
/// for every project-scoped kind (deployment records included); and B's objects are unchanged
/// afterwards. B's own scope reaches each of them the same ways, so an empty answer is the scope's.
pub async fn project_scope_cannot_reach_other_projects<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let theirs = one_of_each(&w.b, "theirs", now);
    insert_set(&f.store, &w.b, &theirs).await;

    async fn probe<S: Organizations + Records, R: Record<Scope = ProjectScope> + PartialEq + std::fmt::Debug>(
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
pub async fn org_scope_cannot_reach_other_organizations<S: Organizations + Records>(f: &Fixture<S>) {
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
pub(super) async fn other_organization<S: Organizations + Records>(
    f: &Fixture<S>,
) -> (Organization, User, OrgScope, Project) {
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
pub async fn org_records_stay_in_their_organization<S: Organizations + Records>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let (other, _, attacker, _) = other_organization(f).await;

    async fn probe<S: Organizations + Records, R: Record<Scope = OrgScope> + PartialEq + std::fmt::Debug>(
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
pub async fn memberships_name_a_project_and_a_user_of_their_own_organization<S: Organizations + Records>(
    f: &Fixture<S>,
) {
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
