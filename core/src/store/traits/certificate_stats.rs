//! One project's certificate figures for the overview, computed where the records are: the counts
//! by state, the expiry calendar, and the certificates and deployments needing attention, so the
//! overview reads a few dozen records instead of every certificate (M2.5: 100,000 certificates,
//! the overview under 100 ms). The rules are `model::OverviewRules`; a backend translates them.
//! Invariant: the backend filters by the caller's project, like every concern; the answer equals
//! `ProjectCertificateStats::reference` over the project's records (checked by the conformance suite).
//! The same facts order the inventory by expiry (`certificates_by_expiry`, `store::expiry_order`).

use async_trait::async_trait;

use crate::ids::CertificateId;
use crate::model::{Certificate, Condition, ProjectCertificateStats, StatsRequest};
use crate::scope::ProjectScope;
use crate::store::{Page, PageRequest, StoreError};

#[async_trait]
pub trait CertificateStats: Send + Sync + 'static {
    /// The figures of the scope's project at `request.now`.
    async fn certificate_stats(
        &self,
        scope: &ProjectScope,
        request: &StatsRequest,
    ) -> Result<ProjectCertificateStats, StoreError>;

    /// The scope's certificates for which `condition` holds (translated into the query, like the
    /// overview's rules), soonest `not_after` first, ties by id, those without one last by id; a
    /// page at a time with a keyset cursor naming both keys (`store::expiry_order`). A cursor from
    /// another order or edited by hand is `InvalidCursor`. Each page is a walk of the backend's
    /// expiry index (by status too when `condition` names one status); other parts of `condition`
    /// are checked during that walk, so a condition that matches few certificates late in the
    /// order makes the walk long: callers keep such conditions to the cheap facts (docs/store.md).
    /// The scope's certificates with a drifted deployment, each once, by id: what turns a quiet
    /// health into `drifted` (`model::health`), read from the deployments' drift index.
    async fn drifted_certificates(&self, scope: &ProjectScope) -> Result<Vec<CertificateId>, StoreError>;

    async fn certificates_by_expiry(
        &self,
        scope: &ProjectScope,
        condition: &Condition,
        page: &PageRequest,
    ) -> Result<Page<Certificate>, StoreError>;
}
