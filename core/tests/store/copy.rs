//! `store copy` between the backends, both ways, on the real MongoDB test server: a store holding
//! rows of every part moves SQLite → MongoDB → SQLite, and a store filled on MongoDB itself moves
//! to SQLite; each copy holds the same rows, answers the service's reads as its source does, and
//! carries on (setup refused, the chain continues). Copies within MongoDB run the conformance check.

use certautopilot_core::store::conformance::transfer::{
    assert_copy_carries_on, assert_reads_equal, assert_same_rows, fill_every_part,
};
use certautopilot_core::store::mongodb::MongoStore;
use certautopilot_core::store::sqlite::SqliteStore;
use certautopilot_core::store::{COPY_BATCH, copy_store};

mod conformance {
    use certautopilot_core::store::mongodb::MongoStore;
    certautopilot_core::store_conformance_tests!(MongoStore::for_test; transfer);
}

/// SQLite → MongoDB → SQLite: every part arrives in MongoDB and comes back unchanged, in small
/// batches (so a part spans several transactions); both copies read as the source does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_mongodb_and_back() {
    let (source, mongo, back) =
        (SqliteStore::for_test().await, MongoStore::for_test().await, SqliteStore::for_test().await);
    let filled = fill_every_part(&source).await;
    copy_store(&source.store, &mongo.store, 4, drop).await.expect("sqlite to mongodb");
    assert_same_rows(&source.store, &mongo.store).await;
    assert_reads_equal(&source.store, &mongo.store, &filled).await;
    copy_store(&mongo.store, &back.store, 4, drop).await.expect("mongodb to sqlite");
    assert_same_rows(&source.store, &back.store).await;
    assert_reads_equal(&source.store, &back.store, &filled).await;
    assert_copy_carries_on(&mongo.store, &filled).await;
    assert_copy_carries_on(&back.store, &filled).await;
    mongo.store.drop_database().await.expect("drop");
}

/// A store written by the MongoDB backend itself (its own outbox ids, log and fence documents)
/// moves to SQLite unchanged, and the SQLite copy chains the waiting outbox rows after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_to_sqlite() {
    let (mongo, sqlite) = (MongoStore::for_test().await, SqliteStore::for_test().await);
    let filled = fill_every_part(&mongo).await;
    copy_store(&mongo.store, &sqlite.store, COPY_BATCH, drop).await.expect("mongodb to sqlite");
    assert_same_rows(&mongo.store, &sqlite.store).await;
    assert_reads_equal(&mongo.store, &sqlite.store, &filled).await;
    assert_copy_carries_on(&sqlite.store, &filled).await;
    mongo.store.drop_database().await.expect("drop");
}
