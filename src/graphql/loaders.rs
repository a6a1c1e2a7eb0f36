//! The DataLoaders of one request: a nested field (a certificate's account, targets, deployments,
//! timeline, jobs; a project's members) asks for its key and waits a moment; every key asked for
//! meanwhile is read in one batch (`get_many`, `BatchReads`), so a page of 50 certificates costs a
//! handful of store trips, not 50 of each.
//! Invariant: every key carries the scope its parent was read under and the batch is read with
//! that scope, so a loader never reaches a record its parent's reader could not; a key of another
//! project finds nothing.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use actix_web::web;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use certautopilot_core::ids::{AcmeAccountId, CertificateId, DnsCredentialId, ProjectId, TargetId, UserId};
use certautopilot_core::model::{
    AcmeAccount, Deployment, DistributionTarget, DnsCredential, Job, Membership, User, Zone,
};
use certautopilot_core::store::{PageRequest, Record, RecordStore, ScopeArg, Store};
use certautopilot_core::{OrgScope, ProjectScope};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::views::TimelineEntry;

/// A key read under the scope its parent record was read under.
#[derive(Clone, Debug)]
pub struct Scoped<K> {
    pub scope: ProjectScope,
    pub key: K,
}

impl<K: Hash> Hash for Scoped<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.scope.project_id().hash(state);
        self.key.hash(state);
    }
}

impl<K: PartialEq> PartialEq for Scoped<K> {
    fn eq(&self, other: &Self) -> bool {
        self.scope == other.scope && self.key == other.key
    }
}

impl<K: Eq> Eq for Scoped<K> {}

/// The keys grouped by the scope they are to be read with, each group in the order first seen.
fn by_scope<K: Clone>(keys: &[Scoped<K>]) -> Vec<(ProjectScope, Vec<K>)> {
    let mut groups: Vec<(ProjectScope, Vec<K>)> = Vec::new();
    for k in keys {
        match groups.iter_mut().find(|(scope, _)| *scope == k.scope) {
            Some((_, ks)) => ks.push(k.key.clone()),
            None => groups.push((k.scope.clone(), vec![k.key.clone()])),
        }
    }
    groups
}

macro_rules! key_types {
    ($($(#[$doc:meta])* $name:ident($inner:ty);)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub $inner);
    )*};
}

key_types! {
    /// An ACME account by id.
    AccountKey(Scoped<AcmeAccountId>);
    /// A distribution target by id.
    TargetKey(Scoped<TargetId>);
    /// A DNS credential by id.
    CredentialKey(Scoped<DnsCredentialId>);
    /// A certificate's deployments (one per attached target it was sent to).
    DeploymentsKey(Scoped<CertificateId>);
    /// Every deployment of a project (for a target's side of them).
    ProjectDeploymentsKey(Scoped<()>);
    /// Every zone of a project (to find the zones serving a certificate's names).
    ZonesKey(Scoped<()>);
    /// The newest N jobs about a certificate.
    JobsKey(Scoped<(CertificateId, usize)>);
    /// The newest N entries of a certificate's timeline.
    TimelineKey(Scoped<(CertificateId, usize)>);
    /// A project's members (read in the caller's organization).
    MembersKey(ProjectId);
    /// A user of the caller's organization.
    UserKey(UserId);
}

/// The most records a "whole project" read takes in one page (REST's largest page).
const PROJECT_WIDE: usize = certautopilot_core::store::MAX_PAGE_SIZE;

/// Reads batches for one request with the store of `state`; organization-level keys are read in
/// `org` (the caller's organization scope), and nothing at all without one.
pub struct StoreLoader {
    state: web::Data<AppState>,
    org: Option<OrgScope>,
}

pub type Loaders = DataLoader<StoreLoader, HashMapCache>;

/// The loaders of one request. Their cache lives as long as the request: what one field loaded
/// (or a page's prefetch, `certificates::prefetch`) another finds without a store trip.
pub fn for_request(state: web::Data<AppState>, org: Option<OrgScope>) -> Loaders {
    DataLoader::with_cache(StoreLoader { state, org }, tokio::spawn, HashMapCache::default())
}

impl StoreLoader {
    fn store(&self) -> Result<Arc<dyn Store>, ApiError> {
        Ok(self.state.store()?.clone())
    }

    fn org(&self) -> Result<&OrgScope, ApiError> {
        self.org.as_ref().ok_or_else(ApiError::unauthenticated)
    }

    /// Records of one kind by id, each group read once with its scope.
    async fn by_ids<R, K>(&self, keys: &[Scoped<K>], id_of: impl Fn(&R) -> K) -> Result<HashMap<Scoped<K>, R>, ApiError>
    where
        R: Record<Scope = ProjectScope>,
        K: Clone + ToString + Eq + Hash + Send + Sync,
    {
        let store = self.store()?;
        let mut found = HashMap::new();
        for (scope, ids) in by_scope(keys) {
            for record in store.get_many::<R>(&scope, &ids).await? {
                found.insert(Scoped { scope: scope.clone(), key: id_of(&record) }, record);
            }
        }
        Ok(found)
    }

    /// Every record of one kind in each project asked for (one page of `PROJECT_WIDE`).
    async fn whole_projects<R: Record<Scope = ProjectScope>>(
        &self,
        keys: &[Scoped<()>],
    ) -> Result<HashMap<Scoped<()>, Arc<Vec<R>>>, ApiError> {
        let store = self.store()?;
        let mut found = HashMap::new();
        for (scope, _) in by_scope(keys) {
            let page = store.list::<R>(&scope, &PageRequest::first(PROJECT_WIDE)).await?;
            found.insert(Scoped { scope, key: () }, Arc::new(page.items));
        }
        Ok(found)
    }
}

impl Loader<AccountKey> for StoreLoader {
    type Value = AcmeAccount;
    type Error = ApiError;
    async fn load(&self, keys: &[AccountKey]) -> Result<HashMap<AccountKey, AcmeAccount>, ApiError> {
        let keys: Vec<_> = keys.iter().map(|k| k.0.clone()).collect();
        Ok(self.by_ids(&keys, |a: &AcmeAccount| a.id).await?.into_iter().map(|(k, v)| (AccountKey(k), v)).collect())
    }
}

impl Loader<TargetKey> for StoreLoader {
    type Value = DistributionTarget;
    type Error = ApiError;
    async fn load(&self, keys: &[TargetKey]) -> Result<HashMap<TargetKey, DistributionTarget>, ApiError> {
        let keys: Vec<_> = keys.iter().map(|k| k.0.clone()).collect();
        let found = self.by_ids(&keys, |t: &DistributionTarget| t.id).await?;
        Ok(found.into_iter().map(|(k, v)| (TargetKey(k), v)).collect())
    }
}

impl Loader<CredentialKey> for StoreLoader {
    type Value = DnsCredential;
    type Error = ApiError;
    async fn load(&self, keys: &[CredentialKey]) -> Result<HashMap<CredentialKey, DnsCredential>, ApiError> {
        let keys: Vec<_> = keys.iter().map(|k| k.0.clone()).collect();
        let found = self.by_ids(&keys, |c: &DnsCredential| c.id).await?;
        Ok(found.into_iter().map(|(k, v)| (CredentialKey(k), v)).collect())
    }
}

impl Loader<DeploymentsKey> for StoreLoader {
    type Value = Arc<Vec<Deployment>>;
    type Error = ApiError;
    async fn load(&self, keys: &[DeploymentsKey]) -> Result<HashMap<DeploymentsKey, Self::Value>, ApiError> {
        let store = self.store()?;
        let mut found = HashMap::new();
        let keys: Vec<_> = keys.iter().map(|k| k.0.clone()).collect();
        for (scope, certificates) in by_scope(&keys) {
            let lookups: Vec<String> = certificates.iter().map(ToString::to_string).collect();
            // A certificate has one deployment per target at most; a page of them is bounded the same.
            let limit = lookups.len().saturating_mul(PROJECT_WIDE);
            let raws = store.list_by_lookups_raw(&scope.record_scope(), Deployment::KIND, &lookups, limit).await?;
            let mut of: HashMap<CertificateId, Vec<Deployment>> =
                certificates.iter().map(|c| (*c, Vec::new())).collect();
            for raw in raws {
                let deployment = Deployment::from_raw(raw)?;
                of.entry(deployment.certificate_id).or_default().push(deployment);
            }
            for (certificate, list) in of {
                found.insert(DeploymentsKey(Scoped { scope: scope.clone(), key: certificate }), Arc::new(list));
            }
        }
        Ok(found)
    }
}

impl Loader<ProjectDeploymentsKey> for StoreLoader {
    type Value = Arc<Vec<Deployment>>;
    type Error = ApiError;
    async fn load(
        &self,
        keys: &[ProjectDeploymentsKey],
    ) -> Result<HashMap<ProjectDeploymentsKey, Self::Value>, ApiError> {
        let keys: Vec<_> = keys.iter().map(|k| k.0.clone()).collect();
        Ok(self.whole_projects(&keys).await?.into_iter().map(|(k, v)| (ProjectDeploymentsKey(k), v)).collect())
    }
}

impl Loader<ZonesKey> for StoreLoader {
    type Value = Arc<Vec<Zone>>;
    type Error = ApiError;
    async fn load(&self, keys: &[ZonesKey]) -> Result<HashMap<ZonesKey, Self::Value>, ApiError> {
        let keys: Vec<_> = keys.iter().map(|k| k.0.clone()).collect();
        Ok(self.whole_projects(&keys).await?.into_iter().map(|(k, v)| (ZonesKey(k), v)).collect())
    }
}

/// Keys grouped by scope and by how many entries each wants (one read per group).
fn by_scope_and_count(keys: &[Scoped<(CertificateId, usize)>]) -> Vec<((ProjectScope, usize), Vec<CertificateId>)> {
    let mut groups: Vec<((ProjectScope, usize), Vec<CertificateId>)> = Vec::new();
    for k in keys {
        let (certificate, n) = k.key;
        match groups.iter_mut().find(|((scope, count), _)| *scope == k.scope && *count == n) {
            Some((_, ids)) => ids.push(certificate),
            None => groups.push(((k.scope.clone(), n), vec![certificate])),
        }
    }
    groups
}

impl Loader<JobsKey> for StoreLoader {
    type Value = Arc<Vec<Job>>;
    type Error = ApiError;
    async fn load(&self, keys: &[JobsKey]) -> Result<HashMap<JobsKey, Self::Value>, ApiError> {
        let store = self.store()?;
        let keys: Vec<_> = keys.iter().map(|k| k.0.clone()).collect();
        let mut found = HashMap::new();
        for ((scope, n), certificates) in by_scope_and_count(&keys) {
            let subjects: Vec<String> = certificates.iter().map(ToString::to_string).collect();
            let jobs = store.subject_jobs(&scope, &subjects, n).await?;
            for certificate in certificates {
                let subject = certificate.to_string();
                let mine: Vec<Job> = jobs.iter().filter(|j| j.subject.as_deref() == Some(&subject)).cloned().collect();
                found.insert(JobsKey(Scoped { scope: scope.clone(), key: (certificate, n) }), Arc::new(mine));
            }
        }
        Ok(found)
    }
}

impl Loader<TimelineKey> for StoreLoader {
    type Value = Arc<Vec<TimelineEntry>>;
    type Error = ApiError;
    /// REST's timeline (audit entries and job log lines, oldest first), cut to its newest `n`: the
    /// newest `n` of each source are enough to find the newest `n` of both.
    async fn load(&self, keys: &[TimelineKey]) -> Result<HashMap<TimelineKey, Self::Value>, ApiError> {
        let store = self.store()?;
        let org = self.org()?.clone();
        // The audit actor chains what this request's own writes queued, as REST's timeline does.
        self.state.flush_audit(org.org_id()).await;
        let keys: Vec<_> = keys.iter().map(|k| k.0.clone()).collect();
        let mut found = HashMap::new();
        for ((scope, n), certificates) in by_scope_and_count(&keys) {
            let objects: Vec<String> = certificates.iter().map(ToString::to_string).collect();
            let events = store.object_audit_tails(&org, scope.project_id(), &objects, n).await?;
            let lines = store.subject_log_tails(&scope, &objects, n).await?;
            let mut of: HashMap<String, Vec<TimelineEntry>> = objects.iter().map(|o| (o.clone(), Vec::new())).collect();
            for event in events {
                let object = event.object.as_ref().map(|o| o.id.clone()).unwrap_or_default();
                of.entry(object).or_default().push(TimelineEntry::from(event));
            }
            for l in lines {
                of.entry(l.subject).or_default().push(TimelineEntry::from_log(l.job_id, l.kind, l.line));
            }
            for certificate in certificates {
                let mut entries = of.remove(&certificate.to_string()).unwrap_or_default();
                entries.sort_by_key(|e| e.at);
                let cut = entries.len().saturating_sub(n);
                entries.drain(..cut);
                found.insert(TimelineKey(Scoped { scope: scope.clone(), key: (certificate, n) }), Arc::new(entries));
            }
        }
        Ok(found)
    }
}

impl Loader<MembersKey> for StoreLoader {
    type Value = Arc<Vec<Membership>>;
    type Error = ApiError;
    async fn load(&self, keys: &[MembersKey]) -> Result<HashMap<MembersKey, Self::Value>, ApiError> {
        let projects: Vec<ProjectId> = keys.iter().map(|k| k.0).collect();
        let members = self.store()?.members_of_projects(self.org()?, &projects).await?;
        Ok(projects
            .into_iter()
            .map(|p| (MembersKey(p), Arc::new(members.iter().filter(|m| m.project_id == p).cloned().collect())))
            .collect())
    }
}

impl Loader<UserKey> for StoreLoader {
    type Value = User;
    type Error = ApiError;
    async fn load(&self, keys: &[UserKey]) -> Result<HashMap<UserKey, User>, ApiError> {
        let ids: Vec<UserId> = keys.iter().map(|k| k.0).collect();
        let users = self.store()?.get_many::<User>(self.org()?, &ids).await?;
        Ok(users.into_iter().map(|u| (UserKey(u.id), u)).collect())
    }
}

/// The request's loaders.
pub fn of<'c>(ctx: &async_graphql::Context<'c>) -> Result<&'c Loaders, ApiError> {
    ctx.data::<Loaders>().map_err(|e| ApiError::internal("graphql", &e.message))
}
