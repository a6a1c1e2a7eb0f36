//! Approvals in GraphQL: a project's requests and policy, one request, and the decisions, each
//! through the service layer's `approvals` (REST's views and policies, field by field).
//! Invariant: nothing here decides; the service decides and checks the role of each field's REST
//! operation (`FIELD_OPERATIONS`).

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use certautopilot_core::ids::ApprovalId;
use certautopilot_core::store::cursor_after;
use serde::Serialize;

use crate::api::views::{ApprovalView, CertificateJobRequested, DecideApproval};
use crate::graphql::cursor::{Binding, PageArgs, connection, list_cost, page_of};
use crate::graphql::errors::GqlResult;
use crate::graphql::jobs::JobNode;
use crate::graphql::scalars::{DateTime, Json, at, at_opt};
use crate::graphql::{authorize, parse_id, parse_project, state};
use crate::service;

/// One request waiting for (or decided by) an admin (REST's `ApprovalView`).
#[derive(SimpleObject)]
#[graphql(name = "ApprovalRequest")]
pub struct ApprovalNode {
    id: ID,
    project_id: ID,
    certificate_id: ID,
    /// `issue`, `renew`, `distribute` or `revoke`.
    action: String,
    revocation_reason: Option<String>,
    requested_by: ID,
    reasons: Vec<String>,
    /// `pending_approval`, `granted`, `rejected` or `expired`.
    status: String,
    decided_by: Option<ID>,
    comment: Option<String>,
    decided_at: Option<DateTime>,
    expires_at: DateTime,
    created_at: DateTime,
    version: u64,
}

impl From<ApprovalView> for ApprovalNode {
    fn from(v: ApprovalView) -> Self {
        ApprovalNode {
            id: ID(v.id.to_string()),
            project_id: ID(v.project_id.to_string()),
            certificate_id: ID(v.certificate_id.to_string()),
            action: v.action,
            revocation_reason: v.revocation_reason,
            requested_by: ID(v.requested_by.to_string()),
            reasons: v.reasons,
            status: v.status.as_str().to_owned(),
            decided_by: v.decided_by.map(|u| ID(u.to_string())),
            comment: v.comment,
            decided_at: at_opt(v.decided_at),
            expires_at: at(v.expires_at),
            created_at: at(v.created_at),
            version: v.version,
        }
    }
}

/// What a renew, distribute or revoke answers: the job it queued, or the request that waits.
#[derive(SimpleObject)]
pub struct CertificateJobPayload {
    pub job: Option<JobNode>,
    pub created: bool,
    pub approval: Option<ApprovalNode>,
}

impl From<CertificateJobRequested> for CertificateJobPayload {
    fn from(r: CertificateJobRequested) -> Self {
        CertificateJobPayload { job: r.job.map(JobNode), created: r.created, approval: r.approval.map(Into::into) }
    }
}

/// A decision and, when granted, the job it started.
#[derive(SimpleObject)]
pub struct ApprovalDecisionPayload {
    approval: ApprovalNode,
    job: Option<JobNode>,
}

#[derive(Default)]
pub struct ApprovalQuery;

#[Object]
impl ApprovalQuery {
    /// A project's approval requests by id, optionally only those with `status`.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn approvals(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        status: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, ApprovalNode>> {
        let project = parse_project(&project_id)?;
        let status = status.as_deref().map(service::approvals::parse_status).transpose()?;
        let binding = Binding::new("approvals", project);
        let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
        let auth = authorize(ctx, "Query.approvals")?;
        let page = service::approvals::list(&auth, project, status, args.request()).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |a| cursor_after(&a.id.to_string()), ApprovalNode::from))
    }

    async fn approval(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ApprovalNode> {
        let id: ApprovalId = parse_id(&id, "approval request")?;
        Ok(service::approvals::get(&authorize(ctx, "Query.approval")?, id).await?.into())
    }

    /// A project's approval policy, as REST answers it (`require`, `rules`, `expire_after_hours`).
    async fn approval_policy(&self, ctx: &Context<'_>, project_id: ID) -> GqlResult<Json> {
        let project = parse_project(&project_id)?;
        let policy = service::approvals::policy(&authorize(ctx, "Query.approvalPolicy")?, project).await?;
        Ok(async_graphql::Json(serde_json::to_value(policy).unwrap_or_default()))
    }
}

/// A project's approval policy, as REST's `PUT …/approval-policy` body.
#[derive(InputObject, Serialize)]
pub struct ApprovalPolicyInput {
    /// `none`, `all` or `rules`.
    require: String,
    rules: Vec<ApprovalRuleInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_after_hours: Option<u32>,
}

/// One rule: `kind` (`names`, `wildcard`, `key_types`, `issuers`, `profiles`, `targets`,
/// `revocation`) and the list that kind takes.
#[derive(InputObject, Serialize)]
pub struct ApprovalRuleInput {
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    patterns: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acme_account_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profiles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_ids: Option<Vec<String>>,
}

#[derive(Default)]
pub struct ApprovalMutation;

#[Object]
impl ApprovalMutation {
    /// Grants a request (starts its job); never your own.
    async fn approve_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        comment: Option<String>,
    ) -> GqlResult<ApprovalDecisionPayload> {
        decide(ctx, "Mutation.approveRequest", id, true, comment).await
    }

    /// Rejects a request; never your own.
    async fn reject_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        comment: Option<String>,
    ) -> GqlResult<ApprovalDecisionPayload> {
        decide(ctx, "Mutation.rejectRequest", id, false, comment).await
    }

    /// Replaces a project's approval policy (REST's body, field by field).
    async fn set_approval_policy(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        policy: ApprovalPolicyInput,
    ) -> GqlResult<Json> {
        let project = parse_project(&project_id)?;
        let bytes = serde_json::to_vec(&policy).unwrap_or_default();
        let input = crate::api::json::decode(&bytes)?;
        let auth = authorize(ctx, "Mutation.setApprovalPolicy")?;
        let saved = service::approvals::set_policy(&auth, project, input).await?;
        Ok(async_graphql::Json(serde_json::to_value(saved).unwrap_or_default()))
    }
}

async fn decide(
    ctx: &Context<'_>,
    field: &str,
    id: ID,
    granted: bool,
    comment: Option<String>,
) -> GqlResult<ApprovalDecisionPayload> {
    let id: ApprovalId = parse_id(&id, "approval request")?;
    let decided = service::approvals::decide(&authorize(ctx, field)?, id, granted, DecideApproval { comment }).await?;
    Ok(ApprovalDecisionPayload { approval: decided.approval.into(), job: decided.job.map(JobNode) })
}
