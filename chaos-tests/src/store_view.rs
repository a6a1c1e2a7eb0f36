//! The harness's view of the cluster's store, read through certautopilot-core's store traits (the
//! code the nodes themselves run), so the invariants read SQLite and MongoDB the same way.
//! Invariant: the view only reads; it connects to the store directly (never through a node's
//! proxy), so cutting a node's link to the store never blinds the checks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use certautopilot_core::model::{AuditEvent, Certificate, FenceRecord, Job, JobStatus, Organization, Project};
use certautopilot_core::store::mongodb::{MongoOptions, MongoStore};
use certautopilot_core::store::prelude::*;
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore};
use certautopilot_core::{OrgScope, PageRequest, ProjectScope, StoreError, SystemClock, SystemScope, Timestamp};

/// Where the cluster keeps its data.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// One file every node opens (one host only).
    Sqlite(PathBuf),
    /// A MongoDB deployment every node reaches over TCP.
    Mongodb { uri: String, database: String },
}

/// A page as large as the store allows: the chaos tests hold tens of certificates, hundreds of jobs.
const PAGE: usize = certautopilot_core::store::MAX_PAGE_SIZE;
/// More outbox rows than a chaos test ever leaves waiting (they are chained within a second).
const OUTBOX_LIMIT: usize = 100_000;
/// The principal the view reads as (it shows in no audit entry: the view never writes).
const COMPONENT: &str = "chaos-invariants";

/// One store handle and the small runtime its async calls run on; the harness is synchronous.
pub struct StoreView {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
}

/// What `audit_snapshot` saw: the chained entries by (organization, seq), with their MACs.
pub type AuditSnapshot = BTreeMap<(String, u64), String>;

impl StoreView {
    /// Opens the store (a failure is returned, not a panic: the store may be down on purpose).
    pub fn open(location: &StoreLocation) -> Result<StoreView, String> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let store: Arc<dyn Store> = match location {
            StoreLocation::Sqlite(path) => {
                let opened = runtime.block_on(SqliteStore::open(path, SqliteOptions::default(), Arc::new(SystemClock)));
                Arc::new(opened.map_err(|e| e.to_string())?)
            }
            StoreLocation::Mongodb { uri, database } => {
                let mut options = MongoOptions::new(uri.clone(), database.clone());
                // A check against a store that is down should fail fast and be retried by the
                // caller's deadline, not hang for the default 10 s.
                options.server_selection_timeout = Duration::from_secs(2);
                options.connect_timeout = Duration::from_secs(2);
                let connected = runtime.block_on(MongoStore::connect(options, Arc::new(SystemClock)));
                Arc::new(connected.map_err(|e| e.to_string())?)
            }
        };
        Ok(StoreView { runtime, store })
    }

    /// Every (term, node) whose scheduler writes the store accepted, oldest term first.
    pub fn fence_history(&self) -> Result<Vec<FenceRecord>, StoreError> {
        self.runtime.block_on(self.store.fence_history())
    }

    pub fn job_counts(&self) -> Result<BTreeMap<JobStatus, u64>, StoreError> {
        self.runtime.block_on(self.store.job_counts())
    }

    /// Every job of every project (the chaos tests enqueue no job outside a project).
    pub fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.runtime.block_on(async {
            let mut jobs = Vec::new();
            for project in self.projects().await? {
                let scope = ProjectScope::for_system(COMPONENT, &project);
                let mut page = PageRequest::first(PAGE);
                loop {
                    let listed = self.store.list_project_jobs(&scope, &page).await?;
                    jobs.extend(listed.items);
                    match listed.next_cursor {
                        Some(cursor) => page = PageRequest::after(PAGE, cursor),
                        None => break,
                    }
                }
            }
            Ok(jobs)
        })
    }

    /// Certificates of every project whose renewal window opened before `before`.
    pub fn certificates_due(&self, before: Timestamp) -> Result<Vec<Certificate>, StoreError> {
        self.runtime.block_on(async {
            let scope = SystemScope::new(COMPONENT);
            let mut due = Vec::new();
            let mut page = PageRequest::first(PAGE);
            loop {
                let listed = self.store.certificates_due(&scope, before, &page).await?;
                due.extend(listed.items);
                match listed.next_cursor {
                    Some(cursor) => page = PageRequest::after(PAGE, cursor),
                    None => return Ok(due),
                }
            }
        })
    }

    /// Every chained audit entry of every organization, in chain order per organization.
    pub fn audit_events(&self) -> Result<Vec<AuditEvent>, StoreError> {
        self.runtime.block_on(async {
            let mut events = Vec::new();
            for org in self.store.list_organizations().await? {
                events.extend(self.chain_of(&org).await?);
            }
            Ok(events)
        })
    }

    /// The chained entries, by (organization, seq), with their MACs: what must survive a fault.
    pub fn audit_snapshot(&self) -> Result<AuditSnapshot, StoreError> {
        Ok(self.audit_events()?.into_iter().map(|e| ((e.org_id.to_string(), e.seq), e.hmac)).collect())
    }

    /// Audit events with one of `actions`, chained or still in the outbox, counted at one point of
    /// the chain: an outbox row moves into the chain in one transaction, so a count taken while the
    /// chain's heads did not move counts every event exactly once. `None` if the heads kept moving.
    pub fn recorded_actions(&self, actions: &[&str]) -> Result<Option<u64>, StoreError> {
        self.runtime.block_on(async {
            let orgs = self.store.list_organizations().await?;
            let heads = |store: Arc<dyn Store>, orgs: Vec<Organization>| async move {
                let mut heads = Vec::new();
                for org in &orgs {
                    heads.push(store.audit_head(org.id).await?.map(|e| e.seq));
                }
                Ok::<_, StoreError>(heads)
            };
            for _ in 0..10 {
                let before = heads(self.store.clone(), orgs.clone()).await?;
                let mut count = 0u64;
                for org in &orgs {
                    let chained = self.chain_of(org).await?;
                    count += chained.iter().filter(|e| actions.contains(&e.action.as_str())).count() as u64;
                    let pending = self.store.pending_audit(org.id, OUTBOX_LIMIT).await?;
                    count += pending
                        .iter()
                        .filter(|p| p.draft.as_ref().is_ok_and(|d| actions.contains(&d.action.as_str())))
                        .count() as u64;
                }
                if heads(self.store.clone(), orgs.clone()).await? == before {
                    return Ok(Some(count));
                }
            }
            Ok(None)
        })
    }

    async fn chain_of(&self, org: &Organization) -> Result<Vec<AuditEvent>, StoreError> {
        let scope = OrgScope::for_system(COMPONENT, org);
        let mut events: Vec<AuditEvent> = Vec::new();
        loop {
            let after = events.last().map_or(0, |e| e.seq);
            let listed = self.store.list_audit_events(&scope, after, PAGE).await?;
            let done = listed.len() < PAGE;
            events.extend(listed);
            if done {
                return Ok(events);
            }
        }
    }

    async fn projects(&self) -> Result<Vec<Project>, StoreError> {
        let mut projects = Vec::new();
        for org in self.store.list_organizations().await? {
            let scope = OrgScope::for_system(COMPONENT, &org);
            let mut page = PageRequest::first(PAGE);
            loop {
                let listed = self.store.list::<Project>(&scope, &page).await?;
                projects.extend(listed.items);
                match listed.next_cursor {
                    Some(cursor) => page = PageRequest::after(PAGE, cursor),
                    None => break,
                }
            }
        }
        Ok(projects)
    }
}
