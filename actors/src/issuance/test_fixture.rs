//! For the issuance module's tests: a temporary SQLite store with an organization (whose audit
//! secret is set, so audited writes go to its outbox), one project, and the issuance deps over them.

use std::sync::Arc;

use certautopilot_core::crypto::{Envelope, LocalKek};
use certautopilot_core::model::{Organization, Project, SealedSecret};
use certautopilot_core::store::RecordStore;
use certautopilot_core::store::sqlite::SqliteStore;
use certautopilot_core::{OrgScope, ProjectScope, Store, Timestamp};

use super::IssuanceDeps;
use crate::registry::ActorRegistry;

pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub project: Project,
    pub scope: ProjectScope,
    pub deps: IssuanceDeps,
    /// The store's temporary directory, kept while the fixture lives.
    _guard: Box<dyn std::any::Any + Send + Sync>,
}

pub async fn fixture() -> Fixture {
    let sqlite = SqliteStore::for_test().await;
    let store: Arc<dyn Store> = Arc::new(sqlite.store);
    let guard = sqlite.guard;
    let now = Timestamp::now();
    let mut org = Organization::new("acme", now);
    org.audit_secret =
        Some(SealedSecret { kek_version: 1, wrapped_dek: "w".into(), nonce: "n".into(), ciphertext: "c".into() });
    store.create_organization(&org).await.unwrap();
    let project = Project::new(org.id, "web", now);
    store.insert(&OrgScope::for_system("test", &org), &project).await.unwrap();
    let scope = ProjectScope::for_system("test", &project);
    let timings = super::IssuanceConfig { scan_every: None, ..Default::default() };
    let settings = super::IssuanceSettings { timings, ..Default::default() };
    let deps = IssuanceDeps::new(
        store.clone(),
        Envelope::new(Arc::new(LocalKek::ephemeral())),
        ActorRegistry::new(),
        settings,
        "node-1",
    );
    Fixture { store, project, scope, deps, _guard: guard }
}
