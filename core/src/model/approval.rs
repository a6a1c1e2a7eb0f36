//! Approval policy: which requests of a project's operators wait for an admin's approval, and the
//! requests that wait. A policy is per project (all requests, or those its rules match); an
//! `ApprovalRequest` holds one waiting request, typed, until an admin grants or rejects it or it
//! expires. Admins and owners are never subject to a policy.
//! Invariant: a request is decided once: only a `pending` request moves, to `granted`, `rejected` or
//! `expired`, and the requester is never its approver.

use serde::{Deserialize, Serialize};

use crate::ids::{AcmeAccountId, ApprovalId, CertificateId, ProjectId, TargetId, UserId};
use crate::model::KeyType;
use crate::timestamp::Timestamp;

/// At most this many rules in a policy, and this many values in one rule.
pub const MAX_APPROVAL_RULES: usize = 50;
pub const MAX_RULE_VALUES: usize = 100;
/// How long a request waits for a decision by default, and at most.
pub const DEFAULT_APPROVAL_EXPIRY_HOURS: u32 = 72;
pub const MAX_APPROVAL_EXPIRY_HOURS: u32 = 24 * 90;

/// Which operator requests need approval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalRequirement {
    /// None: operators' requests run at once.
    #[default]
    None,
    /// Every request.
    All,
    /// Those a rule matches.
    Rules,
}

/// One rule: a request it matches needs approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ApprovalRule {
    /// A name of the certificate matches one of the patterns: `*.prod.example.com` matches any
    /// name below `prod.example.com` (one label or more); other patterns match exactly.
    Names { patterns: Vec<String> },
    /// The certificate has a wildcard name.
    Wildcard,
    /// The key is one of these types.
    KeyTypes { key_types: Vec<KeyType> },
    /// The issuer (or a fallback issuer) is one of these ACME accounts.
    Issuers { acme_account_ids: Vec<AcmeAccountId> },
    /// The certificate asks for one of these ACME profiles.
    Profiles { profiles: Vec<String> },
    /// The certificate is deployed to one of these targets.
    Targets { target_ids: Vec<TargetId> },
    /// Any revocation.
    Revocation,
}

/// A project's approval policy (kept on the project).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    #[serde(default)]
    pub require: ApprovalRequirement,
    #[serde(default)]
    pub rules: Vec<ApprovalRule>,
    /// A request not decided within this many hours expires.
    #[serde(default = "default_expiry")]
    pub expire_after_hours: u32,
}

fn default_expiry() -> u32 {
    DEFAULT_APPROVAL_EXPIRY_HOURS
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy { require: ApprovalRequirement::None, rules: Vec::new(), expire_after_hours: default_expiry() }
    }
}

/// Why a policy cannot be kept, with the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PolicyError {
    pub field: String,
    pub reason: String,
}

impl ApprovalPolicy {
    /// Checks the bounds and the patterns; the ids a rule names are checked by the caller, which
    /// can read the project's accounts and targets.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |field: String, reason: &str| Err(PolicyError { field, reason: reason.to_owned() });
        if !(1..=MAX_APPROVAL_EXPIRY_HOURS).contains(&self.expire_after_hours) {
            return bad("expire_after_hours".into(), "must be 1 to 2160 (90 days)");
        }
        if self.rules.len() > MAX_APPROVAL_RULES {
            return bad("rules".into(), "at most 50 rules");
        }
        if self.require == ApprovalRequirement::Rules && self.rules.is_empty() {
            return bad("rules".into(), "require \"rules\" needs at least one rule");
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let field = format!("rules[{i}]");
            let values = match rule {
                ApprovalRule::Names { patterns } => {
                    if let Some(p) = patterns.iter().find(|p| !valid_pattern(p)) {
                        return bad(field, &format!("{p:?} is not a DNS name or a *.name pattern"));
                    }
                    patterns.len()
                }
                ApprovalRule::KeyTypes { key_types } => key_types.len(),
                ApprovalRule::Issuers { acme_account_ids } => acme_account_ids.len(),
                ApprovalRule::Profiles { profiles } => profiles.len(),
                ApprovalRule::Targets { target_ids } => target_ids.len(),
                ApprovalRule::Wildcard | ApprovalRule::Revocation => 1,
            };
            if values == 0 || values > MAX_RULE_VALUES {
                return bad(field, "names 1 to 100 values");
            }
        }
        Ok(())
    }

    /// Why `subject` needs approval under this policy: one reason per rule it matches (or the
    /// policy's "every request"); empty when it does not.
    pub fn reasons(&self, subject: &ApprovalSubject) -> Vec<String> {
        match self.require {
            ApprovalRequirement::None => Vec::new(),
            ApprovalRequirement::All => vec!["the project requires approval of every request".to_owned()],
            ApprovalRequirement::Rules => self.rules.iter().filter_map(|r| r.matches(subject)).collect(),
        }
    }
}

/// What a request would do, as the rules read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSubject {
    pub action: ApprovalAction,
    pub names: Vec<String>,
    pub key_type: KeyType,
    /// The first issuer and the fallbacks.
    pub issuers: Vec<AcmeAccountId>,
    pub profile: Option<String>,
    pub target_ids: Vec<TargetId>,
}

impl ApprovalRule {
    /// The reason it gives when it matches `subject`.
    fn matches(&self, s: &ApprovalSubject) -> Option<String> {
        match self {
            ApprovalRule::Names { patterns } => patterns
                .iter()
                .find_map(|p| s.names.iter().find(|n| name_matches(p, n)).map(|n| format!("name {n} matches {p}"))),
            ApprovalRule::Wildcard => {
                s.names.iter().find(|n| n.starts_with("*.")).map(|n| format!("wildcard name {n}"))
            }
            ApprovalRule::KeyTypes { key_types } => key_types
                .contains(&s.key_type)
                .then(|| format!("key type {}", serde_json::to_value(s.key_type).unwrap_or_default())),
            ApprovalRule::Issuers { acme_account_ids } => {
                s.issuers.iter().find(|i| acme_account_ids.contains(i)).map(|i| format!("issuer {i}"))
            }
            ApprovalRule::Profiles { profiles } => {
                s.profile.as_ref().filter(|p| profiles.contains(p)).map(|p| format!("ACME profile {p}"))
            }
            ApprovalRule::Targets { target_ids } => {
                s.target_ids.iter().find(|t| target_ids.contains(t)).map(|t| format!("distribution to target {t}"))
            }
            ApprovalRule::Revocation => {
                matches!(s.action, ApprovalAction::Revoke { .. }).then(|| "a revocation".to_owned())
            }
        }
    }
}

fn valid_pattern(p: &str) -> bool {
    let name = p.strip_prefix("*.").unwrap_or(p);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `*.zone` matches names below `zone` (the wildcard name `*.zone` too); any other pattern matches
/// the name exactly. Case does not matter.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(zone) => name.strip_suffix(zone).is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => pattern == name,
    }
}

/// What an approval covered: a renewal of a certificate still of this shape needs none again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedShape {
    pub names: Vec<String>,
    pub key_type: KeyType,
    pub acme_account_id: Option<AcmeAccountId>,
}

impl ApprovedShape {
    pub fn of(cert: &crate::model::Certificate) -> Self {
        ApprovedShape { names: cert.sans.clone(), key_type: cert.key_type, acme_account_id: cert.acme_account_id }
    }
}

/// What a waiting request does once granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ApprovalAction {
    /// Issue a requested certificate (stored, without its issue job, until then).
    Issue,
    Renew,
    Distribute,
    /// Revoke with this RFC 5280 reason name.
    Revoke {
        reason: String,
    },
}

impl ApprovalAction {
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalAction::Issue => "issue",
            ApprovalAction::Renew => "renew",
            ApprovalAction::Distribute => "distribute",
            ApprovalAction::Revoke { .. } => "revoke",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    PendingApproval,
    Granted,
    Rejected,
    Expired,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 4] =
        [ApprovalStatus::PendingApproval, ApprovalStatus::Granted, ApprovalStatus::Rejected, ApprovalStatus::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::PendingApproval => "pending_approval",
            ApprovalStatus::Granted => "granted",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
        }
    }
}

/// One operator request waiting for (or decided by) an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub id: ApprovalId,
    pub project_id: ProjectId,
    pub certificate_id: CertificateId,
    pub action: ApprovalAction,
    pub requested_by: UserId,
    /// Why it needs approval: the rules it matched.
    pub reasons: Vec<String>,
    pub status: ApprovalStatus,
    pub decided_by: Option<UserId>,
    pub comment: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// Why a decision cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("the request is {0} already")]
    Decided(&'static str),
    #[error("the request expired at {0}")]
    Expired(String),
    #[error("the requester cannot decide their own request")]
    OwnRequest,
}

impl ApprovalRequest {
    pub fn new(
        project_id: ProjectId,
        certificate_id: CertificateId,
        action: ApprovalAction,
        requested_by: UserId,
        reasons: Vec<String>,
        expire_after_hours: u32,
        now: Timestamp,
    ) -> Self {
        let expires_at = now.saturating_add(std::time::Duration::from_secs(u64::from(expire_after_hours) * 3_600));
        ApprovalRequest {
            id: ApprovalId::new(),
            project_id,
            certificate_id,
            action,
            requested_by,
            reasons,
            status: ApprovalStatus::PendingApproval,
            decided_by: None,
            comment: None,
            decided_at: None,
            expires_at,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Whether a pending request has run out of time at `now`.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.status == ApprovalStatus::PendingApproval && self.expires_at <= now
    }

    /// Grants (`granted`) or rejects the request as `by`: only a pending request in time, never by
    /// its requester.
    pub fn decide(
        &mut self,
        granted: bool,
        by: UserId,
        comment: Option<String>,
        now: Timestamp,
    ) -> Result<(), DecisionError> {
        if self.status != ApprovalStatus::PendingApproval {
            return Err(DecisionError::Decided(self.status.as_str()));
        }
        if self.is_overdue(now) {
            return Err(DecisionError::Expired(self.expires_at.to_rfc3339()));
        }
        if by == self.requested_by {
            return Err(DecisionError::OwnRequest);
        }
        self.status = if granted { ApprovalStatus::Granted } else { ApprovalStatus::Rejected };
        self.decided_by = Some(by);
        self.comment = comment;
        self.decided_at = Some(now);
        Ok(())
    }

    /// Marks a pending request past its time expired; false when it is not.
    pub fn expire(&mut self, now: Timestamp) -> bool {
        if !self.is_overdue(now) {
            return false;
        }
        self.status = ApprovalStatus::Expired;
        self.decided_at = Some(now);
        true
    }
}

#[cfg(test)]
#[path = "approval_test.rs"]
mod tests;
