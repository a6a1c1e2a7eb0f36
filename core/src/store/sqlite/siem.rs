//! SIEM delivery cursors in SQLite (`siem_cursors`): one row per (destination, organization); and
//! the verified-up-to mark (`audit_marks`): one row per organization.
//! Invariant: each upsert keeps the larger of the stored and the new `seq`, so neither moves back,
//! even when two forwarders or verifiers race.

use async_trait::async_trait;
use rusqlite::OptionalExtension;

use crate::ids::OrgId;
use crate::store::sqlite::SqliteStore;
use crate::store::{SiemCursors, StoreError};

#[async_trait]
impl SiemCursors for SqliteStore {
    async fn siem_cursor(&self, destination: &str, org: OrgId) -> Result<u64, StoreError> {
        let destination = destination.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT delivered_seq FROM siem_cursors WHERE destination = ?1 AND org_id = ?2")?
                .query_row([destination, org.to_string()], |r| r.get::<_, i64>(0))
                .optional()?
                .unwrap_or(0) as u64)
        })
        .await
    }

    async fn advance_siem_cursor(&self, destination: &str, org: OrgId, seq: u64) -> Result<(), StoreError> {
        let (destination, now) = (destination.to_owned(), self.now());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO siem_cursors (destination, org_id, delivered_seq, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (destination, org_id) DO UPDATE SET delivered_seq = max(delivered_seq, excluded.delivered_seq),
                 updated_at = excluded.updated_at",
            )?
            .execute(rusqlite::params![destination, org.to_string(), seq as i64, now.as_unix_millis()])?;
            Ok(())
        })
        .await
    }

    async fn siem_cursors_of(&self, org: OrgId) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT destination, delivered_seq FROM siem_cursors WHERE org_id = ?1 ORDER BY destination",
            )?;
            let rows =
                stmt.query_map([org.to_string()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn audit_mark(&self, org: OrgId) -> Result<Option<String>, StoreError> {
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT doc FROM audit_marks WHERE org_id = ?1 AND name = 'verified'")?
                .query_row([org.to_string()], |r| r.get::<_, String>(0))
                .optional()?)
        })
        .await
    }

    async fn advance_audit_mark(&self, org: OrgId, seq: u64, doc: &str) -> Result<(), StoreError> {
        let (doc, now) = (doc.to_owned(), self.now());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO audit_marks (org_id, name, seq, doc, updated_at) VALUES (?1, 'verified', ?2, ?3, ?4)
                 ON CONFLICT (org_id, name) DO UPDATE SET seq = excluded.seq, doc = excluded.doc,
                 updated_at = excluded.updated_at WHERE excluded.seq >= audit_marks.seq",
            )?
            .execute(rusqlite::params![org.to_string(), seq as i64, doc, now.as_unix_millis()])?;
            Ok(())
        })
        .await
    }
}
