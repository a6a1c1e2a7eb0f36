//! The audit chain: owners search and verify it.

use super::*;
use crate::api::tests::harness::world;
use crate::api::views::AuditQuery;
use crate::service::audit;

/// An owner finds the setup's entry and verifies an intact chain; an admin may not search; a bad
/// instant or page size is refused naming the field.
#[actix_web::test]
async fn owners_search_and_verify_the_chain() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let owner = acting(&h, &w.owner, "listAuditEvents");
    let created = AuditQuery { action: Some("org.created".into()), ..Default::default() };
    let found = audit::events(&owner, created).await.unwrap();
    assert_eq!(found.items.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["org.created"]);
    let by_admin = audit::events(&acting(&h, &w.admin_a, "listAuditEvents"), AuditQuery::default()).await;
    assert_refused(by_admin, ErrorCode::Forbidden, None);
    let yesterday = AuditQuery { from: Some("yesterday".into()), ..Default::default() };
    assert_refused(audit::events(&owner, yesterday).await, ErrorCode::ValidationFailed, Some("from"));
    let none = AuditQuery { limit: Some(0), ..Default::default() };
    assert_refused(audit::events(&owner, none).await, ErrorCode::ValidationFailed, Some("limit"));
    let verified = audit::verify(&acting(&h, &w.owner, "verifyAudit"), false).await.unwrap();
    assert!(verified.intact && verified.entries >= 1, "{verified:?}");
    assert_refused(audit::verify(&acting(&h, &w.admin_a, "verifyAudit"), false).await, ErrorCode::Forbidden, None);
}

/// From a genuine mark, verification reads only the entries after it (an entry edited before the
/// mark is found by the full walk only, as documented); a mark written to the store without the
/// audit secret is refused as not genuine, whatever it claims; the entry a mark names, edited, is
/// the broken link.
#[actix_web::test]
async fn verification_starts_at_a_genuine_mark_and_refuses_a_forged_one() {
    use certautopilot_core::audit::{VerifiedMark, record_mark};
    use certautopilot_core::store::{AuditLog, SiemCursors};
    let h = Harness::new().await;
    let w = world(&h).await;
    let owner = acting(&h, &w.owner, "verifyAudit");
    let whole = audit::verify(&owner, true).await.unwrap();
    assert_eq!((whole.mode.as_str(), whole.verified_from, whole.checked), ("full", 0, whole.entries));
    for n in 0..3 {
        let user = crate::api::views::CreateUser {
            email: format!("u{n}@acme.test"),
            password: "a long enough password".into(),
        };
        crate::service::users::create(&acting(&h, &w.owner, "createUser"), user).await.unwrap();
    }
    let secret = h.state.org().await.unwrap().audit_secret.clone();
    h.state.flush_audit(w.org.id).await;
    let head = h.store.audit_head(w.org.id).await.unwrap().unwrap();
    record_mark(
        h.store.as_ref(),
        &w.org_scope,
        &secret,
        (head.seq - 1, &prev_hmac_of(&h, &w, head.seq).await),
        Timestamp::now(),
    )
    .await
    .unwrap();
    let marked = audit::verify(&owner, false).await.unwrap();
    assert!(marked.intact, "{marked:?}");
    assert_eq!(
        (marked.mode.as_str(), marked.verified_from, marked.checked, marked.entries),
        ("from_mark", head.seq - 1, 1, head.seq)
    );
    assert_eq!(audit::verified_mark(&owner).await.unwrap().map(|(seq, _)| seq), Some(head.seq - 1));

    // An earlier entry edited in place: the full walk names it; the walk from the mark is not
    // meant to (its cost is the entries since the mark).
    let conn = rusqlite::Connection::open(h.dir.path().join("certautopilot.db")).unwrap();
    conn.execute(r#"UPDATE audit_events SET doc = replace(doc, '"org.created"', '"org.created "') WHERE seq = 1"#, [])
        .unwrap();
    assert!(audit::verify(&owner, false).await.unwrap().intact);
    let full = audit::verify(&owner, true).await.unwrap();
    assert_eq!((full.intact, full.broken_at), (false, Some(1)), "{full:?}");

    // A mark further along, forged without the secret: refused, never believed.
    let forged = VerifiedMark::seal(
        &certautopilot_core::crypto::SecretBytes::new(vec![1; 32]),
        w.org.id,
        head.seq,
        &head.hmac,
        Timestamp::now(),
    );
    h.store.advance_audit_mark(w.org.id, head.seq, &forged.to_json()).await.unwrap();
    let refused = audit::verify(&owner, false).await.unwrap();
    assert!(!refused.intact && refused.reason.as_deref().unwrap_or_default().contains("not genuine"), "{refused:?}");
    assert_eq!(audit::verified_mark(&owner).await.unwrap(), None);
}

/// The `prev_hmac` of entry `seq`: the `hmac` of the entry before it.
async fn prev_hmac_of(h: &Harness, w: &crate::api::tests::harness::World, seq: u64) -> String {
    use certautopilot_core::store::AuditLog;
    h.store.list_audit_events(&w.org_scope, seq - 1, 1).await.unwrap()[0].prev_hmac.clone()
}
