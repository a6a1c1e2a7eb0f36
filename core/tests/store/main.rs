//! The store conformance suite against the SQLite backend, plus SQLite-specific behaviour:
//! several writers and processes on one file, crash safety under SIGKILL.

mod child;
mod crash;
mod login;
mod mongodb;
mod mongodb_deployment;
mod outbox;
mod processes;
mod race;

mod conformance {
    use certautopilot_core::store::sqlite::SqliteStore;
    certautopilot_core::store_conformance_tests!(SqliteStore::for_test);
}
