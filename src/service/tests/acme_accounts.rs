//! ACME accounts: admins of a project add, change and delete them; the EAB key stays sealed.

use certautopilot_core::model::AcmeAccount;
use certautopilot_core::store::RecordStore;

use super::*;
use crate::api::tests::harness::{Resources, world};
use crate::api::views::{CreateAcmeAccount, UpdateAcmeAccount};
use crate::service::acme_accounts;

fn account(project: &Resources) -> CreateAcmeAccount {
    CreateAcmeAccount {
        project_id: project.scope.project_id(),
        name: "letsencrypt".into(),
        directory_url: Some("https://ca.test/dir".into()),
        ca: None,
        staging: false,
        contact: vec!["mailto:Ops@Acme.test".into()],
        tos_agreed: true,
        eab_kid: Some("kid-1".into()),
        eab_hmac_key: Some("c2VjcmV0LWtleQ".into()),
        ca_bundle_pem: None,
    }
}

/// An admin adds an account (the EAB key sealed, shown only as `has_eab_hmac_key`); a viewer may
/// not; the other project's account answers not found.
#[actix_web::test]
async fn admins_add_accounts_in_their_project() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let by_viewer = acme_accounts::create(&acting(&h, &w.viewer_a, "createAcmeAccount"), account(&w.a)).await;
    assert_refused(by_viewer, ErrorCode::Forbidden, None);
    let created = acme_accounts::create(&acting(&h, &w.admin_a, "createAcmeAccount"), account(&w.a)).await.unwrap();
    assert_eq!(created.contact, ["mailto:ops@acme.test"]);
    assert!(created.has_eab_hmac_key);
    let stored: AcmeAccount = h.store.get(&w.a.scope, &created.id).await.unwrap();
    let key = h.state.envelope.open(&created.id.to_string(), "eab_hmac_key", stored.eab_hmac_key.as_ref().unwrap());
    assert_eq!(key.unwrap().expose(), b"c2VjcmV0LWtleQ");
    let foreign = acme_accounts::get(&acting(&h, &w.admin_a, "getAcmeAccount"), w.b.account.id).await;
    assert_refused(foreign, ErrorCode::NotFound, None);
}

/// Half a binding, a stale version and deleting an account a certificate uses are each refused,
/// and nothing changes.
#[actix_web::test]
async fn bad_account_changes_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let before = audit_actions(&h, &w).await;
    let half = CreateAcmeAccount { eab_hmac_key: None, ..account(&w.a) };
    let created = acme_accounts::create(&acting(&h, &w.admin_a, "createAcmeAccount"), half).await;
    assert_refused(created, ErrorCode::ValidationFailed, Some("eab_hmac_key"));
    let stale = UpdateAcmeAccount {
        version: w.a.account.version + 1,
        contact: Some(vec![]),
        ca_bundle_pem: None,
        eab_kid: None,
        eab_hmac_key: None,
        directory_url: None,
    };
    let updated = acme_accounts::update(&acting(&h, &w.admin_a, "updateAcmeAccount"), w.a.account.id, stale).await;
    assert_refused(updated, ErrorCode::VersionConflict, None);
    let deleted = acme_accounts::delete(&acting(&h, &w.admin_a, "deleteAcmeAccount"), w.a.account.id).await;
    assert_refused(deleted, ErrorCode::Conflict, None);
    assert_eq!(audit_actions(&h, &w).await, before);
    assert!(h.store.get::<AcmeAccount>(&w.a.scope, &w.a.account.id).await.is_ok());
}

/// An account from the catalogue takes the entry's directory (staging when asked) and records
/// which entry; a CA that requires EAB is refused without it, an unknown entry, a URL and an entry
/// together, and staging where the CA has none are refused naming the field, writing nothing.
#[actix_web::test]
async fn accounts_from_the_catalogue() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let admin = acting(&h, &w.admin_a, "createAcmeAccount");
    let from = |ca: &str, staging: bool, eab: bool| CreateAcmeAccount {
        name: format!("{ca}-{staging}"),
        directory_url: None,
        ca: Some(ca.into()),
        staging,
        eab_kid: eab.then(|| "kid-1".into()),
        eab_hmac_key: eab.then(|| "c2VjcmV0LWtleQ".into()),
        ..account(&w.a)
    };
    let before = audit_actions(&h, &w).await;
    for (input, field, says) in [
        (from("zerossl", false, false), "eab_kid", "ZeroSSL requires External Account Binding"),
        (from("lets-encrypt", false, false), "ca", "known: letsencrypt"),
        (from("zerossl", true, true), "staging", "no staging endpoint"),
        (CreateAcmeAccount { staging: true, ..account(&w.a) }, "staging", "only with ca"),
        (CreateAcmeAccount { ca: Some("letsencrypt".into()), ..account(&w.a) }, "ca", "not both"),
        (CreateAcmeAccount { directory_url: None, ..account(&w.a) }, "directory_url", "or ca"),
    ] {
        let refused = acme_accounts::create(&admin, input).await.unwrap_err();
        assert_eq!((refused.code, refused.field.as_deref()), (ErrorCode::ValidationFailed, Some(field)), "{refused:?}");
        assert!(refused.detail.contains(says), "{refused:?}");
    }
    assert_eq!(audit_actions(&h, &w).await, before, "refusals write nothing");

    let staging = acme_accounts::create(&admin, from("letsencrypt", true, false)).await.unwrap();
    assert_eq!(staging.directory_url, "https://acme-staging-v02.api.letsencrypt.org/directory");
    assert_eq!(staging.ca.as_deref(), Some("letsencrypt"));
    let zerossl = acme_accounts::create(&admin, from("zerossl", false, true)).await.unwrap();
    assert_eq!((zerossl.directory_url.as_str(), zerossl.has_eab_hmac_key), ("https://acme.zerossl.com/v2/DV90", true));
    let typed = acme_accounts::create(&admin, account(&w.a)).await.unwrap();
    assert_eq!(typed.ca, None);

    let listed = acme_accounts::catalogue(&acting(&h, &w.viewer_a, "listAcmeCatalogue")).unwrap();
    let google = listed.items.iter().find(|e| e.id == "google").unwrap();
    assert!(google.eab_required && google.staging_directory_url.is_some());
    assert_eq!(listed.items.len(), certautopilot_core::model::CATALOGUE.len());
}
