//! The store conformance suite against the MongoDB backend, on a real wire-protocol server
//! (`testsupport::MongoServer`), plus what only this backend has: the refusal of a standalone
//! server, schema migration by several nodes at once, transaction retries.

// The concerns are listed here as the backend implements them (M2.3, in progress).
mod conformance {
    use certautopilot_core::store::mongodb::MongoStore;
    certautopilot_core::store_conformance_tests!(MongoStore::for_test; login_throttle, siem_cursors);
}
