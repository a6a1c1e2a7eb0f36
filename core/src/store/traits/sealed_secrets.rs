//! Sealed values as the store keeps them, apart from their records, for KEK rotation and checks
//! (ARCHITECTURE.md §5): only wrapped data keys change, never the data.
//! Invariant: a re-wrap stores a value only if it is unchanged since it was read.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::model::SealedSecret;
use crate::store::StoreError;

/// Where a sealed value lives: its record's table and id, and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    pub table: String,
    pub record_id: String,
    pub field: String,
}

/// A sealed value as stored, for a KEK rotation to re-wrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRow {
    pub key: SealedKey,
    pub secret: SealedSecret,
}

#[async_trait]
pub trait SealedSecrets: Send + Sync + 'static {
    /// How many sealed values each KEK version still wraps.
    async fn kek_usage(&self) -> Result<BTreeMap<u32, u64>, StoreError>;
    /// Up to `limit` sealed values wrapped by a KEK version older than `version`.
    async fn sealed_older_than(&self, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError>;
    /// Stores re-wrapped values in one transaction, each only if unchanged since it was read.
    async fn rewrap_sealed(&self, updates: Vec<(SealedRow, SealedSecret)>) -> Result<u64, StoreError>;
    /// Up to `limit` sealed values wrapped by exactly KEK `version`: the start-up check's sample.
    async fn sealed_with_version(&self, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError>;
    /// Every sealed value in key order, a page at a time (after `after`): a migration's final check.
    async fn sealed_after(&self, after: Option<SealedKey>, limit: usize) -> Result<Vec<SealedRow>, StoreError>;
}
