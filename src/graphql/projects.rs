//! Projects and their members: the projects the caller sees (owners: all; members: theirs), one
//! project, and each project's members with their users.
//! Invariant: a project is listed or read only through `Authorized` under the `listProjects` /
//! `getProject` policies; its members only after `listMembers`' role check in that project.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use certautopilot_core::Page;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{Membership, Project};
use certautopilot_core::store::{RecordStore, cursor_after};

use crate::api::error::ApiError;
use crate::api::views::{MemberView, ProjectView};
use crate::graphql::cursor::{Binding, PageArgs, connection, list_cost};
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{self, MembersKey, UserKey};
use crate::graphql::scalars::{DateTime, at, name_of};
use crate::graphql::session::UserNode;
use crate::graphql::{authorize, parse_id, project_scope, remember, state};

pub struct ProjectNode(pub ProjectView);

#[Object(name = "Project")]
impl ProjectNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn created_at(&self) -> DateTime {
        at(self.0.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        at(self.0.updated_at)
    }
    async fn version(&self) -> u64 {
        self.0.version
    }
    /// The project's members and their roles (owners are members of every project by their
    /// organization role and are not listed).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, MemberNode>> {
        let project = self.0.id;
        project_scope(ctx, "Project.members", project).await?;
        let binding = Binding::new("members", project);
        let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
        let all = loaders::of(ctx)?.load_one(MembersKey(project)).await?.unwrap_or_default();
        // Members are few and read whole (as REST lists them); the page is cut here, in id order.
        let mut rest: Vec<Membership> = all
            .iter()
            .filter(|m| args.after.as_deref().is_none_or(|after| cursor_after(&m.id.to_string()).as_str() > after))
            .cloned()
            .collect();
        rest.sort_by_key(|m| m.id.to_string());
        let more = rest.len() > args.limit;
        rest.truncate(args.limit);
        let next = more.then(|| rest.last().map(|m| cursor_after(&m.id.to_string()))).flatten();
        let page = Page { items: rest, next_cursor: next };
        Ok(connection(&binding, &args, page, |m| cursor_after(&m.id.to_string()), |m| MemberNode(m.into())))
    }
}

pub struct MemberNode(pub MemberView);

#[Object(name = "Member")]
impl MemberNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn project_id(&self) -> ID {
        ID(self.0.project_id.to_string())
    }
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.to_string())
    }
    /// `admin`, `operator` or `viewer`.
    async fn role(&self) -> String {
        name_of(&self.0.role)
    }
    async fn created_at(&self) -> DateTime {
        at(self.0.created_at)
    }
    /// The member's user account.
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<Option<UserNode>> {
        project_scope(ctx, "Member.user", self.0.project_id).await?;
        let user = loaders::of(ctx)?.load_one(UserKey(self.0.user_id)).await?;
        Ok(user.map(|u| UserNode(u.into())))
    }
}

/// When the query asks for members below a page of projects, the caller's scopes in all of them
/// are read at once (`Authorized::project_scopes`) for the members' role checks, instead of one
/// read per project.
async fn know_scopes(ctx: &Context<'_>, projects: &[ProjectId]) -> GqlResult<()> {
    let look = ctx.look_ahead();
    let members =
        look.field("edges").field("node").field("members").exists() || look.field("nodes").field("members").exists();
    if !members {
        return Ok(());
    }
    for scope in authorize(ctx, "Project.members")?.project_scopes(projects).await? {
        remember(ctx, &scope);
    }
    Ok(())
}

#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// The projects you can see: every project for owners, your own for members.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, ProjectNode>> {
        let caller = authorize(ctx, "Query.projects")?.caller()?.clone();
        let state = state(ctx)?;
        let store = state.store()?;
        let scope = caller.org_scope();
        let binding = Binding::new("projects", caller.user.id);
        let args = PageArgs::new(&binding, first, after, state.graphql.max_list_size)?;
        if caller.is_owner() {
            let page = store.list::<Project>(&scope, &args.request()).await?;
            know_scopes(ctx, &page.items.iter().map(|p| p.id).collect::<Vec<_>>()).await?;
            return Ok(connection(
                &binding,
                &args,
                page,
                |p| cursor_after(&p.id.to_string()),
                |p| ProjectNode(p.into()),
            ));
        }
        // A member pages through their own memberships, one project each (as REST does); each
        // edge's cursor is its membership's position.
        let memberships =
            store.list_by_lookup::<Membership>(&scope, &caller.user.id.to_string(), &args.request()).await?;
        let ids: Vec<ProjectId> = memberships.items.iter().map(|m| m.project_id).collect();
        let projects = store.get_many::<Project>(&scope, &ids).await?;
        know_scopes(ctx, &ids).await?;
        let pairs: Vec<(String, Project)> = projects
            .into_iter()
            .filter_map(|p| {
                let m = memberships.items.iter().find(|m| m.project_id == p.id)?;
                Some((cursor_after(&m.id.to_string()), p))
            })
            .collect();
        let page = Page { items: pairs, next_cursor: memberships.next_cursor };
        Ok(connection(&binding, &args, page, |(c, _)| c.clone(), |(_, p)| ProjectNode(p.into())))
    }

    /// One project.
    async fn project(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ProjectNode> {
        let id: ProjectId = parse_id(&id, "project")?;
        project_scope(ctx, "Query.project", id).await?;
        let caller = authorize(ctx, "Query.project")?.caller()?.clone();
        let project: Project = state(ctx)?.store()?.get(&caller.org_scope(), &id).await.map_err(ApiError::from)?;
        Ok(ProjectNode(project.into()))
    }
}
