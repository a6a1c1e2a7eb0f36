//! Who is calling, and may they call this route. Every handler takes `Authorized`; it reads the
//! route's declared policy from the request (registration attaches it as route data), authenticates
//! the caller, and refuses early what the policy forbids. Project access is granted only through `Authorized::project_scope`, which builds a
//! `ProjectScope` from the caller's membership (or ownership) and checks the route's role.
//! Another project's ids answer 404, exactly like ids that do not exist.

mod argon2_memory;
pub mod jwt;
pub mod password;
pub mod password_hashing;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use certautopilot_core::ids::{ApiTokenId, ProjectId, SessionId, UserId};
use certautopilot_core::model::{ApiToken, Membership, OrgRole, Project, Role, Session, User};
use certautopilot_core::store::{RecordKind, RecordStore, StoreError, membership_key};
use certautopilot_core::{OrgScope, ProjectScope, SystemScope};
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::route_spec::Policy;

pub const SESSION_COOKIE: &str = "cap_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// API tokens look like `cap_<token id>.<secret>`; JWTs never start with this.
pub const API_TOKEN_PREFIX: &str = "cap_";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Session { id: SessionId, via_cookie: bool },
    ApiToken(ApiTokenId),
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub method: AuthMethod,
}

impl Caller {
    pub fn org_scope(&self) -> OrgScope {
        OrgScope::for_user(&self.user).expect("disabled users never become callers")
    }

    pub fn is_owner(&self) -> bool {
        self.user.org_role == OrgRole::Owner
    }

    /// Who the audit trail names: the API token when one was used, else the user.
    pub fn principal(&self) -> certautopilot_core::Principal {
        match self.method {
            AuthMethod::ApiToken(id) => certautopilot_core::Principal::ApiToken(id),
            AuthMethod::Session { .. } => certautopilot_core::Principal::User(self.user.id),
        }
    }
}

/// The authenticated caller of a route, with the route's policy.
pub struct Authorized {
    caller: Option<Caller>,
    policy: Policy,
    state: web::Data<AppState>,
}

impl Authorized {
    /// The authorization of `caller` under `policy`, for callers that are not REST handlers (the
    /// GraphQL resolvers): the same scopes and role checks as the extractor's. `admit` applies
    /// the policy's gate, as the extractor does before a handler runs.
    pub fn new(caller: Option<Caller>, policy: Policy, state: web::Data<AppState>) -> Self {
        Authorized { caller, policy, state }
    }

    /// Refuses what the policy forbids before any data is read: no caller where one is needed
    /// (401), a non-owner on an owners' operation (403).
    pub fn admit(self) -> Result<Self, ApiError> {
        if self.policy == Policy::Public {
            return Ok(self);
        }
        let caller = self.caller.as_ref().ok_or_else(ApiError::unauthenticated)?;
        if self.policy == Policy::Owner && !caller.is_owner() {
            return Err(ApiError::forbidden("this needs the owner role"));
        }
        Ok(self)
    }

    /// The caller; every route but the public ones has one.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or_else(ApiError::unauthenticated)
    }

    /// Whether a scope the caller already holds (built by `project_scope` for another operation of
    /// the same request) meets this operation's role: what a nested GraphQL field checks instead of
    /// reading the membership again.
    pub fn check_scope(&self, scope: &ProjectScope) -> Result<(), ApiError> {
        let need = self.required_role();
        scope
            .require(need)
            .map_err(|_| ApiError::forbidden(format!("this needs the {} role in the project", need.as_str())))
    }

    fn required_role(&self) -> Role {
        match self.policy {
            Policy::Project(role) => role,
            Policy::Owner => Role::Owner,
            Policy::Authenticated | Policy::Public => Role::Viewer,
        }
    }

    /// The scope of `project_id` for this caller, if the caller's role there meets the route's.
    pub async fn project_scope(&self, project_id: ProjectId) -> Result<ProjectScope, ApiError> {
        let caller = self.caller()?;
        let org_scope = caller.org_scope();
        let scope = if caller.is_owner() {
            let project: Project = self.state.store()?.get(&org_scope, &project_id).await?;
            ProjectScope::for_owner(&caller.user, &project).map_err(|_| ApiError::not_found("project"))?
        } else {
            let key = membership_key(project_id, caller.user.id);
            let membership: Membership =
                self.state.store()?.find_unique(&org_scope, &key).await.map_err(|e| match e {
                    StoreError::NotFound { .. } => ApiError::not_found("project"),
                    other => other.into(),
                })?;
            ProjectScope::for_member(&caller.user, &membership).map_err(|_| ApiError::not_found("project"))?
        };
        self.check_scope(&scope)?;
        Ok(scope)
    }

    /// The caller's scopes in those of `projects` they can reach, as `project_scope` builds them but
    /// read in one go (the projects for an owner, the caller's memberships for a member) and not yet
    /// checked against a role: for callers that check each against several operations' roles with
    /// `check_scope` (a GraphQL page of projects and their members). A project missing from the
    /// answer is one to ask `project_scope` about (or one the caller cannot reach).
    pub async fn project_scopes(&self, projects: &[ProjectId]) -> Result<Vec<ProjectScope>, ApiError> {
        let caller = self.caller()?;
        let org_scope = caller.org_scope();
        let store = self.state.store()?;
        if caller.is_owner() {
            let found: Vec<Project> = store.get_many(&org_scope, projects).await?;
            return Ok(found.iter().filter_map(|p| ProjectScope::for_owner(&caller.user, p).ok()).collect());
        }
        let page = certautopilot_core::store::PageRequest::first(certautopilot_core::store::MAX_PAGE_SIZE);
        let memberships = store.list_by_lookup::<Membership>(&org_scope, &caller.user.id.to_string(), &page).await?;
        Ok(memberships
            .items
            .iter()
            .filter(|m| projects.contains(&m.project_id))
            .filter_map(|m| ProjectScope::for_member(&caller.user, m).ok())
            .collect())
    }

    /// The scope of the project that holds record `id` of `kind`, for routes addressed by id alone.
    /// Unknown ids and ids of projects the caller cannot see are both 404 (`what` not found).
    pub async fn scope_of_record(&self, kind: RecordKind, id: &str, what: &str) -> Result<ProjectScope, ApiError> {
        let project = self
            .state
            .store()?
            .locate_project(&SystemScope::new("gateway"), kind, id)
            .await?
            .ok_or_else(|| ApiError::not_found(what))?;
        self.project_scope(project)
            .await
            .map_err(|e| if e.code == ErrorCode::NotFound { ApiError::not_found(what) } else { e })
    }
}

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("state", &"missing"))?;
            // A route registered without a declared policy is refused, whatever it is.
            let policy =
                req.app_data::<Policy>().copied().ok_or_else(|| ApiError::forbidden("route has no declared policy"))?;
            if policy == Policy::Public {
                return Ok(Authorized { caller: None, policy, state });
            }
            let caller = authenticate(&state, &req).await?.ok_or_else(ApiError::unauthenticated)?;
            Authorized::new(Some(caller), policy, state).admit()
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison of two hex digests.
fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Resolves the caller from a bearer token (session JWT or API token) or the session cookie.
/// `Ok(None)`: no credentials at all. Bad credentials are an error, never silently anonymous.
pub async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Option<Caller>, ApiError> {
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(|v| {
            v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).ok_or_else(ApiError::unauthenticated)
        })
        .transpose()?;
    let (token, via_cookie) = match bearer {
        Some(token) => (token.to_owned(), false),
        None => match req.cookie(SESSION_COOKIE) {
            Some(cookie) => (cookie.value().to_owned(), true),
            None => return Ok(None),
        },
    };
    let Some(org) = state.organization().await? else {
        return Err(ApiError::new(ErrorCode::Unauthenticated, "invalid credentials"));
    };
    let org_scope = OrgScope::for_system("gateway", &org.org);
    let invalid = || ApiError::new(ErrorCode::Unauthenticated, "invalid or expired credentials");
    let now = state.now();

    if let Some(rest) = token.strip_prefix(API_TOKEN_PREFIX).filter(|_| !via_cookie) {
        let (id, secret) = rest.split_once('.').ok_or_else(invalid)?;
        let id: ApiTokenId = id.parse().map_err(|_| invalid())?;
        let stored: ApiToken = state.store()?.get(&org_scope, &id).await.map_err(|_| invalid())?;
        let expired = stored.expires_at.is_some_and(|at| at <= now);
        if stored.revoked || expired || !digests_equal(&sha256_hex(secret.as_bytes()), &stored.secret_sha256) {
            return Err(invalid());
        }
        let user = active_user(state, &org_scope, stored.user_id).await.ok_or_else(invalid)?;
        return Ok(Some(Caller { user, method: AuthMethod::ApiToken(id) }));
    }

    let claims = jwt::verify(&org.jwt_key, &token, now.as_unix_millis() / 1_000).map_err(|_| invalid())?;
    let session_id: SessionId = claims.sid.parse().map_err(|_| invalid())?;
    let session: Session = state.store()?.get(&org_scope, &session_id).await.map_err(|_| invalid())?;
    if session.revoked || session.expires_at <= now || session.user_id.to_string() != claims.sub {
        return Err(invalid());
    }
    if via_cookie && !is_safe(req.method()) {
        let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if presented.is_empty() || !digests_equal(&sha256_hex(presented.as_bytes()), &session.csrf_token_sha256) {
            return Err(ApiError::new(
                ErrorCode::CsrfTokenMissing,
                format!("cookie-authenticated changes need the {CSRF_HEADER} header from login"),
            ));
        }
    }
    let user = active_user(state, &org_scope, session.user_id).await.ok_or_else(invalid)?;
    Ok(Some(Caller { user, method: AuthMethod::Session { id: session_id, via_cookie } }))
}

async fn active_user(state: &AppState, org_scope: &OrgScope, id: UserId) -> Option<User> {
    let user: User = state.store().ok()?.get(org_scope, &id).await.ok()?;
    (!user.disabled).then_some(user)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A fresh random secret, URL-safe, for tokens shown to a client once.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    B64URL.encode(bytes)
}

pub fn secret_digest(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}
