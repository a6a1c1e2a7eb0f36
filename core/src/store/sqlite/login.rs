//! Failed-login counts in SQLite, the `LoginThrottle` concern (`login_failures`): one row per key
//! (an account, an address, or an (account, address) pair; see `model::LoginKeys`), forgotten once
//! its last failure is older than the lockout. The table does not know which kind a key is:
//! `model::LoginPolicy` does.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use crate::model::{LoginAttemptKeys, LoginFailures, LoginPolicy, LoginVerdict};
use crate::store::sqlite::SqliteStore;
use crate::store::{LoginThrottle, StoreError};
use crate::timestamp::Timestamp;

#[async_trait]
impl LoginThrottle for SqliteStore {
    async fn reserve_login_attempt(
        &self,
        keys: &LoginAttemptKeys,
        policy: &LoginPolicy,
    ) -> Result<LoginVerdict, StoreError> {
        let (keys, policy, now) = (keys.clone(), *policy, self.now());
        let peeked = keys.clone();
        // A refusal needs no write: decided on a read, it keeps a flood of refused guesses off
        // the writer.
        if let refused @ LoginVerdict::Refuse { .. } = self.read(move |c| peek(c, &peeked, &policy, now)).await? {
            return Ok(refused);
        }
        self.write(move |c| reserve(c, &keys, &policy, now)).await
    }

    async fn login_succeeded(&self, keys: &LoginAttemptKeys) -> Result<(), StoreError> {
        let keys = keys.clone();
        self.write(move |c| succeeded(c, &keys)).await
    }
}

/// Expired rows removed per attempt: bounds how long one attempt holds the write lock after a
/// flood, while each attempt still removes far more rows than it can add (three).
const PRUNE_PER_ATTEMPT: i64 = 500;

/// The verdict on the counts as they stand, read only. A refusal read here is final, so a locked
/// out client hammering the endpoint never reaches the writer; at worst the read is a moment older
/// than a success that cleared the way, and errs on the side of refusing.
pub(crate) fn peek(
    c: &Connection,
    keys: &LoginAttemptKeys,
    policy: &LoginPolicy,
    now: Timestamp,
) -> Result<LoginVerdict, StoreError> {
    let cutoff = cutoff(policy, now);
    let mut counted = LoginFailures { account: failures(c, &keys.account, cutoff)?, ..Default::default() };
    if let Some(address) = &keys.address {
        counted.account_address = failures(c, &address.account_address, cutoff)?;
        counted.address = failures(c, &address.address, cutoff)?;
    }
    Ok(policy.decide(counted))
}

/// Runs inside the writer's transaction, so the read, the decision and the count are one step for
/// every process on the file.
pub(crate) fn reserve(
    c: &Connection,
    keys: &LoginAttemptKeys,
    policy: &LoginPolicy,
    now: Timestamp,
) -> Result<LoginVerdict, StoreError> {
    let cutoff = cutoff(policy, now);
    c.prepare_cached(
        "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures WHERE last_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![cutoff, PRUNE_PER_ATTEMPT])?;
    let verdict = peek(c, keys, policy, now)?;
    if matches!(verdict, LoginVerdict::Proceed { .. }) {
        // An expired row not pruned yet starts again from one. `last_at` never moves back, even
        // when another process's clock is behind this one's.
        let mut count = c.prepare_cached(
            "INSERT INTO login_failures (key, failures, last_at) VALUES (?1, 1, ?2)
             ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN last_at <= ?3 THEN 1 ELSE failures + 1 END,
                last_at = max(last_at, excluded.last_at)",
        )?;
        for key in keys.all() {
            count.execute(params![key, now.as_unix_millis(), cutoff])?;
        }
    }
    Ok(verdict)
}

/// The account and the pair are cleared (whoever holds the password is not guessing it); the
/// address gets back only the attempt reserved for this login, so one good password cannot wipe
/// out the failures of everything else tried from there.
pub(crate) fn succeeded(c: &Connection, keys: &LoginAttemptKeys) -> Result<(), StoreError> {
    let mut clear = c.prepare_cached("DELETE FROM login_failures WHERE key = ?1")?;
    clear.execute([&keys.account])?;
    if let Some(address) = &keys.address {
        clear.execute([&address.account_address])?;
        c.prepare_cached("UPDATE login_failures SET failures = max(failures - 1, 0) WHERE key = ?1")?
            .execute([&address.address])?;
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
