//! Bodies of the approval routes: a project's policy, the requests waiting for an admin (and the
//! decided ones), a decision, and what a request answers when it waits instead of starting a job.
//! Invariant: a request's view says its status as of now: a pending request past its time shows
//! `expired` even before the scheduler has recorded it so.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::{ApprovalAction, ApprovalPolicy, ApprovalRequest, ApprovalStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JobView;

/// One request waiting for (or decided by) an admin.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalView {
    #[schema(value_type = String, format = "uuid")]
    pub id: ApprovalId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    #[schema(value_type = String, format = "uuid")]
    pub certificate_id: CertificateId,
    /// `issue`, `renew`, `distribute` or `revoke`.
    pub action: String,
    /// For `revoke`: the RFC 5280 reason asked for.
    pub revocation_reason: Option<String>,
    #[schema(value_type = String, format = "uuid")]
    pub requested_by: UserId,
    /// Why it needs approval: the rules it matched.
    pub reasons: Vec<String>,
    /// `pending_approval`, `granted`, `rejected` or `expired`.
    #[schema(schema_with = crate::api::schema::approval_status)]
    pub status: ApprovalStatus,
    #[schema(value_type = Option<String>, format = "uuid")]
    pub decided_by: Option<UserId>,
    pub comment: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: u64,
}

impl ApprovalView {
    /// The view at `now`: a pending request past its time is `expired`.
    pub fn at(r: ApprovalRequest, now: Timestamp) -> Self {
        let status = if r.is_overdue(now) { ApprovalStatus::Expired } else { r.status };
        let revocation_reason = match &r.action {
            ApprovalAction::Revoke { reason } => Some(reason.clone()),
            _ => None,
        };
        ApprovalView {
            id: r.id,
            project_id: r.project_id,
            certificate_id: r.certificate_id,
            action: r.action.name().to_owned(),
            revocation_reason,
            requested_by: r.requested_by,
            reasons: r.reasons,
            status,
            decided_by: r.decided_by,
            comment: r.comment,
            decided_at: r.decided_at,
            expires_at: r.expires_at,
            created_at: r.created_at,
            version: r.version,
        }
    }
}

page_type!(ApprovalPage, ApprovalView);

/// A decision's comment (optional when granting).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideApproval {
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

/// A decision and, when granted, the job it started.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalDecided {
    pub approval: ApprovalView,
    pub job: Option<JobView>,
}

/// What an operator's renew, distribute or revoke answers: the job it queued, or the request
/// waiting for approval instead.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateJobRequested {
    pub job: Option<JobView>,
    /// Whether the job was queued by this request (false: the same one was queued already).
    pub created: bool,
    pub approval: Option<ApprovalView>,
}

/// A project's approval policy, as read and as replaced (`PUT`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicyView {
    /// `none`, `all` or `rules`.
    #[schema(value_type = String)]
    pub require: certautopilot_core::model::ApprovalRequirement,
    /// Each `{ "kind": "names", "patterns": [...] }`, `{ "kind": "wildcard" }`,
    /// `{ "kind": "key_types", "key_types": [...] }`, `{ "kind": "issuers", "acme_account_ids": [...] }`,
    /// `{ "kind": "profiles", "profiles": [...] }`, `{ "kind": "targets", "target_ids": [...] }` or
    /// `{ "kind": "revocation" }`.
    #[schema(value_type = Vec<Object>)]
    #[serde(default)]
    pub rules: Vec<certautopilot_core::model::ApprovalRule>,
    /// Hours a request waits before it expires (1 to 2160).
    #[serde(default = "default_expiry")]
    #[schema(minimum = 1, maximum = 2160)]
    pub expire_after_hours: u32,
}

fn default_expiry() -> u32 {
    certautopilot_core::model::DEFAULT_APPROVAL_EXPIRY_HOURS
}

impl From<ApprovalPolicy> for ApprovalPolicyView {
    fn from(p: ApprovalPolicy) -> Self {
        ApprovalPolicyView { require: p.require, rules: p.rules, expire_after_hours: p.expire_after_hours }
    }
}

impl From<ApprovalPolicyView> for ApprovalPolicy {
    fn from(v: ApprovalPolicyView) -> Self {
        ApprovalPolicy { require: v.require, rules: v.rules, expire_after_hours: v.expire_after_hours }
    }
}
