//! One project's certificate figures for the overview, computed where the records are: the counts
//! by state, the expiry calendar, and the certificates and deployments needing attention, so the
//! overview reads a few dozen records instead of every certificate (M2.5: 100,000 certificates,
//! the overview under 100 ms). The rules are `model::OverviewRules`; a backend translates them.
//! Invariant: the backend filters by the caller's project, like every concern; the answer equals
//! `ProjectCertificateStats::reference` over the project's records (checked by the conformance suite).

use async_trait::async_trait;

use crate::model::{ProjectCertificateStats, StatsRequest};
use crate::scope::ProjectScope;
use crate::store::StoreError;

#[async_trait]
pub trait CertificateStats: Send + Sync + 'static {
    /// The figures of the scope's project at `request.now`.
    async fn certificate_stats(
        &self,
        scope: &ProjectScope,
        request: &StatsRequest,
    ) -> Result<ProjectCertificateStats, StoreError>;
}
