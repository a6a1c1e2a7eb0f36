//! The audit chain's events (owners only), with REST's filters: project, action, time range; and
//! the chain's verification. The service layer's `audit::events` and `audit::verify` answer.
//! Invariant: read through `listAuditEvents`' policy in the caller's organization; a cursor is bound
//! to the filters it was issued under, so it cannot carry a page of one search into another.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use certautopilot_core::store::AuditFilter;

use crate::api::views::{AuditEventView, AuditQuery as AuditSearch, AuditVerifyResult};
use crate::graphql::cursor::{Binding, PageArgs, connection, list_cost, page_of};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, Json, at};
use crate::graphql::{authorize, parse_project, state};
use crate::service;

pub struct AuditEventNode(AuditEventView);

/// What an audit entry is about.
#[derive(SimpleObject)]
pub struct AuditObject {
    kind: String,
    id: String,
}

#[Object(name = "AuditEvent")]
impl AuditEventNode {
    /// The entry's place in the organization's chain (gap-free from 1).
    async fn seq(&self) -> u64 {
        self.0.seq
    }
    async fn at(&self) -> DateTime {
        at(self.0.at)
    }
    /// `user:<id>`, `api_token:<id>` or `system:<component>`.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn object(&self) -> Option<AuditObject> {
        self.0.object.as_ref().map(|o| AuditObject { kind: o.kind.clone(), id: o.id.clone() })
    }
    async fn project_id(&self) -> Option<ID> {
        self.0.project_id.map(|p| ID(p.to_string()))
    }
    async fn details(&self) -> Json {
        async_graphql::Json(self.0.details.clone())
    }
    async fn prev_hmac(&self) -> &str {
        &self.0.prev_hmac
    }
    async fn hmac(&self) -> &str {
        &self.0.hmac
    }
}

/// The outcome of walking the chain (REST's `AuditVerifyResult`).
#[derive(SimpleObject)]
#[graphql(name = "AuditVerification")]
pub struct AuditVerificationNode {
    intact: bool,
    /// Entries verified (up to the broken one).
    entries: u64,
    /// `full` or `from_mark`.
    mode: String,
    /// The mark's `seq` the walk started after (0: the first entry).
    verified_from: u64,
    /// When the chain up to `verified_from` had been verified.
    marked_at: Option<DateTime>,
    /// Entries this verification read.
    checked: u64,
    /// The last entry's hmac, when the chain is intact.
    head: Option<String>,
    broken_at: Option<u64>,
    reason: Option<String>,
    /// Events committed with their changes but not chained yet; 0 once the chain has caught up.
    pending: u64,
}

impl From<AuditVerifyResult> for AuditVerificationNode {
    fn from(r: AuditVerifyResult) -> Self {
        AuditVerificationNode {
            intact: r.intact,
            entries: r.entries,
            mode: r.mode,
            verified_from: r.verified_from,
            marked_at: r.marked_at.map(at),
            checked: r.checked,
            head: r.head,
            broken_at: r.broken_at,
            reason: r.reason,
            pending: r.pending,
        }
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Audit events in chain order, filtered by project, action and time (owners only).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        project_id: Option<ID>,
        action: Option<String>,
        from: Option<DateTime>,
        until: Option<DateTime>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, AuditEventNode>> {
        let auth = authorize(ctx, "Query.auditEvents")?;
        let org = auth.caller()?.user.org_id;
        let project = project_id.as_ref().map(parse_project).transpose()?;
        let filter = AuditFilter {
            project_id: project,
            object_id: None,
            action: action.clone(),
            from: from.map(|t| t.0),
            until: until.map(|t| t.0),
        };
        let binding = Binding::new("audit", search_key(org, &filter));
        let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
        let text = |t: Option<DateTime>| t.and_then(|t| serde_json::to_value(t.0).ok()?.as_str().map(str::to_owned));
        let query = AuditSearch {
            project_id: project.map(|p| p.to_string()),
            action,
            from: text(from),
            until: text(until),
            cursor: args.after.clone(),
            limit: Some(args.limit),
        };
        let page = service::audit::events(&auth, query).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |e| e.seq.to_string(), AuditEventNode))
    }

    /// Verifies the audit chain from its verified-up-to mark, or whole with `full: true`, and names
    /// the first broken link (owners only; REST's `POST /audit/verify`, a query here because it
    /// changes nothing).
    async fn audit_verification(&self, ctx: &Context<'_>, full: Option<bool>) -> GqlResult<AuditVerificationNode> {
        let auth = authorize(ctx, "Query.auditVerification")?;
        Ok(service::audit::verify(&auth, full.unwrap_or(false)).await?.into())
    }
}

/// The organization and filters a search's cursors are bound to.
fn search_key(org: certautopilot_core::ids::OrgId, filter: &AuditFilter) -> String {
    let text = |v: Option<String>| v.unwrap_or_default();
    format!(
        "{org}/{}/{}/{}/{}",
        text(filter.project_id.map(|p| p.to_string())),
        text(filter.action.clone()),
        text(filter.from.map(|t| t.as_unix_millis().to_string())),
        text(filter.until.map(|t| t.as_unix_millis().to_string())),
    )
}
