use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::model::DnsProvider;
use report::REPEAT_UNCHANGED_MS;

fn input(strategy: &str) -> PropagationInput {
    PropagationInput { strategy: Some(strategy.into()), ..Default::default() }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// Each bad setting is refused with its own field, by index for a server list.
#[test]
fn each_bad_setting_names_its_field() {
    let refused = |i: PropagationInput| Propagation::check("propagation", i).unwrap_err().field;
    assert_eq!(refused(input("eventually")), "propagation.strategy");
    let mut i = input("authoritative");
    i.nameservers = vec!["127.0.0.1:53".into(), "ns1.example.test".into()];
    assert_eq!(refused(i), "propagation.nameservers[1]");
    let mut i = input("authoritative");
    i.nameservers = vec!["127.0.0.1:0".into()];
    assert_eq!(refused(i), "propagation.nameservers[0]");
    let mut i = input("authoritative");
    i.nameservers = vec!["127.0.0.1:53".into(), "127.0.0.1:53".into()];
    assert_eq!(refused(i), "propagation.nameservers[1]");
    assert_eq!(refused(input("resolvers")), "propagation.resolvers");
    let mut i = input("resolvers");
    i.resolvers = vec!["[::1]:53".into(), "0.0.0.0:53".into()];
    assert_eq!(refused(i), "propagation.resolvers[1]");
    let mut i = input("delay");
    i.resolvers = vec!["127.0.0.1:53".into()];
    i.delay_seconds = Some(1);
    assert_eq!(refused(i), "propagation.resolvers");
    assert_eq!(refused(input("delay")), "propagation.delay_seconds");
    let mut i = input("delay");
    i.delay_seconds = Some(0);
    assert_eq!(refused(i), "propagation.delay_seconds");
    let mut i = input("none");
    i.delay_seconds = Some(5);
    assert_eq!(refused(i), "propagation.delay_seconds");
    let mut i = input("none");
    i.timeout_seconds = Some(MAX_TIMEOUT_SECONDS + 1);
    assert_eq!(refused(i), "propagation.timeout_seconds");
    let mut i = input("none");
    i.poll_interval_ms = Some(MIN_POLL_INTERVAL_MS - 1);
    assert_eq!(refused(i), "propagation.poll_interval_ms");
    let mut i = input("none");
    i.timeout_seconds = Some(1);
    i.poll_interval_ms = Some(2_000);
    assert_eq!(refused(i), "propagation.poll_interval_ms");
}

/// Good settings read back as given; the default is stored as nothing at all, so a zone written
/// before the field existed keeps its bytes.
#[test]
fn good_settings_check_and_the_default_is_not_written() {
    let mut i = input("resolvers");
    i.resolvers = vec!["127.0.0.1:5353".into(), "[::1]:53".into()];
    i.timeout_seconds = Some(30);
    i.poll_interval_ms = Some(250);
    let p = Propagation::check("propagation", i.clone()).unwrap();
    assert_eq!(p.resolvers, vec![addr("127.0.0.1:5353"), addr("[::1]:53")]);
    assert_eq!(p.to_input(), i);
    assert_eq!(Propagation::check("propagation", PropagationInput::default()).unwrap(), Propagation::default());
    assert!(Propagation::default().is_default());
    assert_eq!(serde_json::to_string(&p).unwrap(), serde_json::to_string(&p.clone()).unwrap());
    let back: Propagation = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}

/// The zone's timeout wins; without one, the service's default, but never below a cloud
/// provider's floor; the poll interval likewise.
#[test]
fn provider_defaults_fill_what_the_zone_leaves_out() {
    let service = Duration::from_secs(120);
    let p = Propagation::default();
    assert_eq!(p.timeout(DnsProvider::Rfc2136, service), service);
    assert_eq!(p.timeout(DnsProvider::Route53, service), Duration::from_secs(300));
    assert_eq!(p.poll_interval(DnsProvider::Rfc2136), Duration::from_millis(500));
    assert_eq!(p.poll_interval(DnsProvider::Cloudflare), Duration::from_secs(2));
    let p = Propagation { timeout_seconds: Some(5), poll_interval_ms: Some(100), ..Default::default() };
    assert_eq!(p.timeout(DnsProvider::Route53, service), Duration::from_secs(5));
    assert_eq!(p.poll_interval(DnsProvider::Route53), Duration::from_millis(100));
}

/// A line is written for the first picture, for each change of any server's answer, and again
/// after `REPEAT_UNCHANGED_MS` without change — not on every poll.
#[test]
fn a_line_is_written_when_the_picture_changes() {
    let (a, b) = (addr("127.0.0.1:5301"), addr("127.0.0.1:5302"));
    let mut watch = PropagationWatch::default();
    let name = "_acme-challenge.www.example.test";
    let poll = |w: &mut PropagationWatch, sb: ServerAnswer, ms| {
        w.observe(name, "authoritative", vec![(a, ServerAnswer::HasValue), (b, sb)], ms)
    };
    let (first, write) = poll(&mut watch, ServerAnswer::Nxdomain, 10);
    assert!(write, "the first picture is written");
    assert!(!first.ready());
    assert_eq!(first.missing().map(|s| s.server).collect::<Vec<_>>(), vec![b]);
    assert!(first.summary().contains("127.0.0.1:5302 (NXDOMAIN)"), "{}", first.summary());
    assert!(first.summary().contains("1 of 2"), "{}", first.summary());
    assert!(!poll(&mut watch, ServerAnswer::Nxdomain, 500).1, "nothing changed: no line");
    let (old, write) = poll(&mut watch, ServerAnswer::other_values(["old".to_owned()]), 900);
    assert!(write, "a different answer is a change");
    assert!(old.summary().contains("other values: old"), "{}", old.summary());
    assert!(poll(&mut watch, ServerAnswer::other_values(["old".to_owned()]), 900 + REPEAT_UNCHANGED_MS).1);
    let (done, write) = poll(&mut watch, ServerAnswer::HasValue, 40_000);
    assert!(write && done.ready());
    assert!(done.summary().contains("visible at all 2 servers"), "{}", done.summary());
}

/// A server that has never answered is unreachable, with the advice to use `resolvers`; one that
/// answered before and then times out is only not answering (a lost packet is not a firewall).
#[test]
fn a_server_that_never_answers_is_unreachable_with_advice() {
    let (a, b) = (addr("127.0.0.1:5301"), addr("127.0.0.1:5302"));
    let refused = || ServerAnswer::NoAnswer { reason: "connection refused".into() };
    let mut watch = PropagationWatch::default();
    let (p, _) = watch.observe("n", "authoritative", vec![(a, ServerAnswer::Nxdomain), (b, refused())], 5);
    assert_eq!(p.unreachable().map(|s| s.server).collect::<Vec<_>>(), vec![b]);
    assert!(p.summary().contains("127.0.0.1:5302 (unreachable (connection refused))"), "{}", p.summary());
    assert!(p.summary().contains("`resolvers`"), "{}", p.summary());
    let (p, _) = watch.observe("n", "authoritative", vec![(a, refused()), (b, refused())], 9);
    assert_eq!(p.unreachable().map(|s| s.server).collect::<Vec<_>>(), vec![b], "a answered once: not unreachable");
    assert!(p.missing_text().contains("127.0.0.1:5301 (no answer (connection refused))"), "{}", p.missing_text());
}

/// Other values are shown bounded: a few, each cut short and escaped.
#[test]
fn other_values_are_bounded() {
    let long = "x".repeat(500);
    let ServerAnswer::OtherValues { values } =
        ServerAnswer::other_values(vec![long, "a\nb".into(), "c".into(), "d".into()])
    else {
        unreachable!()
    };
    assert_eq!(values.len(), 3);
    assert_eq!(values[0].len(), 64);
    assert_eq!(values[1], "a\\nb");
}
