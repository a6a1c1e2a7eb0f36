//! How far each SIEM destination has received each organization's audit chain.
//! Invariant: a cursor never moves back, so a restarted forwarder resends at most what it had not
//! recorded as delivered, never skips.

use async_trait::async_trait;

use crate::ids::OrgId;
use crate::store::StoreError;

#[async_trait]
pub trait SiemCursors: Send + Sync + 'static {
    /// The last audit `seq` of `org` that SIEM destination `destination` has received (0: none).
    async fn siem_cursor(&self, destination: &str, org: OrgId) -> Result<u64, StoreError>;
    /// Records delivery up to `seq`; a cursor never moves back.
    async fn advance_siem_cursor(&self, destination: &str, org: OrgId, seq: u64) -> Result<(), StoreError>;
}
