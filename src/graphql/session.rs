//! The caller and the organization's people: `me`, the caller's API tokens, the users (owners),
//! each user's tokens. The values are REST's views (`UserView`, `ApiTokenView`, `MeView`).
//! Invariant: a token's secret or digest is never a field; only its id, name and dates.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use certautopilot_core::model::{ApiToken, Membership, User};
use certautopilot_core::store::{PageRequest, RecordStore, cursor_after};

use crate::api::views::{ApiTokenView, UserView};
use crate::graphql::cursor::{Binding, PageArgs, connection, list_cost};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, at, at_opt, name_of};
use crate::graphql::{authorize, state};

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
        let caller = authorize(ctx, "User.apiTokens")?.caller()?.clone();
        tokens_of(ctx, &caller.org_scope(), self.0.id, first, after).await
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

/// The signed-in user and their roles.
pub struct MeNode {
    user: User,
    memberships: Vec<Membership>,
}

#[Object(name = "Me")]
impl MeNode {
    async fn user(&self) -> UserNode {
        UserNode(self.user.clone().into())
    }
    /// Each project the user is a member of, with the role (owners hold every role everywhere and
    /// have no memberships).
    async fn memberships(&self) -> Vec<MembershipSummary> {
        self.memberships
            .iter()
            .map(|m| MembershipSummary { project_id: ID(m.project_id.to_string()), role: name_of(&m.role) })
            .collect()
    }
}

#[derive(async_graphql::SimpleObject)]
pub struct MembershipSummary {
    project_id: ID,
    /// `admin`, `operator` or `viewer`.
    role: String,
}

/// A user's tokens (`listApiTokens` for one's own, `listUserApiTokens` for an owner's look).
async fn tokens_of(
    ctx: &Context<'_>,
    org: &certautopilot_core::OrgScope,
    user: certautopilot_core::ids::UserId,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<Connection<String, ApiTokenNode>> {
    let state = state(ctx)?;
    let binding = Binding::new("api_tokens", user);
    let args = PageArgs::new(&binding, first, after, state.graphql.max_list_size)?;
    let page = state.store()?.list_by_lookup::<ApiToken>(org, &user.to_string(), &args.request()).await?;
    Ok(connection(&binding, &args, page, |t| cursor_after(&t.id.to_string()), |t| ApiTokenNode(t.into())))
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The signed-in user and their memberships.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<MeNode> {
        let auth = authorize(ctx, "Query.me")?;
        let caller = auth.caller()?;
        let memberships = state(ctx)?
            .store()?
            .list_by_lookup::<Membership>(&caller.org_scope(), &caller.user.id.to_string(), &PageRequest::first(1_000))
            .await?;
        Ok(MeNode { user: caller.user.clone(), memberships: memberships.items })
    }

    /// Your API tokens.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, ApiTokenNode>> {
        let caller = authorize(ctx, "Query.apiTokens")?.caller()?.clone();
        tokens_of(ctx, &caller.org_scope(), caller.user.id, first, after).await
    }

    /// The users of the organization (owners only).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, UserNode>> {
        let caller = authorize(ctx, "Query.users")?.caller()?.clone();
        let state = state(ctx)?;
        let binding = Binding::new("users", caller.user.org_id);
        let args = PageArgs::new(&binding, first, after, state.graphql.max_list_size)?;
        let page = state.store()?.list::<User>(&caller.org_scope(), &args.request()).await?;
        Ok(connection(&binding, &args, page, |u| cursor_after(&u.id.to_string()), |u| UserNode(u.into())))
    }
}
