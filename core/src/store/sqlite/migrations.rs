//! Versioned schema migrations, applied at open in one `BEGIN IMMEDIATE` transaction, so two processes
//! starting together apply each migration exactly once. `PRAGMA user_version` records the version.

use rusqlite::Connection;

use crate::store::{RecordKind, StoreError};

/// Each entry migrates from version `index` to `index + 1`. Never edit a released entry: append.
pub(super) fn migrations() -> Vec<String> {
    vec![
        schema_v1(),
        schema_v2(),
        schema_v3(),
        schema_v4(),
        schema_v5(),
        schema_v6(),
        schema_v7(),
        schema_v8(),
        schema_v9(),
        schema_v10(),
        schema_v11(),
        schema_v12(),
        schema_v13(),
        schema_v14(),
        schema_v15(),
        schema_v16(),
        schema_v17(),
    ]
}

pub const LATEST_VERSION: u32 = 17;

/// The audit chain's marks (M2.10), per organization: `verified` (how far the verifier has come)
/// and `checkpoint` (where the live chain begins once entries are archived).
fn schema_v17() -> String {
    "CREATE TABLE audit_marks (
        org_id TEXT NOT NULL,
        name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        doc TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, name)
    ) WITHOUT ROWID;"
        .into()
}

/// Notifications (M2.8): channels, rules and the per-certificate watch, each a plain record table.
fn schema_v16() -> String {
    RecordKind::NOTIFICATIONS.into_iter().map(record_table).collect()
}

/// Operator requests waiting for an admin's approval (M2.8), listed by certificate.
fn schema_v15() -> String {
    record_table(RecordKind::ApprovalRequest)
}

/// Health (M2.8): the point a renewal should have finished by (`health::overdue_at`) beside the
/// other facts, in the counts' covering index; the certificates with a drifted deployment as one
/// range; each scheduler's heartbeat. Existing rows are back-filled like v12's (`after_sql`).
fn schema_v14() -> String {
    "ALTER TABLE certificates ADD COLUMN cert_overdue_at INTEGER;
     DROP INDEX certificates_facts;
     CREATE INDEX certificates_facts ON certificates(project_id, org_id, cert_status, cert_paused, cert_has_error,
         cert_not_after, cert_renew_at, cert_overdue_at);
     CREATE INDEX deployments_drifted ON deployments(project_id, org_id, dep_drifted, lookup_key);
     CREATE TABLE scheduler_beats (
         node TEXT PRIMARY KEY,
         term INTEGER,
         beat_at INTEGER NOT NULL
     );"
    .into()
}

/// The inventory's expiry order (`stats::by_expiry`): `(cert_not_after, id)` per project, and per
/// project and status for the status filter, so a page is one index range at any depth. The v12
/// indexes end in the rowid, not the id, and would sort every tie of an expiry instead.
fn schema_v13() -> String {
    "CREATE INDEX certificates_expiry ON certificates(project_id, org_id, cert_not_after, id);
     CREATE INDEX certificates_status_expiry ON certificates(project_id, org_id, cert_status, cert_not_after, id);"
        .into()
}

/// The facts the overview counts by, beside each certificate's and deployment's document (M2.5),
/// so its figures are a few statements over two covering indexes (by expiry: the calendar and the
/// attention list; by status: the counts) instead of reading every document. Existing
/// rows are back-filled from their documents by `stats::backfill_facts` (`after_sql`).
fn schema_v12() -> String {
    "ALTER TABLE certificates ADD COLUMN cert_status TEXT;
     ALTER TABLE certificates ADD COLUMN cert_not_after INTEGER;
     ALTER TABLE certificates ADD COLUMN cert_renew_at INTEGER;
     ALTER TABLE certificates ADD COLUMN cert_paused INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE certificates ADD COLUMN cert_has_error INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX certificates_stats ON certificates(project_id, org_id, cert_not_after, cert_status, cert_renew_at,
         cert_paused, cert_has_error);
     CREATE INDEX certificates_facts ON certificates(project_id, org_id, cert_status, cert_paused, cert_has_error,
         cert_not_after, cert_renew_at);
     ALTER TABLE deployments ADD COLUMN dep_status TEXT;
     ALTER TABLE deployments ADD COLUMN dep_drifted INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX deployments_stats ON deployments(project_id, org_id, lookup_key, id, dep_status, dep_drifted);"
        .into()
}

/// A migration's data moves that SQL alone cannot do (reading a document with the model's rules).
fn after_sql(conn: &Connection, version: u32) -> Result<(), StoreError> {
    match version {
        // v12's back-fill writes every fact column, v14's included, so it waits for v14: a store
        // below v12 passes 12 and 14 in one open, and one back-fill serves both.
        14 => super::stats::backfill_facts(conn),
        _ => Ok(()),
    }
}

/// The incarnation (one start of a node) that holds each lease (M2.3), so a restarted node ends its
/// predecessor's leases at once instead of waiting them out. Leases from before this version have
/// none and count as a former incarnation's. Indexed by owner for that start-up query.
fn schema_v11() -> String {
    "ALTER TABLE jobs ADD COLUMN lease_incarnation TEXT;
     CREATE INDEX jobs_lease_owner ON jobs(lease_owner) WHERE status = 'running';"
        .into()
}

/// Failed-login counts, per account and per client address (keys are digests), shared by every
/// process on the store. Rows older than the lockout are pruned as attempts come in.
fn schema_v10() -> String {
    "CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_at INTEGER NOT NULL
    );
    CREATE INDEX login_failures_last_at ON login_failures(last_at);"
        .into()
}

/// The audit outbox (M1.4): a state change writes its event here in its own transaction; the
/// organization's AuditActor chains the rows into `audit_events` and deletes them, in commit order.
fn schema_v9() -> String {
    "CREATE TABLE audit_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        org_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        draft TEXT NOT NULL
    );
    CREATE INDEX audit_outbox_org ON audit_outbox(org_id, id);"
        .into()
}

/// Fencing of the cluster's scheduler (M1.7): every (term, node) whose scheduler writes were
/// accepted. The newest term is the fence; older terms are refused.
fn schema_v8() -> String {
    "CREATE TABLE scheduler_fence (
        term INTEGER NOT NULL,
        node TEXT NOT NULL,
        first_write_at INTEGER NOT NULL,
        last_write_at INTEGER NOT NULL,
        writes INTEGER NOT NULL,
        PRIMARY KEY (term, node)
    ) WITHOUT ROWID;"
        .into()
}

/// Deployments of certificates to distribution targets (M1.6), listed by certificate.
fn schema_v7() -> String {
    record_table(RecordKind::Deployment)
}

/// The audited object as a column, and every job by subject, so a certificate's timeline (its audit
/// entries and its jobs' logs) is two index walks (M1.5). Existing entries get it from their documents.
fn schema_v6() -> String {
    "ALTER TABLE audit_events ADD COLUMN object_id TEXT;
     UPDATE audit_events SET object_id = json_extract(doc, '$.object.id');
     CREATE INDEX audit_events_object ON audit_events(org_id, object_id, seq) WHERE object_id IS NOT NULL;
     CREATE INDEX jobs_subject ON jobs(subject) WHERE subject IS NOT NULL;"
        .into()
}

/// How far each SIEM destination has received each organization's audit chain (M1.4).
fn schema_v5() -> String {
    "CREATE TABLE siem_cursors (
        destination TEXT NOT NULL,
        org_id TEXT NOT NULL,
        delivered_seq INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (destination, org_id)
    ) WITHOUT ROWID;"
        .into()
}

/// A lease sequence that only ever grows: the fencing token of a claim. `attempts` alone could be
/// handed out twice once a release gives an attempt back.
fn schema_v4() -> String {
    "ALTER TABLE jobs ADD COLUMN lease_seq INTEGER NOT NULL DEFAULT 0;".into()
}

pub(crate) fn migrate(conn: &Connection) -> Result<u32, StoreError> {
    let all = migrations();
    debug_assert_eq!(all.len() as u32, LATEST_VERSION);
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > LATEST_VERSION {
            return Err(StoreError::Migration {
                version: current,
                message: format!(
                    "the database is from a newer release (schema {current}, this build knows {LATEST_VERSION})"
                ),
            });
        }
        for (index, sql) in all.iter().enumerate().skip(current as usize) {
            let version = index as u32 + 1;
            conn.execute_batch(sql).map_err(|e| StoreError::Migration { version, message: e.to_string() })?;
            after_sql(conn, version).map_err(|e| StoreError::Migration { version, message: e.to_string() })?;
            conn.pragma_update(None, "user_version", version)?;
            tracing::info!(version, "applied store migration");
        }
        Ok(LATEST_VERSION)
    })();
    match result {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn schema_v1() -> String {
    let mut sql = String::from(
        "CREATE TABLE organizations (
            id TEXT PRIMARY KEY NOT NULL,
            version INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            doc TEXT NOT NULL
        );
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY NOT NULL,
            project_id TEXT,
            kind TEXT NOT NULL,
            subject TEXT,
            dedupe_key TEXT,
            payload TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL,
            run_at INTEGER NOT NULL,
            lease_owner TEXT,
            lease_expires_at INTEGER,
            last_error TEXT,
            queued_at INTEGER NOT NULL,
            first_started_at INTEGER,
            started_at INTEGER,
            finished_at INTEGER,
            version INTEGER NOT NULL,
            next_log_seq INTEGER NOT NULL DEFAULT 1,
            CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead')),
            CHECK (status <> 'running' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
        );
        CREATE UNIQUE INDEX jobs_dedupe ON jobs(dedupe_key) WHERE dedupe_key IS NOT NULL;
        CREATE INDEX jobs_claimable ON jobs(run_at, id) WHERE status IN ('queued', 'failed');
        CREATE INDEX jobs_leases ON jobs(lease_expires_at) WHERE status = 'running';
        -- At most one running job per subject (certificate), enforced by the database itself.
        CREATE UNIQUE INDEX jobs_one_running_per_subject ON jobs(subject) WHERE status = 'running' AND subject IS NOT NULL;
        CREATE INDEX jobs_waiting_subject ON jobs(subject) WHERE status IN ('queued', 'failed') AND subject IS NOT NULL;
        CREATE INDEX jobs_project ON jobs(project_id, id) WHERE project_id IS NOT NULL;
        CREATE TABLE job_logs (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            at INTEGER NOT NULL,
            level TEXT NOT NULL,
            message TEXT NOT NULL,
            fields TEXT NOT NULL,
            PRIMARY KEY (job_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE audit_events (
            org_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            at INTEGER NOT NULL,
            action TEXT NOT NULL,
            project_id TEXT,
            doc TEXT NOT NULL,
            PRIMARY KEY (org_id, seq)
        ) WITHOUT ROWID;
        CREATE INDEX audit_events_project ON audit_events(org_id, project_id, seq);
        ",
    );
    for kind in RecordKind::SCHEMA_V1 {
        sql.push_str(&record_table(kind));
    }
    sql
}

/// Sealed fields apart from their records (M1.3), so KEK rotation re-wraps small rows only. Any
/// sealed values still inside documents are moved here.
fn schema_v3() -> String {
    let mut sql = String::from(
        "CREATE TABLE sealed_secrets (
            record_table TEXT NOT NULL,
            record_id TEXT NOT NULL,
            field TEXT NOT NULL,
            kek_version INTEGER NOT NULL,
            wrapped_dek TEXT NOT NULL,
            nonce TEXT NOT NULL,
            ciphertext TEXT NOT NULL,
            PRIMARY KEY (record_table, record_id, field)
        ) WITHOUT ROWID;
        CREATE INDEX sealed_secrets_by_version ON sealed_secrets(kek_version);\n",
    );
    let moves = [
        ("organizations", "jwt_signing_key"),
        ("acme_accounts", "eab_hmac_key"),
        ("acme_accounts", "account_key"),
        ("dns_credentials", "secret"),
        ("distribution_targets", "credential"),
        ("certificates", "private_key"),
    ];
    for (table, field) in moves {
        sql.push_str(&format!(
            "INSERT INTO sealed_secrets SELECT '{table}', id, '{field}', json_extract(doc, '$.{field}.kek_version'),
                 json_extract(doc, '$.{field}.wrapped_dek'), json_extract(doc, '$.{field}.nonce'), json_extract(doc, '$.{field}.ciphertext')
             FROM {table} WHERE json_type(doc, '$.{field}') = 'object';
             UPDATE {table} SET doc = json_set(doc, '$.{field}', json('null')) WHERE json_type(doc, '$.{field}') = 'object';\n"
        ));
    }
    sql
}

/// Sessions and API tokens (M1.2).
fn schema_v2() -> String {
    [RecordKind::Session, RecordKind::ApiToken].into_iter().map(record_table).collect()
}

/// Every scoped record kind shares one table layout: the document plus the columns it is filtered by.
fn record_table(kind: RecordKind) -> String {
    let t = kind.table();
    let mut sql = format!(
        "CREATE TABLE {t} (
            id TEXT PRIMARY KEY NOT NULL,
            org_id TEXT NOT NULL,
            project_id TEXT,
            version INTEGER NOT NULL,
            unique_key TEXT,
            lookup_key TEXT,
            due_at INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            doc TEXT NOT NULL
        );\n"
    );
    if kind.is_project_scoped() {
        sql.push_str(&format!(
            "CREATE INDEX {t}_scope ON {t}(project_id, id);
             CREATE UNIQUE INDEX {t}_unique ON {t}(project_id, unique_key) WHERE unique_key IS NOT NULL;\n"
        ));
    } else {
        sql.push_str(&format!(
            "CREATE INDEX {t}_scope ON {t}(org_id, id);
             CREATE UNIQUE INDEX {t}_unique ON {t}(org_id, unique_key) WHERE unique_key IS NOT NULL;\n"
        ));
    }
    match kind {
        RecordKind::Session | RecordKind::ApiToken => {
            sql.push_str(&format!("CREATE INDEX {t}_lookup ON {t}(org_id, lookup_key, id);\n"))
        }
        RecordKind::Membership => sql.push_str(&format!(
            "CREATE INDEX {t}_lookup ON {t}(org_id, lookup_key, id);
             CREATE INDEX {t}_project ON {t}(project_id, id);\n"
        )),
        RecordKind::Certificate => {
            sql.push_str(&format!("CREATE INDEX {t}_due ON {t}(due_at, id) WHERE due_at IS NOT NULL;\n"))
        }
        RecordKind::Deployment | RecordKind::ApprovalRequest => {
            sql.push_str(&format!("CREATE INDEX {t}_lookup ON {t}(project_id, lookup_key, id);\n"))
        }
        _ => {}
    }
    sql
}
