//! Service-layer tests: each operation driven directly, without HTTP, on a temporary SQLite store
//! (the API tests' harness and world: an owner, members of project a with each role, an admin of
//! project b, one record of each kind in both projects). Every context is built as GraphQL builds
//! it: the caller, and the policy the route table declares for the operation (`policy_of`), with
//! no extractor in front, so the tests show the service enforces the policy itself.
//! Per resource: the happy path, a role refusal, another project's id answering not found, and a
//! validation refusal that changes nothing (the audit chain, where every change is written with
//! its entry, is the same before and after).

mod access;
mod acme_accounts;
mod admin;
mod approvals;
mod audit;
mod certificates;
mod cluster;
mod dns;
mod inventory;
mod jobs;
mod members;
mod notifications;
mod organization;
mod overview;
mod projects;
mod session;
mod setup;
mod targets;
mod tokens;
mod users;

use std::fmt::Debug;

use actix_web::web;
use certautopilot_core::Timestamp;
use certautopilot_core::ids::SessionId;
use certautopilot_core::model::Session;
use certautopilot_core::store::{AuditFilter, AuditLog, RecordStore};

use crate::api::routes::policy_of;
use crate::api::tests::harness::{Harness, Who, World};
use crate::service::authorized::{AuthMethod, Authorized, Caller};
use crate::service::credentials::{API_TOKEN_PREFIX, random_secret, secret_digest};
use crate::service::error::{ApiError, ErrorCode};
use crate::service::state::AppState;

/// A certificate of `project` named `name` in `status`, with the given expiry and renewal time
/// (`None`: not set), stored directly (no issuance).
pub async fn stored_certificate(
    h: &Harness,
    project: &crate::api::tests::harness::Resources,
    name: &str,
    status: certautopilot_core::model::CertificateStatus,
    not_after: Option<Timestamp>,
    renew_at: Option<Timestamp>,
) -> certautopilot_core::model::Certificate {
    use certautopilot_core::model::{Certificate, KeyType};
    let (id, account) = (project.scope.project_id(), project.account.id);
    let mut cert = Certificate::new(id, name, vec![name.into()], KeyType::EcdsaP256, account, Timestamp::now());
    cert.status = status;
    cert.not_after = not_after;
    cert.renew_at = renew_at;
    h.store.insert(&project.scope, &cert).await.unwrap();
    cert
}

/// The context of `who` calling `operation` (an operation id of the route table).
pub fn acting(h: &Harness, who: &Who, operation: &str) -> Authorized {
    context(&h.state, caller_of(who), operation)
}

/// The context of `caller` calling `operation`, on `state`.
pub fn context(state: &web::Data<AppState>, caller: Option<Caller>, operation: &str) -> Authorized {
    let policy = policy_of(operation).unwrap_or_else(|| panic!("the route table has no operation {operation}"));
    Authorized::new(caller, policy, state.clone())
}

/// `who` as a caller signed in with their API token; `None` for the anonymous.
pub fn caller_of(who: &Who) -> Option<Caller> {
    let user = who.user.clone()?;
    let token = who.token.as_deref()?.strip_prefix(API_TOKEN_PREFIX)?;
    let id = token.split_once('.')?.0.parse().ok()?;
    Some(Caller { user, method: AuthMethod::ApiToken(id) })
}

/// `who` as a caller signed in with a session of their own (what a login makes), stored.
pub async fn signed_in(h: &Harness, w: &World, who: &Who) -> Caller {
    let user = who.user.clone().expect("a signed-in principal");
    let now = Timestamp::now();
    let session = Session {
        id: SessionId::new(),
        org_id: user.org_id,
        user_id: user.id,
        csrf_token_sha256: secret_digest(&random_secret()),
        expires_at: now.saturating_add(std::time::Duration::from_secs(3_600)),
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    h.store.insert(&w.org_scope, &session).await.unwrap();
    Caller { user, method: AuthMethod::Session { id: session.id, via_cookie: false } }
}

/// Every action of the organization's audit chain so far, in order, once this process's audit
/// actor has chained what was committed: what a refused request must leave as it was.
pub async fn audit_actions(h: &Harness, w: &World) -> Vec<String> {
    h.state.flush_audit(w.org.id).await;
    let events = h.store.search_audit_events(&w.org_scope, &AuditFilter::default(), 0, 10_000).await.unwrap();
    events.into_iter().map(|e| e.action).collect()
}

/// Asserts the operation was refused with `code`, naming `field` when given.
#[track_caller]
pub fn assert_refused<T: Debug>(result: Result<T, ApiError>, code: ErrorCode, field: Option<&str>) -> ApiError {
    let error = result.expect_err("the operation was refused");
    assert_eq!(error.code, code, "{error:?}");
    if field.is_some() {
        assert_eq!(error.field.as_deref(), field, "{error:?}");
    }
    error
}
