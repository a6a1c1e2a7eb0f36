//! Job-queue policy that is pure arithmetic: retry backoff. The queue itself lives in the store.

mod backoff;

pub use backoff::Backoff;
