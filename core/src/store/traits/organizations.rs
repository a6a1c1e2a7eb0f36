//! Organizations: the top of the tenancy tree, unscoped, and the first-run setup that creates one.
//! Invariant: the first organization and its owner are created together or not at all, and only
//! while no organization exists, even against another process doing the same.

use async_trait::async_trait;

use crate::ids::OrgId;
use crate::model::{Organization, User};
use crate::store::{AuditWrite, StoreError};

#[async_trait]
pub trait Organizations: Send + Sync + 'static {
    /// First run: creates the organization and its owner together, only if no organization exists
    /// yet (`AlreadyExists` otherwise), atomically even against another process doing the same.
    async fn create_first_organization(
        &self,
        org: &Organization,
        owner: &User,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError>;
    async fn create_organization(&self, org: &Organization) -> Result<(), StoreError>;
    async fn get_organization(&self, id: OrgId) -> Result<Organization, StoreError>;
    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError>;
    /// Writes the organization (its name, its audit retention, its sealed keys) if `org.version` is
    /// still the stored one (else `Conflict`), with `audit` in the same transaction.
    async fn update_organization(
        &self,
        org: &Organization,
        audit: Option<AuditWrite>,
    ) -> Result<Organization, StoreError>;
}
