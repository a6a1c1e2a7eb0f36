//! How far readers have come along each organization's audit chain: each SIEM destination's
//! delivery cursor, and the background verifier's verified-up-to mark (`audit::VerifiedMark`).
//! Invariant: neither ever moves back, so a restarted forwarder resends at most what it had not
//! recorded as delivered, never skips, and a slower verifier never undoes a faster one's mark.

use async_trait::async_trait;

use crate::ids::OrgId;
use crate::store::StoreError;

#[async_trait]
pub trait SiemCursors: Send + Sync + 'static {
    /// The last audit `seq` of `org` that SIEM destination `destination` has received (0: none).
    async fn siem_cursor(&self, destination: &str, org: OrgId) -> Result<u64, StoreError>;
    /// Records delivery up to `seq`; a cursor never moves back.
    async fn advance_siem_cursor(&self, destination: &str, org: OrgId, seq: u64) -> Result<(), StoreError>;
    /// Every cursor over the organization's chain (SIEM destinations, the notification router and
    /// its digests), by name: what archiving must not pass.
    async fn siem_cursors_of(&self, org: OrgId) -> Result<Vec<(String, u64)>, StoreError>;
    /// The organization's verified-up-to mark as recorded (`audit::VerifiedMark` as JSON), if any.
    /// The store keeps it; only the audit secret makes it believable.
    async fn audit_mark(&self, org: OrgId) -> Result<Option<String>, StoreError>;
    /// Records `doc` as the mark at `seq`, unless the stored one is further along.
    async fn advance_audit_mark(&self, org: OrgId, seq: u64, doc: &str) -> Result<(), StoreError>;
}
