//! Test support that the store's own tests need (other crates' tests reuse it): a real
//! MongoDB-protocol server as a child process. Never in a production path (feature `testsuite`).

mod mongo_server;

pub use mongo_server::{MongoServer, MongoServerOptions, shared_mongodb_uri};
