//! Scheduler fencing in SQLite: `scheduler_fence` keeps every (term, node) whose writes were
//! accepted. Invariant: the check and the record of a fenced write run in the caller's transaction,
//! so a refused write and its refusal are one decision.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use crate::model::{Fence, FenceRecord, SchedulerBeat};
use crate::store::sqlite::SqliteStore;
use crate::store::{Fencing, StoreError};
use crate::timestamp::Timestamp;

#[async_trait]
impl Fencing for SqliteStore {
    async fn fence_claim(&self, fence: &Fence) -> Result<(), StoreError> {
        let (fence, now) = (fence.clone(), self.now());
        self.write(move |c| check_fence(c, &fence, now)).await
    }

    async fn fence_history(&self) -> Result<Vec<FenceRecord>, StoreError> {
        self.read(fence_history).await
    }

    async fn scheduler_beat(&self, beat: &SchedulerBeat) -> Result<(), StoreError> {
        let beat = beat.clone();
        let term = beat
            .term
            .map(i64::try_from)
            .transpose()
            .map_err(|_| StoreError::InvalidRequest("term out of range".into()))?;
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO scheduler_beats (node, term, beat_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (node) DO UPDATE SET term = excluded.term, beat_at = excluded.beat_at",
            )?
            .execute(params![beat.node, term, beat.at.as_unix_millis()])?;
            Ok(())
        })
        .await
    }

    async fn last_scheduler_beat(&self) -> Result<Option<SchedulerBeat>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT node, term, beat_at FROM scheduler_beats ORDER BY beat_at DESC, node LIMIT 1",
            )?;
            let mut rows = stmt.query_map([], |r| {
                Ok(SchedulerBeat {
                    node: r.get(0)?,
                    term: r.get::<_, Option<i64>>(1)?.map(|t| t as u64),
                    at: Timestamp::from_unix_millis(r.get(2)?),
                })
            })?;
            Ok(rows.next().transpose()?)
        })
        .await
    }
}

/// The fencing rule: a write under a term older than the newest accepted one is refused; otherwise
/// it is recorded against its (term, node). Runs inside the caller's transaction, so the refused
/// write and its record are one decision.
pub(crate) fn check_fence(conn: &Connection, fence: &Fence, now: Timestamp) -> Result<(), StoreError> {
    let newest: Option<i64> =
        conn.prepare_cached("SELECT MAX(term) FROM scheduler_fence")?.query_row([], |r| r.get(0))?;
    let term = i64::try_from(fence.term).map_err(|_| StoreError::InvalidRequest("fencing term out of range".into()))?;
    if let Some(newest) = newest.filter(|n| *n > term) {
        return Err(StoreError::Fenced { term: fence.term, newest: newest as u64 });
    }
    conn.prepare_cached(
        "INSERT INTO scheduler_fence (term, node, first_write_at, last_write_at, writes) VALUES (?1, ?2, ?3, ?3, 1) \
         ON CONFLICT (term, node) DO UPDATE SET last_write_at = excluded.last_write_at, writes = writes + 1",
    )?
    .execute(params![term, fence.node, now.as_unix_millis()])?;
    Ok(())
}

fn fence_history(conn: &Connection) -> Result<Vec<FenceRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT term, node, first_write_at, last_write_at, writes FROM scheduler_fence ORDER BY term, first_write_at",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(FenceRecord {
            term: r.get::<_, i64>(0)? as u64,
            node: r.get(1)?,
            first_write_at: Timestamp::from_unix_millis(r.get(2)?),
            last_write_at: Timestamp::from_unix_millis(r.get(3)?),
            writes: r.get::<_, i64>(4)? as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
