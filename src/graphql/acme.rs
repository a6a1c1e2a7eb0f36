//! ACME accounts of a project: list and one, answered by the service layer (`acme_accounts::list`,
//! `get`) with REST's `AcmeAccountView`: the account key and the EAB HMAC key are sealed and never
//! fields (only whether they are set).
//! Invariant: reads go through `listAcmeAccounts` / `getAcmeAccount`'s policy and scopes.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use certautopilot_core::ids::AcmeAccountId;
use certautopilot_core::store::cursor_after;

use crate::api::views::{AcmeAccountView, AcmeProfileView, CatalogueEntryView};
use crate::graphql::cursor::{Binding, PageArgs, connection, list_cost, page_of};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, at, name_of};
use crate::graphql::{authorize, parse_id, parse_project, state};
use crate::service;

pub struct AcmeAccountNode(pub AcmeAccountView);

#[Object(name = "AcmeAccount")]
impl AcmeAccountNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn project_id(&self) -> ID {
        ID(self.0.project_id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn directory_url(&self) -> &str {
        &self.0.directory_url
    }
    async fn contact(&self) -> &[String] {
        &self.0.contact
    }
    async fn tos_agreed(&self) -> bool {
        self.0.tos_agreed
    }
    async fn eab_kid(&self) -> Option<&str> {
        self.0.eab_kid.as_deref()
    }
    async fn has_eab_hmac_key(&self) -> bool {
        self.0.has_eab_hmac_key
    }
    async fn has_ca_bundle(&self) -> bool {
        self.0.has_ca_bundle
    }
    /// As REST spells it (`pending`, `valid`, …).
    async fn status(&self) -> String {
        name_of(&self.0.status)
    }
    /// The ACME profiles the CA offered when the account was last saved.
    async fn profiles(&self) -> &[AcmeProfileView] {
        &self.0.profiles
    }
    /// The catalogue entry it was created from, if any.
    async fn ca(&self) -> Option<&str> {
        self.0.ca.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        at(self.0.created_at)
    }
    async fn version(&self) -> u64 {
        self.0.version
    }
}

#[derive(Default)]
pub struct AcmeQuery;

#[Object]
impl AcmeQuery {
    /// The ACME accounts of a project.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn acme_accounts(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, AcmeAccountNode>> {
        let project = parse_project(&project_id)?;
        let binding = Binding::new("acme_accounts", project);
        let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
        let auth = authorize(ctx, "Query.acmeAccounts")?;
        let page = service::acme_accounts::list(&auth, project, args.request()).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |a| cursor_after(&a.id.to_string()), AcmeAccountNode))
    }

    /// The ACME CAs known by name (REST's `listAcmeCatalogue`).
    async fn acme_catalogue(&self, ctx: &Context<'_>) -> GqlResult<Vec<CatalogueEntryView>> {
        Ok(service::acme_accounts::catalogue(&authorize(ctx, "Query.acmeCatalogue")?)?.items)
    }

    /// One ACME account.
    async fn acme_account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<AcmeAccountNode> {
        let id: AcmeAccountId = parse_id(&id, "acme account")?;
        Ok(AcmeAccountNode(service::acme_accounts::get(&authorize(ctx, "Query.acmeAccount")?, id).await?))
    }
}
