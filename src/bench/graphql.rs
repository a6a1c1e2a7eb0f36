//! `bench graphql`: how many trips to the store one GraphQL query costs — "N certificates with their
//! account, targets (with deployment status) and last 5 timeline entries" — for 5 and for 50
//! certificates, on a seeded store. The DataLoaders batch every relation, so the count should not
//! grow with N (issue M2.4).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use actix_web::{test, web};
use certautopilot_core::audit::{AuditDraft, ChainWriter};
use certautopilot_core::crypto::{Envelope, LocalKek};
use certautopilot_core::ids::ApiTokenId;
use certautopilot_core::model::{
    AcmeAccount, ApiToken, AuditObject, Certificate, Deployment, DeploymentStatus, DistributionTarget, JobKind,
    KeyType, NewJob, Project, TargetKind, User,
};
use certautopilot_core::store::mongodb::MongoStore;
use certautopilot_core::store::sqlite::SqliteStore;
use certautopilot_core::store::{AuditWrite, RecordStore, Store};
use certautopilot_core::testsupport::{MongoServer, MongoServerOptions};
use certautopilot_core::{OrgScope, Principal, ProjectScope, SystemClock, Timestamp};
use serde_json::json;

use super::backend::{BenchStore, Trips, difference};
use crate::api::AppState;
use crate::service::credentials::{API_TOKEN_PREFIX, random_secret, secret_digest};

const QUERY: &str = "query($p: ID!, $n: Int!) { certificates(projectId: $p, first: $n) { edges { node {
    id commonName status
    account { name directoryUrl }
    targets { target { name type } deployment { status serial } }
    timeline(last: 5) { at source event }
} } } }";

/// Targets per certificate, and audit entries per certificate's story (more than the 5 asked for).
const TARGETS: usize = 3;
const EVENTS: usize = 7;

pub async fn run(dir: &Path, kind: BenchStore, auth: certautopilot_config::AuthConfig) -> anyhow::Result<()> {
    let _server;
    let store: Arc<dyn Store> = match kind {
        BenchStore::Sqlite => Arc::new(SqliteStore::open_in(dir).await?),
        BenchStore::Mongodb => {
            let server = MongoServer::start(&dir.join("mongodb"), MongoServerOptions::default());
            let store = MongoStore::connect_with_defaults(&server.uri(), "bench_graphql").await?;
            _server = server;
            Arc::new(store)
        }
    };
    let state = AppState::new(Envelope::new(Arc::new(LocalKek::ephemeral())), auth, 3, false, Arc::new(SystemClock));
    state.set_store(store.clone());
    let state = web::Data::new(state);
    let (org, owner) = crate::service::setup::perform(&state, "Bench", "owner@bench.test", "bench password 1234")
        .await
        .map_err(|e| anyhow::anyhow!("setup: {e}"))?;
    let org_scope = OrgScope::for_user(&owner)?;
    let token = token_for(store.as_ref(), &org_scope, &owner).await?;
    let readiness = crate::http::Readiness::default();
    readiness.set_ready();
    let app = test::init_service(crate::http::app(
        state.clone(),
        web::Data::new(readiness),
        Arc::default(),
        true,
        1024 * 1024,
        false,
    ))
    .await;
    println!(
        "bench graphql ({}): \"N certificates with account, targets and last 5 timeline entries\"",
        kind_name(kind)
    );
    for n in [5usize, 50] {
        let project = seed(store.as_ref(), &org_scope, &owner, n).await?;
        let secret = state.org().await.map_err(|e| anyhow::anyhow!("{e}"))?.audit_secret.clone();
        ChainWriter::new(org.id, secret).drain(store.as_ref()).await?;
        let before: Trips = store.round_trips();
        let started = Instant::now();
        let request = test::TestRequest::post()
            .uri("/api/graphql")
            .insert_header(("authorization", format!("Bearer {token}")))
            .set_json(json!({ "query": QUERY, "variables": { "p": project.project_id(), "n": n } }))
            .to_request();
        let body: serde_json::Value = test::call_and_read_body_json(&app, request).await;
        let took = started.elapsed();
        let mut trips = difference(&store.round_trips(), &before);
        trips.retain(|_, n| *n > 0);
        let edges = body["data"]["certificates"]["edges"].as_array().map_or(0, Vec::len);
        let timeline = body["data"]["certificates"]["edges"][0]["node"]["timeline"].as_array().map_or(0, Vec::len);
        if edges != n || timeline != 5 || body.get("errors").is_some() {
            anyhow::bail!("unexpected answer for {n} certificates: {body}");
        }
        let total: u64 = trips.values().sum();
        println!("  {n:>2} certificates: {total} store trips in {:.1} ms ({trips:?})", took.as_secs_f64() * 1_000.0);
    }
    println!("  (the caller's token and user, and the project's scope, are 3 of them; each relation is one batch)");
    Ok(())
}

fn kind_name(kind: BenchStore) -> &'static str {
    match kind {
        BenchStore::Sqlite => "SQLite",
        BenchStore::Mongodb => "MongoDB protocol, SecantusDB",
    }
}

async fn token_for(store: &dyn Store, org: &OrgScope, user: &User) -> anyhow::Result<String> {
    let secret = random_secret();
    let now = Timestamp::now();
    let token = ApiToken {
        id: ApiTokenId::new(),
        org_id: user.org_id,
        user_id: user.id,
        name: "bench".into(),
        secret_sha256: secret_digest(&secret),
        expires_at: None,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    store.insert(org, &token).await?;
    Ok(format!("{API_TOKEN_PREFIX}{}.{secret}", token.id))
}

/// A project with one account, `TARGETS` targets and `n` certificates, each attached to every
/// target with a deployment on each, an issue job (its log) and `EVENTS` audit entries.
async fn seed(store: &dyn Store, org: &OrgScope, owner: &User, n: usize) -> anyhow::Result<ProjectScope> {
    let now = Timestamp::now();
    let project = Project::new(owner.org_id, format!("bench-{n}"), now);
    store.insert(org, &project).await?;
    let scope = ProjectScope::for_owner(owner, &project)?;
    let account = AcmeAccount::new(project.id, "ca", "https://ca.bench.test/dir", now);
    store.insert(&scope, &account).await?;
    let mut targets = Vec::new();
    for i in 0..TARGETS {
        let target = DistributionTarget::new(project.id, format!("target-{i}"), TargetKind::File, now);
        store.insert(&scope, &target).await?;
        targets.push(target.id);
    }
    for i in 0..n {
        let name = format!("www{i}.bench-{n}.test");
        let mut cert = Certificate::new(project.id, name.clone(), vec![name], KeyType::EcdsaP256, account.id, now);
        cert.target_ids = targets.clone();
        let job = NewJob::for_project(&scope, JobKind::Issue, 3).subject(cert.id.to_string());
        store.insert_and_enqueue(&scope, &cert, job, None).await?;
        for target in &targets {
            let mut deployment = Deployment::new(project.id, cert.id, *target, now);
            deployment.status = DeploymentStatus::Deployed;
            store.insert(&scope, &deployment).await?;
        }
        for e in 0..EVENTS {
            let draft = AuditDraft {
                org_id: owner.org_id,
                actor: Principal::System("bench".into()),
                action: format!("cert.bench_{e}"),
                object: Some(AuditObject { kind: "certificate".into(), id: cert.id.to_string() }),
                project_id: Some(project.id),
                details: json!({}),
            };
            store.append_audit(AuditWrite { draft }).await?;
        }
    }
    Ok(scope)
}
