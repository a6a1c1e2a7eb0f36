//! DNS credentials and zones: admins add them to their project; a zone names a credential of its
//! own project; a credential a zone uses stays.

use certautopilot_core::model::DnsCredential;
use certautopilot_core::store::RecordStore;

use super::*;
use crate::api::tests::harness::{Resources, world};
use crate::api::views::{CreateDnsCredential, CreateZone};
use crate::service::dns;

fn credential(project: &Resources, provider: &str) -> CreateDnsCredential {
    CreateDnsCredential {
        project_id: project.scope.project_id(),
        name: "bind".into(),
        provider: provider.into(),
        config: serde_json::json!({
            "server": "127.0.0.1:53",
            "key_name": "update.",
            "algorithm": "hmac-sha256",
            "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
        }),
    }
}

/// An admin adds a credential (the secret sealed) and a zone served by it; a viewer may not add
/// one; the other project's credential answers not found.
#[actix_web::test]
async fn admins_add_credentials_and_their_zones() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let viewer = acting(&h, &w.viewer_a, "createDnsCredential");
    let by_viewer = dns::create_credential(&viewer, credential(&w.a, "rfc2136")).await;
    assert_refused(by_viewer, ErrorCode::Forbidden, None);
    let admin = acting(&h, &w.admin_a, "createDnsCredential");
    let created = dns::create_credential(&admin, credential(&w.a, "rfc2136")).await.unwrap();
    assert!(created.has_secret && created.config.get("secret").is_none(), "{:?}", created.config);
    let zone =
        CreateZone { project_id: w.a.scope.project_id(), apex: "Example.TEST".into(), credential_id: created.id };
    let zone = dns::create_zone(&acting(&h, &w.admin_a, "createZone"), zone).await.unwrap();
    assert_eq!((zone.apex.as_str(), zone.credential_id), ("example.test", created.id));
    let foreign = dns::get_credential(&acting(&h, &w.admin_a, "getDnsCredential"), w.b.credential.id).await;
    assert_refused(foreign, ErrorCode::NotFound, None);
}

/// An unknown provider, a zone naming the other project's credential, and deleting a credential a
/// zone uses are each refused; nothing changes.
#[actix_web::test]
async fn bad_dns_changes_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let before = audit_actions(&h, &w).await;
    let admin = acting(&h, &w.admin_a, "createDnsCredential");
    let unknown = dns::create_credential(&admin, credential(&w.a, "nsone")).await;
    assert_refused(unknown, ErrorCode::ValidationFailed, Some("provider"));
    let borrowed =
        CreateZone { project_id: w.a.scope.project_id(), apex: "x.test".into(), credential_id: w.b.credential.id };
    let zone = dns::create_zone(&acting(&h, &w.admin_a, "createZone"), borrowed).await;
    assert_refused(zone, ErrorCode::ValidationFailed, Some("credential_id"));
    let deleted = dns::delete_credential(&acting(&h, &w.admin_a, "deleteDnsCredential"), w.a.credential.id).await;
    assert_refused(deleted, ErrorCode::Conflict, None);
    assert_eq!(audit_actions(&h, &w).await, before);
    assert!(h.store.get::<DnsCredential>(&w.a.scope, &w.a.credential.id).await.is_ok());
}
