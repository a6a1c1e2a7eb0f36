//! The acme-dns client against the acme-dns stand-in (its documented API), which applies what it
//! is told to a real BIND 9: update, the two-value rotation, refusals and outages classified.

use std::time::Duration;

use base64::Engine;
use certautopilot_connectors::dns::{DnsError, ProviderContext, TxtRecords, client};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::testsupport::{
    ACMEDNS_KEPT_VALUES, AcmeDnsAccount, AcmeDnsStandIn, Bind, StandInAnswer, TestZone, TsigKey,
};
use certautopilot_core::model::{DnsProvider, DnsProviderConfig};
use serde_json::json;

const DOMAIN: &str = "auth.example.test";

async fn acmedns(url: &str, username: &str, subdomain: &str, password: &str) -> Box<dyn TxtRecords> {
    let request = json!({ "api_url": url, "username": username, "subdomain": subdomain, "password": password });
    let (config, secret) =
        DnsProviderConfig::decode_request(DnsProvider::Acmedns, request.as_object().unwrap().clone()).unwrap();
    let context = ProviderContext { timeout: Duration::from_secs(2), egress: EgressPolicy::allowing_loopback() };
    client(&config, secret.as_ref(), &context).await.unwrap()
}

async fn for_account(standin: &AcmeDnsStandIn, account: &AcmeDnsAccount) -> Box<dyn TxtRecords> {
    acmedns(&standin.url(), &account.username, &account.subdomain, &account.password).await
}

/// A DNS-01 value: base64url of 32 random bytes, 43 characters.
fn token() -> String {
    let mut digest = [0u8; 32];
    rand::fill(&mut digest);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values
}

/// An update reaches acme-dns with the documented headers and body and is served by the DNS; two
/// values coexist (a name and its wildcard) and a third rotates the oldest out; removal sends
/// nothing (acme-dns has no delete) and succeeds.
#[tokio::test]
async fn updates_keep_two_values_and_a_third_rotates_the_oldest_out() {
    let dir = tempfile::tempdir().unwrap();
    let key = TsigKey::random("acmedns");
    let bind = Bind::start(dir.path(), key.clone(), vec![TestZone::new(DOMAIN)]);
    let standin = AcmeDnsStandIn::start(DOMAIN);
    standin.publish_to(bind.addr(), key);
    let account = standin.register(&[]);
    let dns = for_account(&standin, &account).await;
    let name = account.fulldomain.clone();

    let (one, two, three) = (token(), token(), token());
    dns.add_txt(DOMAIN, &name, &one, 60).await.unwrap();
    let sent = standin.requests().pop().unwrap();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/update"));
    assert_eq!(sent.header("x-api-user"), Some(account.username.as_str()));
    assert_eq!(sent.header("x-api-key"), Some(account.password.as_str()));
    assert_eq!(sent.body, json!({ "subdomain": account.subdomain, "txt": one }));

    dns.add_txt(DOMAIN, &name, &two, 60).await.unwrap();
    assert_eq!(standin.txt(&account.subdomain), vec![one.clone(), two.clone()]);
    assert_eq!(sorted(bind.txt(&name)), sorted(vec![one.clone(), two.clone()]));

    dns.add_txt(DOMAIN, &name, &three, 60).await.unwrap();
    assert_eq!(standin.txt(&account.subdomain).len(), ACMEDNS_KEPT_VALUES);
    assert_eq!(sorted(bind.txt(&name)), sorted(vec![two.clone(), three.clone()]), "the oldest is gone");

    let requests = standin.requests().len();
    dns.remove_txt(DOMAIN, &name, &two).await.unwrap();
    assert_eq!(standin.requests().len(), requests, "no request: acme-dns has no delete");
}

/// A wrong key, an address outside `allowfrom` and a subdomain that is not the user's are all
/// acme-dns's 401 `forbidden`: permanent, with its message, and never the key sent.
#[tokio::test]
async fn refusals_are_permanent_with_the_providers_message_and_no_secret() {
    let standin = AcmeDnsStandIn::start(DOMAIN);
    let account = standin.register(&[]);
    let wrong_key = "WrongKeyWrongKeyWrongKeyWrongKeyWrongKey";
    let elsewhere = standin.register(&["10.0.0.0/8"]);
    let other = standin.register(&[]).subdomain;
    let refused = [
        (acmedns(&standin.url(), &account.username, &account.subdomain, wrong_key).await, &account.subdomain),
        (for_account(&standin, &elsewhere).await, &elsewhere.subdomain),
        (acmedns(&standin.url(), &account.username, &other, &account.password).await, &other),
    ];
    for (dns, subdomain) in refused {
        let name = format!("{subdomain}.{DOMAIN}");
        let err = dns.add_txt(DOMAIN, &name, &token(), 60).await.unwrap_err();
        assert!(matches!(&err, DnsError::Api { status: 401, message: Some(m), .. } if m == "forbidden"), "{err:?}");
        assert!(!err.is_transient(), "{err}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(wrong_key) && !shown.contains(&account.password), "{shown}");
    }
    assert!(standin.txt(&account.subdomain).is_empty());
}

/// What acme-dns would refuse is not sent: a value of another shape (it answers `bad_txt`), a name
/// other than the credential's subdomain (the record would land elsewhere). Its own 400 messages
/// (`bad_subdomain`, `bad_txt`) reach the error as they are, permanent.
#[tokio::test]
async fn bad_values_and_names_are_refused_before_sending_and_400s_keep_their_message() {
    let standin = AcmeDnsStandIn::start(DOMAIN);
    let account = standin.register(&[]);
    let dns = for_account(&standin, &account).await;
    let short = "x".repeat(42);
    let err = dns.add_txt(DOMAIN, &account.fulldomain, &short, 60).await.unwrap_err();
    assert!(matches!(&err, DnsError::Config(m) if m.contains("43-character")), "{err}");
    let err = dns.add_txt(DOMAIN, &format!("other.{DOMAIN}"), &token(), 60).await.unwrap_err();
    assert!(matches!(&err, DnsError::Config(m) if m.contains(&account.fulldomain)), "{err}");
    assert!(standin.requests().iter().all(|r| r.path != "/update"), "nothing was sent");

    for code in ["bad_subdomain", "bad_txt"] {
        standin.fail_next([(400, json!({ "error": code })).into()]);
        let err = dns.add_txt(DOMAIN, &account.fulldomain, &token(), 60).await.unwrap_err();
        assert!(matches!(&err, DnsError::Api { status: 400, message: Some(m), .. } if m == code), "{err:?}");
        assert!(!err.is_transient() && err.to_string().contains(code), "{err}");
    }
}

/// A 5xx is transient; a 429 with `Retry-After` is waited out and the update then lands.
#[tokio::test]
async fn server_errors_are_transient_and_rate_limits_are_waited_out() {
    let standin = AcmeDnsStandIn::start(DOMAIN);
    let account = standin.register(&[]);
    let dns = for_account(&standin, &account).await;

    standin.fail_next([(503, json!({ "error": "db_error" })).into()]);
    let err = dns.add_txt(DOMAIN, &account.fulldomain, &token(), 60).await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 503, .. }) && err.is_transient(), "{err}");

    let limited = StandInAnswer {
        status: 429,
        headers: vec![("Retry-After".into(), "1".into())],
        body: json!({ "error": "too many requests" }),
        raw: None,
    };
    standin.fail_next([limited]);
    let before = standin.requests().len();
    let value = token();
    dns.add_txt(DOMAIN, &account.fulldomain, &value, 60).await.unwrap();
    assert_eq!(standin.requests().len(), before + 2, "the 429, then the update again");
    assert_eq!(standin.txt(&account.subdomain), vec![value]);
}
