//! The owner's screens: the audit chain (filters, paging, "verify chain") and the cluster with
//! this process's actors (`listAuditEvents`, `verifyAudit`, `getClusterStatus`, `listActors`).
//! Invariant: read-only but for verification, which only reads the chain; a non-owner is
//! refused by the operations' policy, not by the page.

use actix_web::{HttpRequest, web};
use askama::Template;

use crate::api::views::{ActorView, AuditEventView, AuditQuery, AuditVerifyResult, ClusterStatusView};
use crate::ui::context::{Layout, Ui, UiResult, render};
use crate::ui::display::{query_value, when, when_opt};
use crate::ui::forms::FormData;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<AuditEventView>,
    next_cursor: Option<String>,
    filter_query: String,
    action: String,
    from: String,
    until: String,
    verified: Option<AuditVerifyResult>,
    /// The scheduler's verified-up-to mark: (entry, when).
    mark: Option<(u64, String)>,
    problem: Option<String>,
}

impl AuditPage {
    fn when(&self, at: &certautopilot_core::Timestamp) -> String {
        when(*at)
    }
    fn details(&self, e: &AuditEventView) -> String {
        e.details.to_string()
    }
    fn object(&self, e: &AuditEventView) -> String {
        e.object.as_ref().map(|o| format!("{} {}", o.kind, o.id)).unwrap_or_default()
    }
}

async fn audit_page(
    ui: &Ui,
    req: &HttpRequest,
    verified: Option<AuditVerifyResult>,
) -> Result<AuditPage, crate::ui::context::UiError> {
    let query = AuditQuery {
        project_id: query_value(req, "project"),
        action: query_value(req, "action"),
        from: query_value(req, "from"),
        until: query_value(req, "until"),
        cursor: query_value(req, "cursor"),
        limit: Some(100),
    };
    let keep = ["project", "action", "from", "until"];
    let filter_query: String = keep
        .iter()
        .filter_map(|k| query_value(req, k).map(|v| format!("&{k}={}", crate::ui::certificates::urlencode(&v))))
        .collect();
    let (events, next_cursor, problem) = match crate::service::audit::events(&ui.auth("listAuditEvents")?, query).await
    {
        Ok(page) => (page.items, page.next_cursor, None),
        Err(e) if e.field.is_some() => {
            (Vec::new(), None, Some(format!("{}: {}", e.field.unwrap_or_default(), e.detail)))
        }
        Err(e) => return Err(e.into()),
    };
    let project = query_value(req, "project").and_then(|p| p.parse().ok());
    let mark = crate::service::audit::verified_mark(&ui.auth("verifyAudit")?).await?.map(|(seq, at)| (seq, when(at)));
    Ok(AuditPage {
        layout: ui.layout("Audit", "audit", project),
        events,
        next_cursor,
        filter_query,
        action: query_value(req, "action").unwrap_or_default(),
        from: query_value(req, "from").unwrap_or_default(),
        until: query_value(req, "until").unwrap_or_default(),
        verified,
        mark,
        problem,
    })
}

pub async fn audit(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    render(&audit_page(&ui, &req, None).await?)
}

pub async fn verify(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let full = form.get("full") == Some("true");
    let result = crate::service::audit::verify(&ui.auth("verifyAudit")?, full).await?;
    render(&audit_page(&ui, &req, Some(result)).await?)
}

#[derive(Template)]
#[template(path = "cluster.html")]
struct ClusterPage {
    layout: Layout,
    cluster: ClusterStatusView,
    actors: Vec<ActorView>,
}

impl ClusterPage {
    fn when_opt(&self, at: &Option<certautopilot_core::Timestamp>) -> String {
        when_opt(*at)
    }
    fn list(&self, ids: &[u64]) -> String {
        ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    }
}

pub async fn cluster(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    // The actor list is the owners' (the status is anyone's): asking for it first refuses others.
    let actors = crate::service::admin::list(&ui.auth("listActors")?, None).await?.items;
    let cluster = crate::service::cluster::status(&ui.auth("getClusterStatus")?).await?;
    render(&ClusterPage { layout: ui.layout("Cluster", "cluster", None), cluster, actors })
}
