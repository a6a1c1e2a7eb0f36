//! Scoped records: how each model type is keyed, scoped and indexed, and the typed API over the raw store.
//! A record's scope type (`ProjectScope` or `OrgScope`) is fixed by its `Record` impl, so the compiler
//! refuses a certificate lookup with an organization scope, and the backend refuses a mismatched row.

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::{OrgId, ProjectId};
use crate::model::{
    AcmeAccount, ApiToken, Certificate, Deployment, DistributionTarget, DnsCredential, Membership, Project,
    SealedSecret, Session, User, Zone,
};
use crate::scope::{OrgScope, ProjectScope};
use crate::store::{Page, PageRequest, Records, SealedFields, ShownUnsealed, StoreError, Unsealed};
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    User,
    Project,
    Membership,
    AcmeAccount,
    DnsCredential,
    Zone,
    Certificate,
    DistributionTarget,
    Session,
    ApiToken,
    Deployment,
    ApprovalRequest,
    NotificationChannel,
    NotificationRule,
    CertificateWatch,
}

impl RecordKind {
    /// The kinds whose tables schema version 1 created; later kinds come with later migrations.
    pub const SCHEMA_V1: [RecordKind; 8] = [
        RecordKind::User,
        RecordKind::Project,
        RecordKind::Membership,
        RecordKind::AcmeAccount,
        RecordKind::DnsCredential,
        RecordKind::Zone,
        RecordKind::Certificate,
        RecordKind::DistributionTarget,
    ];

    /// The kinds of schema version 16 (SQLite) and 6 (MongoDB): notifications (M2.8).
    pub const NOTIFICATIONS: [RecordKind; 3] =
        [RecordKind::NotificationChannel, RecordKind::NotificationRule, RecordKind::CertificateWatch];

    pub const ALL: [RecordKind; 15] = [
        RecordKind::User,
        RecordKind::Project,
        RecordKind::Membership,
        RecordKind::AcmeAccount,
        RecordKind::DnsCredential,
        RecordKind::Zone,
        RecordKind::Certificate,
        RecordKind::DistributionTarget,
        RecordKind::Session,
        RecordKind::ApiToken,
        RecordKind::Deployment,
        RecordKind::ApprovalRequest,
        RecordKind::NotificationChannel,
        RecordKind::NotificationRule,
        RecordKind::CertificateWatch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RecordKind::User => "user",
            RecordKind::Project => "project",
            RecordKind::Membership => "membership",
            RecordKind::AcmeAccount => "acme account",
            RecordKind::DnsCredential => "dns credential",
            RecordKind::Zone => "zone",
            RecordKind::Certificate => "certificate",
            RecordKind::DistributionTarget => "distribution target",
            RecordKind::Session => "session",
            RecordKind::ApiToken => "api token",
            RecordKind::Deployment => "deployment",
            RecordKind::ApprovalRequest => "approval request",
            RecordKind::NotificationChannel => "notification channel",
            RecordKind::NotificationRule => "notification rule",
            RecordKind::CertificateWatch => "certificate watch",
        }
    }

    /// The backend's table (SQLite) or collection (MongoDB).
    pub fn table(self) -> &'static str {
        match self {
            RecordKind::User => "users",
            RecordKind::Project => "projects",
            RecordKind::Membership => "memberships",
            RecordKind::AcmeAccount => "acme_accounts",
            RecordKind::DnsCredential => "dns_credentials",
            RecordKind::Zone => "zones",
            RecordKind::Certificate => "certificates",
            RecordKind::DistributionTarget => "distribution_targets",
            RecordKind::Session => "sessions",
            RecordKind::ApiToken => "api_tokens",
            RecordKind::Deployment => "deployments",
            RecordKind::ApprovalRequest => "approval_requests",
            RecordKind::NotificationChannel => "notification_channels",
            RecordKind::NotificationRule => "notification_rules",
            RecordKind::CertificateWatch => "certificate_watches",
        }
    }

    /// Whether records of this kind have sealed fields (kept in `sealed_secrets`).
    pub fn has_sealed_fields(self) -> bool {
        matches!(
            self,
            RecordKind::AcmeAccount
                | RecordKind::DnsCredential
                | RecordKind::DistributionTarget
                | RecordKind::Certificate
                | RecordKind::NotificationChannel
        )
    }

    pub fn is_project_scoped(self) -> bool {
        !matches!(
            self,
            RecordKind::User
                | RecordKind::Project
                | RecordKind::Membership
                | RecordKind::Session
                | RecordKind::ApiToken
        )
    }
}

/// The filter a backend applies. Built only from a `ProjectScope` or an `OrgScope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordScope {
    org_id: OrgId,
    project_id: Option<ProjectId>,
}

impl RecordScope {
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    /// `Some` for project-level access, `None` for organization-level access.
    pub fn project_id(&self) -> Option<ProjectId> {
        self.project_id
    }
}

impl RecordScope {
    /// Refuses a record that does not belong to this scope: another organization, another project,
    /// or a project record under an organization scope. Every backend checks each write with it.
    pub(crate) fn check_owner(&self, raw: &RawRecord) -> Result<(), StoreError> {
        let matches = raw.org_id == self.org_id
            && match self.project_id {
                Some(project) => raw.project_id == Some(project),
                None => !raw.kind.is_project_scoped(),
            };
        if matches { Ok(()) } else { Err(StoreError::ScopeMismatch { kind: raw.kind.name() }) }
    }
}

impl From<&ProjectScope> for RecordScope {
    fn from(scope: &ProjectScope) -> Self {
        RecordScope { org_id: scope.org_id(), project_id: Some(scope.project_id()) }
    }
}

impl From<&OrgScope> for RecordScope {
    fn from(scope: &OrgScope) -> Self {
        RecordScope { org_id: scope.org_id(), project_id: None }
    }
}

/// The scopes a record type can be reached through.
pub trait ScopeArg: Send + Sync {
    fn record_scope(&self) -> RecordScope;
}

impl ScopeArg for ProjectScope {
    fn record_scope(&self) -> RecordScope {
        self.into()
    }
}

impl ScopeArg for OrgScope {
    fn record_scope(&self) -> RecordScope {
        self.into()
    }
}

/// A record as a backend stores it: the JSON document plus the columns it is filtered and indexed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub kind: RecordKind,
    pub id: String,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub version: u64,
    /// Unique within the record's scope (a user's e-mail, a project's name, a zone's apex).
    pub unique_key: Option<String>,
    /// A secondary key to list by (the user of a membership).
    pub lookup_key: Option<String>,
    /// When the record next needs attention (a certificate's renewal window).
    pub due_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The record without its sealed fields (those are `null` here).
    pub doc: String,
    /// The sealed fields, kept apart so a KEK rotation re-wraps them without touching the record.
    pub sealed: Vec<(String, SealedSecret)>,
}

pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    const KIND: RecordKind;
    type Scope: ScopeArg;

    fn record_id(&self) -> String;
    fn version(&self) -> u64;
    fn set_version(&mut self, version: u64);
    fn set_updated_at(&mut self, at: Timestamp);
    fn created_at(&self) -> Timestamp;
    /// The organization and (for project-scoped records) project the record belongs to.
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>);
    fn unique_key(&self) -> Option<String> {
        None
    }
    fn lookup_key(&self) -> Option<String> {
        None
    }
    fn due_at(&self) -> Option<Timestamp> {
        None
    }
    /// The record's secret fields, by field name (the name is also the envelope's AAD field).
    fn sealed_fields(&mut self) -> Vec<(&'static str, &mut Option<SealedSecret>)> {
        Vec::new()
    }

    /// The stored form. A project-scoped record takes its organization from the scope it is written in.
    fn to_raw(&self, scope: &RecordScope) -> Result<RawRecord, StoreError> {
        let (org_id, project_id) = self.owner();
        let mut bare = self.clone();
        let sealed: Vec<(String, SealedSecret)> = bare
            .sealed_fields()
            .into_iter()
            .filter_map(|(field, slot)| slot.take().map(|s| (field.to_owned(), s)))
            .collect();
        Ok(RawRecord {
            kind: Self::KIND,
            id: self.record_id(),
            org_id: org_id.unwrap_or(scope.org_id()),
            project_id,
            version: self.version(),
            unique_key: self.unique_key(),
            lookup_key: self.lookup_key(),
            due_at: self.due_at(),
            created_at: self.created_at(),
            updated_at: self.created_at(),
            doc: serde_json::to_string(&bare).map_err(|e| StoreError::InvalidRequest(e.to_string()))?,
            sealed,
        })
    }

    fn from_raw(raw: RawRecord) -> Result<Self, StoreError> {
        let mut record: Self = serde_json::from_str(&raw.doc).map_err(|e| StoreError::Corrupt {
            kind: Self::KIND.name(),
            id: raw.id.clone(),
            reason: e.to_string(),
        })?;
        // The columns are authoritative for what the store itself maintains.
        record.set_version(raw.version);
        record.set_updated_at(raw.updated_at);
        let mut sealed = raw.sealed;
        for (field, slot) in record.sealed_fields() {
            if let Some(i) = sealed.iter().position(|(f, _)| *f == field) {
                *slot = Some(sealed.swap_remove(i).1);
            }
        }
        Ok(record)
    }
}

macro_rules! record_basics {
    () => {
        fn record_id(&self) -> String {
            self.id.to_string()
        }
        fn version(&self) -> u64 {
            self.version
        }
        fn set_version(&mut self, version: u64) {
            self.version = version;
        }
        fn set_updated_at(&mut self, at: Timestamp) {
            self.updated_at = at;
        }
        fn created_at(&self) -> Timestamp {
            self.created_at
        }
    };
}

impl Record for User {
    const KIND: RecordKind = RecordKind::User;
    type Scope = OrgScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        (Some(self.org_id), None)
    }
    fn unique_key(&self) -> Option<String> {
        Some(self.email.to_ascii_lowercase())
    }
}

impl Record for Project {
    const KIND: RecordKind = RecordKind::Project;
    type Scope = OrgScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        (Some(self.org_id), None)
    }
    fn unique_key(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

impl Record for Membership {
    const KIND: RecordKind = RecordKind::Membership;
    type Scope = OrgScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        // Organization-level record; the project is a column to list members of one project by.
        (Some(self.org_id), Some(self.project_id))
    }
    fn unique_key(&self) -> Option<String> {
        Some(membership_key(self.project_id, self.user_id))
    }
    fn lookup_key(&self) -> Option<String> {
        Some(self.user_id.to_string())
    }
}

impl Record for Session {
    const KIND: RecordKind = RecordKind::Session;
    type Scope = OrgScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        (Some(self.org_id), None)
    }
    fn lookup_key(&self) -> Option<String> {
        Some(self.user_id.to_string())
    }
}

impl Record for ApiToken {
    const KIND: RecordKind = RecordKind::ApiToken;
    type Scope = OrgScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        (Some(self.org_id), None)
    }
    fn lookup_key(&self) -> Option<String> {
        Some(self.user_id.to_string())
    }
}

/// The unique key of a user's membership in a project, for `find_unique`.
pub fn membership_key(project_id: ProjectId, user_id: crate::ids::UserId) -> String {
    format!("{project_id}/{user_id}")
}

macro_rules! project_record {
    ($ty:ty, $kind:expr, unique: $unique:expr, due: $due:expr, sealed: [$($field:ident),*]) => {
        impl Record for $ty {
            const KIND: RecordKind = $kind;
            type Scope = ProjectScope;
            record_basics!();
            fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
                (None, Some(self.project_id))
            }
            fn unique_key(&self) -> Option<String> {
                let unique: fn(&$ty) -> Option<String> = $unique;
                unique(self)
            }
            fn due_at(&self) -> Option<Timestamp> {
                let due: fn(&$ty) -> Option<Timestamp> = $due;
                due(self)
            }
            fn sealed_fields(&mut self) -> Vec<(&'static str, &mut Option<SealedSecret>)> {
                vec![$((stringify!($field), &mut self.$field)),*]
            }
        }
    };
}

project_record!(AcmeAccount, RecordKind::AcmeAccount, unique: |r| Some(r.name.clone()), due: |_| None,
    sealed: [eab_hmac_key, account_key]);
project_record!(DnsCredential, RecordKind::DnsCredential, unique: |r| Some(r.name.clone()), due: |_| None, sealed: [secret]);
project_record!(Zone, RecordKind::Zone, unique: |r| Some(r.apex.clone()), due: |_| None, sealed: []);
project_record!(DistributionTarget, RecordKind::DistributionTarget, unique: |r| Some(r.name.clone()), due: |_| None,
    sealed: [credential]);
// Only an issued certificate has a renewal window to watch, and only while it is not paused and
// not waiting for a new CSR.
project_record!(Certificate, RecordKind::Certificate, unique: |_| None, due: |c| match c.status {
    crate::model::CertificateStatus::Issued if !c.paused && !c.waiting_for_csr() => c.renew_at,
    _ => None,
}, sealed: [private_key, pending_key]);

/// The typed API over `Records`' raw record methods; implemented for every store.
#[async_trait]
pub trait RecordStore: Records {
    async fn insert<R: Record>(&self, scope: &R::Scope, record: &R) -> Result<(), StoreError> {
        let scope = scope.record_scope();
        let raw = record.to_raw(&scope)?;
        self.insert_raw(&scope, vec![raw], None).await
    }

    /// Inserts all or nothing, in one transaction.
    async fn insert_many<R: Record>(&self, scope: &R::Scope, records: &[R]) -> Result<(), StoreError> {
        let scope = scope.record_scope();
        let raws = records.iter().map(|r| r.to_raw(&scope)).collect::<Result<Vec<_>, _>>()?;
        self.insert_raw(&scope, raws, None).await
    }

    /// Inserts `record` and enqueues `job` atomically (a certificate and its issue job).
    async fn insert_and_enqueue<R: Record>(
        &self,
        scope: &R::Scope,
        record: &R,
        job: crate::model::NewJob,
        audit: Option<crate::store::AuditWrite>,
    ) -> Result<crate::store::Enqueued, StoreError> {
        let scope = scope.record_scope();
        let raw = record.to_raw(&scope)?;
        self.insert_raw_and_enqueue(&scope, vec![raw], job, audit).await
    }

    /// Updates `record` (optimistically) and enqueues `job` atomically (an approval granted and the
    /// job it starts).
    async fn update_and_enqueue<R: Record>(
        &self,
        scope: &R::Scope,
        record: &R,
        job: crate::model::NewJob,
        audit: Option<crate::store::AuditWrite>,
    ) -> Result<crate::store::Enqueued, StoreError> {
        let scope = scope.record_scope();
        let raw = record.to_raw(&scope)?;
        self.update_raw_and_enqueue(&scope, vec![raw], job, audit).await
    }

    /// Inserts `record` and appends its audit entry in one transaction.
    async fn insert_audited<R: Record>(
        &self,
        scope: &R::Scope,
        record: &R,
        audit: crate::store::AuditWrite,
    ) -> Result<(), StoreError> {
        let scope = scope.record_scope();
        let raw = record.to_raw(&scope)?;
        self.insert_raw(&scope, vec![raw], Some(audit)).await
    }

    /// Updates `record` (optimistically) and appends its audit entry in one transaction.
    async fn update_audited<R: Record>(
        &self,
        scope: &R::Scope,
        record: &R,
        audit: crate::store::AuditWrite,
    ) -> Result<R, StoreError> {
        let scope = scope.record_scope();
        let raw = record.to_raw(&scope)?;
        R::from_raw(self.update_raw(&scope, raw, Some(audit)).await?)
    }

    /// Deletes a record and appends its audit entry in one transaction.
    async fn delete_audited<R: Record>(
        &self,
        scope: &R::Scope,
        id: &(impl ToString + Sync),
        expected_version: Option<u64>,
        audit: crate::store::AuditWrite,
    ) -> Result<(), StoreError> {
        self.delete_raw(&scope.record_scope(), R::KIND, &id.to_string(), expected_version, Some(audit)).await
    }

    async fn get<R: Record>(&self, scope: &R::Scope, id: &(impl ToString + Sync)) -> Result<R, StoreError> {
        R::from_raw(self.get_raw(&scope.record_scope(), R::KIND, &id.to_string()).await?)
    }

    /// Those of `ids` that exist within `scope`, in the order given; the others are left out.
    async fn get_many<R: Record>(&self, scope: &R::Scope, ids: &[impl ToString + Sync]) -> Result<Vec<R>, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.get_many_raw(&scope.record_scope(), R::KIND, &ids).await?.into_iter().map(R::from_raw).collect()
    }

    /// Looks a record up by its unique key (a user's e-mail, a project's name, `membership_key`).
    async fn find_unique<R: Record>(&self, scope: &R::Scope, key: &str) -> Result<R, StoreError> {
        R::from_raw(self.find_unique_raw(&scope.record_scope(), R::KIND, key).await?)
    }

    async fn list<R: Record>(&self, scope: &R::Scope, page: &PageRequest) -> Result<Page<R>, StoreError> {
        self.list_raw(&scope.record_scope(), R::KIND, None, page, SealedFields::Read).await?.try_map(R::from_raw)
    }

    /// `list` for showing the records only: their sealed fields are not read.
    async fn list_unsealed<R: ShownUnsealed>(
        &self,
        scope: &R::Scope,
        page: &PageRequest,
    ) -> Result<Page<Unsealed<R>>, StoreError> {
        let page = self.list_raw(&scope.record_scope(), R::KIND, None, page, SealedFields::Leave).await?;
        page.try_map(|raw| R::from_raw(raw).map(Unsealed::new))
    }

    /// Lists records whose lookup key matches (the memberships of one user).
    async fn list_by_lookup<R: Record>(
        &self,
        scope: &R::Scope,
        key: &str,
        page: &PageRequest,
    ) -> Result<Page<R>, StoreError> {
        self.list_raw(&scope.record_scope(), R::KIND, Some(key), page, SealedFields::Read).await?.try_map(R::from_raw)
    }

    /// Project records of one kind across every project (system components only).
    async fn list_all<R: Record<Scope = ProjectScope>>(
        &self,
        scope: &crate::scope::SystemScope,
        page: &PageRequest,
    ) -> Result<Page<R>, StoreError> {
        self.list_all_raw(scope, R::KIND, page).await?.try_map(R::from_raw)
    }

    /// Writes `record` if its `version` is still the stored one; returns it with the new version.
    async fn update<R: Record>(&self, scope: &R::Scope, record: &R) -> Result<R, StoreError> {
        let scope = scope.record_scope();
        let raw = record.to_raw(&scope)?;
        R::from_raw(self.update_raw(&scope, raw, None).await?)
    }

    async fn delete<R: Record>(
        &self,
        scope: &R::Scope,
        id: &(impl ToString + Sync),
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        self.delete_raw(&scope.record_scope(), R::KIND, &id.to_string(), expected_version, None).await
    }
}

impl<S: Records + ?Sized> RecordStore for S {}

impl Record for crate::model::ApprovalRequest {
    const KIND: RecordKind = RecordKind::ApprovalRequest;
    type Scope = ProjectScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        (None, Some(self.project_id))
    }
    /// A certificate's requests are listed by its id.
    fn lookup_key(&self) -> Option<String> {
        Some(self.certificate_id.to_string())
    }
}

impl Record for Deployment {
    const KIND: RecordKind = RecordKind::Deployment;
    type Scope = ProjectScope;
    record_basics!();
    fn owner(&self) -> (Option<OrgId>, Option<ProjectId>) {
        (None, Some(self.project_id))
    }
    fn unique_key(&self) -> Option<String> {
        Some(Deployment::key(self.certificate_id, self.target_id))
    }
    /// A certificate's deployments are listed by its id.
    fn lookup_key(&self) -> Option<String> {
        Some(self.certificate_id.to_string())
    }
}

/// The notification kinds (M2.8): channels and rules by name, and the per-certificate watch.
#[path = "record_notify.rs"]
mod notify;
