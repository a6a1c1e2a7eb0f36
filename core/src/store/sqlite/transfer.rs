//! `StoreTransfer` for SQLite: each part is one table read in primary-key order (keyset pages whose
//! position is the last row's key, as a JSON array), and written back column for column.
//! Invariant: an imported row holds exactly the exported values (ids, versions, timestamps, lease
//! state, outbox ids, ciphertext); the audit chain is appended through `audit::append`, so even an
//! import cannot leave a gap in an organization's `seq`.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params};

use crate::model::SealedSecret;
use crate::scope::SystemScope;
use crate::store::sqlite::{SqliteStore, audit, jobs, records};
use crate::store::{
    AuditMarkRow, ExportPage, JobLogRow, JobRow, OrganizationRow, OutboxRow, SealedKey, SealedRow, SiemCursorRow,
    StoreError, StoreTransfer, TransferPart, TransferRow,
};
use crate::timestamp::Timestamp;

/// Where a part lives: its table, the columns a row is read from, and its primary key.
struct Layout {
    table: String,
    columns: String,
    key: &'static [&'static str],
}

fn layout(part: TransferPart) -> Layout {
    let (table, columns, key): (String, String, &'static [&'static str]) = match part {
        TransferPart::Organizations => {
            ("organizations".into(), "id, version, created_at, updated_at, doc".into(), &["id"])
        }
        TransferPart::Records(kind) => (kind.table().into(), records::sql::COLUMNS.into(), &["id"]),
        TransferPart::Sealed => (
            "sealed_secrets".into(),
            "record_table, record_id, field, kek_version, wrapped_dek, nonce, ciphertext".into(),
            &["record_table", "record_id", "field"],
        ),
        TransferPart::Jobs => {
            ("jobs".into(), format!("{}, next_log_seq, lease_incarnation", jobs::JOB_COLUMNS), &["id"])
        }
        TransferPart::JobLogs => {
            ("job_logs".into(), "job_id, seq, at, level, message, fields".into(), &["job_id", "seq"])
        }
        TransferPart::AuditEvents => ("audit_events".into(), "org_id, seq, doc".into(), &["org_id", "seq"]),
        TransferPart::AuditOutbox => ("audit_outbox".into(), "id, org_id, at, draft".into(), &["id"]),
        TransferPart::Fences => {
            ("scheduler_fence".into(), "term, node, first_write_at, last_write_at, writes".into(), &["term", "node"])
        }
        TransferPart::SiemCursors => {
            ("siem_cursors".into(), "destination, org_id, delivered_seq, updated_at".into(), &["destination", "org_id"])
        }
        TransferPart::AuditMarks => {
            ("audit_marks".into(), "org_id, name, seq, doc, updated_at".into(), &["org_id", "name"])
        }
    };
    Layout { table, columns, key }
}

#[async_trait]
impl StoreTransfer for SqliteStore {
    async fn transfer_count(&self, _scope: &SystemScope, part: TransferPart) -> Result<u64, StoreError> {
        let table = layout(part).table;
        self.read(
            move |c| Ok(c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get::<_, i64>(0))? as u64),
        )
        .await
    }

    async fn export_rows(
        &self,
        _scope: &SystemScope,
        part: TransferPart,
        after: Option<String>,
        limit: usize,
    ) -> Result<ExportPage, StoreError> {
        self.read(move |c| export(c, part, after.as_deref(), limit)).await
    }

    async fn import_rows(&self, _scope: &SystemScope, rows: Vec<TransferRow>) -> Result<(), StoreError> {
        self.write(move |c| rows.iter().try_for_each(|row| import(c, row))).await
    }

    async fn is_empty(&self, scope: &SystemScope) -> Result<bool, StoreError> {
        for part in TransferPart::all() {
            if self.transfer_count(scope, part).await? > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A page position as text: the key columns' values as a JSON array.
fn encode_key(values: &[SqlValue]) -> String {
    let json: Vec<serde_json::Value> = values
        .iter()
        .map(|v| match v {
            SqlValue::Integer(i) => serde_json::Value::from(*i),
            SqlValue::Text(t) => serde_json::Value::from(t.clone()),
            // Primary keys here are integers and text only.
            _ => serde_json::Value::Null,
        })
        .collect();
    serde_json::Value::Array(json).to_string()
}

fn decode_key(key: &str, width: usize) -> Result<Vec<SqlValue>, StoreError> {
    let bad = || StoreError::InvalidCursor;
    let values: Vec<serde_json::Value> = serde_json::from_str(key).map_err(|_| bad())?;
    if values.len() != width {
        return Err(bad());
    }
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Number(n) => n.as_i64().map(SqlValue::Integer).ok_or_else(bad),
            serde_json::Value::String(s) => Ok(SqlValue::Text(s)),
            _ => Err(bad()),
        })
        .collect()
}

fn export(conn: &Connection, part: TransferPart, after: Option<&str>, limit: usize) -> Result<ExportPage, StoreError> {
    let Layout { table, columns, key } = layout(part);
    let key_list = key.join(", ");
    let mut args = match after {
        Some(after) => decode_key(after, key.len())?,
        None => Vec::new(),
    };
    let position = if args.is_empty() {
        String::new()
    } else {
        let marks: Vec<String> = (1..=key.len()).map(|i| format!("?{i}")).collect();
        format!("WHERE ({key_list}) > ({})", marks.join(", "))
    };
    args.push(SqlValue::Integer(limit as i64));
    let sql = format!("SELECT {columns}, {key_list} FROM {table} {position} ORDER BY {key_list} LIMIT ?{}", args.len());
    let mut stmt = conn.prepare(&sql)?;
    let width = stmt.column_count();
    let mut cursor = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    let mut rows = Vec::new();
    let mut last = None;
    while let Some(row) = cursor.next()? {
        rows.push(decode_row(part, row)?);
        last = Some((width - key.len()..width).map(|i| row.get::<_, SqlValue>(i)).collect::<Result<Vec<_>, _>>()?);
    }
    let next = if rows.len() == limit { last.map(|k| encode_key(&k)) } else { None };
    Ok(ExportPage { rows, next })
}

fn decode_row(part: TransferPart, r: &Row<'_>) -> Result<TransferRow, StoreError> {
    let ts = Timestamp::from_unix_millis;
    Ok(match part {
        TransferPart::Organizations => {
            let id: String = r.get(0)?;
            TransferRow::Organization(OrganizationRow {
                id: id.parse().map_err(|_| StoreError::Corrupt {
                    kind: "organization",
                    id,
                    reason: "bad id".into(),
                })?,
                version: r.get::<_, i64>(1)? as u64,
                created_at: ts(r.get(2)?),
                updated_at: ts(r.get(3)?),
                doc: r.get(4)?,
            })
        }
        TransferPart::Records(kind) => TransferRow::Record(records::sql::raw_from_row(kind, r)?.into_raw()?),
        TransferPart::Sealed => TransferRow::Sealed(SealedRow {
            key: SealedKey { table: r.get(0)?, record_id: r.get(1)?, field: r.get(2)? },
            secret: SealedSecret {
                kek_version: r.get::<_, i64>(3)? as u32,
                wrapped_dek: r.get(4)?,
                nonce: r.get(5)?,
                ciphertext: r.get(6)?,
            },
        }),
        TransferPart::Jobs => {
            let job = jobs::job_row(r)?.into_job()?;
            // Right after the model's columns (`layout`).
            let extra = jobs::JOB_COLUMNS.split(',').count();
            let next_log_seq = r.get::<_, i64>(extra)? as u64;
            TransferRow::Job(JobRow { job, next_log_seq, lease_incarnation: r.get(extra + 1)? })
        }
        TransferPart::JobLogs => {
            let job_id: String = r.get(0)?;
            let line = jobs::log_line(&job_id, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)?;
            let job_id = job_id.parse().map_err(|_| StoreError::Corrupt {
                kind: "job log",
                id: job_id.clone(),
                reason: "bad job id".into(),
            })?;
            TransferRow::JobLog(JobLogRow { job_id, line })
        }
        TransferPart::AuditEvents => {
            let (org, seq, doc): (String, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            TransferRow::AuditEvent(audit::decode(&org, seq, &doc)?)
        }
        TransferPart::AuditOutbox => TransferRow::AuditOutbox(OutboxRow {
            id: r.get::<_, i64>(0)? as u64,
            org_id: r.get(1)?,
            at: ts(r.get(2)?),
            draft: r.get(3)?,
        }),
        TransferPart::Fences => TransferRow::Fence(crate::model::FenceRecord {
            term: r.get::<_, i64>(0)? as u64,
            node: r.get(1)?,
            first_write_at: ts(r.get(2)?),
            last_write_at: ts(r.get(3)?),
            writes: r.get::<_, i64>(4)? as u64,
        }),
        TransferPart::SiemCursors => {
            let org: String = r.get(1)?;
            TransferRow::SiemCursor(SiemCursorRow {
                destination: r.get(0)?,
                org_id: org.parse().map_err(|_| StoreError::Corrupt {
                    kind: "siem cursor",
                    id: org,
                    reason: "bad org_id".into(),
                })?,
                delivered_seq: r.get::<_, i64>(2)? as u64,
                updated_at: ts(r.get(3)?),
            })
        }
        TransferPart::AuditMarks => {
            let org: String = r.get(0)?;
            TransferRow::AuditMark(AuditMarkRow {
                org_id: org.parse().map_err(|_| StoreError::Corrupt {
                    kind: "audit mark",
                    id: org,
                    reason: "bad org_id".into(),
                })?,
                name: r.get(1)?,
                seq: r.get::<_, i64>(2)? as u64,
                doc: r.get(3)?,
                updated_at: ts(r.get(4)?),
            })
        }
    })
}

/// A counter as SQLite's signed 64-bit integer (values past `i64::MAX` never occur).
fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A primary-key collision: the target was not empty after all, or the rows repeat.
fn map_duplicate(e: rusqlite::Error, kind: &'static str, key: impl FnOnce() -> String) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::AlreadyExists { kind, key: key() },
        _ => StoreError::from(e),
    }
}

fn import(c: &Connection, row: &TransferRow) -> Result<(), StoreError> {
    let ms = Timestamp::as_unix_millis;
    match row {
        TransferRow::Organization(o) => {
            c.prepare_cached(
                "INSERT INTO organizations (id, version, created_at, updated_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![o.id.to_string(), n(o.version), ms(o.created_at), ms(o.updated_at), o.doc])
            .map_err(|e| map_duplicate(e, "organization", || format!("id {}", o.id)))?;
        }
        TransferRow::Record(raw) => {
            let sql = format!(
                "INSERT INTO {} ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                raw.kind.table(),
                records::sql::COLUMNS
            );
            c.prepare_cached(&sql)?
                .execute(params![
                    raw.id,
                    raw.org_id.to_string(),
                    raw.project_id.map(|p| p.to_string()),
                    n(raw.version),
                    raw.unique_key,
                    raw.lookup_key,
                    raw.due_at.map(ms),
                    ms(raw.created_at),
                    ms(raw.updated_at),
                    raw.doc,
                ])
                .map_err(|e| map_duplicate(e, raw.kind.name(), || format!("id {}", raw.id)))?;
            super::stats::write_facts(c, raw.kind, &raw.id, &raw.doc)?;
        }
        TransferRow::Sealed(s) => {
            c.prepare_cached(
                "INSERT INTO sealed_secrets (record_table, record_id, field, kek_version, wrapped_dek, nonce, ciphertext)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                s.key.table,
                s.key.record_id,
                s.key.field,
                i64::from(s.secret.kek_version),
                s.secret.wrapped_dek,
                s.secret.nonce,
                s.secret.ciphertext,
            ])
            .map_err(|e| {
                map_duplicate(e, "sealed value", || format!("{}/{}/{}", s.key.table, s.key.record_id, s.key.field))
            })?;
        }
        TransferRow::Job(j) => import_job(c, j)?,
        TransferRow::JobLog(l) => {
            let level =
                serde_json::to_value(l.line.level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            c.prepare_cached(
                "INSERT INTO job_logs (job_id, seq, at, level, message, fields) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                l.job_id.to_string(),
                n(l.line.seq),
                ms(l.line.at),
                level,
                l.line.message,
                l.line.fields.to_string()
            ])
            .map_err(|e| map_duplicate(e, "job log line", || format!("{}#{}", l.job_id, l.line.seq)))?;
        }
        TransferRow::AuditEvent(event) => audit::append(c, std::slice::from_ref(event))?,
        TransferRow::AuditOutbox(o) => {
            c.prepare_cached("INSERT INTO audit_outbox (id, org_id, at, draft) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![n(o.id), o.org_id, ms(o.at), o.draft])
                .map_err(|e| map_duplicate(e, "audit outbox row", || o.id.to_string()))?;
        }
        TransferRow::Fence(f) => {
            c.prepare_cached(
                "INSERT INTO scheduler_fence (term, node, first_write_at, last_write_at, writes) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![n(f.term), f.node, ms(f.first_write_at), ms(f.last_write_at), n(f.writes)])
            .map_err(|e| map_duplicate(e, "scheduler fence", || format!("term {} node {}", f.term, f.node)))?;
        }
        TransferRow::SiemCursor(s) => {
            c.prepare_cached(
                "INSERT INTO siem_cursors (destination, org_id, delivered_seq, updated_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![s.destination, s.org_id.to_string(), n(s.delivered_seq), ms(s.updated_at)])
            .map_err(|e| map_duplicate(e, "siem cursor", || format!("{} {}", s.destination, s.org_id)))?;
        }
        TransferRow::AuditMark(m) => {
            c.prepare_cached(
                "INSERT INTO audit_marks (org_id, name, seq, doc, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![m.org_id.to_string(), m.name, n(m.seq), m.doc, ms(m.updated_at)])
            .map_err(|e| map_duplicate(e, "audit mark", || format!("{} {}", m.org_id, m.name)))?;
        }
    }
    Ok(())
}

fn import_job(c: &Connection, row: &JobRow) -> Result<(), StoreError> {
    let (j, ms) = (&row.job, Timestamp::as_unix_millis);
    c.prepare_cached(&format!(
        "INSERT INTO jobs ({}, next_log_seq, lease_incarnation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
         ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
        jobs::JOB_COLUMNS
    ))?
    .execute(params![
        j.id.to_string(),
        j.project_id.map(|p| p.to_string()),
        j.kind.as_str(),
        j.subject,
        j.dedupe_key,
        j.payload.to_string(),
        j.status.as_str(),
        i64::from(j.attempts),
        i64::from(j.max_attempts),
        ms(j.run_at),
        j.lease_owner,
        j.lease_expires_at.map(ms),
        j.last_error,
        ms(j.queued_at),
        j.first_started_at.map(ms),
        j.started_at.map(ms),
        j.finished_at.map(ms),
        n(j.version),
        n(j.lease_seq),
        n(row.next_log_seq),
        row.lease_incarnation,
    ])
    .map_err(|e| map_duplicate(e, "job", || format!("id {}", j.id)))?;
    Ok(())
}
