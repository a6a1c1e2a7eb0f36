//! Failed-login throttling (`model::LoginPolicy`), shared by every process on the store.
//! Invariant: an attempt is counted before it is decided, in one transaction, so concurrent
//! guesses from any process cannot slip past a count that has not been raised yet.

use async_trait::async_trait;

use crate::model::{LoginAttemptKeys, LoginPolicy, LoginVerdict};
use crate::store::StoreError;

#[async_trait]
pub trait LoginThrottle: Send + Sync + 'static {
    /// Decides a login attempt on the failures counted under its keys (account, address, and the
    /// pair of both) within the policy's lockout and, if it may proceed, counts it as a failure
    /// under every key at once (a success takes it back), in one transaction: concurrent guesses,
    /// from any process, cannot slip past a count that has not been raised yet.
    async fn reserve_login_attempt(
        &self,
        keys: &LoginAttemptKeys,
        policy: &LoginPolicy,
    ) -> Result<LoginVerdict, StoreError>;
    /// A login succeeded: clears the account's and the pair's failures and takes back the attempt
    /// reserved for the address.
    async fn login_succeeded(&self, keys: &LoginAttemptKeys) -> Result<(), StoreError>;
}
