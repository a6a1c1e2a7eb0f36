//! Service-layer tests: each operation driven directly, without HTTP, on a temporary SQLite store.
