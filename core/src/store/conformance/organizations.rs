//! Conformance of the `Organizations` concern: first-run setup and organization CRUD.
//! Invariant: each check starts from an empty store and asserts only through the concern's methods
//! and the records they create.

use super::*;

/// First-run setup creates the organization and its owner once; a second setup changes nothing.
pub async fn first_organization_is_created_once<S: Organizations + Records>(f: &Fixture<S>) {
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

/// Organizations: create, read, list, versioned update, stale update refused, duplicate refused.
pub async fn organizations_crud<S: Organizations + Records>(f: &Fixture<S>) {
    let org = Organization::new("acme", f.clock.now_ts());
    f.store.create_organization(&org).await.unwrap();
    assert_eq!(f.store.get_organization(org.id).await.unwrap(), org);
    assert!(matches!(f.store.create_organization(&org).await, Err(StoreError::AlreadyExists { .. })));
    assert_eq!(f.store.list_organizations().await.unwrap(), vec![org.clone()]);
    f.clock.advance(Duration::from_secs(1));
    let mut renamed = org.clone();
    renamed.name = "acme corp".into();
    let updated = f.store.update_organization(&renamed, None).await.unwrap();
    assert_eq!((updated.version, updated.name.as_str()), (2, "acme corp"));
    assert!(updated.updated_at > org.updated_at);
    assert_conflict(f.store.update_organization(&renamed, None).await, "stale organization update");
    assert_not_found(f.store.get_organization(OrgId::new()).await, "missing organization");
}
