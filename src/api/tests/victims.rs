//! Fresh records for tests that destroy or change something (the REST and GraphQL role matrices,
//! the mutation tests): each call makes new ones, so one caller's success never changes what the
//! next caller is judged on.

use certautopilot_core::Timestamp;
use certautopilot_core::model::*;
use certautopilot_core::store::RecordStore;

use super::harness::{Harness, Resources, World, resources, unique};

/// A fresh set of project A's records (account, credential, zone, target, requested certificate).
pub async fn fresh_in_a(h: &Harness, w: &World) -> Resources {
    resources(h, w.a.scope.clone(), "victim").await
}

/// A new member-role user of the organization with no memberships.
pub async fn fresh_user(h: &Harness, w: &World) -> User {
    let user = User::new(w.org.id, &format!("x{}@acme.test", unique()), OrgRole::Member, Timestamp::now());
    h.store.insert(&w.org_scope, &user).await.unwrap();
    user
}

/// A new user who is a viewer of project A.
pub async fn fresh_member_of_a(h: &Harness, w: &World) -> User {
    let user = fresh_user(h, w).await;
    let membership = Membership::new(w.org.id, w.a.scope.project_id(), user.id, Role::Viewer, Timestamp::now());
    h.store.insert(&w.org_scope, &membership).await.unwrap();
    user
}

/// An empty project that admin_a, operator_a and viewer_a are members of (with those roles), so
/// only the role decides whether they may delete it.
pub async fn empty_project_with_a_members(h: &Harness, w: &World) -> Project {
    let project = Project::new(w.org.id, format!("empty-{}", unique()), Timestamp::now());
    h.store.insert(&w.org_scope, &project).await.unwrap();
    for (who, role) in [(&w.admin_a, Role::Admin), (&w.operator_a, Role::Operator), (&w.viewer_a, Role::Viewer)] {
        let user = who.user.as_ref().unwrap();
        let membership = Membership::new(w.org.id, project.id, user.id, role, Timestamp::now());
        h.store.insert(&w.org_scope, &membership).await.unwrap();
    }
    project
}

/// A fresh certificate of project A that is issued (it has a chain) and attached to A's target, so
/// renew, revoke and distribute all succeed on it.
pub async fn issued_certificate_in_a(h: &Harness, w: &World) -> Certificate {
    let mut cert = fresh_in_a(h, w).await.certificate;
    cert.status = CertificateStatus::Issued;
    cert.chain_pem = Some("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into());
    cert.serial = Some(format!("{:x}", 0x1000 + unique()));
    cert.target_ids = vec![w.a.target.id];
    h.store.update(&w.a.scope, &cert).await.unwrap()
}

/// The id of a fresh API token of `user` (an allowed caller may revoke its own).
pub async fn fresh_api_token_id(h: &Harness, w: &World, user: &User) -> String {
    let token = super::harness::api_token(h, &w.org_scope, user).await;
    token.trim_start_matches(crate::service::credentials::API_TOKEN_PREFIX).split('.').next().unwrap().to_owned()
}

/// A fresh ACME account of project A that no certificate uses (so deleting it succeeds).
pub async fn unused_account_in_a(h: &Harness, w: &World) -> AcmeAccount {
    let account = AcmeAccount::new(
        w.a.scope.project_id(),
        format!("unused-{}", unique()),
        "https://ca.test/dir",
        Timestamp::now(),
    );
    h.store.insert(&w.a.scope, &account).await.unwrap();
    account
}

/// A fresh DNS credential of project A that no zone uses (so deleting it succeeds).
pub async fn unused_credential_in_a(h: &Harness, w: &World) -> DnsCredential {
    let name = format!("unused-{}", unique());
    let credential = DnsCredential::new(w.a.scope.project_id(), name, Rfc2136Config::default(), Timestamp::now());
    h.store.insert(&w.a.scope, &credential).await.unwrap();
    credential
}
