//! GraphQL at `/api/graphql` beside REST (ARCHITECTURE.md §8): queries for every resource REST
//! exposes, with the relations a console needs in one request, Relay cursor connections for every
//! list, DataLoaders against N+1, and bounds checked before anything is read.
//! Invariant: every field authorizes as the REST operation it mirrors does: `Authorized` built with
//! the route table's policy for that operation id (`FIELD_OPERATIONS`), and project data reached only
//! through the scopes `Authorized::project_scope` / `scope_of_record` build, so the route table stays
//! the one place that says who may do what. Another project's ids, anywhere, read as not found.

mod acme;
mod approvals;
mod audit;
mod certificates;
mod cluster;
mod cursor;
mod dns;
mod errors;
mod http;
mod jobs;
mod limits;
mod live;
mod loaders;
mod mutations;
mod notifications;
mod projects;
mod scalars;
mod schema;
mod session;
mod targets;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::web;
use async_graphql::Context;
use certautopilot_core::ProjectScope;
use certautopilot_core::ids::ProjectId;

use crate::api::AppState;
use crate::api::auth::{Authorized, Caller};
use crate::api::error::ApiError;

pub use http::configure;

/// Every field that reads or writes data, by `Type.field`, and the REST operation whose policy it takes.
/// A test checks that each operation exists in the route table and each query field is listed.
pub const FIELD_OPERATIONS: &[(&str, &str)] = &[
    ("Query.me", "me"),
    ("Query.apiTokens", "listApiTokens"),
    ("Query.users", "listUsers"),
    ("Query.organization", "getOrganization"),
    ("User.apiTokens", "listUserApiTokens"),
    ("Query.projects", "listProjects"),
    ("Query.project", "getProject"),
    ("Project.members", "listMembers"),
    ("Member.user", "listMembers"),
    ("Query.acmeAccounts", "listAcmeAccounts"),
    ("Query.acmeCatalogue", "listAcmeCatalogue"),
    ("Query.acmeAccount", "getAcmeAccount"),
    ("Query.dnsCredentials", "listDnsCredentials"),
    ("Query.dnsCredential", "getDnsCredential"),
    ("Query.zones", "listZones"),
    ("Query.zone", "getZone"),
    ("Zone.credential", "getDnsCredential"),
    ("Query.targets", "listTargets"),
    ("Query.target", "getTarget"),
    ("Target.deployments", "getCertificateDeployments"),
    ("Query.certificates", "listCertificates"),
    ("Query.approvals", "listApprovals"),
    ("Query.approval", "getApproval"),
    ("Query.approvalPolicy", "getApprovalPolicy"),
    ("Mutation.approveRequest", "approveRequest"),
    ("Mutation.rejectRequest", "rejectRequest"),
    ("Mutation.setApprovalPolicy", "setApprovalPolicy"),
    ("Query.notificationChannels", "listNotificationChannels"),
    ("Query.notificationChannel", "getNotificationChannel"),
    ("Query.notificationRules", "listNotificationRules"),
    ("Query.notificationRule", "getNotificationRule"),
    ("Mutation.createNotificationChannel", "createNotificationChannel"),
    ("Mutation.updateNotificationChannel", "updateNotificationChannel"),
    ("Mutation.deleteNotificationChannel", "deleteNotificationChannel"),
    ("Mutation.testNotificationChannel", "testNotificationChannel"),
    ("Mutation.createNotificationRule", "createNotificationRule"),
    ("Mutation.updateNotificationRule", "updateNotificationRule"),
    ("Mutation.deleteNotificationRule", "deleteNotificationRule"),
    ("Query.certificate", "getCertificate"),
    ("Certificate.account", "getAcmeAccount"),
    ("Certificate.zones", "listZones"),
    ("Certificate.targets", "getTarget"),
    ("Certificate.deployments", "getCertificateDeployments"),
    ("Certificate.timeline", "getCertificateTimeline"),
    ("Certificate.live", "getCertificateLive"),
    ("Certificate.jobs", "listJobs"),
    ("CertificateTarget.target", "getTarget"),
    ("Query.jobs", "listJobs"),
    ("Query.job", "getJob"),
    ("Query.auditEvents", "listAuditEvents"),
    ("Certificate.chain", "getCertificateChain"),
    ("Query.auditVerification", "verifyAudit"),
    ("Query.clusterStatus", "getClusterStatus"),
    ("Query.actors", "listActors"),
    ("Query.actor", "getActor"),
    ("Mutation.createProject", "createProject"),
    ("Mutation.updateProject", "updateProject"),
    ("Mutation.deleteProject", "deleteProject"),
    ("Mutation.addMember", "addMember"),
    ("Mutation.updateMember", "updateMember"),
    ("Mutation.removeMember", "removeMember"),
    ("Mutation.createUser", "createUser"),
    ("Mutation.transferOwnership", "transferOwnership"),
    ("Mutation.setAuditRetention", "setAuditRetention"),
    ("Mutation.disableUser", "disableUser"),
    ("Mutation.enableUser", "enableUser"),
    ("Mutation.createApiToken", "createApiToken"),
    ("Mutation.revokeApiToken", "revokeApiToken"),
    ("Mutation.createAcmeAccount", "createAcmeAccount"),
    ("Mutation.updateAcmeAccount", "updateAcmeAccount"),
    ("Mutation.deleteAcmeAccount", "deleteAcmeAccount"),
    ("Mutation.createDnsCredential", "createDnsCredential"),
    ("Mutation.updateDnsCredential", "updateDnsCredential"),
    ("Mutation.testDnsCredential", "testDnsCredential"),
    ("Mutation.deleteDnsCredential", "deleteDnsCredential"),
    ("Mutation.createZone", "createZone"),
    ("Mutation.updateZone", "updateZone"),
    ("Mutation.deleteZone", "deleteZone"),
    ("Mutation.createTarget", "createTarget"),
    ("Mutation.updateTarget", "updateTarget"),
    ("Mutation.deleteTarget", "deleteTarget"),
    ("Mutation.scanTarget", "scanTarget"),
    ("Mutation.createCertificate", "createCertificate"),
    ("Mutation.updateCertificate", "updateCertificate"),
    ("Mutation.importCertificate", "importCertificate"),
    ("Mutation.manageCertificate", "manageCertificate"),
    ("Mutation.startDiscoveryScan", "startDiscoveryScan"),
    ("Mutation.deleteCertificate", "deleteCertificate"),
    ("Mutation.renewCertificate", "renewCertificate"),
    ("Mutation.revokeCertificate", "revokeCertificate"),
    ("Mutation.distributeCertificate", "distributeCertificate"),
    ("Mutation.setCertificateTargets", "setCertificateTargets"),
    ("Mutation.initCluster", "initCluster"),
    ("Mutation.joinCluster", "joinCluster"),
    ("Mutation.leaveCluster", "leaveCluster"),
    ("Mutation.panicActor", "panicActor"),
];

/// The route table's operations GraphQL leaves to REST, each with its reason. A test checks that
/// every operation of the table is in `FIELD_OPERATIONS` or here, so a new REST route without a
/// GraphQL counterpart (or a stated reason) fails CI.
#[cfg_attr(not(test), allow(dead_code))] // a declaration the coverage test reads; nothing runs on it
pub const REST_ONLY: &[(&str, &str)] = &[
    (
        "getOpenApi",
        "describes REST itself; GraphQL publishes its own schema (introspection, /api/graphql/schema.graphql)",
    ),
    ("setup", "public and once per organization, before any caller exists to authenticate GraphQL"),
    ("login", "public: exchanges a password for the session token GraphQL requests then carry"),
    ("logout", "ends the session the request itself authenticates with; a session concern, not a resource"),
];

/// The operation id of `field` (`Type.field`) in `FIELD_OPERATIONS`.
fn operation_of(field: &str) -> &'static str {
    FIELD_OPERATIONS.iter().find(|(f, _)| *f == field).map(|(_, op)| *op).unwrap_or("")
}

/// What every resolver of one request shares: the service's state, the caller (authenticated once,
/// after the request passed its bounds), and the project scopes already built for this caller.
pub struct RequestContext {
    pub state: web::Data<AppState>,
    pub caller: Option<Caller>,
    /// Scopes `Authorized::project_scope` built in this request, by project: a second field about
    /// the same project checks its own role against it (`Authorized::check_scope`) instead of
    /// reading the membership again.
    scopes: Mutex<HashMap<ProjectId, ProjectScope>>,
}

impl RequestContext {
    pub fn new(state: web::Data<AppState>, caller: Option<Caller>) -> Self {
        RequestContext { state, caller, scopes: Mutex::new(HashMap::new()) }
    }
}

/// The authorization of `field` for this request's caller, admitted by its operation's policy.
pub(crate) fn authorize(ctx: &Context<'_>, field: &str) -> Result<Authorized, ApiError> {
    let rc = ctx.data::<RequestContext>().map_err(|e| ApiError::internal("graphql", &e.message))?;
    let policy = crate::api::routes::policy_of(operation_of(field))
        .ok_or_else(|| ApiError::internal("graphql", &format!("no operation for {field}")))?;
    Authorized::admit(rc.caller.clone(), policy, rc.state.clone())
}

/// The scope of `project` for `field`: the one this request already built for the project,
/// checked against the field's role, or a fresh one from `Authorized::project_scope`.
pub(crate) async fn project_scope(
    ctx: &Context<'_>,
    field: &str,
    project: ProjectId,
) -> Result<ProjectScope, ApiError> {
    let auth = authorize(ctx, field)?;
    let rc = ctx.data::<RequestContext>().map_err(|e| ApiError::internal("graphql", &e.message))?;
    let known = rc.scopes.lock().unwrap_or_else(|e| e.into_inner()).get(&project).cloned();
    if let Some(scope) = known {
        auth.check_scope(&scope)?;
        return Ok(scope);
    }
    let scope = auth.project_scope(project).await?;
    remember(ctx, &scope);
    Ok(scope)
}

/// Keeps a scope built for this request (by `scope_of_record`, a listing) for later fields.
pub(crate) fn remember(ctx: &Context<'_>, scope: &ProjectScope) {
    if let Ok(rc) = ctx.data::<RequestContext>() {
        rc.scopes.lock().unwrap_or_else(|e| e.into_inner()).insert(scope.project_id(), scope.clone());
    }
}

/// A nested field about a record whose parent was read under `scope`: the field's own policy
/// checked against that scope, with no further read.
pub(crate) fn nested_scope(ctx: &Context<'_>, field: &str, scope: &ProjectScope) -> Result<ProjectScope, ApiError> {
    authorize(ctx, field)?.check_scope(scope)?;
    Ok(scope.clone())
}

/// The request's state.
pub(crate) fn state<'c>(ctx: &Context<'c>) -> Result<&'c web::Data<AppState>, ApiError> {
    Ok(&ctx.data::<RequestContext>().map_err(|e| ApiError::internal("graphql", &e.message))?.state)
}

/// An id argument; one that cannot be an id is simply not found (as a REST path id is).
pub(crate) fn parse_id<T: std::str::FromStr>(id: &async_graphql::ID, what: &str) -> Result<T, ApiError> {
    id.parse().map_err(|_| ApiError::not_found(what))
}

/// A project id argument of a list (REST's `?project_id=`): one that cannot be an id is invalid.
pub(crate) fn parse_project(id: &async_graphql::ID) -> Result<ProjectId, ApiError> {
    id.parse().map_err(|_| ApiError::invalid("projectId", "must be a project id (UUID)"))
}

/// A page of a project's records of one kind (`list_name` binds its cursors), for `field`.
pub(crate) async fn project_list<R, N>(
    ctx: &Context<'_>,
    field: &str,
    list_name: &str,
    project: &async_graphql::ID,
    first: Option<i32>,
    after: Option<String>,
    node: impl Fn(R, &ProjectScope) -> N,
) -> errors::GqlResult<async_graphql::connection::Connection<String, N>>
where
    R: certautopilot_core::store::Record<Scope = ProjectScope>,
    N: async_graphql::OutputType,
{
    use certautopilot_core::store::RecordStore;
    let project = parse_project(project)?;
    let scope = project_scope(ctx, field, project).await?;
    let state = state(ctx)?;
    let binding = cursor::Binding::new(list_name, project);
    let args = cursor::PageArgs::new(&binding, first, after, state.graphql.max_list_size)?;
    let page = state.store()?.list::<R>(&scope, &args.request()).await?;
    let position = |r: &R| certautopilot_core::store::cursor_after(&r.record_id());
    Ok(cursor::connection(&binding, &args, page, position, |r| node(r, &scope)))
}

/// One project-scoped record by id for `field`, with the scope it was read under: unknown ids and
/// other projects' ids are both `what` not found (`Authorized::scope_of_record`).
pub(crate) async fn record_by_id<R, I>(
    ctx: &Context<'_>,
    field: &str,
    id: &async_graphql::ID,
    what: &str,
) -> errors::GqlResult<(ProjectScope, R)>
where
    R: certautopilot_core::store::Record<Scope = ProjectScope>,
    I: std::str::FromStr + ToString + Sync,
{
    use certautopilot_core::store::RecordStore;
    let id: I = parse_id(id, what)?;
    let scope = authorize(ctx, field)?.scope_of_record(R::KIND, &id.to_string(), what).await?;
    remember(ctx, &scope);
    let record = state(ctx)?.store()?.get::<R>(&scope, &id).await?;
    Ok((scope, record))
}
