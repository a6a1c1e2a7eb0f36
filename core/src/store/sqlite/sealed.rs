//! Sealed fields in SQLite: the `SealedSecrets` concern, and the SQL records use for their sealed
//! fields, kept in `sealed_secrets` apart from their records: written and deleted in the same
//! transaction as the record, read back with it, and re-wrapped in place by a KEK rotation.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{Connection, params};

use crate::model::SealedSecret;
use crate::store::sqlite::SqliteStore;
use crate::store::{SealedKey, SealedRow, SealedSecrets, StoreError};

#[async_trait]
impl SealedSecrets for SqliteStore {
    async fn kek_usage(&self) -> Result<BTreeMap<u32, u64>, StoreError> {
        self.read(usage).await
    }

    async fn sealed_older_than(&self, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError> {
        self.read(move |c| older_than(c, version, limit)).await
    }

    async fn rewrap_sealed(&self, updates: Vec<(SealedRow, SealedSecret)>) -> Result<u64, StoreError> {
        self.write(move |c| rewrap(c, &updates)).await
    }

    async fn sealed_with_version(&self, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError> {
        self.read(move |c| with_version(c, version, limit)).await
    }

    async fn sealed_after(&self, after: Option<SealedKey>, limit: usize) -> Result<Vec<SealedRow>, StoreError> {
        self.read(move |c| self::after(c, after.as_ref(), limit)).await
    }
}

/// Writes a record's sealed values. A value that comes back unchanged (same nonce and ciphertext: the
/// record was read, edited elsewhere, and saved) keeps its stored row, which a KEK rotation may have
/// re-wrapped meanwhile; writing the old wrap back would resurrect a version about to be retired.
pub(crate) fn replace(
    conn: &Connection,
    table: &str,
    record_id: &str,
    sealed: &[(String, SealedSecret)],
) -> Result<(), StoreError> {
    let fields: Vec<&str> = sealed.iter().map(|(f, _)| f.as_str()).collect();
    // Fields the record no longer has.
    let existing = load(conn, table, record_id)?;
    for (field, _) in existing.iter().filter(|(f, _)| !fields.contains(&f.as_str())) {
        conn.prepare_cached("DELETE FROM sealed_secrets WHERE record_table = ?1 AND record_id = ?2 AND field = ?3")?
            .execute([table, record_id, field])?;
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO sealed_secrets (record_table, record_id, field, kek_version, wrapped_dek, nonce, ciphertext)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (record_table, record_id, field) DO UPDATE SET
             kek_version = excluded.kek_version, wrapped_dek = excluded.wrapped_dek,
             nonce = excluded.nonce, ciphertext = excluded.ciphertext
         WHERE NOT (sealed_secrets.nonce = excluded.nonce AND sealed_secrets.ciphertext = excluded.ciphertext)",
    )?;
    for (field, s) in sealed {
        upsert.execute(params![
            table,
            record_id,
            field,
            i64::from(s.kek_version),
            s.wrapped_dek,
            s.nonce,
            s.ciphertext
        ])?;
    }
    Ok(())
}

pub(crate) fn delete_all(conn: &Connection, table: &str, record_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sealed_secrets WHERE record_table = ?1 AND record_id = ?2")?
        .execute([table, record_id])?;
    Ok(())
}

pub(crate) fn load(conn: &Connection, table: &str, record_id: &str) -> Result<Vec<(String, SealedSecret)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT field, kek_version, wrapped_dek, nonce, ciphertext FROM sealed_secrets WHERE record_table = ?1 AND record_id = ?2",
    )?;
    let rows = stmt.query_map([table, record_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            SealedSecret {
                kek_version: r.get::<_, i64>(1)? as u32,
                wrapped_dek: r.get(2)?,
                nonce: r.get(3)?,
                ciphertext: r.get(4)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The sealed values of many records of one table, in one query, by record id.
pub(crate) fn load_many(
    conn: &Connection,
    table: &str,
    record_ids: &[&str],
) -> Result<std::collections::HashMap<String, Vec<(String, SealedSecret)>>, StoreError> {
    let mut found: std::collections::HashMap<String, Vec<(String, SealedSecret)>> = std::collections::HashMap::new();
    // SQLite's default limit on bound parameters is far above a page (1,000).
    for chunk in record_ids.chunks(900) {
        let placeholders = vec!["?"; chunk.len()].join(",");
        let sql = format!(
            "SELECT record_id, field, kek_version, wrapped_dek, nonce, ciphertext FROM sealed_secrets
             WHERE record_table = ? AND record_id IN ({placeholders})"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&table];
        args.extend(chunk.iter().map(|id| id as &dyn rusqlite::ToSql));
        let rows = stmt.query_map(args.as_slice(), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                SealedSecret {
                    kek_version: r.get::<_, i64>(2)? as u32,
                    wrapped_dek: r.get(3)?,
                    nonce: r.get(4)?,
                    ciphertext: r.get(5)?,
                },
            ))
        })?;
        for row in rows {
            let (id, field, secret) = row?;
            found.entry(id).or_default().push((field, secret));
        }
    }
    Ok(found)
}

/// How many sealed values each KEK version still wraps.
pub(crate) fn usage(conn: &Connection) -> Result<std::collections::BTreeMap<u32, u64>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT kek_version, COUNT(*) FROM sealed_secrets GROUP BY kek_version")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn sealed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SealedRow> {
    Ok(SealedRow {
        key: SealedKey { table: r.get(0)?, record_id: r.get(1)?, field: r.get(2)? },
        secret: SealedSecret {
            kek_version: r.get::<_, i64>(3)? as u32,
            wrapped_dek: r.get(4)?,
            nonce: r.get(5)?,
            ciphertext: r.get(6)?,
        },
    })
}

/// Up to `limit` sealed values wrapped by a version older than `version`.
pub(crate) fn older_than(conn: &Connection, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT record_table, record_id, field, kek_version, wrapped_dek, nonce, ciphertext FROM sealed_secrets
         WHERE kek_version < ?1 LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![i64::from(version), limit as i64], sealed_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` sealed values wrapped by exactly `version` (the index on `kek_version` serves it).
pub(crate) fn with_version(conn: &Connection, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT record_table, record_id, field, kek_version, wrapped_dek, nonce, ciphertext FROM sealed_secrets
         WHERE kek_version = ?1 LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![i64::from(version), limit as i64], sealed_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The next `limit` sealed values in primary-key order after `after` (from the start without it).
pub(crate) fn after(conn: &Connection, after: Option<&SealedKey>, limit: usize) -> Result<Vec<SealedRow>, StoreError> {
    let (table, record_id, field) =
        after.map(|k| (k.table.as_str(), k.record_id.as_str(), k.field.as_str())).unwrap_or(("", "", ""));
    let mut stmt = conn.prepare_cached(
        "SELECT record_table, record_id, field, kek_version, wrapped_dek, nonce, ciphertext FROM sealed_secrets
         WHERE (record_table, record_id, field) > (?1, ?2, ?3)
         ORDER BY record_table, record_id, field LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![table, record_id, field, limit as i64], sealed_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces wrapped data keys, each only if the row still holds what was read (compare-and-swap), so
/// a value rewritten meanwhile by the running service is left alone. Returns how many were replaced.
pub(crate) fn rewrap(conn: &Connection, updates: &[(SealedRow, SealedSecret)]) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE sealed_secrets SET kek_version = ?1, wrapped_dek = ?2
         WHERE record_table = ?3 AND record_id = ?4 AND field = ?5 AND kek_version = ?6 AND wrapped_dek = ?7",
    )?;
    let mut changed = 0;
    for (old, new) in updates {
        if new.nonce != old.secret.nonce || new.ciphertext != old.secret.ciphertext {
            return Err(StoreError::InvalidRequest("a re-wrap must keep the data unchanged".into()));
        }
        changed += stmt.execute(params![
            i64::from(new.kek_version),
            new.wrapped_dek,
            old.key.table,
            old.key.record_id,
            old.key.field,
            i64::from(old.secret.kek_version),
            old.secret.wrapped_dek,
        ])? as u64;
    }
    Ok(changed)
}
