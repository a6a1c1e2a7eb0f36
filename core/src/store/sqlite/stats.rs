//! The `CertificateStats` concern in SQLite: the overview's rules (`model::OverviewRules`) translated
//! into a few statements over fact columns kept beside each certificate's and deployment's document
//! (`cert_*`, `dep_*`, schema v12; `cert_overdue_at` v14), which `write_facts` sets on every write and the migration
//! back-fills. Counts are one pass over the `certificates_facts` index (tallies, `model::fact_tally`),
//! the calendar one range count per day, the attention lists short walks in expiry order. The
//! inventory's expiry order walks `certificates_expiry` / `certificates_status_expiry` (schema v13).
//! Invariant: the fact columns always equal the facts of the row's document (they are written in the
//! statement's transaction), and every statement filters by the caller's organization and project.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

use crate::ids::CertificateId;
use crate::model::{
    Certificate, CertificateFacts, CertificateStatus, Condition, DAY_MILLIS, Deployment, DeploymentCondition,
    DeploymentFacts, FactTally, OverviewRules, ProjectCertificateStats, StatsRequest, StatusCounts, TimeCuts,
    TimeField, stored_name,
};
use crate::scope::ProjectScope;
use crate::store::expiry_order::{ExpirySegment, cut_expiry_page, expiry_segments};
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::records::sql::{COLUMNS, attach_sealed, raw_from_row};
use crate::store::{CertificateStats, Page, PageRequest, Record, RecordKind, StoreError};
use crate::timestamp::Timestamp;

#[async_trait]
impl CertificateStats for SqliteStore {
    async fn certificate_stats(
        &self,
        scope: &ProjectScope,
        request: &StatsRequest,
    ) -> Result<ProjectCertificateStats, StoreError> {
        let owner = [Value::Text(scope.org_id().to_string()), Value::Text(scope.project_id().to_string())];
        let request = *request;
        self.read(move |c| {
            Ok(ProjectCertificateStats {
                counts: counts(c, &owner, &request.rules())?,
                calendar: calendar(c, &owner, &request)?,
                attention: attention(c, &owner, &request)?,
                deployments: deployments(c, &owner, request.attention_limit)?,
                drifted: drifted_ids(c, &owner)?,
            })
        })
        .await
    }

    async fn drifted_certificates(&self, scope: &ProjectScope) -> Result<Vec<CertificateId>, StoreError> {
        let owner = [Value::Text(scope.org_id().to_string()), Value::Text(scope.project_id().to_string())];
        self.read_bounded(move |c| drifted_ids(c, &owner)).await
    }

    async fn certificates_by_expiry(
        &self,
        scope: &ProjectScope,
        condition: &Condition,
        page: &PageRequest,
    ) -> Result<Page<Certificate>, StoreError> {
        let owner = [Value::Text(scope.org_id().to_string()), Value::Text(scope.project_id().to_string())];
        let (condition, page) = (condition.clone(), page.clone());
        self.read(move |c| by_expiry(c, &owner, &condition, &page)).await
    }
}

/// The segments of the expiry order from the cursor, each a range of `certificates_expiry` (or of
/// `certificates_status_expiry` when the condition fixes the status), until one more than the
/// limit is found.
fn by_expiry(
    c: &Connection,
    owner: &[Value; 2],
    condition: &Condition,
    page: &PageRequest,
) -> Result<Page<Certificate>, StoreError> {
    let limit = page.effective_limit()?;
    let mut found = Vec::new();
    for segment in expiry_segments(page)? {
        let left = limit + 1 - found.len();
        if left == 0 {
            break;
        }
        let (statement, args) = segment_query(owner, segment, condition, left);
        let mut raw = records(c, RecordKind::Certificate, &statement, &args)?;
        attach_sealed(c, RecordKind::Certificate, &mut raw)?;
        for record in raw {
            found.push(Certificate::from_raw(record)?);
        }
    }
    let next_cursor = cut_expiry_page(&mut found, limit);
    Ok(Page { items: found, next_cursor })
}

/// One segment's statement and its parameters: the segment's range, the condition, in index order.
fn segment_query(
    owner: &[Value; 2],
    segment: ExpirySegment,
    condition: &Condition,
    left: usize,
) -> (String, Vec<Value>) {
    let mut args = owner.to_vec();
    let (range, order) = match segment {
        ExpirySegment::SameExpiry { at, after } => {
            args.extend([Value::Integer(at), Value::Text(after)]);
            ("cert_not_after = ? AND id > ?", "id")
        }
        ExpirySegment::LaterExpiry { after: Some(after) } => {
            args.push(Value::Integer(after));
            ("cert_not_after > ?", "cert_not_after, id")
        }
        ExpirySegment::LaterExpiry { after: None } => ("cert_not_after IS NOT NULL", "cert_not_after, id"),
        ExpirySegment::Unissued { after: Some(after) } => {
            args.push(Value::Text(after));
            ("cert_not_after IS NULL AND id > ?", "id")
        }
        ExpirySegment::Unissued { after: None } => ("cert_not_after IS NULL", "id"),
    };
    let matching = sql(condition, &mut args);
    let statement = format!(
        "SELECT {COLUMNS} FROM certificates WHERE {OWNER_FILTER} AND {range} AND {matching}
         ORDER BY {order} LIMIT {left}"
    );
    (statement, args)
}

const OWNER_FILTER: &str = "org_id = ? AND project_id = ?";

/// The figures from tallies (`model::fact_tally`): one pass over `certificates_facts` in its order,
/// one `SUM` per cell of the time cuts per (status, paused, has_error), where evaluating every rule
/// per row cost ~100 ms on 100,000 certificates; then the certificates with a drifted deployment.
fn counts(c: &Connection, owner: &[Value; 2], rules: &OverviewRules) -> Result<StatusCounts, StoreError> {
    let cuts = TimeCuts::of_counters(rules);
    let mut sums = Vec::new();
    let mut args = Vec::new();
    for index in 0..cuts.cell_count() {
        let parts: Vec<String> = TimeField::ALL
            .iter()
            .zip(cuts.cell_intervals(index))
            .map(|(field, interval)| in_interval(*field, cuts.field(*field), interval, &mut args))
            .collect();
        sums.push(format!("SUM({})", parts.join(" AND ")));
    }
    args.extend(owner.iter().cloned());
    let statement = format!(
        "SELECT cert_status, cert_paused, cert_has_error, {} FROM certificates INDEXED BY certificates_facts
         WHERE {OWNER_FILTER} GROUP BY cert_status, cert_paused, cert_has_error",
        sums.join(", ")
    );
    let cells = cuts.cell_count();
    let mut stmt = c.prepare_cached(&statement)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |row| {
        let sum = |i: usize| row.get::<_, Option<i64>>(i).map(|v| usize::try_from(v.unwrap_or(0)).unwrap_or(0));
        Ok((
            row.get::<_, Option<String>>(0)?,
            row.get::<_, bool>(1)?,
            row.get::<_, bool>(2)?,
            (0..cells).map(|i| sum(3 + i)).collect::<Result<Vec<_>, _>>()?,
        ))
    })?;
    let mut tallies = Vec::new();
    for row in rows {
        let (status, paused, has_error, cells) = row?;
        tallies.push(FactTally { status: status_of(status.as_deref())?, paused, has_error, cells });
    }
    let mut counts = StatusCounts::from_tallies(rules, &cuts, &tallies);
    counts.add_drift(rules, &drifted_facts(c, owner)?);
    Ok(counts)
}

/// `field` in interval `k` of `cuts` (`TimeCuts::cell_intervals`), 0 or 1; the last interval takes
/// absent values.
fn in_interval(field: TimeField, cuts: &[Timestamp], k: usize, args: &mut Vec<Value>) -> String {
    let column = match field {
        TimeField::NotAfter => "cert_not_after",
        TimeField::RenewAt => "cert_renew_at",
        TimeField::OverdueAt => "cert_overdue_at",
    };
    let ms = |t: &Timestamp| Value::Integer(t.as_unix_millis());
    match (k, cuts.len()) {
        (_, 0) => "1".into(),
        (0, _) => {
            args.push(ms(&cuts[0]));
            format!("IFNULL({column} < ?, 0)")
        }
        (k, n) if k < n => {
            args.extend([ms(&cuts[k - 1]), ms(&cuts[k])]);
            format!("IFNULL({column} >= ? AND {column} < ?, 0)")
        }
        (k, _) => {
            args.push(ms(&cuts[k - 1]));
            format!("IFNULL({column} >= ?, 1)")
        }
    }
}

fn status_of(name: Option<&str>) -> Result<CertificateStatus, StoreError> {
    name.and_then(status_from_name).ok_or_else(|| StoreError::Corrupt {
        kind: "certificate",
        id: "(a row of the project)".into(),
        reason: format!("unknown status {name:?} in cert_status"),
    })
}

/// The facts of the project's certificates with a drifted deployment, each once, by id.
fn drifted_facts(c: &Connection, owner: &[Value; 2]) -> Result<Vec<CertificateFacts>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT cert_status, cert_not_after, cert_renew_at, cert_paused, cert_has_error FROM certificates
         WHERE {OWNER_FILTER} AND id IN (SELECT lookup_key FROM deployments INDEXED BY deployments_drifted
             WHERE project_id = ?2 AND org_id = ?1 AND dep_drifted = 1) ORDER BY id"
    ))?;
    let rows = stmt.query_map(params_from_iter(owner.iter()), |row| {
        Ok((
            row.get::<_, Option<String>>(0)?,
            row.get::<_, Option<i64>>(1)?,
            row.get::<_, Option<i64>>(2)?,
            row.get::<_, bool>(3)?,
            row.get::<_, bool>(4)?,
        ))
    })?;
    let ts = |v: Option<i64>| v.map(Timestamp::from_unix_millis);
    let mut facts = Vec::new();
    for row in rows {
        let (status, not_after, renew_at, paused, has_error) = row?;
        facts.push(CertificateFacts::from_columns(
            status_of(status.as_deref())?,
            ts(not_after),
            ts(renew_at),
            paused,
            has_error,
        ));
    }
    Ok(facts)
}

/// The ids of the project's certificates with a drifted deployment, each once, by id.
fn drifted_ids(c: &Connection, owner: &[Value; 2]) -> Result<Vec<CertificateId>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT DISTINCT lookup_key FROM deployments INDEXED BY deployments_drifted
         WHERE project_id = ?2 AND org_id = ?1 AND dep_drifted = 1 ORDER BY lookup_key",
    )?;
    let rows = stmt.query_map(params_from_iter(owner.iter()), |row| row.get::<_, String>(0))?;
    let mut ids = Vec::new();
    for row in rows {
        let text = row?;
        ids.push(text.parse().map_err(|_| StoreError::Corrupt {
            kind: "deployment",
            id: "(a row of the project)".into(),
            reason: format!("lookup key {text:?} is no certificate id"),
        })?);
    }
    Ok(ids)
}

/// One count per day, each a range of `certificates_stats` (a `GROUP BY` day sorted every row: ~25 ms
/// on 100,000 certificates); the statement is prepared once for all days.
fn calendar(c: &Connection, owner: &[Value; 2], request: &StatsRequest) -> Result<Vec<usize>, StoreError> {
    let mut days = Vec::with_capacity(request.calendar_days);
    for day in 0..request.calendar_days {
        let start = Timestamp::from_unix_millis(request.calendar_start.as_unix_millis() + day as i64 * DAY_MILLIS);
        let mut args = owner.to_vec();
        let on_day = sql(&OverviewRules::on_calendar(start, 1), &mut args);
        let statement = format!("SELECT COUNT(*) FROM certificates WHERE {OWNER_FILTER} AND {on_day}");
        let n: i64 = c.prepare_cached(&statement)?.query_row(params_from_iter(args.iter()), |r| r.get(0))?;
        days.push(usize::try_from(n).unwrap_or_default());
    }
    Ok(days)
}

/// Those with an expiry first (walking the index in expiry order), then those without, by id.
fn attention(c: &Connection, owner: &[Value; 2], request: &StatsRequest) -> Result<Vec<Certificate>, StoreError> {
    let needs = request.rules().needs_attention();
    let mut found = Vec::new();
    for (has_expiry, order) in [("IS NOT NULL", "cert_not_after, id"), ("IS NULL", "id")] {
        let left = request.attention_limit - found.len();
        if left == 0 {
            break;
        }
        let mut args = owner.to_vec();
        let condition = sql(&needs, &mut args);
        let statement = format!(
            "SELECT {COLUMNS} FROM certificates WHERE {OWNER_FILTER} AND cert_not_after {has_expiry} AND {condition}
             ORDER BY {order} LIMIT {left}"
        );
        found.extend(records(c, RecordKind::Certificate, &statement, &args)?);
    }
    attach_sealed(c, RecordKind::Certificate, &mut found)?;
    found.into_iter().map(Certificate::from_raw).collect()
}

fn deployments(c: &Connection, owner: &[Value; 2], limit: usize) -> Result<Vec<Deployment>, StoreError> {
    let mut args = owner.to_vec();
    let flagged: Vec<String> = DeploymentCondition::attention()
        .into_iter()
        .map(|(_, condition)| match condition {
            DeploymentCondition::Drifted => "dep_drifted = 1".to_owned(),
            DeploymentCondition::StatusIs(status) => {
                args.push(Value::Text(stored_name(status)));
                "dep_status = ?".to_owned()
            }
        })
        .collect();
    let statement = format!(
        "SELECT {COLUMNS} FROM deployments WHERE {OWNER_FILTER} AND ({}) ORDER BY lookup_key, id LIMIT {limit}",
        flagged.join(" OR ")
    );
    let mut found = records(c, RecordKind::Deployment, &statement, &args)?;
    attach_sealed(c, RecordKind::Deployment, &mut found)?;
    found.into_iter().map(Deployment::from_raw).collect()
}

fn records(
    c: &Connection,
    kind: RecordKind,
    statement: &str,
    args: &[Value],
) -> Result<Vec<crate::store::RawRecord>, StoreError> {
    let mut stmt = c.prepare_cached(statement)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |row| raw_from_row(kind, row))?;
    rows.map(|r| r.map_err(StoreError::from).and_then(|columns| columns.into_raw())).collect()
}

/// `condition` as an SQL expression over the `cert_*` columns, its parameters appended to `args`.
/// Every leaf is 0 or 1, never NULL (an absent time compares false), so `NOT` means what it says.
fn sql(condition: &Condition, args: &mut Vec<Value>) -> String {
    fn time(column: &str, op: &str, at: &Timestamp, args: &mut Vec<Value>) -> String {
        args.push(Value::Integer(at.as_unix_millis()));
        format!("({column} IS NOT NULL AND {column} {op} ?)")
    }
    match condition {
        Condition::Always => "1".into(),
        Condition::StatusIn(statuses) if statuses.is_empty() => "0".into(),
        Condition::StatusIn(statuses) => {
            args.extend(statuses.iter().map(|s| Value::Text(stored_name(*s))));
            format!("cert_status IN ({})", vec!["?"; statuses.len()].join(","))
        }
        Condition::NotAfterAtOrBefore(at) => time("cert_not_after", "<=", at, args),
        Condition::NotAfterIn(from, until) => {
            args.push(Value::Integer(from.as_unix_millis()));
            args.push(Value::Integer(until.as_unix_millis()));
            "(cert_not_after IS NOT NULL AND cert_not_after >= ? AND cert_not_after < ?)".into()
        }
        Condition::RenewAtAtOrBefore(at) => time("cert_renew_at", "<=", at, args),
        Condition::RenewAtBefore(at) => time("cert_renew_at", "<", at, args),
        Condition::OverdueAtAtOrBefore(at) => time("cert_overdue_at", "<=", at, args),
        Condition::Paused => "cert_paused = 1".into(),
        Condition::HasError => "cert_has_error = 1".into(),
        Condition::Not(inner) => format!("NOT {}", sql(inner, args)),
        Condition::All(parts) if parts.is_empty() => "1".into(),
        Condition::Any(parts) if parts.is_empty() => "0".into(),
        Condition::All(parts) => joined(parts, " AND ", args),
        Condition::Any(parts) => joined(parts, " OR ", args),
    }
}

fn joined(parts: &[Condition], with: &str, args: &mut Vec<Value>) -> String {
    let parts: Vec<String> = parts.iter().map(|p| sql(p, args)).collect();
    format!("({})", parts.join(with))
}

fn status_from_name(name: &str) -> Option<CertificateStatus> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

/// Sets the fact columns of a certificate or deployment row from its document (other kinds have none).
pub(in crate::store::sqlite) fn write_facts(
    c: &Connection,
    kind: RecordKind,
    id: &str,
    doc: &str,
) -> Result<(), StoreError> {
    let corrupt =
        |e: serde_json::Error| StoreError::Corrupt { kind: kind.name(), id: id.into(), reason: e.to_string() };
    match kind {
        RecordKind::Certificate => {
            let f = CertificateFacts::from_document(doc).map_err(corrupt)?;
            c.prepare_cached(
                "UPDATE certificates SET cert_status = ?1, cert_not_after = ?2, cert_renew_at = ?3, cert_paused = ?4,
                 cert_has_error = ?5, cert_overdue_at = ?6 WHERE id = ?7",
            )?
            .execute(params![
                stored_name(f.status),
                f.not_after.map(Timestamp::as_unix_millis),
                f.renew_at.map(Timestamp::as_unix_millis),
                f.paused,
                f.has_error,
                f.overdue_at.map(Timestamp::as_unix_millis),
                id
            ])?;
        }
        RecordKind::Deployment => {
            let f = DeploymentFacts::from_document(doc).map_err(corrupt)?;
            c.prepare_cached("UPDATE deployments SET dep_status = ?1, dep_drifted = ?2 WHERE id = ?3")?
                .execute(params![stored_name(f.status), f.drifted, id])?;
        }
        _ => {}
    }
    Ok(())
}

/// Schema v12's and v14's back-fill: the fact columns of every existing certificate and deployment.
pub(in crate::store::sqlite) fn backfill_facts(c: &Connection) -> Result<(), StoreError> {
    for kind in [RecordKind::Certificate, RecordKind::Deployment] {
        let rows: Vec<(String, String)> = {
            let mut stmt = c.prepare(&format!("SELECT id, doc FROM {}", kind.table()))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
        };
        for (id, doc) in rows {
            write_facts(c, kind, &id, &doc)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AcmeAccountId, OrgId, ProjectId};
    use crate::model::KeyType;
    use crate::store::sqlite::migrations::{migrate, migrations};

    /// A database from before schema v12 (rows without fact columns) gets them from each row's
    /// document when it migrates: an issued, paused, erring certificate and a drifted deployment
    /// read back exactly their facts.
    #[test]
    fn migration_backfills_the_facts_of_existing_rows() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in migrations().iter().take(11) {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 11).unwrap();
        let now = Timestamp::from_unix_millis(1_800_000_000_123);
        let (org, project) = (OrgId::new(), ProjectId::new());
        let mut cert = Certificate::new(project, "a.example", vec![], KeyType::EcdsaP256, AcmeAccountId::new(), now);
        cert.status = CertificateStatus::Issued;
        cert.not_after = Some(Timestamp::from_unix_millis(now.as_unix_millis() + 5));
        cert.renew_at = Some(now);
        cert.paused = true;
        cert.last_error = Some("refused".into());
        let mut deployment = Deployment::new(project, cert.id, crate::ids::TargetId::new(), now);
        deployment.drift = Some("missing".into());
        for (table, id, doc) in [
            ("certificates", cert.id.to_string(), serde_json::to_string(&cert).unwrap()),
            ("deployments", deployment.id.to_string(), serde_json::to_string(&deployment).unwrap()),
        ] {
            conn.execute(
                &format!(
                    "INSERT INTO {table} (id, org_id, project_id, version, created_at, updated_at, doc)
                     VALUES (?1, ?2, ?3, 1, 0, 0, ?4)"
                ),
                params![id, org.to_string(), project.to_string(), doc],
            )
            .unwrap();
        }

        migrate(&conn).unwrap();

        let facts = conn
            .query_row(
                "SELECT cert_status, cert_not_after, cert_renew_at, cert_paused, cert_has_error FROM certificates",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        let expected: (String, Option<i64>, Option<i64>, bool, bool) =
            ("issued".into(), Some(now.as_unix_millis() + 5), Some(now.as_unix_millis()), true, true);
        assert_eq!(facts, expected);
        let deployment_facts: (String, bool) = conn
            .query_row("SELECT dep_status, dep_drifted FROM deployments", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(deployment_facts, ("pending".into(), true));
    }

    /// Every segment of the expiry order is one range of an expiry index read in its order (no
    /// temporary B-tree, no full scan): the unfiltered order on `certificates_expiry`, one status on
    /// `certificates_status_expiry`, and a condition beside them (live, expiring) still on the
    /// index, checked during the walk, as `certificates_by_expiry` documents.
    #[test]
    fn every_expiry_segment_is_an_index_range() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let owner = [Value::Text(OrgId::new().to_string()), Value::Text(ProjectId::new().to_string())];
        let id = crate::ids::CertificateId::new().to_string();
        let segments = [
            ExpirySegment::SameExpiry { at: 5, after: id.clone() },
            ExpirySegment::LaterExpiry { after: Some(5) },
            ExpirySegment::LaterExpiry { after: None },
            ExpirySegment::Unissued { after: Some(id) },
            ExpirySegment::Unissued { after: None },
        ];
        let live_within = Condition::All(vec![
            Condition::NotAfterAtOrBefore(Timestamp::from_unix_millis(9)),
            Condition::Not(Box::new(Condition::StatusIn(vec![CertificateStatus::Revoked]))),
        ]);
        let conditions = [
            (Condition::Always, "certificates_expiry"),
            (live_within, "certificates_expiry"),
            (Condition::StatusIn(vec![CertificateStatus::Issued]), "certificates_status_expiry"),
        ];
        for (condition, index) in &conditions {
            for segment in &segments {
                let (statement, args) = segment_query(&owner, segment.clone(), condition, 51);
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {statement}")).unwrap();
                let plan: Vec<String> = stmt
                    .query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let plan = plan.join("; ");
                assert!(plan.contains(&format!("USING INDEX {index} (")), "{segment:?} {condition:?}: {plan}");
                assert!(!plan.contains("TEMP B-TREE"), "{segment:?} {condition:?}: {plan}");
            }
        }
    }
}
