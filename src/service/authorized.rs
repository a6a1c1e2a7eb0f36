//! Who is calling, and what the operation's policy lets them reach. Every operation takes an
//! `Authorized`: REST builds it from the request and the route's policy (`api::auth`), GraphQL
//! from its request and the same policy looked up by operation id (`api::routes::policy_of`).
//! Project data is reached only through `project_scope`, which builds a `ProjectScope` from the
//! caller's membership (or ownership) and checks the policy's role.
//! Invariant: the policy is enforced on use, whoever built the context: `caller()` refuses a caller
//! the policy does not admit, and another project's ids answer 404, like ids that do not exist.

use actix_web::web;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{Membership, OrgRole, Project, Role, User};
use certautopilot_core::store::{AuditWrite, RecordKind, RecordStore, StoreError, membership_key};
use certautopilot_core::{OrgScope, ProjectScope, SystemScope};

use crate::service::error::{ApiError, ErrorCode};
use crate::service::policy::Policy;
use crate::service::state::AppState;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Session { id: certautopilot_core::ids::SessionId, via_cookie: bool },
    ApiToken(certautopilot_core::ids::ApiTokenId),
}

/// An authenticated, enabled user of the organization, and how they signed in.
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

/// The caller of one operation, with the operation's policy and the application state.
pub struct Authorized {
    caller: Option<Caller>,
    policy: Policy,
    state: web::Data<AppState>,
}

impl Authorized {
    /// The context of one call of an operation whose policy is `policy`; `caller` is `None` for an
    /// anonymous call. Nothing is checked here: every use checks against the policy.
    pub fn new(caller: Option<Caller>, policy: Policy, state: web::Data<AppState>) -> Self {
        Authorized { caller, policy, state }
    }

    /// Refuses at once what the policy can refuse without reading a project: a call without a
    /// caller where one is needed (401), a member calling an owners' operation (403).
    pub fn admit(caller: Option<Caller>, policy: Policy, state: web::Data<AppState>) -> Result<Self, ApiError> {
        let auth = Authorized::new(caller, policy, state);
        if policy != Policy::Public {
            auth.caller()?;
        }
        Ok(auth)
    }

    /// The caller, if the policy admits them: every operation but the public ones has one, and an
    /// owners' operation has an owner.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        let caller = self.caller.as_ref().ok_or_else(ApiError::unauthenticated)?;
        if self.policy == Policy::Owner && !caller.is_owner() {
            return Err(ApiError::forbidden("this needs the owner role"));
        }
        Ok(caller)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The audit entry of a change this caller makes, to be written with it (`*_audited`).
    pub async fn audit(
        &self,
        action: &str,
        object: Option<(&str, String)>,
        project_id: Option<ProjectId>,
        details: serde_json::Value,
    ) -> Result<AuditWrite, ApiError> {
        let principal = self.caller()?.principal();
        Ok(self.state.org().await?.audit(principal, action, object, project_id, details))
    }

    /// Whether a scope the caller already holds (built by `project_scope` or `project_scopes` for
    /// another operation of the same request) meets this operation's role: what a nested GraphQL
    /// field checks instead of reading the membership again.
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

    /// The scope of `project_id` for this caller, if the caller's role there meets the policy's.
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

    /// The scope of the project that holds record `id` of `kind`, for operations addressed by id
    /// alone. Unknown ids and ids of projects the caller cannot see are both 404 (`what` not found).
    pub async fn scope_of_record(&self, kind: RecordKind, id: &str, what: &str) -> Result<ProjectScope, ApiError> {
        // Who asks comes first: whether an id exists is not for a caller the policy refuses.
        self.caller()?;
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
