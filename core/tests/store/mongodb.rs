//! The store conformance suite against the MongoDB backend, on a real wire-protocol server
//! (`testsupport::MongoServer`), plus what only this backend has: the refusal of a standalone
//! server, schema migration by several nodes at once, transaction retries.

// The concerns are listed here as the backend implements them (M2.3, in progress).
mod conformance {
    use certautopilot_core::store::mongodb::MongoStore;
    certautopilot_core::store_conformance_tests!(MongoStore::for_test);
}

use std::sync::Arc;

use certautopilot_core::clock::SystemClock;
use certautopilot_core::store::mongodb::{MongoOptions, MongoStore, SCHEMA_VERSION};
use certautopilot_core::testsupport::shared_mongodb_uri;

/// Several nodes starting together on an empty database: every one connects, the schema arrives at
/// the latest version once, and a later start finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_the_schema_once() {
    let database = format!("t{}", uuid::Uuid::new_v4().simple());
    let uri = shared_mongodb_uri();
    let starts = (0..4).map(|_| {
        let options = MongoOptions::new(uri.clone(), database.clone());
        tokio::spawn(async move { MongoStore::connect(options, Arc::new(SystemClock)).await })
    });
    for start in starts {
        start.await.expect("task").expect("every node connects");
    }
    let store = MongoStore::connect(MongoOptions::new(uri, database), Arc::new(SystemClock)).await.expect("connect");
    assert_eq!(store.schema_version().await.expect("version"), SCHEMA_VERSION);
    store.drop_database().await.expect("drop");
}
