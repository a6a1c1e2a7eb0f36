//! SQL for failed-login counts (`login_failures`): one row per account or address key, pruned once
//! its last failure is older than the lockout.

use rusqlite::{Connection, OptionalExtension, params};

use crate::model::{LoginPolicy, LoginVerdict};
use crate::store::StoreError;
use crate::timestamp::Timestamp;

/// Runs inside the writer's transaction, so the read, the decision and the count are one step for
/// every process on the file.
pub(crate) fn reserve(
    c: &Connection,
    account: &str,
    address: Option<&str>,
    policy: &LoginPolicy,
    now: Timestamp,
) -> Result<LoginVerdict, StoreError> {
    let cutoff = now.as_unix_millis().saturating_sub(policy.lockout.as_millis() as i64);
    // Forgets failures older than the lockout, so a flood of made-up e-mails leaves nothing behind.
    c.prepare_cached("DELETE FROM login_failures WHERE last_at <= ?1")?.execute([cutoff])?;
    let failures = |key: &str| -> Result<u32, StoreError> {
        Ok(c.prepare_cached("SELECT failures FROM login_failures WHERE key = ?1")?
            .query_row([key], |r| r.get::<_, i64>(0))
            .optional()?
            .map_or(0, |n| n.clamp(0, i64::from(u32::MAX)) as u32))
    };
    let by_address = address.map(failures).transpose()?.unwrap_or(0);
    let verdict = policy.decide(failures(account)?, by_address);
    if matches!(verdict, LoginVerdict::Proceed { .. }) {
        let mut count = c.prepare_cached(
            "INSERT INTO login_failures (key, failures, last_at) VALUES (?1, 1, ?2)
             ON CONFLICT (key) DO UPDATE SET failures = failures + 1, last_at = excluded.last_at",
        )?;
        for key in std::iter::once(account).chain(address) {
            count.execute(params![key, now.as_unix_millis()])?;
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
