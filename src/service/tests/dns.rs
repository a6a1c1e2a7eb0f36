//! DNS credentials and zones: admins add them to their project; a zone names a credential of its
//! own project; a credential a zone uses stays.

use certautopilot_core::model::{DnsCredential, PropagationStrategy, Zone};
use certautopilot_core::store::{PageRequest, RecordStore};

use super::*;
use crate::api::tests::harness::{Resources, world};
use crate::api::views::{CreateDnsCredential, CreateZone, UpdateZone};
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
    let zone = CreateZone {
        project_id: w.a.scope.project_id(),
        apex: "Example.TEST".into(),
        credential_id: created.id,
        propagation: None,
    };
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
    let borrowed = CreateZone {
        project_id: w.a.scope.project_id(),
        apex: "x.test".into(),
        credential_id: w.b.credential.id,
        propagation: None,
    };
    let zone = dns::create_zone(&acting(&h, &w.admin_a, "createZone"), borrowed).await;
    assert_refused(zone, ErrorCode::ValidationFailed, Some("credential_id"));
    let deleted = dns::delete_credential(&acting(&h, &w.admin_a, "deleteDnsCredential"), w.a.credential.id).await;
    assert_refused(deleted, ErrorCode::Conflict, None);
    assert_eq!(audit_actions(&h, &w).await, before);
    assert!(h.store.get::<DnsCredential>(&w.a.scope, &w.a.credential.id).await.is_ok());
}

fn zone_body(project: &Resources, apex: &str, propagation: serde_json::Value) -> CreateZone {
    CreateZone {
        project_id: project.scope.project_id(),
        apex: apex.into(),
        credential_id: project.credential.id,
        propagation: Some(serde_json::from_value(propagation).unwrap()),
    }
}

/// Each bad propagation setting, on create and on update, is refused with its field named, and
/// nothing is stored or audited.
#[actix_web::test]
async fn bad_propagation_settings_name_their_field_and_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let before = audit_actions(&h, &w).await;
    let cases = [
        (serde_json::json!({ "strategy": "soon" }), "propagation.strategy"),
        (serde_json::json!({ "nameservers": ["127.0.0.1:53", "ns1.example.test"] }), "propagation.nameservers[1]"),
        (serde_json::json!({ "strategy": "resolvers" }), "propagation.resolvers"),
        (serde_json::json!({ "strategy": "resolvers", "resolvers": ["nope"] }), "propagation.resolvers[0]"),
        (serde_json::json!({ "strategy": "delay" }), "propagation.delay_seconds"),
        (serde_json::json!({ "strategy": "delay", "delay_seconds": 0 }), "propagation.delay_seconds"),
        (serde_json::json!({ "timeout_seconds": 0 }), "propagation.timeout_seconds"),
        (serde_json::json!({ "timeout_seconds": 3601 }), "propagation.timeout_seconds"),
        (serde_json::json!({ "poll_interval_ms": 5 }), "propagation.poll_interval_ms"),
    ];
    let admin = acting(&h, &w.admin_a, "createZone");
    let update = acting(&h, &w.admin_a, "updateZone");
    for (i, (settings, field)) in cases.iter().enumerate() {
        let created = dns::create_zone(&admin, zone_body(&w.a, &format!("bad{i}.test"), settings.clone())).await;
        assert_refused(created, ErrorCode::ValidationFailed, Some(field));
        let change = UpdateZone {
            credential_id: None,
            propagation: Some(serde_json::from_value(settings.clone()).unwrap()),
            version: w.a.zone.version,
        };
        assert_refused(dns::update_zone(&update, w.a.zone.id, change).await, ErrorCode::ValidationFailed, Some(field));
    }
    assert_eq!(audit_actions(&h, &w).await, before, "nothing was audited");
    let zones = h.store.list::<Zone>(&w.a.scope, &PageRequest::first(100)).await.unwrap().items;
    assert_eq!(zones, vec![w.a.zone.clone()], "nothing was stored or changed");
}

/// An admin changes a zone's propagation settings and credential at the version read: audited,
/// stored, shown; a stale version and another project's credential are refused and change nothing.
#[actix_web::test]
async fn a_zone_update_changes_settings_at_the_version_read() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let update = acting(&h, &w.admin_a, "updateZone");
    let settings =
        serde_json::json!({ "strategy": "resolvers", "resolvers": ["127.0.0.1:5353"], "timeout_seconds": 30 });
    let change = |version, credential_id| UpdateZone {
        credential_id,
        propagation: Some(serde_json::from_value(settings.clone()).unwrap()),
        version,
    };
    let foreign = dns::update_zone(&update, w.a.zone.id, change(w.a.zone.version, Some(w.b.credential.id))).await;
    assert_refused(foreign, ErrorCode::ValidationFailed, Some("credential_id"));
    let stale = dns::update_zone(&update, w.a.zone.id, change(w.a.zone.version + 7, None)).await;
    assert_refused(stale, ErrorCode::VersionConflict, None);
    let viewer = dns::update_zone(&acting(&h, &w.viewer_a, "updateZone"), w.a.zone.id, change(1, None)).await;
    assert_refused(viewer, ErrorCode::Forbidden, None);
    let updated = dns::update_zone(&update, w.a.zone.id, change(w.a.zone.version, None)).await.unwrap();
    assert_eq!(updated.version, w.a.zone.version + 1);
    assert_eq!(updated.propagation.strategy.as_deref(), Some("resolvers"));
    assert_eq!(updated.propagation.resolvers, vec!["127.0.0.1:5353"]);
    let stored: Zone = h.store.get(&w.a.scope, &w.a.zone.id).await.unwrap();
    assert_eq!(stored.propagation.strategy, PropagationStrategy::Resolvers);
    assert_eq!(stored.propagation.timeout_seconds, Some(30));
    assert!(audit_actions(&h, &w).await.contains(&"zone.updated".to_owned()));
}
