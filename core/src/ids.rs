//! Typed identifiers: UUIDv7, so ids sort by creation time (cheap keyset pagination, local B-tree inserts).
//! A `ProjectId` cannot be passed where a `CertificateId` is expected.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name).map_err(|_| InvalidId { kind: stringify!($name) })
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind}: expected a UUID")]
pub struct InvalidId {
    pub kind: &'static str,
}

define_id!(OrgId);
define_id!(ProjectId);
define_id!(UserId);
define_id!(MembershipId);
define_id!(AcmeAccountId);
define_id!(DnsCredentialId);
define_id!(ZoneId);
define_id!(CertificateId);
define_id!(TargetId);
define_id!(DeploymentId);
define_id!(JobId);
define_id!(
    /// Long-lived API tokens act as principals in the audit trail.
    ApiTokenId
);
define_id!(SessionId);
define_id!(
    /// An operator request waiting for an admin's approval.
    ApprovalId
);
define_id!(
    /// A notification channel (an SMTP relay and recipients, a chat webhook, …).
    ChannelId
);
define_id!(
    /// A notification rule: which events go to which channels.
    RuleId
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids made later sort later, which keyset pagination relies on.
    #[test]
    fn ids_sort_by_creation_and_parse_back() {
        let ids: Vec<JobId> = (0..100).map(|_| JobId::new()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let text = ids[0].to_string();
        assert_eq!(text.parse::<JobId>().unwrap(), ids[0]);
        assert_eq!("x".parse::<JobId>().unwrap_err().kind, "JobId");
    }
}
