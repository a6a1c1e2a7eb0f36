//! Organizations in SQLite: their own table, with their signing and audit keys sealed apart in
//! `sealed_secrets` like any record's. Invariant: the first organization is created only inside a
//! write transaction that finds none, so two processes running setup at once create one.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::ids::OrgId;
use crate::model::{Organization, User};
use crate::scope::OrgScope;
use crate::store::org_doc;
use crate::store::sqlite::{SqliteStore, records, sealed};
use crate::store::{AuditWrite, Organizations, Record, RecordScope, StoreError};
use crate::timestamp::Timestamp;

#[async_trait]
impl Organizations for SqliteStore {
    async fn create_first_organization(
        &self,
        org: &Organization,
        owner: &User,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let (org, owner, now) = (org.clone(), owner.clone(), self.now());
        let scope = RecordScope::from(&OrgScope::for_system("setup", &org));
        let owner_raw = owner.to_raw(&scope)?;
        self.write_audited(audit, now, move |c| {
            let existing: i64 = c.query_row("SELECT COUNT(*) FROM organizations", [], |r| r.get(0))?;
            if existing > 0 {
                return Err(StoreError::AlreadyExists { kind: "organization", key: "setup already done".into() });
            }
            create_organization(c, &org)?;
            records::sql::insert(c, &scope, &[owner_raw])
        })
        .await
    }

    async fn create_organization(&self, org: &Organization) -> Result<(), StoreError> {
        let org = org.clone();
        self.write(move |c| create_organization(c, &org)).await
    }

    async fn get_organization(&self, id: OrgId) -> Result<Organization, StoreError> {
        self.read(move |c| get_organization(c, id)).await
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        self.read(list_organizations).await
    }

    async fn update_organization(
        &self,
        org: &Organization,
        audit: Option<AuditWrite>,
    ) -> Result<Organization, StoreError> {
        let (org, now) = (org.clone(), self.now());
        self.write_audited(audit, now, move |c| update_organization(c, &org, now)).await
    }
}

fn create_organization(conn: &Connection, org: &Organization) -> Result<(), StoreError> {
    let (doc, sealed_key) = org_doc::split(org)?;
    conn.prepare_cached(
        "INSERT INTO organizations (id, version, created_at, updated_at, doc) VALUES (?1, 1, ?2, ?2, ?3)",
    )?
    .execute(params![org.id.to_string(), org.created_at.as_unix_millis(), doc])
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            StoreError::AlreadyExists { kind: "organization", key: format!("id {}", org.id) }
        }
        _ => StoreError::from(e),
    })?;
    sealed::replace(conn, org_doc::TABLE, &org.id.to_string(), &sealed_key)
}

fn org_from_row(row: &Row<'_>) -> rusqlite::Result<(String, i64, i64, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn decode_org(
    conn: &Connection,
    (id, version, updated_at, doc): (String, i64, i64, String),
) -> Result<Organization, StoreError> {
    let sealed = sealed::load(conn, org_doc::TABLE, &id)?;
    org_doc::join(&id, &doc, version as u64, Timestamp::from_unix_millis(updated_at), sealed)
}

fn get_organization(conn: &Connection, id: OrgId) -> Result<Organization, StoreError> {
    conn.prepare_cached("SELECT id, version, updated_at, doc FROM organizations WHERE id = ?1")?
        .query_row([id.to_string()], org_from_row)
        .optional()?
        .map(|row| decode_org(conn, row))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound { kind: "organization", id: id.to_string() })
}

fn list_organizations(conn: &Connection) -> Result<Vec<Organization>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, version, updated_at, doc FROM organizations ORDER BY id")?;
    let rows = stmt.query_map([], org_from_row)?;
    rows.map(|r| r.map_err(StoreError::from).and_then(|row| decode_org(conn, row))).collect()
}

fn update_organization(conn: &Connection, org: &Organization, now: Timestamp) -> Result<Organization, StoreError> {
    let (doc, sealed_key) = org_doc::split(org)?;
    let changed = conn
        .prepare_cached(
            "UPDATE organizations SET version = version + 1, updated_at = ?1, doc = ?2 WHERE id = ?3 AND version = ?4",
        )?
        .execute(params![now.as_unix_millis(), doc, org.id.to_string(), org.version as i64])?;
    if changed == 0 {
        let current = get_organization(conn, org.id)?;
        return Err(StoreError::Conflict {
            kind: "organization",
            id: org.id.to_string(),
            expected: org.version,
            actual: current.version,
        });
    }
    sealed::replace(conn, org_doc::TABLE, &org.id.to_string(), &sealed_key)?;
    get_organization(conn, org.id)
}
