//! Who may see what: the organization, its projects, its users and their per-project roles.
//! Owner is an organization-wide role; admin, operator and viewer are granted per project.

use serde::{Deserialize, Serialize};

use crate::ids::{ApiTokenId, MembershipId, OrgId, ProjectId, SessionId, UserId};
use crate::model::SealedSecret;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    /// The key that signs this organization's session tokens (JWT, HS256), sealed.
    pub jwt_signing_key: Option<SealedSecret>,
    /// The key of this organization's audit chain HMACs, sealed.
    pub audit_secret: Option<SealedSecret>,
    /// Days an audit entry stays in the live chain before it is archived (`None`: kept forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_retention_days: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Organization {
    pub fn new(name: impl Into<String>, now: Timestamp) -> Self {
        Organization {
            id: OrgId::new(),
            name: name.into(),
            jwt_signing_key: None,
            audit_secret: None,
            audit_retention_days: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub org_id: OrgId,
    pub name: String,
    /// Which of its operators' requests wait for an admin's approval (none by default).
    #[serde(default)]
    pub approval_policy: crate::model::ApprovalPolicy,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Project {
    pub fn new(org_id: OrgId, name: impl Into<String>, now: Timestamp) -> Self {
        Project {
            id: ProjectId::new(),
            org_id,
            name: name.into(),
            approval_policy: Default::default(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// A project role. Ordered: a higher role may do everything a lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
    /// Only reachable through `OrgRole::Owner`; never stored in a membership.
    Owner,
}

impl Role {
    /// The roles a project membership can hold (owners hold theirs through the organization).
    pub const MEMBER_ROLES: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The role's name, as serde writes it and messages and the API document show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    Owner,
    Member,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    /// Stored lower-cased; unique within the organization.
    pub email: String,
    /// An argon2id PHC string (M1.2). Not a secret that can be decrypted, but never returned or logged.
    pub password_hash: Option<String>,
    pub org_role: OrgRole,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl User {
    pub fn new(org_id: OrgId, email: &str, org_role: OrgRole, now: Timestamp) -> Self {
        User {
            id: UserId::new(),
            org_id,
            email: email.trim().to_ascii_lowercase(),
            password_hash: None,
            org_role,
            disabled: false,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("email", &self.email)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "<redacted>"))
            .field("org_role", &self.org_role)
            .field("disabled", &self.disabled)
            .field("version", &self.version)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub id: MembershipId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Membership {
    pub fn new(org_id: OrgId, project_id: ProjectId, user_id: UserId, role: Role, now: Timestamp) -> Self {
        Membership {
            id: MembershipId::new(),
            org_id,
            project_id,
            user_id,
            role,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// A login: what a session cookie or a session JWT stands for. Logout revokes it at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub org_id: OrgId,
    pub user_id: UserId,
    /// SHA-256 (hex) of the CSRF token handed out at login; cookie-authenticated writes must echo it.
    pub csrf_token_sha256: String,
    pub expires_at: Timestamp,
    pub revoked: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// A long-lived API token for automation. Only a hash of its secret is kept; it is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub name: String,
    /// SHA-256 (hex) of the token's secret part.
    pub secret_sha256: String,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every role's `as_str` is its serde name, the one memberships store and the API shows.
    #[test]
    fn role_names_are_serde_names() {
        for role in [Role::Viewer, Role::Operator, Role::Admin, Role::Owner] {
            assert_eq!(serde_json::to_value(role).unwrap(), serde_json::json!(role.as_str()));
        }
    }
}
