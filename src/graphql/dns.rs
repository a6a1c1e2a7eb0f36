//! DNS credentials and zones of a project; a zone's credential loads through a DataLoader. The
//! credential view is REST's `DnsCredentialView`: the TSIG secret is sealed and never a field.
//! Invariant: reads go through the policies of `listDnsCredentials`, `getDnsCredential`,
//! `listZones` and `getZone`, and a zone's credential is read in the zone's own project.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use certautopilot_core::ProjectScope;
use certautopilot_core::ids::{DnsCredentialId, ZoneId};
use certautopilot_core::model::Zone;
use certautopilot_core::store::cursor_after;

use crate::api::views::{CredentialTestResult, DnsCredentialView};
use crate::graphql::cursor::{Binding, PageArgs, connection, list_cost, page_of};
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{self, CredentialKey, Scoped};
use crate::graphql::scalars::{DateTime, Json, at, name_of};
use crate::graphql::{authorize, nested_scope, parse_id, parse_project, project_list, record_by_id, state};
use crate::service;

pub struct DnsCredentialNode(pub DnsCredentialView);

#[Object(name = "DnsCredential")]
impl DnsCredentialNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn project_id(&self) -> ID {
        ID(self.0.project_id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// `rfc2136`, `pdns`, `route53`, … (REST's `provider`).
    async fn provider(&self) -> String {
        name_of(&self.0.provider)
    }
    /// The provider's settings without the secret (server, key name, algorithm, nameservers).
    async fn config(&self) -> Json {
        async_graphql::Json(self.0.config.clone())
    }
    async fn has_secret(&self) -> bool {
        self.0.has_secret
    }
    async fn created_at(&self) -> DateTime {
        at(self.0.created_at)
    }
    async fn version(&self) -> u64 {
        self.0.version
    }
}

/// A credential test's outcome, as REST's `CredentialTestResult`.
pub struct CredentialTestPayload(pub CredentialTestResult);

#[Object(name = "CredentialTest")]
impl CredentialTestPayload {
    async fn zone_id(&self) -> ID {
        ID(self.0.zone_id.to_string())
    }
    /// The zone's apex.
    async fn zone(&self) -> &str {
        &self.0.zone
    }
    /// Whether every step succeeded.
    async fn ok(&self) -> bool {
        self.0.ok
    }
    /// The steps run, in order; a failing step is the last.
    async fn steps(&self) -> Vec<CredentialTestStepNode> {
        self.0.steps.iter().cloned().map(CredentialTestStepNode).collect()
    }
}

pub struct CredentialTestStepNode(crate::api::views::CredentialTestStep);

#[Object(name = "CredentialTestStep")]
impl CredentialTestStepNode {
    /// `connect`, `find zone`, `add record` or `remove record`.
    async fn step(&self) -> &str {
        &self.0.step
    }
    async fn ok(&self) -> bool {
        self.0.ok
    }
    /// What happened; a failing step's classified error (never a remote body or a secret).
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
    async fn ms(&self) -> u64 {
        self.0.ms
    }
}

/// A zone's propagation settings, as REST's `propagation` (docs/dns/propagation.md).
#[derive(async_graphql::SimpleObject)]
pub struct ZonePropagation {
    /// `authoritative`, `resolvers`, `delay` or `none`.
    pub strategy: String,
    pub nameservers: Vec<String>,
    pub resolvers: Vec<String>,
    pub delay_seconds: Option<u32>,
    /// Omitted: the service's default, at least the provider's floor.
    pub timeout_seconds: Option<u32>,
    /// Omitted: the provider's default.
    pub poll_interval_ms: Option<u32>,
}

pub struct ZoneNode {
    pub zone: Zone,
    pub scope: ProjectScope,
}

#[Object(name = "Zone")]
impl ZoneNode {
    async fn id(&self) -> ID {
        ID(self.zone.id.to_string())
    }
    async fn project_id(&self) -> ID {
        ID(self.zone.project_id.to_string())
    }
    async fn apex(&self) -> &str {
        &self.zone.apex
    }
    async fn credential_id(&self) -> ID {
        ID(self.zone.credential_id.to_string())
    }
    async fn created_at(&self) -> DateTime {
        at(self.zone.created_at)
    }
    /// How challenge records in this zone are waited for.
    async fn propagation(&self) -> ZonePropagation {
        let p = self.zone.propagation.to_input();
        ZonePropagation {
            strategy: p.strategy.unwrap_or_default(),
            nameservers: p.nameservers,
            resolvers: p.resolvers,
            delay_seconds: p.delay_seconds,
            timeout_seconds: p.timeout_seconds,
            poll_interval_ms: p.poll_interval_ms,
        }
    }
    async fn version(&self) -> u64 {
        self.zone.version
    }
    /// The DNS credential that serves this zone (never its secret).
    async fn credential(&self, ctx: &Context<'_>) -> GqlResult<Option<DnsCredentialNode>> {
        let scope = nested_scope(ctx, "Zone.credential", &self.scope)?;
        let key = CredentialKey(Scoped { scope, key: self.zone.credential_id });
        Ok(loaders::of(ctx)?.load_one(key).await?.map(|c| DnsCredentialNode(c.into())))
    }
}

#[derive(Default)]
pub struct DnsQuery;

#[Object]
impl DnsQuery {
    /// The DNS credentials of a project.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn dns_credentials(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, DnsCredentialNode>> {
        let project = parse_project(&project_id)?;
        let binding = Binding::new("dns_credentials", project);
        let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
        let auth = authorize(ctx, "Query.dnsCredentials")?;
        let page = service::dns::list_credentials(&auth, project, args.request()).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |c| cursor_after(&c.id.to_string()), DnsCredentialNode))
    }

    /// One DNS credential.
    async fn dns_credential(&self, ctx: &Context<'_>, id: ID) -> GqlResult<DnsCredentialNode> {
        let id: DnsCredentialId = parse_id(&id, "dns credential")?;
        Ok(DnsCredentialNode(service::dns::get_credential(&authorize(ctx, "Query.dnsCredential")?, id).await?))
    }

    /// The zones of a project.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn zones(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, ZoneNode>> {
        project_list(ctx, "Query.zones", "zones", &project_id, first, after, |zone: Zone, scope| ZoneNode {
            zone,
            scope: scope.clone(),
        })
        .await
    }

    /// One zone.
    async fn zone(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ZoneNode> {
        let (scope, zone) = record_by_id::<Zone, ZoneId>(ctx, "Query.zone", &id, "zone").await?;
        Ok(ZoneNode { zone, scope })
    }
}
