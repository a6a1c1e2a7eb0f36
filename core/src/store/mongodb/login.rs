//! Failed-login counts on MongoDB, the `LoginThrottle` concern (`login_failures`): one document per
//! key (an account, an address, or an (account, address) pair; see `model::LoginKeys`),
//! `{_id: key, failures, last_at}`, forgotten once its last failure is older than the lockout.
//! Invariant: an attempt is read, decided and counted in one transaction that writes every key it
//! read, so two concurrent attempts from any process conflict on the same documents and the loser
//! is retried on the counts the winner left: guesses cannot slip past a count not raised yet.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{Document, doc};

use crate::model::{LoginAttemptKeys, LoginFailures, LoginPolicy, LoginVerdict};
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{self, Reader};
use crate::store::mongodb::schema::{CollectionIndexes, index};
use crate::store::mongodb::txn::Fail;
use crate::store::{LoginThrottle, StoreError};
use crate::timestamp::Timestamp;

const FAILURES: &str = "login_failures";

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    // Pruning finds the expired documents by their last failure.
    vec![CollectionIndexes {
        collection: FAILURES,
        indexes: vec![index("login_failures_last_at", doc! { "last_at": 1 })],
    }]
}

#[async_trait]
impl LoginThrottle for MongoStore {
    async fn reserve_login_attempt(
        &self,
        keys: &LoginAttemptKeys,
        policy: &LoginPolicy,
    ) -> Result<LoginVerdict, StoreError> {
        let now = self.now();
        let cutoff = cutoff(policy, now);
        let names: Vec<String> = keys.all().map(str::to_owned).collect();
        // A refusal needs no write: decided on a read, it keeps a flood of refused guesses out of
        // transactions. At worst the read is a moment older than a success that cleared the way,
        // and errs on the side of refusing.
        let stored: Vec<Document> =
            self.collection(FAILURES).find(doc! { "_id": { "$in": &names } }).await?.try_collect().await?;
        if let refused @ LoginVerdict::Refuse { .. } = policy.decide(counted(keys, &stored, cutoff)?) {
            return Ok(refused);
        }
        // Expired documents go outside the transaction: they count as none whether or not they are
        // still there, and deleting them inside would make concurrent attempts conflict on them.
        let pruned = self.collection(FAILURES).delete_many(doc! { "last_at": { "$lte": cutoff } }).await;
        self.observed(pruned.map_err(StoreError::from))?;
        self.transact((self, keys, policy, names), |session, (store, keys, policy, names)| {
            Box::pin(async move { reserve(store, session, keys, policy, names, now).await })
        })
        .await
    }

    async fn login_succeeded(&self, keys: &LoginAttemptKeys) -> Result<(), StoreError> {
        self.transact((self, keys), |session, (store, keys)| {
            Box::pin(async move { succeeded(store, session, keys).await })
        })
        .await
    }
}

/// Reads the keys' documents, decides, and on `Proceed` counts the attempt under every key, all in
/// the caller's transaction: the counts it writes are computed from what it read, so a document
/// changed by another attempt since this transaction's snapshot makes the write conflict, and the
/// whole attempt is decided again.
async fn reserve(
    store: &MongoStore,
    session: &mut ClientSession,
    keys: &LoginAttemptKeys,
    policy: &LoginPolicy,
    names: &[String],
    now: Timestamp,
) -> Result<LoginVerdict, Fail> {
    let cutoff = cutoff(policy, now);
    let failures = store.collection(FAILURES);
    let stored: Vec<Document> = failures
        .find(doc! { "_id": { "$in": names } })
        .session(&mut *session)
        .await?
        .stream(&mut *session)
        .try_collect()
        .await?;
    let verdict = policy.decide(counted(keys, &stored, cutoff)?);
    if matches!(verdict, LoginVerdict::Proceed { .. }) {
        for name in names {
            let previous = find(&stored, name).map(read_count).transpose()?;
            // An expired document not pruned yet starts again from one. `last_at` never moves back,
            // even when another process's clock is behind this one's.
            let (count, last_at) = match previous {
                Some((count, last_at)) if last_at > cutoff => (count.saturating_add(1), last_at.max(codec::ts(now))),
                Some((_, last_at)) => (1, last_at.max(codec::ts(now))),
                None => (1, codec::ts(now)),
            };
            failures
                .update_one(doc! { "_id": name }, doc! { "$set": { "failures": count, "last_at": last_at } })
                .upsert(true)
                .session(&mut *session)
                .await?;
        }
    }
    Ok(verdict)
}

/// The account and the pair are cleared (whoever holds the password is not guessing it); the
/// address gets back only the attempt reserved for this login, so one good password cannot wipe
/// out the failures of everything else tried from there.
async fn succeeded(store: &MongoStore, session: &mut ClientSession, keys: &LoginAttemptKeys) -> Result<(), Fail> {
    let failures = store.collection(FAILURES);
    let mut cleared = vec![keys.account.as_str()];
    if let Some(address) = &keys.address {
        cleared.push(address.account_address.as_str());
    }
    failures.delete_many(doc! { "_id": { "$in": cleared } }).session(&mut *session).await?;
    if let Some(address) = &keys.address {
        failures
            .update_one(
                doc! { "_id": &address.address, "failures": { "$gt": 0 } },
                doc! { "$inc": { "failures": -1_i64 } },
            )
            .session(&mut *session)
            .await?;
    }
    Ok(())
}

fn cutoff(policy: &LoginPolicy, now: Timestamp) -> i64 {
    codec::ts(now).saturating_sub(i64::try_from(policy.lockout.as_millis()).unwrap_or(i64::MAX))
}

fn find<'a>(stored: &'a [Document], key: &str) -> Option<&'a Document> {
    stored.iter().find(|doc| doc.get_str("_id").is_ok_and(|id| id == key))
}

/// A document's (failures, last failure in Unix milliseconds).
fn read_count(doc: &Document) -> Result<(i64, i64), StoreError> {
    let reader = Reader::new(doc, "login failures");
    Ok((reader.i64("failures")?, reader.i64("last_at")?))
}

/// Failures counted under each key since `cutoff` (an expired document counts none).
fn counted(keys: &LoginAttemptKeys, stored: &[Document], cutoff: i64) -> Result<LoginFailures, StoreError> {
    let under = |key: &str| -> Result<u32, StoreError> {
        Ok(match find(stored, key).map(read_count).transpose()? {
            Some((count, last_at)) if last_at > cutoff => count.clamp(0, i64::from(u32::MAX)) as u32,
            _ => 0,
        })
    };
    let mut counted = LoginFailures { account: under(&keys.account)?, ..Default::default() };
    if let Some(address) = &keys.address {
        counted.account_address = under(&address.account_address)?;
        counted.address = under(&address.address)?;
    }
    Ok(counted)
}
