//! SQL for failed-login counts (`login_failures`): one row per account or address key, forgotten
//! once its last failure is older than the lockout.

use rusqlite::{Connection, OptionalExtension, params};

use crate::model::{LoginPolicy, LoginVerdict};
use crate::store::StoreError;
use crate::timestamp::Timestamp;

/// Expired rows removed per attempt: bounds how long one attempt holds the write lock after a
/// flood, while each attempt still removes far more rows than it can add (two).
const PRUNE_PER_ATTEMPT: i64 = 500;

/// The verdict on the counts as they stand, read only. A refusal read here is final, so a locked
/// out client hammering the endpoint never reaches the writer; at worst the read is a moment older
/// than a success that cleared the way, and errs on the side of refusing.
pub(crate) fn peek(
    c: &Connection,
    account: &str,
    address: Option<&str>,
    policy: &LoginPolicy,
    now: Timestamp,
) -> Result<LoginVerdict, StoreError> {
    let cutoff = cutoff(policy, now);
    let by_address = address.map(|a| failures(c, a, cutoff)).transpose()?.unwrap_or(0);
    Ok(policy.decide(failures(c, account, cutoff)?, by_address))
}

/// Runs inside the writer's transaction, so the read, the decision and the count are one step for
/// every process on the file.
pub(crate) fn reserve(
    c: &Connection,
    account: &str,
    address: Option<&str>,
    policy: &LoginPolicy,
    now: Timestamp,
) -> Result<LoginVerdict, StoreError> {
    let cutoff = cutoff(policy, now);
    c.prepare_cached(
        "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures WHERE last_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![cutoff, PRUNE_PER_ATTEMPT])?;
    let verdict = peek(c, account, address, policy, now)?;
    if matches!(verdict, LoginVerdict::Proceed { .. }) {
        // An expired row not pruned yet starts again from one. `last_at` never moves back, even
        // when another process's clock is behind this one's.
        let mut count = c.prepare_cached(
            "INSERT INTO login_failures (key, failures, last_at) VALUES (?1, 1, ?2)
             ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN last_at <= ?3 THEN 1 ELSE failures + 1 END,
                last_at = max(last_at, excluded.last_at)",
        )?;
        for key in std::iter::once(account).chain(address) {
            count.execute(params![key, now.as_unix_millis(), cutoff])?;
        }
    }
    Ok(verdict)
}

pub(crate) fn succeeded(c: &Connection, account: &str, address: Option<&str>) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM login_failures WHERE key = ?1")?.execute([account])?;
    if let Some(address) = address {
        c.prepare_cached("UPDATE login_failures SET failures = max(failures - 1, 0) WHERE key = ?1")?
            .execute([address])?;
    }
    Ok(())
}

fn cutoff(policy: &LoginPolicy, now: Timestamp) -> i64 {
    now.as_unix_millis().saturating_sub(i64::try_from(policy.lockout.as_millis()).unwrap_or(i64::MAX))
}

/// Failures counted under `key` since `cutoff` (an expired row counts none).
fn failures(c: &Connection, key: &str, cutoff: i64) -> Result<u32, StoreError> {
    Ok(c.prepare_cached("SELECT failures FROM login_failures WHERE key = ?1 AND last_at > ?2")?
        .query_row(params![key, cutoff], |r| r.get::<_, i64>(0))
        .optional()?
        .map_or(0, |n| n.clamp(0, i64::from(u32::MAX)) as u32))
}
