//! The audit outbox on SQLite: a row tampered into something that no longer decodes is chained as
//! an `audit.outbox_unreadable` entry keeping what was stored (on the record, the chain not stalled
//! behind it), and the rows after it are chained as usual; a row with a malformed organization id
//! stops nobody else's chaining.

use std::sync::Arc;

use certautopilot_core::audit::{ChainWriter, UNREADABLE_ACTION, Verifier};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::Organization;
use certautopilot_core::store::conformance::system_audit;
use certautopilot_core::store::prelude::*;
use certautopilot_core::store::sqlite::SqliteStore;
use certautopilot_core::{OrgScope, Timestamp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_outbox_row_is_recorded_and_skipped_past() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    let org = Organization::new("acme", Timestamp::now());
    store.create_organization(&org).await.unwrap();
    let mut ids = Vec::new();
    for action in ["one", "two", "three"] {
        ids.push(store.append_audit(system_audit(org.id, action)).await.unwrap());
    }
    let db = rusqlite::Connection::open(store.path()).unwrap();
    db.execute("UPDATE audit_outbox SET draft = '{\"org_id\": 1' WHERE id = ?1", [ids[1] as i64]).unwrap();

    let secret = Arc::new(SecretBytes::new(vec![1; 32]));
    let mut writer = ChainWriter::new(org.id, secret.clone());
    assert_eq!(writer.drain(&store).await.unwrap(), 3);
    assert_eq!(writer.stats().unreadable, 1);
    let scope = OrgScope::for_system("test", &org);
    let events = store.list_audit_events(&scope, 0, 10).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["one", UNREADABLE_ACTION, "three"]);
    assert_eq!(events[1].details["outbox_id"], ids[1]);
    assert!(
        events[1].details["reason"].as_str().unwrap().contains("expected a formatted UUID"),
        "{}",
        events[1].details
    );
    assert_eq!(events[1].details["stored"], "{\"org_id\": 1", "what was stored is kept");
    let mut verifier = Verifier::new(&secret);
    for e in &events {
        verifier.check(e).unwrap();
    }
    assert!(store.pending_audit_orgs().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_without_a_valid_organization_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    let org = Organization::new("acme", Timestamp::now());
    store.create_organization(&org).await.unwrap();
    store.append_audit(system_audit(org.id, "kept")).await.unwrap();
    let db = rusqlite::Connection::open(store.path()).unwrap();
    db.execute("INSERT INTO audit_outbox (org_id, at, draft) VALUES ('not-an-id', 0, '{}')", []).unwrap();
    assert_eq!(store.pending_audit_orgs().await.unwrap(), vec![(org.id, 1)]);
    let mut writer = ChainWriter::new(org.id, Arc::new(SecretBytes::new(vec![1; 32])));
    assert_eq!(writer.drain(&store).await.unwrap(), 1);
}
