//! The Route 53 client against moto (the real Route 53 REST API in server mode) for records and
//! zone lookup, and against stand-ins written from the API reference for what moto does not do:
//! moto accepts any signature (checked: a wrong secret lists zones), never throttles or fails,
//! does not page `ListHostedZonesByName` (it ignores `maxitems` and filters by exact name) and
//! reports every change `INSYNC` at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use certautopilot_connectors::dns::api::Reach;
use certautopilot_connectors::dns::{DnsError, ProviderContext, Route53, TxtRecords, client};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::testsupport::{
    MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY, Moto, ROUTE53_XML, StandIn, StandInRequest, route53_change,
    route53_error, route53_no_record_sets, route53_zone_page,
};
use certautopilot_core::model::{DnsProvider, DnsProviderConfig, Route53Config};

fn config(endpoint: &str, hosted_zone_id: Option<&str>) -> Route53Config {
    Route53Config {
        access_key_id: MOTO_ACCESS_KEY_ID.into(),
        region: "us-east-1".into(),
        endpoint: endpoint.into(),
        hosted_zone_id: hosted_zone_id.map(str::to_owned),
    }
}

fn reach() -> Reach {
    Reach { timeout: Duration::from_secs(10), egress: EgressPolicy::allowing_loopback() }
}

fn route53(endpoint: &str, hosted_zone_id: Option<&str>) -> Route53 {
    Route53::new(&config(endpoint, hosted_zone_id), MOTO_SECRET_ACCESS_KEY.into(), reach())
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values
}

/// Two values at one name coexist (a wildcard and its base in one order), a value set by someone
/// else stays through our add and remove, removing one value keeps the rest (an UPSERT of the
/// rest), the last one goes with a DELETE of the exact set, and removing what is gone succeeds.
#[tokio::test]
async fn txt_values_are_added_and_removed_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(dir.path());
    let zone_id = moto.create_zone("example.test");
    let name = "_acme-challenge.example.test";
    let dns = route53(&moto.url(), None);
    let found = dns.find_zone("example.test").await.unwrap();
    assert_eq!(found, Some(format!("hosted zone {zone_id}")), "the credential test's description");

    dns.add_txt("example.test", name, "one", 60).await.unwrap();
    dns.add_txt("example.test", name, "two", 60).await.unwrap();
    dns.add_txt("example.test", name, "two", 60).await.unwrap();
    assert_eq!(sorted(moto.txt_values(&zone_id, name)), vec!["\"one\"", "\"two\""]);

    dns.remove_txt("example.test", name, "one").await.unwrap();
    assert_eq!(moto.txt_values(&zone_id, name), vec!["\"two\""]);
    dns.remove_txt("example.test", name, "two").await.unwrap();
    assert!(moto.txt_values(&zone_id, name).is_empty());
    dns.remove_txt("example.test", name, "two").await.unwrap();

    let other = "_acme-challenge.www.example.test";
    dns.add_txt("example.test", other, "theirs", 300).await.unwrap();
    dns.add_txt("example.test", other, "ours", 60).await.unwrap();
    dns.remove_txt("example.test", other, "ours").await.unwrap();
    assert_eq!(moto.txt_values(&zone_id, other), vec!["\"theirs\""]);
    dns.wait_applied(Duration::from_secs(5)).await.unwrap();
}

/// Among more hosted zones than one page holds (moto serves all at once; Route 53 would page them)
/// the zone for a name is the longest suffix: a delegated `sub.example.test` takes its own names,
/// `example.test` the rest, and a name no hosted zone serves is `ZoneNotFound`, not a refusal.
#[tokio::test]
async fn the_longest_matching_hosted_zone_is_found_among_many() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(dir.path());
    for i in 0..105 {
        moto.create_zone(&format!("z{i:03}.test"));
    }
    let parent = moto.create_zone("example.test");
    let sub = moto.create_zone("sub.example.test");
    let dns = route53(&moto.url(), None);

    dns.add_txt("example.test", "_acme-challenge.www.sub.example.test", "deep", 60).await.unwrap();
    dns.add_txt("example.test", "_acme-challenge.www.example.test", "flat", 60).await.unwrap();
    assert_eq!(moto.txt_values(&sub, "_acme-challenge.www.sub.example.test"), vec!["\"deep\""]);
    assert!(moto.txt_values(&parent, "_acme-challenge.www.sub.example.test").is_empty());
    assert_eq!(moto.txt_values(&parent, "_acme-challenge.www.example.test"), vec!["\"flat\""]);

    let err = dns.add_txt("absent.test", "_acme-challenge.absent.test", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::ZoneNotFound { .. }) && !err.is_transient(), "{err}");
    assert!(err.to_string().contains("absent.test"), "{err}");
}

/// A configured hosted zone id is used as it is (also in Route 53's `/hostedzone/` form), even
/// when another hosted zone has the same name; an id that does not exist is `ZoneNotFound`.
#[tokio::test]
async fn a_configured_hosted_zone_id_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(dir.path());
    let first = moto.create_zone("example.test");
    let second = moto.create_zone("example.test");
    let name = "_acme-challenge.example.test";
    let dns = route53(&moto.url(), Some(&format!("/hostedzone/{second}")));
    dns.add_txt("example.test", name, "v", 60).await.unwrap();
    assert_eq!(moto.txt_values(&second, name), vec!["\"v\""]);
    assert!(moto.txt_values(&first, name).is_empty());

    let err = route53(&moto.url(), Some("ZNOSUCHZONE")).add_txt("example.test", name, "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::ZoneNotFound { .. }), "{err}");
}

/// The factory builds the Route 53 client from a credential's settings and opened secret, and
/// refuses a credential without its secret, naming the field.
#[tokio::test]
async fn the_factory_builds_a_route53_client() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(dir.path());
    let zone_id = moto.create_zone("example.test");
    let request = serde_json::json!({
        "access_key_id": MOTO_ACCESS_KEY_ID,
        "secret_access_key": MOTO_SECRET_ACCESS_KEY,
        "endpoint": moto.url(),
    });
    let (config, secret) =
        DnsProviderConfig::decode_request(DnsProvider::Route53, request.as_object().unwrap().clone()).unwrap();
    let context = ProviderContext { timeout: Duration::from_secs(10), egress: EgressPolicy::allowing_loopback() };
    let dns = client(&config, secret.as_ref(), &context).await.unwrap();
    assert_eq!(dns.provider(), DnsProvider::Route53);
    dns.add_txt("example.test", "_acme-challenge.example.test", "v", 60).await.unwrap();
    assert_eq!(moto.txt_values(&zone_id, "_acme-challenge.example.test"), vec!["\"v\""]);
    let err = client(&config, None, &context).await.unwrap_err();
    assert!(err.to_string().contains("secret_access_key"), "{err}");
}

/// A stand-in that pages the zone list, has no record sets, and accepts changes (`status`).
fn accepting(status: &'static str) -> impl Fn(&StandInRequest) -> (u16, &'static str, String) + Send + Sync {
    move |r: &StandInRequest| {
        let body = if r.path.contains("/hostedzonesbyname") && !r.path.contains("hostedzoneid=") {
            route53_zone_page(&[("ZPRIVATE", "example.test.", true)], Some(("example.test.", "ZPUBLIC")))
        } else if r.path.contains("/hostedzonesbyname") {
            route53_zone_page(&[("ZPUBLIC", "example.test.", false), ("ZOTHER", "other.test.", false)], None)
        } else if r.path.contains("/rrset?") {
            route53_no_record_sets()
        } else if r.method == "POST" {
            route53_change("ChangeResourceRecordSetsResponse", "C1", status)
        } else {
            route53_change("GetChangeResponse", "C1", status)
        };
        (200, ROUTE53_XML, body)
    }
}

/// Zone pages are followed (`NextDNSName`, `NextHostedZoneId`) while they may hold zones of the
/// name, a public zone is taken before a private one of the same name, and every request is
/// signed with SigV4 for `route53` in the configured region, the body escaped XML.
#[tokio::test]
async fn zone_pages_are_followed_and_requests_signed() {
    let standin = StandIn::start_raw(accepting("INSYNC"));
    let dns = route53(&standin.url(), None);
    dns.add_txt("example.test", "_acme-challenge.example.test", "v<&>", 60).await.unwrap();
    let requests = standin.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert!(paths[0].starts_with("/2013-04-01/hostedzonesbyname?dnsname=_acme-challenge.example.test."), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("dnsname=example.test.&hostedzoneid=ZPUBLIC")), "{paths:?}");
    let change = requests.iter().find(|r| r.method == "POST").expect("a change");
    assert_eq!(change.path, "/2013-04-01/hostedzone/ZPUBLIC/rrset/");
    assert!(
        change.text.contains("<Action>UPSERT</Action>")
            && change.text.contains("<Value>&quot;v&lt;&amp;&gt;&quot;</Value>"),
        "{}",
        change.text
    );
    for r in &requests {
        let auth = r.header("authorization").unwrap_or_default();
        assert!(
            auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={MOTO_ACCESS_KEY_ID}/"))
                && auth.contains("/us-east-1/route53/aws4_request")
                && r.header("x-amz-date").is_some(),
            "{auth}"
        );
        assert!(!auth.contains(MOTO_SECRET_ACCESS_KEY));
    }
}

/// A refused signature (Route 53's documented 403 `SignatureDoesNotMatch`) is permanent and
/// carries Route 53's message only: not its body (request id) and never the secret.
#[tokio::test]
async fn a_refused_credential_gives_route53s_message() {
    let standin = StandIn::start_raw(|_| {
        (
            403,
            ROUTE53_XML,
            route53_error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            ),
        )
    });
    let err = route53(&standin.url(), None)
        .add_txt("example.test", "_acme-challenge.example.test", "v", 60)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DnsError::Api { status: 403, .. }) && !err.is_transient(), "{text}");
    assert!(text.contains("does not match the signature"), "{text}");
    assert!(!text.contains("request-id") && !text.contains(MOTO_SECRET_ACCESS_KEY) && !text.contains('<'), "{text}");
}

/// Throttling (400 `Throttling`, then 429) is waited out and the request sent again; a server
/// error (500) is transient with Route 53's message; throttling that does not end is reported as
/// rate limiting, which is transient.
#[tokio::test]
async fn throttling_is_retried_and_failures_are_classified() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let inner = accepting("INSYNC");
    let standin = StandIn::start_raw(move |r| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => (400, ROUTE53_XML, route53_error("Throttling", "Rate exceeded")),
        1 => (429, ROUTE53_XML, route53_error("Throttling", "Rate exceeded")),
        _ => inner(r),
    });
    route53(&standin.url(), Some("ZPUBLIC"))
        .add_txt("example.test", "_acme-challenge.example.test", "v", 60)
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4, "two throttled, then the record lookup and the change");

    let failing = StandIn::start_raw(|_| (500, ROUTE53_XML, route53_error("InternalFailure", "internal error")));
    let err = route53(&failing.url(), Some("Z1"))
        .add_txt("example.test", "_acme-challenge.example.test", "v", 60)
        .await
        .unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 500, .. }) && err.is_transient(), "{err}");
    assert!(err.to_string().contains("internal error"), "{err}");

    let throttling = StandIn::start_raw(|_| (400, ROUTE53_XML, route53_error("Throttling", "Rate exceeded")));
    let err = route53(&throttling.url(), Some("Z1"))
        .remove_txt("example.test", "_acme-challenge.example.test", "v")
        .await
        .unwrap_err();
    assert!(matches!(err, DnsError::RateLimited { .. }) && err.is_transient(), "{err}");

    let refused = StandIn::start_raw(|_| (400, ROUTE53_XML, route53_error("InvalidInput", "Invalid request")));
    let err = route53(&refused.url(), Some("Z1"))
        .add_txt("example.test", "_acme-challenge.example.test", "v", 60)
        .await
        .unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 400, .. }) && !err.is_transient(), "{err}");
}

/// `wait_applied` polls `GetChange` for this client's change until Route 53 reports it `INSYNC`;
/// a change still `PENDING` when the wait is over is `NotPropagated` (transient), naming it.
#[tokio::test]
async fn wait_applied_polls_until_insync() {
    let polls = Arc::new(AtomicUsize::new(0));
    let seen = polls.clone();
    let pending = accepting("PENDING");
    let standin = StandIn::start_raw(move |r| {
        if r.path.starts_with("/2013-04-01/change/") && seen.fetch_add(1, Ordering::SeqCst) >= 2 {
            return (200, ROUTE53_XML, route53_change("GetChangeResponse", "C1", "INSYNC"));
        }
        pending(r)
    });
    let dns = route53(&standin.url(), Some("ZPUBLIC"));
    dns.add_txt("example.test", "_acme-challenge.example.test", "v", 60).await.unwrap();
    dns.wait_applied(Duration::from_secs(20)).await.unwrap();
    assert_eq!(polls.load(Ordering::SeqCst), 3);
    assert!(standin.requests().iter().any(|r| r.path == "/2013-04-01/change/C1"));
    dns.wait_applied(Duration::from_secs(1)).await.unwrap();
    assert_eq!(polls.load(Ordering::SeqCst), 3, "an applied change is not asked about again");

    let stuck = StandIn::start_raw(accepting("PENDING"));
    let dns = route53(&stuck.url(), Some("ZPUBLIC"));
    dns.add_txt("example.test", "_acme-challenge.example.test", "v", 60).await.unwrap();
    let err = dns.wait_applied(Duration::from_millis(500)).await.unwrap_err();
    assert!(matches!(err, DnsError::NotPropagated { .. }) && err.is_transient(), "{err}");
    assert!(err.to_string().contains("C1"), "{err}");
}
