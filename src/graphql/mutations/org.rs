//! Mutations of the organization: projects, members, users and API tokens.
//! Invariant: each resolver admits the caller under its REST operation's policy (`authorize` with
//! `Mutation.<name>`, listed in `FIELD_OPERATIONS`) and calls that operation's service function.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use certautopilot_core::ids::{ApiTokenId, ProjectId, UserId};
use serde::Serialize;

use crate::api::views::{CreateApiToken, CreatedApiToken};
use crate::graphql::errors::GqlResult;
use crate::graphql::mutations::decode;
use crate::graphql::projects::{MemberNode, ProjectNode};
use crate::graphql::scalars::{DateTime, at_opt};
use crate::graphql::session::{OrganizationNode, UserNode};
use crate::graphql::{authorize, parse_id};
use crate::service;

#[derive(InputObject, Serialize)]
pub struct CreateProjectInput {
    name: String,
}

#[derive(InputObject, Serialize)]
pub struct UpdateProjectInput {
    name: String,
    /// The version you read; a stale one is `version_conflict`.
    version: u64,
}

#[derive(InputObject, Serialize)]
pub struct AddMemberInput {
    user_id: ID,
    /// `admin`, `operator` or `viewer`.
    role: String,
}

#[derive(InputObject, Serialize)]
pub struct UpdateMemberInput {
    /// `admin`, `operator` or `viewer`.
    role: String,
}

#[derive(InputObject, Serialize)]
pub struct CreateUserInput {
    email: String,
    /// Write-only.
    password: String,
}

#[derive(InputObject, Serialize)]
pub struct TransferOwnershipInput {
    /// The next owner: an active user of the organization.
    user_id: ID,
    /// Your own password, re-entered; may be left out from a session signed in less than
    /// `auth.reauth_window_secs` ago. Write-only.
    password: Option<String>,
}

/// The organization's new owner and the previous one, now an ordinary user.
#[derive(SimpleObject)]
pub struct OwnerTransferredPayload {
    owner: UserNode,
    previous_owner: UserNode,
}

#[derive(InputObject, Serialize)]
pub struct CreateApiTokenInput {
    name: String,
    /// Days until it expires (at most `auth.api_token_max_days`); omitted means the maximum.
    expires_in_days: Option<u32>,
}

/// A new API token: its secret is shown this once (only a hash is kept).
#[derive(SimpleObject)]
pub struct CreatedApiTokenPayload {
    id: ID,
    name: String,
    token: String,
    expires_at: Option<DateTime>,
}

impl From<CreatedApiToken> for CreatedApiTokenPayload {
    fn from(t: CreatedApiToken) -> Self {
        CreatedApiTokenPayload {
            id: ID(t.id.to_string()),
            name: t.name,
            token: t.token,
            expires_at: at_opt(t.expires_at),
        }
    }
}

#[derive(Default)]
pub struct OrgMutation;

#[Object]
impl OrgMutation {
    /// Creates a project (owners).
    async fn create_project(&self, ctx: &Context<'_>, input: CreateProjectInput) -> GqlResult<ProjectNode> {
        let auth = authorize(ctx, "Mutation.createProject")?;
        Ok(ProjectNode(service::projects::create(&auth, decode(&input)?).await?))
    }

    /// Renames a project.
    async fn update_project(&self, ctx: &Context<'_>, id: ID, input: UpdateProjectInput) -> GqlResult<ProjectNode> {
        let auth = authorize(ctx, "Mutation.updateProject")?;
        let project: ProjectId = parse_id(&id, "project")?;
        Ok(ProjectNode(service::projects::update(&auth, project, decode(&input)?).await?))
    }

    /// Deletes an empty project; answers its id.
    async fn delete_project(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let auth = authorize(ctx, "Mutation.deleteProject")?;
        service::projects::delete(&auth, parse_id(&id, "project")?).await?;
        Ok(id)
    }

    /// Gives a user a role in a project.
    async fn add_member(&self, ctx: &Context<'_>, project_id: ID, input: AddMemberInput) -> GqlResult<MemberNode> {
        let auth = authorize(ctx, "Mutation.addMember")?;
        let project: ProjectId = parse_id(&project_id, "project")?;
        Ok(MemberNode(service::members::add(&auth, project, decode(&input)?).await?))
    }

    /// Takes a user out of a project; answers the user's id.
    async fn remove_member(&self, ctx: &Context<'_>, project_id: ID, user_id: ID) -> GqlResult<ID> {
        let auth = authorize(ctx, "Mutation.removeMember")?;
        let project: ProjectId = parse_id(&project_id, "project")?;
        let user: UserId = parse_id(&user_id, "member")?;
        service::members::remove(&auth, project, user).await?;
        Ok(user_id)
    }

    /// Changes a member's role in a project.
    async fn update_member(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        user_id: ID,
        input: UpdateMemberInput,
    ) -> GqlResult<MemberNode> {
        let auth = authorize(ctx, "Mutation.updateMember")?;
        let project: ProjectId = parse_id(&project_id, "project")?;
        let user: UserId = parse_id(&user_id, "member")?;
        Ok(MemberNode(service::members::update(&auth, project, user, decode(&input)?).await?))
    }

    /// Creates a user (owners).
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> GqlResult<UserNode> {
        let auth = authorize(ctx, "Mutation.createUser")?;
        Ok(UserNode(service::users::create(&auth, decode(&input)?).await?))
    }

    /// Makes another active user the owner (owner only); you become an ordinary user.
    async fn transfer_ownership(
        &self,
        ctx: &Context<'_>,
        input: TransferOwnershipInput,
    ) -> GqlResult<OwnerTransferredPayload> {
        let auth = authorize(ctx, "Mutation.transferOwnership")?;
        let done = service::organization::transfer_owner(&auth, decode(&input)?).await?;
        Ok(OwnerTransferredPayload { owner: UserNode(done.owner), previous_owner: UserNode(done.previous_owner) })
    }

    /// Sets how many days audit entries stay in the live chain before they are archived (owner
    /// only); null keeps them forever.
    async fn set_audit_retention(&self, ctx: &Context<'_>, days: Option<u32>) -> GqlResult<OrganizationNode> {
        let auth = authorize(ctx, "Mutation.setAuditRetention")?;
        let input = crate::api::views::SetAuditRetention { days };
        Ok(OrganizationNode(service::organization::set_audit_retention(&auth, input).await?))
    }

    /// Disables a user and ends all their sessions and API tokens at once.
    async fn disable_user(&self, ctx: &Context<'_>, id: ID) -> GqlResult<UserNode> {
        let auth = authorize(ctx, "Mutation.disableUser")?;
        Ok(UserNode(service::users::disable(&auth, parse_id(&id, "user")?).await?))
    }

    /// Enables a disabled user.
    async fn enable_user(&self, ctx: &Context<'_>, id: ID) -> GqlResult<UserNode> {
        let auth = authorize(ctx, "Mutation.enableUser")?;
        Ok(UserNode(service::users::enable(&auth, parse_id(&id, "user")?).await?))
    }

    /// Creates an API token for you; from a signed-in session only, never with a token.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> GqlResult<CreatedApiTokenPayload> {
        let auth = authorize(ctx, "Mutation.createApiToken")?;
        let input: CreateApiToken = decode(&input)?;
        Ok(service::tokens::create(&auth, input).await?.into())
    }

    /// Revokes one of your API tokens (owners: anyone's); answers its id.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let auth = authorize(ctx, "Mutation.revokeApiToken")?;
        let token: ApiTokenId = parse_id(&id, "api token")?;
        service::tokens::revoke(&auth, token).await?;
        Ok(id)
    }
}
