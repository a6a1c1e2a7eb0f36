//! The outbound egress policy (`[egress]`): which network addresses connectors may open a connection
//! or send a datagram to. Invariant: every connector checks the address it is about to use (after
//! name resolution, never the name) against one `EgressPolicy`, and uses only addresses that passed,
//! so a name that resolves differently a moment later (DNS rebinding) cannot slip past the check.
//!
//! Rules, most specific network first (longest prefix wins; on a tie an operator's `deny` beats their
//! `allow`, and either beats a built-in rule):
//! - built in, denied: link-local and cloud metadata (169.254.0.0/16, fe80::/10, fd00:ec2::254/128),
//!   multicast and broadcast, and this host itself (127.0.0.0/8, ::1, and 0.0.0.0/8 and ::, which
//!   reach it too) unless `allow_loopback`;
//! - `allow` lifts a built-in rule for the networks it names (`allow = ["127.0.0.1/32"]`), and
//!   carves exceptions out of a wider `deny`;
//! - anything no rule matches is allowed: private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are
//!   reachable by default because F5s, Vaults and DNS primaries live there by design. An operator
//!   who wants an allow-list writes `deny = ["0.0.0.0/0", "::/0"]` and lists what may be reached.

mod connect;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

pub use connect::{EgressHttpConnector, EgressResolver, OutboundError};
use ipnet::IpNet;

/// One installation's policy. Cheap to clone; the default is the production default (loopback
/// refused).
#[derive(Clone, Default)]
pub struct EgressPolicy(Arc<Rules>);

#[derive(Default, Debug)]
struct Rules {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    allow_loopback: bool,
}

impl fmt::Debug for EgressPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressPolicy")
            .field("allow", &self.0.allow)
            .field("deny", &self.0.deny)
            .field("allow_loopback", &self.0.allow_loopback)
            .finish()
    }
}

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// 169.254.0.0/16, fe80::/10 and fd00:ec2::254: where cloud metadata services answer.
    LinkLocalOrMetadata,
    /// This host: 127.0.0.0/8, ::1, 0.0.0.0/8 and ::.
    Loopback,
    /// Multicast and broadcast: no connector has business there.
    Multicast,
    /// The operator's `[egress] deny` entry that matched.
    Denied(IpNet),
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::LinkLocalOrMetadata => f.write_str("link-local/metadata range"),
            DenyReason::Loopback => f.write_str("loopback; set [egress] allow_loopback = true to allow it"),
            DenyReason::Multicast => f.write_str("multicast/broadcast"),
            DenyReason::Denied(net) => write!(f, "[egress] deny {net}"),
        }
    }
}

/// The policy refused an address. Permanent: nothing changes until the operator changes `[egress]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("egress policy refuses {address} ({reason})")]
pub struct EgressDenied {
    pub address: IpAddr,
    pub reason: DenyReason,
}

/// Who decided, in precedence order on equal prefix lengths.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    BuiltIn,
    Allow,
    Deny,
}

fn net(text: &str) -> IpNet {
    text.parse().expect("built-in networks parse")
}

/// The built-in refusals (loopback separately: it depends on `allow_loopback`).
fn built_in() -> [(IpNet, DenyReason); 6] {
    [
        (net("169.254.0.0/16"), DenyReason::LinkLocalOrMetadata),
        (net("fe80::/10"), DenyReason::LinkLocalOrMetadata),
        (net("fd00:ec2::254/128"), DenyReason::LinkLocalOrMetadata),
        (net("224.0.0.0/4"), DenyReason::Multicast),
        (net("255.255.255.255/32"), DenyReason::Multicast),
        (net("ff00::/8"), DenyReason::Multicast),
    ]
}

fn loopback() -> [IpNet; 4] {
    [net("127.0.0.0/8"), net("::1/128"), net("0.0.0.0/8"), net("::/128")]
}

impl EgressPolicy {
    /// The operator's lists (validated by the config crate) and whether this host may be reached.
    pub fn new(allow: Vec<IpNet>, deny: Vec<IpNet>, allow_loopback: bool) -> Self {
        EgressPolicy(Arc::new(Rules { allow, deny, allow_loopback }))
    }

    /// The default with loopback allowed: tests, and a local Pebble in the getting-started flow.
    pub fn allowing_loopback() -> Self {
        EgressPolicy::new(Vec::new(), Vec::new(), true)
    }

    /// Whether a connector may use `address`. IPv4-mapped IPv6 addresses (`::ffff:169.254.169.254`)
    /// are judged as the IPv4 address they reach.
    pub fn check(&self, address: IpAddr) -> Result<(), EgressDenied> {
        let ip = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
            v4 => v4,
        };
        // The most specific rule wins; on equal prefixes, Deny > Allow > BuiltIn.
        let mut best: Option<(u8, Source, Option<DenyReason>)> = None;
        let mut consider = |net: &IpNet, source: Source, verdict: Option<DenyReason>| {
            if net.contains(&ip) && best.as_ref().is_none_or(|(len, s, _)| (net.prefix_len(), source) > (*len, *s)) {
                best = Some((net.prefix_len(), source, verdict));
            }
        };
        for (net, reason) in built_in() {
            consider(&net, Source::BuiltIn, Some(reason));
        }
        if !self.0.allow_loopback {
            for net in loopback() {
                consider(&net, Source::BuiltIn, Some(DenyReason::Loopback));
            }
        }
        for net in &self.0.allow {
            consider(net, Source::Allow, None);
        }
        for net in &self.0.deny {
            consider(net, Source::Deny, Some(DenyReason::Denied(*net)));
        }
        match best {
            Some((_, _, Some(reason))) => Err(EgressDenied { address, reason }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| net(n)).collect()
    }

    /// With no configuration, the metadata and link-local addresses of both families are refused,
    /// the IPv4-mapped spelling included, while public and private addresses pass.
    #[test]
    fn defaults_refuse_metadata_and_link_local() {
        let policy = EgressPolicy::default();
        for refused in ["169.254.169.254", "fd00:ec2::254", "fe80::1", "::ffff:169.254.169.254", "169.254.0.1"] {
            let denied = policy.check(ip(refused)).unwrap_err();
            assert_eq!(denied.reason, DenyReason::LinkLocalOrMetadata, "{refused}");
        }
        assert_eq!(
            policy.check(ip("169.254.169.254")).unwrap_err().to_string(),
            "egress policy refuses 169.254.169.254 (link-local/metadata range)"
        );
        for allowed in ["192.0.2.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd12::1", "2001:db8::1"] {
            assert_eq!(policy.check(ip(allowed)), Ok(()), "{allowed}");
        }
        assert_eq!(policy.check(ip("224.0.0.251")).unwrap_err().reason, DenyReason::Multicast);
    }

    /// Loopback (and the unspecified addresses that reach this host) is refused unless configured,
    /// by `allow_loopback` or by naming it in `allow`; a wide `allow` does not open it by accident.
    #[test]
    fn loopback_is_refused_unless_configured() {
        let policy = EgressPolicy::default();
        for host in ["127.0.0.1", "127.8.9.10", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1"] {
            assert_eq!(policy.check(ip(host)).unwrap_err().reason, DenyReason::Loopback, "{host}");
        }
        assert_eq!(EgressPolicy::allowing_loopback().check(ip("127.0.0.1")), Ok(()));
        assert_eq!(EgressPolicy::allowing_loopback().check(ip("::1")), Ok(()));
        let listed = EgressPolicy::new(nets(&["127.0.0.0/8"]), vec![], false);
        assert_eq!(listed.check(ip("127.0.0.1")), Ok(()));
        assert!(listed.check(ip("::1")).is_err(), "only the listed family");
        let everything = EgressPolicy::new(nets(&["0.0.0.0/0", "::/0"]), vec![], false);
        assert!(everything.check(ip("127.0.0.1")).is_err());
        assert!(everything.check(ip("169.254.169.254")).is_err());
        // Even with loopback allowed, the metadata service stays refused.
        assert!(EgressPolicy::allowing_loopback().check(ip("169.254.169.254")).is_err());
    }

    /// The most specific entry wins; on a tie, deny beats allow; an allow carves an exception out
    /// of a wider deny (the allow-list idiom), and a specific allow can lift a built-in refusal.
    #[test]
    fn allow_and_deny_precedence() {
        let allow_list = EgressPolicy::new(nets(&["10.20.0.0/16"]), nets(&["0.0.0.0/0", "::/0"]), false);
        assert_eq!(allow_list.check(ip("10.20.1.1")), Ok(()));
        assert_eq!(
            allow_list.check(ip("10.21.1.1")).unwrap_err().reason,
            DenyReason::Denied(net("0.0.0.0/0")),
            "outside the allow-list"
        );
        assert!(allow_list.check(ip("2001:db8::1")).is_err());
        let tie = EgressPolicy::new(nets(&["10.0.0.0/8"]), nets(&["10.0.0.0/8"]), false);
        assert!(tie.check(ip("10.1.1.1")).is_err(), "deny wins a tie");
        let hole = EgressPolicy::new(nets(&["10.1.0.0/16"]), nets(&["10.0.0.0/8"]), false);
        assert_eq!(hole.check(ip("10.1.2.3")), Ok(()));
        assert!(hole.check(ip("10.2.0.1")).is_err());
        let deny_in_allow = EgressPolicy::new(nets(&["10.0.0.0/8"]), nets(&["10.9.9.9/32"]), false);
        assert!(deny_in_allow.check(ip("10.9.9.9")).is_err());
        let lifted = EgressPolicy::new(nets(&["169.254.10.0/24"]), vec![], false);
        assert_eq!(lifted.check(ip("169.254.10.5")), Ok(()));
        assert!(lifted.check(ip("169.254.169.254")).is_err());
        let denied_public = EgressPolicy::new(vec![], nets(&["192.0.2.0/24"]), false);
        assert_eq!(
            denied_public.check(ip("192.0.2.7")).unwrap_err().to_string(),
            "egress policy refuses 192.0.2.7 ([egress] deny 192.0.2.0/24)"
        );
    }
}
