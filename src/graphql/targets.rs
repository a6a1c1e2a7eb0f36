//! Distribution targets of a project and where certificates stand on them (deployments). The view
//! is REST's `TargetView`: a target's secret (SSH key, webhook HMAC secret, …) is sealed apart and
//! never a field; deployments are REST's `DeploymentView` plus the certificate they are of.
//! Invariant: reads go through `listTargets` / `getTarget`, and a target's deployments through
//! `getCertificateDeployments`' role in the target's own project.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use certautopilot_core::ProjectScope;
use certautopilot_core::ids::TargetId;
use certautopilot_core::model::{Deployment, DistributionTarget};

use crate::api::views::{DeploymentView, TargetView};
use crate::graphql::cursor::list_cost;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{self, ProjectDeploymentsKey, Scoped};
use crate::graphql::scalars::{DateTime, Json, at, at_opt, name_of};
use crate::graphql::{nested_scope, project_list, record_by_id};

pub struct TargetNode {
    pub target: DistributionTarget,
    pub scope: ProjectScope,
}

impl TargetNode {
    fn view(&self) -> TargetView {
        self.target.clone().into()
    }
}

#[Object(name = "Target")]
impl TargetNode {
    async fn id(&self) -> ID {
        ID(self.target.id.to_string())
    }
    async fn project_id(&self) -> ID {
        ID(self.target.project_id.to_string())
    }
    async fn name(&self) -> &str {
        &self.target.name
    }
    /// `file`, `ssh`, `webhook`, `kubernetes`, `vault`, `f5`, `netscaler` or `iis`.
    #[graphql(name = "type")]
    async fn kind(&self) -> String {
        name_of(&self.target.kind())
    }
    /// The target's settings as REST shows them (secrets left out).
    async fn config(&self) -> Json {
        async_graphql::Json(self.view().config)
    }
    async fn has_credential(&self) -> bool {
        self.target.credential.is_some()
    }
    async fn created_at(&self) -> DateTime {
        at(self.target.created_at)
    }
    async fn version(&self) -> u64 {
        self.target.version
    }
    /// Every certificate deployed (or being deployed) here, and how it stands.
    async fn deployments(&self, ctx: &Context<'_>) -> GqlResult<Vec<DeploymentNode>> {
        let scope = nested_scope(ctx, "Target.deployments", &self.scope)?;
        let all = loaders::of(ctx)?.load_one(ProjectDeploymentsKey(Scoped { scope, key: () })).await?;
        Ok(all
            .unwrap_or_default()
            .iter()
            .filter(|d| d.target_id == self.target.id)
            .cloned()
            .map(DeploymentNode)
            .collect())
    }
}

/// One certificate on one target.
pub struct DeploymentNode(pub Deployment);

#[Object(name = "Deployment")]
impl DeploymentNode {
    async fn certificate_id(&self) -> ID {
        ID(self.0.certificate_id.to_string())
    }
    async fn target_id(&self) -> ID {
        ID(self.0.target_id.to_string())
    }
    /// `pending`, `deployed`, `failed` or `revoked_in_place`.
    async fn status(&self) -> String {
        name_of(&DeploymentView::from(self.0.clone()).status)
    }
    async fn serial(&self) -> Option<&str> {
        self.0.serial.as_deref()
    }
    async fn fingerprint_sha256(&self) -> Option<&str> {
        self.0.fingerprint_sha256.as_deref()
    }
    async fn deployed_at(&self) -> Option<DateTime> {
        at_opt(self.0.deployed_at)
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn attempts(&self) -> u32 {
        self.0.attempts
    }
    /// What the last scan found there instead (a fingerprint, or `missing`); null when it matched.
    async fn drift(&self) -> Option<&str> {
        self.0.drift.as_deref()
    }
    async fn scanned_at(&self) -> Option<DateTime> {
        at_opt(self.0.scanned_at)
    }
    async fn revoked_served(&self) -> Option<bool> {
        self.0.revoked_served
    }
    async fn updated_at(&self) -> DateTime {
        at(self.0.updated_at)
    }
}

#[derive(Default)]
pub struct TargetQuery;

#[Object]
impl TargetQuery {
    /// The distribution targets of a project.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn targets(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, TargetNode>> {
        project_list(ctx, "Query.targets", "targets", &project_id, first, after, |target: DistributionTarget, scope| {
            TargetNode { target, scope: scope.clone() }
        })
        .await
    }

    /// One distribution target.
    async fn target(&self, ctx: &Context<'_>, id: ID) -> GqlResult<TargetNode> {
        let (scope, target) = record_by_id::<DistributionTarget, TargetId>(ctx, "Query.target", &id, "target").await?;
        Ok(TargetNode { target, scope })
    }
}
