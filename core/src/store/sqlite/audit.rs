//! The audit chain and its outbox in SQLite: the `AuditLog` concern and its SQL. The store
//! guarantees gap-free `seq` per organization and that outbox rows leave only as chain entries; the
//! chain's HMACs are the AuditActor's (M1.4).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use crate::audit::{AuditDraft, PendingAudit, UnreadableDraft};
use crate::ids::OrgId;
use crate::model::AuditEvent;
use crate::scope::OrgScope;
use crate::store::sqlite::SqliteStore;
use crate::store::{AuditFilter, AuditLog, AuditWrite, StoreError};

#[async_trait]
impl AuditLog for SqliteStore {
    async fn chain_audit(&self, events: Vec<AuditEvent>, drained: Vec<u64>) -> Result<(), StoreError> {
        self.write(move |c| chain(c, &events, &drained)).await
    }

    async fn append_audit(&self, audit: AuditWrite) -> Result<u64, StoreError> {
        let now = self.now();
        let org = audit.draft.org_id;
        let id = self
            .write(move |c| enqueue(c, Some(&audit), now)?.ok_or(StoreError::InvalidRequest("no audit entry".into())))
            .await?;
        let _ = self.audit_signal.send(org);
        Ok(id)
    }

    async fn pending_audit(&self, org: OrgId, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
        self.read(move |c| pending(c, org, limit)).await
    }

    async fn pending_audit_orgs(&self) -> Result<Vec<(OrgId, u64)>, StoreError> {
        self.read(pending_orgs).await
    }

    fn audit_outbox_signal(&self) -> tokio::sync::broadcast::Receiver<OrgId> {
        self.audit_signal.subscribe()
    }

    async fn audit_head(&self, org: OrgId) -> Result<Option<AuditEvent>, StoreError> {
        self.read(move |c| head(c, org)).await
    }

    async fn archive_audit(
        &self,
        org: OrgId,
        expected_checkpoint: u64,
        through_seq: u64,
        checkpoint: &str,
        audit: AuditWrite,
    ) -> Result<(), StoreError> {
        let (checkpoint, now) = (checkpoint.to_owned(), self.now());
        self.write_audited(Some(audit), now, move |c| {
            let org_text = org.to_string();
            let current = checkpoint_seq(c, &org_text)?;
            if current != expected_checkpoint {
                return Err(StoreError::Conflict {
                    kind: "audit checkpoint",
                    id: org_text,
                    expected: expected_checkpoint,
                    actual: current,
                });
            }
            if through_seq >= head_seq(c, org)? || through_seq <= current {
                return Err(StoreError::InvalidRequest(format!(
                    "cannot archive through seq {through_seq}: the head stays live and the checkpoint is at {current}"
                )));
            }
            c.prepare_cached("DELETE FROM audit_events WHERE org_id = ?1 AND seq <= ?2")?
                .execute(rusqlite::params![org_text, through_seq as i64])?;
            c.prepare_cached(
                "INSERT INTO audit_marks (org_id, name, seq, doc, updated_at) VALUES (?1, 'checkpoint', ?2, ?3, ?4)
                 ON CONFLICT (org_id, name) DO UPDATE SET seq = excluded.seq, doc = excluded.doc,
                 updated_at = excluded.updated_at",
            )?
            .execute(rusqlite::params![org_text, through_seq as i64, checkpoint, now.as_unix_millis()])?;
            Ok(())
        })
        .await
    }

    async fn audit_checkpoint(&self, org: OrgId) -> Result<Option<String>, StoreError> {
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT doc FROM audit_marks WHERE org_id = ?1 AND name = 'checkpoint'")?
                .query_row([org.to_string()], |r| r.get::<_, String>(0))
                .optional()?)
        })
        .await
    }

    async fn list_audit_events(
        &self,
        scope: &OrgScope,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let org = scope.org_id();
        self.read(move |c| list(c, org, after_seq, limit)).await
    }

    async fn search_audit_events(
        &self,
        scope: &OrgScope,
        filter: &AuditFilter,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let (org, filter) = (scope.org_id(), filter.clone());
        self.read(move |c| search(c, org, &filter, after_seq, limit)).await
    }
}

pub(super) fn decode(org: &str, seq: i64, doc: &str) -> Result<AuditEvent, StoreError> {
    serde_json::from_str(doc).map_err(|e| match org.parse() {
        Ok(org) => StoreError::CorruptAuditEntry { org, seq: seq as u64, reason: e.to_string() },
        Err(_) => StoreError::Corrupt { kind: "audit event", id: format!("{org}#{seq}"), reason: e.to_string() },
    })
}

fn checkpoint_seq(conn: &Connection, org: &str) -> Result<u64, StoreError> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM audit_marks WHERE org_id = ?1 AND name = 'checkpoint'")?
        .query_row([org], |r| r.get(0))
        .optional()?;
    Ok(seq.unwrap_or(0) as u64)
}

fn head_seq(conn: &Connection, org: OrgId) -> Result<u64, StoreError> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT MAX(seq) FROM audit_events WHERE org_id = ?1")?
        .query_row([org.to_string()], |r| r.get(0))?;
    Ok(seq.unwrap_or(0) as u64)
}

pub(crate) fn append(conn: &Connection, events: &[AuditEvent]) -> Result<(), StoreError> {
    for event in events {
        let expected = head_seq(conn, event.org_id)? + 1;
        if event.seq != expected {
            return Err(StoreError::AuditSequence { expected, got: event.seq });
        }
        let doc = serde_json::to_string(event).map_err(|e| StoreError::InvalidRequest(e.to_string()))?;
        conn.prepare_cached(
            "INSERT INTO audit_events (org_id, seq, at, action, project_id, object_id, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            event.org_id.to_string(),
            event.seq as i64,
            event.at.as_unix_millis(),
            event.action,
            event.project_id.map(|p| p.to_string()),
            event.object.as_ref().map(|o| o.id.clone()),
            doc,
        ])?;
    }
    Ok(())
}

pub(crate) fn head(conn: &Connection, org: OrgId) -> Result<Option<AuditEvent>, StoreError> {
    let org_text = org.to_string();
    conn.prepare_cached("SELECT seq, doc FROM audit_events WHERE org_id = ?1 ORDER BY seq DESC LIMIT 1")?
        .query_row([&org_text], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .optional()?
        .map(|(seq, doc)| decode(&org_text, seq, &doc))
        .transpose()
}

/// The chain in order. Each entry's indexed columns (what searches filter on, outside the HMAC) must
/// agree with the hashed document; an entry whose columns were edited is reported as damaged.
pub(crate) fn list(conn: &Connection, org: OrgId, after_seq: u64, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
    let org_text = org.to_string();
    let mut stmt = conn.prepare_cached(
        "SELECT seq, doc, at, action, project_id, object_id FROM audit_events WHERE org_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![org_text, after_seq as i64, limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (seq, doc, at, action, project_id, object_id) = row?;
        let event = decode(&org_text, seq, &doc)?;
        if event.seq != seq as u64 {
            return Err(StoreError::CorruptAuditEntry {
                org,
                seq: seq as u64,
                reason: format!("it was hashed as seq {} (entries moved)", event.seq),
            });
        }
        let agrees = event.at.as_unix_millis() == at
            && event.action == action
            && event.project_id.map(|p| p.to_string()) == project_id
            && event.object.as_ref().map(|o| o.id.clone()) == object_id;
        if !agrees {
            return Err(StoreError::CorruptAuditEntry {
                org,
                seq: seq as u64,
                reason: "its indexed columns disagree with the hashed entry".into(),
            });
        }
        Ok(event)
    })
    .collect()
}

/// Writes `audit`'s draft to the outbox inside the caller's transaction: the change and its event
/// commit together. The organization's AuditActor chains it later (`chain`). Returns the outbox id.
pub(crate) fn enqueue(
    conn: &Connection,
    audit: Option<&crate::store::AuditWrite>,
    now: crate::timestamp::Timestamp,
) -> Result<Option<u64>, StoreError> {
    let Some(audit) = audit else { return Ok(None) };
    let draft = serde_json::to_string(&audit.draft).map_err(|e| StoreError::InvalidRequest(e.to_string()))?;
    conn.prepare_cached("INSERT INTO audit_outbox (org_id, at, draft) VALUES (?1, ?2, ?3)")?.execute(params![
        audit.draft.org_id.to_string(),
        now.as_unix_millis(),
        draft
    ])?;
    Ok(Some(conn.last_insert_rowid() as u64))
}

/// The organization's outbox rows in commit order. A row that no longer decodes comes back with
/// the reason and the stored text instead of a draft, so the writer can record it rather than
/// stall on it.
pub(crate) fn pending(conn: &Connection, org: OrgId, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, at, draft FROM audit_outbox WHERE org_id = ?1 ORDER BY id LIMIT ?2")?;
    let rows = stmt.query_map(params![org.to_string(), limit as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
    })?;
    rows.map(|row| {
        let (id, at, draft) = row?;
        let draft = serde_json::from_str::<AuditDraft>(&draft)
            .map_err(|e| e.to_string())
            .and_then(|d| if d.org_id == org { Ok(d) } else { Err(format!("written for organization {}", d.org_id)) })
            .map_err(|reason| UnreadableDraft { reason, stored: draft.clone() });
        Ok(PendingAudit { id: id as u64, at: crate::timestamp::Timestamp::from_unix_millis(at), draft })
    })
    .collect()
}

/// Organizations with outbox rows, and how many each.
pub(crate) fn pending_orgs(conn: &Connection) -> Result<Vec<(OrgId, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT org_id, COUNT(*) FROM audit_outbox GROUP BY org_id ORDER BY org_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut orgs = Vec::new();
    for row in rows {
        let (org, count) = row?;
        // A row no organization can own must not stop the others' chaining; it is reported instead.
        match org.parse() {
            Ok(id) => orgs.push((id, count as u64)),
            Err(_) => {
                tracing::error!(org_id = %org, rows = count, "audit outbox rows with a malformed organization id; left alone")
            }
        }
    }
    Ok(orgs)
}

/// Appends `events` to their chain and deletes the outbox rows they came from, all or nothing.
/// Another writer that got there first shows as `AuditSequence` (the head moved) or `Conflict`
/// (a row is gone); the caller reloads and tries again.
pub(crate) fn chain(conn: &Connection, events: &[AuditEvent], drained: &[u64]) -> Result<(), StoreError> {
    append(conn, events)?;
    let mut delete = conn.prepare_cached("DELETE FROM audit_outbox WHERE id = ?1")?;
    for id in drained {
        if delete.execute([*id as i64])? != 1 {
            return Err(StoreError::AuditOutboxTaken { id: *id });
        }
    }
    Ok(())
}

pub(crate) fn search(
    conn: &Connection,
    org: OrgId,
    filter: &crate::store::AuditFilter,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<AuditEvent>, StoreError> {
    let org_text = org.to_string();
    let mut sql = String::from("SELECT seq, doc FROM audit_events WHERE org_id = ?1 AND seq > ?2");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(org_text.clone()), Box::new(after_seq as i64)];
    if let Some(project) = filter.project_id {
        args.push(Box::new(project.to_string()));
        sql.push_str(&format!(" AND project_id = ?{}", args.len()));
    }
    if let Some(object) = &filter.object_id {
        args.push(Box::new(object.clone()));
        sql.push_str(&format!(" AND object_id = ?{}", args.len()));
    }
    if let Some(action) = &filter.action {
        args.push(Box::new(action.clone()));
        sql.push_str(&format!(" AND action = ?{}", args.len()));
    }
    if let Some(from) = filter.from {
        args.push(Box::new(from.as_unix_millis()));
        sql.push_str(&format!(" AND at >= ?{}", args.len()));
    }
    if let Some(until) = filter.until {
        args.push(Box::new(until.as_unix_millis()));
        sql.push_str(&format!(" AND at < ?{}", args.len()));
    }
    args.push(Box::new(limit as i64));
    sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", args.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a.as_ref()).collect();
    let rows = stmt.query_map(refs.as_slice(), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    rows.map(|row| {
        let (seq, doc) = row?;
        decode(&org_text, seq, &doc)
    })
    .collect()
}
