//! The caller and the organization's people: `me`, the caller's API tokens, the users (owners),
//! each user's tokens, each answered by the service layer's operation (`service::session`,
//! `tokens`, `users`) with REST's views.
//! Invariant: a token's secret or digest is never a field; only its id, name and dates.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use certautopilot_core::ids::UserId;
use certautopilot_core::store::cursor_after;

use crate::api::views::{ApiTokenView, OrganizationDetail, UserView};
use crate::graphql::cursor::{Binding, PageArgs, connection, list_cost, page_of};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, at, at_opt, name_of};
use crate::graphql::{authorize, state};
use crate::service;

pub struct UserNode(pub UserView);

#[Object(name = "User")]
impl UserNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// `owner` or `member`.
    async fn org_role(&self) -> String {
        name_of(&self.0.org_role)
    }
    async fn disabled(&self) -> bool {
        self.0.disabled
    }
    async fn created_at(&self) -> DateTime {
        at(self.0.created_at)
    }
    async fn version(&self) -> u64 {
        self.0.version
    }
    /// This user's API tokens, revoked and expired ones included (owners only).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, ApiTokenNode>> {
        let auth = authorize(ctx, "User.apiTokens")?;
        let (binding, args) = token_connection(ctx, self.0.id, first, after)?;
        let page = service::tokens::list_for_user(&auth, self.0.id, args.request()).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |t| cursor_after(&t.id.to_string()), ApiTokenNode))
    }
}

pub struct ApiTokenNode(pub ApiTokenView);

#[Object(name = "ApiToken")]
impl ApiTokenNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn revoked(&self) -> bool {
        self.0.revoked
    }
    async fn expires_at(&self) -> Option<DateTime> {
        at_opt(self.0.expires_at)
    }
    async fn created_at(&self) -> DateTime {
        at(self.0.created_at)
    }
}

/// The signed-in user and their roles (REST's `MeView`).
pub struct MeNode {
    user: UserNode,
    memberships: Vec<MembershipSummary>,
}

#[Object(name = "Me")]
impl MeNode {
    async fn user(&self) -> &UserNode {
        &self.user
    }
    /// Each project the user is a member of, with the role (owners hold every role everywhere and
    /// have no memberships).
    async fn memberships(&self) -> &[MembershipSummary] {
        &self.memberships
    }
}

#[derive(async_graphql::SimpleObject)]
pub struct MembershipSummary {
    project_id: ID,
    /// `admin`, `operator` or `viewer`.
    role: String,
}

/// A page of token views as a connection bound to `user`'s tokens.
fn token_connection(
    ctx: &Context<'_>,
    user: UserId,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<(Binding, PageArgs)> {
    let binding = Binding::new("api_tokens", user);
    let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
    Ok((binding, args))
}

/// The organization and its one owner.
pub struct OrganizationNode(pub OrganizationDetail);

#[Object(name = "Organization")]
impl OrganizationNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn owner(&self) -> UserNode {
        UserNode(self.0.owner.clone())
    }
    /// Days an audit entry stays in the live chain before it is archived; null: kept forever.
    async fn audit_retention_days(&self) -> Option<u32> {
        self.0.audit_retention_days
    }
    async fn created_at(&self) -> DateTime {
        at(self.0.created_at)
    }
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The organization and who owns it.
    async fn organization(&self, ctx: &Context<'_>) -> GqlResult<OrganizationNode> {
        Ok(OrganizationNode(service::organization::get(&authorize(ctx, "Query.organization")?).await?))
    }

    /// The signed-in user and their memberships.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<MeNode> {
        let me = service::session::me(&authorize(ctx, "Query.me")?).await?;
        let memberships = me
            .memberships
            .iter()
            .map(|m| MembershipSummary { project_id: ID(m.project_id.to_string()), role: name_of(&m.role) })
            .collect();
        Ok(MeNode { user: UserNode(me.user), memberships })
    }

    /// Your API tokens.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, ApiTokenNode>> {
        let auth = authorize(ctx, "Query.apiTokens")?;
        let (binding, args) = token_connection(ctx, auth.caller()?.user.id, first, after)?;
        let page = service::tokens::list(&auth, args.request()).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |t| cursor_after(&t.id.to_string()), ApiTokenNode))
    }

    /// The users of the organization (owners only).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, UserNode>> {
        let auth = authorize(ctx, "Query.users")?;
        let binding = Binding::new("users", auth.caller()?.user.org_id);
        let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
        let page = service::users::list(&auth, args.request()).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |u| cursor_after(&u.id.to_string()), UserNode))
    }
}
