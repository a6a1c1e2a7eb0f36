//! How many times this process's store went to its database, by operation: SQLite statements by
//! their verb (`select`, `insert`, `begin`, …), MongoDB commands by name (`find`, `insert`,
//! `findAndModify`, `commitTransaction`, …). A figure independent of the database's speed, for the
//! metrics and for the benchmark that compares the backends' cost per issued certificate.
//! Invariant: counts only grow; a snapshot is a consistent copy at one instant.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct RoundTrips(Arc<Mutex<BTreeMap<String, u64>>>);

impl RoundTrips {
    /// Counts one trip of `operation` (lower-cased by the caller's convention; any text is kept).
    pub fn record(&self, operation: &str) {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match counts.get_mut(operation) {
            Some(n) => *n += 1,
            None => {
                counts.insert(operation.to_owned(), 1);
            }
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn total(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).values().sum()
    }
}

/// The verb of an SQL statement (its first word, lower case), as its operation name.
pub(crate) fn sql_verb(sql: &str) -> String {
    sql.trim_start().split(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_operation() {
        let trips = RoundTrips::default();
        for sql in ["SELECT 1", "  insert INTO t VALUES (1)", "SELECT x FROM y", "BEGIN IMMEDIATE"] {
            trips.record(&sql_verb(sql));
        }
        let snapshot = trips.snapshot();
        assert_eq!(snapshot.get("select"), Some(&2));
        assert_eq!(snapshot.get("insert"), Some(&1));
        assert_eq!(snapshot.get("begin"), Some(&1));
        assert_eq!(trips.total(), 4);
    }
}
