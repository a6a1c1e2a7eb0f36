//! The PowerDNS provider against a real `pdns_server` with its HTTP API on loopback: records made
//! and removed through the API are checked over DNS at the server's own port (with `dig` and with
//! the `Authoritative` checker), never through the client under test. PowerDNS has no rate limits
//! and its zone lookup is one filtered request, so rate-limit and pagination tests do not apply.

use std::time::Duration;

use certautopilot_connectors::dns::{Authoritative, DnsError, ProviderContext, TxtRecords, client};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::testsupport::PdnsServer;
use certautopilot_core::model::{DnsProvider, DnsProviderConfig, DnsSecret};

async fn pdns_client(server: &PdnsServer, server_id: &str, api_key: &str) -> Box<dyn TxtRecords> {
    let map = serde_json::json!({ "api_url": server.api_url(), "server_id": server_id, "api_key": api_key });
    let (config, secret) =
        DnsProviderConfig::decode_request(DnsProvider::Pdns, map.as_object().unwrap().clone()).unwrap();
    let context = ProviderContext { timeout: Duration::from_secs(5), egress: EgressPolicy::allowing_loopback() };
    client(&config, secret.as_ref(), &context).await.unwrap()
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values
}

/// Create, see it over DNS, remove: two values at one name coexist (a wildcard and its base in one
/// order), removing one keeps the other, removing the last deletes the rrset, and removing what is
/// gone succeeds. The checker asks pdns's DNS port, as the issuance flow would ask the zone's servers.
#[tokio::test]
async fn create_and_remove_txt_values_at_one_name() {
    let dir = tempfile::tempdir().unwrap();
    let pdns = PdnsServer::start(dir.path(), &["example.test"]);
    let dns = pdns_client(&pdns, "localhost", pdns.api_key()).await;
    assert_eq!(dns.provider(), DnsProvider::Pdns);
    assert_eq!(dns.dns_server(), None, "the API is not a DNS server the flow may ask");
    let check = Authoritative { timeout: Duration::from_secs(2), egress: EgressPolicy::allowing_loopback() };
    let servers = check.servers("example.test", pdns.dns_addr()).await.unwrap();
    assert_eq!(servers, vec![pdns.dns_addr()], "ns1.example.test is 127.0.0.1 at pdns's port");

    let qname = "_acme-challenge.www.example.test";
    dns.add_txt("example.test", qname, "one", 60).await.unwrap();
    check.wait_visible(qname, "one", &servers, Duration::from_secs(5)).await.unwrap();
    dns.add_txt("example.test", qname, "two", 60).await.unwrap();
    dns.add_txt("example.test", qname, "two", 60).await.expect("adding a value that is there succeeds");
    assert_eq!(sorted(pdns.txt(qname)), vec!["one", "two"]);

    dns.remove_txt("example.test", qname, "one").await.unwrap();
    assert_eq!(pdns.txt(qname), vec!["two"], "the other value stays");
    dns.remove_txt("example.test", qname, "one").await.expect("removing what is gone succeeds");
    dns.remove_txt("example.test", qname, "two").await.unwrap();
    assert!(pdns.txt(qname).is_empty());
    let err = check.wait_visible(qname, "two", &servers, Duration::from_millis(100)).await.unwrap_err();
    assert!(matches!(err, DnsError::NotPropagated { .. }), "{err}");
    dns.remove_txt("example.test", qname, "two").await.expect("removing from a name with no rrset succeeds");
}

/// The record goes into the longest zone the server has for the name (a child zone on the same
/// server, not its parent); a zone the server does not have is `ZoneNotFound`, permanent.
#[tokio::test]
async fn zone_lookup_takes_the_longest_zone_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let pdns = PdnsServer::start(dir.path(), &["example.test", "eu.example.test"]);
    let dns = pdns_client(&pdns, "localhost", pdns.api_key()).await;
    let found = dns.find_zone("eu.example.test").await.unwrap().unwrap();
    assert!(found.starts_with("eu.example.test (id "), "the credential test's description: {found}");
    let missing = dns.find_zone("other.test").await.unwrap_err();
    assert!(matches!(&missing, DnsError::ZoneNotFound { zone, .. } if zone == "other.test"), "{missing}");

    let qname = "_acme-challenge.www.eu.example.test";
    dns.add_txt("example.test", qname, "child", 60).await.unwrap();
    assert_eq!(pdns.txt(qname), vec!["child"], "served from the child zone");
    let zones_with_it = std::process::Command::new("pdnsutil")
        .arg(format!("--config-dir={}", dir.path().display()))
        .args(["list-zone", "eu.example.test"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&zones_with_it.stdout).contains("child"), "written into eu.example.test");
    dns.remove_txt("example.test", qname, "child").await.unwrap();
    assert!(pdns.txt(qname).is_empty());

    let err = dns.add_txt("other.test", "_acme-challenge.other.test", "v", 60).await.unwrap_err();
    assert!(matches!(&err, DnsError::ZoneNotFound { zone, .. } if zone == "other.test"), "{err}");
    assert!(!err.is_transient());
    let err = dns.add_txt("example.test", "_acme-challenge.other.test", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::BadName { .. }), "a name outside the zone: {err}");
}

/// A wrong API key is refused as a credential problem (permanent) and neither key appears in the
/// error; a wrong `server_id` says which setting to check.
#[tokio::test]
async fn bad_key_and_wrong_server_id_are_clear_permanent_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pdns = PdnsServer::start(dir.path(), &["example.test"]);
    let wrong_key = "wrong-api-key-5f3a9c";
    let dns = pdns_client(&pdns, "localhost", wrong_key).await;
    let err = dns.add_txt("example.test", "_acme-challenge.example.test", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 401, .. }), "{err}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("credential was refused"), "{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(wrong_key) && !text.contains(pdns.api_key()), "no key in errors: {text}");
    }
    assert!(pdns.txt("_acme-challenge.example.test").is_empty(), "nothing was written");

    let dns = pdns_client(&pdns, "elsewhere", pdns.api_key()).await;
    let err = dns.add_txt("example.test", "_acme-challenge.example.test", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 404, .. }) && !err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(text.contains("\"elsewhere\"") && text.contains("server_id"), "{text}");
    assert!(!text.contains(pdns.api_key()), "{text}");
}

/// A server that is down is an outage (transient), and an API message comes through: PowerDNS's
/// `{"error": …}` for a record it refuses (a TXT at a CNAME's name) is carried, bounded.
#[tokio::test]
async fn outage_is_transient_and_the_api_message_is_carried() {
    let dir = tempfile::tempdir().unwrap();
    let pdns = PdnsServer::start(dir.path(), &["example.test"]);
    pdns.pdnsutil(&["add-record", "example.test", "_acme-challenge.alias", "CNAME", "target.example.test."]);
    let dns = pdns_client(&pdns, "localhost", pdns.api_key()).await;
    let err = dns.add_txt("example.test", "_acme-challenge.alias.example.test", "v", 60).await.unwrap_err();
    let DnsError::Api { status, message, .. } = &err else { panic!("{err}") };
    assert_eq!(*status, 422, "{err}");
    assert!(message.as_deref().is_some_and(|m| m.contains("Conflicts with pre-existing RRset")), "{err}");
    assert!(!err.is_transient());

    let api_url = pdns.api_url();
    drop(pdns);
    let map = serde_json::json!({ "api_url": api_url, "api_key": "k" });
    let (config, secret): (DnsProviderConfig, Option<DnsSecret>) =
        DnsProviderConfig::decode_request(DnsProvider::Pdns, map.as_object().unwrap().clone()).unwrap();
    let context = ProviderContext { timeout: Duration::from_secs(2), egress: EgressPolicy::allowing_loopback() };
    let dns = client(&config, secret.as_ref(), &context).await.unwrap();
    let err = dns.add_txt("example.test", "_acme-challenge.example.test", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::ApiUnreachable { .. }) && err.is_transient(), "{err}");
}
