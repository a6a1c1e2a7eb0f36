//! Tenancy capabilities. A `ProjectScope` can only be built from a user's membership (or ownership) of a
//! project, or by a named system component from a stored project; there is no constructor taking a bare id.
//! The store takes these values and adds the project filter itself.

use serde::{Deserialize, Serialize};

use crate::ids::{ApiTokenId, OrgId, ProjectId, UserId};
use crate::model::{Membership, OrgRole, Organization, Project, Role, User};

/// Who is acting: recorded in audit entries and job logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Principal {
    User(UserId),
    ApiToken(ApiTokenId),
    /// A part of the service itself: `scheduler`, `worker:<node>`, `kek-rotation`, …
    System(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("membership belongs to another user")]
    MembershipOfAnotherUser,
    #[error("user is disabled")]
    UserDisabled,
    #[error("user is not an owner of the organization")]
    NotOwner,
    #[error("project belongs to another organization")]
    OtherOrganization,
    #[error("role {have:?} is below the required {need:?}")]
    InsufficientRole { have: Role, need: Role },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectScope {
    org_id: OrgId,
    project_id: ProjectId,
    role: Role,
    principal: Principal,
}

impl ProjectScope {
    /// The scope a member acts in, with the role the membership grants.
    pub fn for_member(user: &User, membership: &Membership) -> Result<Self, ScopeError> {
        if user.disabled {
            return Err(ScopeError::UserDisabled);
        }
        if membership.user_id != user.id || membership.org_id != user.org_id {
            return Err(ScopeError::MembershipOfAnotherUser);
        }
        Ok(ProjectScope {
            org_id: membership.org_id,
            project_id: membership.project_id,
            role: membership.role,
            principal: Principal::User(user.id),
        })
    }

    /// Owners reach every project of their organization without a membership.
    pub fn for_owner(user: &User, project: &Project) -> Result<Self, ScopeError> {
        if user.disabled {
            return Err(ScopeError::UserDisabled);
        }
        if user.org_role != OrgRole::Owner {
            return Err(ScopeError::NotOwner);
        }
        if project.org_id != user.org_id {
            return Err(ScopeError::OtherOrganization);
        }
        Ok(ProjectScope {
            org_id: project.org_id,
            project_id: project.id,
            role: Role::Owner,
            principal: Principal::User(user.id),
        })
    }

    /// A service component working on a stored project (a worker running that project's job).
    pub fn for_system(component: impl Into<String>, project: &Project) -> Self {
        ProjectScope {
            org_id: project.org_id,
            project_id: project.id,
            role: Role::Owner,
            principal: Principal::System(component.into()),
        }
    }

    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    pub fn project_id(&self) -> ProjectId {
        self.project_id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Refuses unless the scope's role is at least `need` (roles are hierarchical).
    pub fn require(&self, need: Role) -> Result<(), ScopeError> {
        if self.role >= need { Ok(()) } else { Err(ScopeError::InsufficientRole { have: self.role, need }) }
    }
}

/// Organization-level access: users, projects and memberships of one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgScope {
    org_id: OrgId,
    principal: Principal,
    owner: bool,
}

impl OrgScope {
    pub fn for_user(user: &User) -> Result<Self, ScopeError> {
        if user.disabled {
            return Err(ScopeError::UserDisabled);
        }
        Ok(OrgScope {
            org_id: user.org_id,
            principal: Principal::User(user.id),
            owner: user.org_role == OrgRole::Owner,
        })
    }

    pub fn for_system(component: impl Into<String>, org: &Organization) -> Self {
        OrgScope { org_id: org.id, principal: Principal::System(component.into()), owner: true }
    }

    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn is_owner(&self) -> bool {
        self.owner
    }
}

/// Cross-project access for service components that must see every project (the renewal scan).
/// The gateway never builds one from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemScope {
    component: String,
}

impl SystemScope {
    pub fn new(component: impl Into<String>) -> Self {
        SystemScope { component: component.into() }
    }

    pub fn component(&self) -> &str {
        &self.component
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    /// A membership only yields a scope for its own user, and owners only reach their own organization.
    #[test]
    fn scopes_only_come_from_matching_membership_or_ownership() {
        let now = Timestamp::now();
        let org = Organization::new("acme", now);
        let other_org = Organization::new("other", now);
        let alice = User::new(org.id, "alice@example.com", OrgRole::Member, now);
        let bob = User::new(org.id, "bob@example.com", OrgRole::Member, now);
        let owner = User::new(org.id, "owner@example.com", OrgRole::Owner, now);
        let project = Project::new(org.id, "p", now);
        let foreign = Project::new(other_org.id, "f", now);
        let m = Membership::new(org.id, project.id, alice.id, Role::Operator, now);

        let scope = ProjectScope::for_member(&alice, &m).unwrap();
        assert_eq!(scope.project_id(), project.id);
        assert!(scope.require(Role::Viewer).is_ok());
        assert!(scope.require(Role::Operator).is_ok());
        assert_eq!(
            scope.require(Role::Admin),
            Err(ScopeError::InsufficientRole { have: Role::Operator, need: Role::Admin })
        );
        assert_eq!(ProjectScope::for_member(&bob, &m), Err(ScopeError::MembershipOfAnotherUser));
        assert_eq!(ProjectScope::for_owner(&alice, &project), Err(ScopeError::NotOwner));
        assert_eq!(ProjectScope::for_owner(&owner, &foreign), Err(ScopeError::OtherOrganization));
        assert_eq!(ProjectScope::for_owner(&owner, &project).unwrap().role(), Role::Owner);

        let mut disabled = alice.clone();
        disabled.disabled = true;
        assert_eq!(ProjectScope::for_member(&disabled, &m), Err(ScopeError::UserDisabled));
    }
}
