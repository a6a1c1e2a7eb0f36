//! Google Cloud DNS, Azure DNS and OVH, each against a stand-in written from the provider's
//! published API reference that verifies the provider's authentication (an RS256-signed JWT, a
//! client secret, a request signature): create and delete keeping other values at the name, zone
//! lookup across pages, a refused credential (permanent, with the provider's message and neither
//! the secret nor the body), a rate limit then success, a server error (transient), and one token
//! request for several changes. Clients are built through the one factory, from a request config.

use std::time::Duration;

use certautopilot_connectors::dns::{DnsError, ProviderContext, TxtRecords, client};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::testsupport::{
    AzureApi, AzurePrincipal, GcloudApi, GcloudZone, OvhApi, OvhKeys, TestServiceAccount,
};
use certautopilot_core::model::{DnsProvider, DnsProviderConfig};
use serde_json::{Value, json};

const NAME: &str = "_acme-challenge.www.example.com";

async fn build(provider: DnsProvider, request: Value) -> Box<dyn TxtRecords> {
    let Value::Object(map) = request else { unreachable!() };
    let (config, secret) = DnsProviderConfig::decode_request(provider, map).unwrap();
    let context = ProviderContext { timeout: Duration::from_secs(5), egress: EgressPolicy::allowing_loopback() };
    client(&config, secret.as_ref(), &context).await.unwrap()
}

/// The error's text and debug form carry none of `secrets`, and the provider's message.
fn assert_clean(err: &DnsError, message: &str, secrets: &[&str]) {
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    assert!(shown.contains(message), "{shown}");
    for secret in secrets {
        assert!(!shown.contains(secret) && !debug.contains(secret), "a secret in {shown} / {debug}");
    }
}

// --- Google Cloud DNS

fn gcloud_zones() -> Vec<GcloudZone> {
    let zone = |name: &str, dns: &str, visibility| GcloudZone { name: name.into(), dns_name: dns.into(), visibility };
    vec![
        zone("internal-example", "example.com.", "private"),
        zone("other", "example.org.", "public"),
        zone("example-public", "example.com.", "public"),
    ]
}

async fn gcloud_client(api: &GcloudApi, account: &TestServiceAccount) -> Box<dyn TxtRecords> {
    let request = json!({
        "project": "my-project",
        "api_url": api.api_url(),
        "token_url": api.token_url(),
        "service_account_key": account.key_json,
    });
    build(DnsProvider::Gcloud, request).await
}

/// Two values at one name coexist (wildcard and apex in one order), removing one keeps the other,
/// the public zone is found behind a private one of the same name on a later page (one zone a
/// page), every change is made with the one token the verified JWT earned, and `wait_applied`
/// waits for the pending changes to be `done`.
#[tokio::test]
async fn gcloud_adds_and_removes_values_with_one_token() {
    let account = TestServiceAccount::generate("dns@my-project.iam.gserviceaccount.com");
    let api = GcloudApi::start("my-project", &account, gcloud_zones(), 1);
    let dns = gcloud_client(&api, &account).await;
    let found = dns.find_zone("example.com").await.unwrap();
    assert_eq!(found.as_deref(), Some("managed zone example-public"), "the credential test's description");

    dns.add_txt("example.com", NAME, "first", 60).await.unwrap();
    dns.add_txt("example.com", NAME, "second", 60).await.unwrap();
    dns.add_txt("example.com", NAME, "second", 60).await.unwrap();
    assert_eq!(api.txt(NAME), vec!["first", "second"]);
    dns.wait_applied(Duration::from_secs(5)).await.unwrap();
    assert!(api.requests().iter().any(|r| r.method == "GET" && r.path.contains("/changes/")), "change status asked");

    dns.remove_txt("example.com", NAME, "first").await.unwrap();
    assert_eq!(api.txt(NAME), vec!["second"]);
    dns.remove_txt("example.com", NAME, "first").await.unwrap();
    dns.remove_txt("example.com", NAME, "second").await.unwrap();
    assert!(api.txt(NAME).is_empty());

    assert_eq!(api.tokens.issued(), 1, "one token for every change");
    let pages = api.requests().iter().filter(|r| r.path.contains("/managedZones?")).count();
    assert_eq!(pages, 2, "the private zone's page, then the public one's; found once per client");
    let err = dns.add_txt("example.net", "_acme-challenge.example.net", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::ZoneNotFound { .. }) && !err.is_transient(), "{err}");
}

/// A key the token endpoint does not know (the stand-in verifies the JWT with another account's
/// public key) is refused permanently with Google's description, and the error shows neither the
/// private key nor the signed assertion.
#[tokio::test]
async fn gcloud_refused_key_is_permanent_with_googles_message() {
    let account = TestServiceAccount::generate("dns@my-project.iam.gserviceaccount.com");
    let other = TestServiceAccount::generate("dns@my-project.iam.gserviceaccount.com");
    let api = GcloudApi::start("my-project", &other, gcloud_zones(), 10);
    let dns = gcloud_client(&api, &account).await;
    let err = dns.add_txt("example.com", NAME, "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 400, .. }) && !err.is_transient(), "{err}");
    let assertion = api.requests()[0].text.clone();
    let jwt = assertion.split("assertion=").nth(1).unwrap();
    let key_body: String = account.key_json.split("PRIVATE KEY-----").nth(1).unwrap().chars().take(60).collect();
    assert_clean(&err, "Invalid JWT Signature.", &[jwt, &key_body, "invalid_grant"]);
    assert_eq!(api.requests().len(), 1, "nothing is sent to the API without a token");
}

/// A key file whose `private_key` is not a PKCS#8 RSA key (garbage, or an EC key) is refused when
/// the client is built, with what is wrong with it and none of the key; nothing is sent.
#[tokio::test]
async fn gcloud_unusable_key_is_refused_clearly() {
    let ec = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let garbage = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n".to_owned();
    for (pem, expected) in [(garbage, "is not a PKCS#8 RSA key"), (ec, "is not a PKCS#8 RSA key")] {
        let key =
            json!({ "type": "service_account", "client_email": "a@b.iam.gserviceaccount.com", "private_key": pem });
        let request =
            json!({ "project": "p", "api_url": "http://127.0.0.1:9", "service_account_key": key.to_string() });
        let Value::Object(map) = request else { unreachable!() };
        let (config, secret) = DnsProviderConfig::decode_request(DnsProvider::Gcloud, map).unwrap();
        let context = ProviderContext { timeout: Duration::from_secs(1), egress: EgressPolicy::allowing_loopback() };
        let err = client(&config, secret.as_ref(), &context).await.unwrap_err();
        assert!(matches!(err, DnsError::Config(_)) && !err.is_transient(), "{err}");
        let body: String = pem.lines().nth(1).unwrap().chars().take(8).collect();
        assert_clean(&err, expected, &[&body]);
    }
}

/// A 429 with `Retry-After` is waited out and the change then made; a 500 is reported as the
/// API's failure, transient, with Google's message.
#[tokio::test]
async fn gcloud_rate_limit_then_success_and_server_error_transient() {
    let account = TestServiceAccount::generate("dns@my-project.iam.gserviceaccount.com");
    let api = GcloudApi::start("my-project", &account, gcloud_zones(), 10);
    let dns = gcloud_client(&api, &account).await;
    api.faults.push(429);
    dns.add_txt("example.com", NAME, "v", 60).await.unwrap();
    assert_eq!(api.txt(NAME), vec!["v"]);
    api.faults.push(500);
    let err = dns.remove_txt("example.com", NAME, "v").await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 500, .. }) && err.is_transient(), "{err}");
    assert_clean(&err, "injected fault", &["INTERNAL"]);
    dns.remove_txt("example.com", NAME, "v").await.unwrap();
    assert!(api.txt(NAME).is_empty());
}

/// Two clients adding at one name at once both land: the one whose set moved under it is refused
/// (409 or 412) and reads the set again; and a token the API stops taking (401) is replaced once.
#[tokio::test]
async fn gcloud_concurrent_changes_and_a_revoked_token() {
    let account = TestServiceAccount::generate("dns@my-project.iam.gserviceaccount.com");
    let api = GcloudApi::start("my-project", &account, gcloud_zones(), 10);
    let (a, b) = (gcloud_client(&api, &account).await, gcloud_client(&api, &account).await);
    for round in 0..3 {
        let (x, y) = (format!("a{round}"), format!("b{round}"));
        let (ra, rb) = tokio::join!(a.add_txt("example.com", NAME, &x, 60), b.add_txt("example.com", NAME, &y, 60));
        ra.unwrap();
        rb.unwrap();
    }
    assert_eq!(api.txt(NAME), vec!["a0", "a1", "a2", "b0", "b1", "b2"]);
    let tokens = api.tokens.issued();
    api.tokens.revoke_all();
    a.remove_txt("example.com", NAME, "a0").await.unwrap();
    assert_eq!(api.tokens.issued(), tokens + 1, "one new token after the 401");
    assert!(!api.txt(NAME).contains(&"a0".to_owned()));
}

// --- Azure DNS

const CLIENT_SECRET: &str = "az~Secret.Value_0123456789";

fn principal() -> AzurePrincipal {
    AzurePrincipal {
        tenant_id: "11111111-2222-3333-4444-555555555555".into(),
        client_id: "66666666-7777-8888-9999-000000000000".into(),
        client_secret: CLIENT_SECRET.into(),
        subscription_id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
        resource_group: "dns-rg".into(),
    }
}

fn azure_zones() -> Vec<&'static str> {
    vec!["a.test", "b.test", "c.test", "d.test", "example.com"]
}

async fn azure_client(api: &AzureApi, secret: &str) -> Box<dyn TxtRecords> {
    let p = principal();
    let request = json!({
        "tenant_id": p.tenant_id, "client_id": p.client_id, "subscription_id": p.subscription_id,
        "resource_group": p.resource_group, "api_url": api.url(), "login_url": api.url(), "client_secret": secret,
    });
    build(DnsProvider::Azure, request).await
}

/// The zone is found on the third page (`nextLink`, two zones a page), two values coexist in the
/// TXT set, removing one keeps the other and removing the last deletes the set, all with one token.
#[tokio::test]
async fn azure_adds_and_removes_values_with_one_token() {
    let api = AzureApi::start(principal(), &azure_zones(), 2);
    let dns = azure_client(&api, CLIENT_SECRET).await;
    let found = dns.find_zone("example.com").await.unwrap();
    assert_eq!(found.as_deref(), Some("example.com in resource group dns-rg"), "the credential test's description");
    dns.add_txt("example.com", NAME, "first", 60).await.unwrap();
    dns.add_txt("example.com.", &format!("{NAME}."), "second", 60).await.unwrap();
    assert_eq!(api.txt("example.com", "_acme-challenge.www"), vec!["first", "second"]);
    dns.remove_txt("example.com", NAME, "first").await.unwrap();
    assert_eq!(api.txt("example.com", "_acme-challenge.www"), vec!["second"]);
    dns.remove_txt("example.com", NAME, "second").await.unwrap();
    dns.remove_txt("example.com", NAME, "second").await.unwrap();
    assert!(api.txt("example.com", "_acme-challenge.www").is_empty());
    assert!(api.requests().iter().any(|r| r.method == "DELETE"), "the emptied set is deleted");

    assert_eq!(api.tokens.issued(), 1);
    let pages = api.requests().iter().filter(|r| r.method == "GET" && r.path.contains("/dnsZones?")).count();
    assert_eq!(pages, 3, "three pages of two zones, read once per client");
    let err = dns.add_txt("example.net", "_acme-challenge.example.net", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::ZoneNotFound { .. }), "{err}");
}

/// A principal whose role is assigned on the zone only (least privilege) cannot list the resource
/// group; the zone is then read by name, and a zone it cannot see is not found.
#[tokio::test]
async fn azure_zone_scoped_role_finds_its_zone_by_name() {
    let api = AzureApi::start(principal(), &azure_zones(), 2);
    api.scope_role_to_zones();
    let dns = azure_client(&api, CLIENT_SECRET).await;
    dns.add_txt("example.com", NAME, "v", 60).await.unwrap();
    assert_eq!(api.txt("example.com", "_acme-challenge.www"), vec!["v"]);
    let err = dns.add_txt("example.net", "_acme-challenge.example.net", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::ZoneNotFound { .. }), "{err}");
}

/// A wrong client secret is refused permanently with Entra ID's AADSTS description, and the error
/// carries neither the secret nor the rest of the answer.
#[tokio::test]
async fn azure_refused_secret_is_permanent_with_entra_message() {
    let api = AzureApi::start(principal(), &azure_zones(), 10);
    let wrong = "wrong~secret.value_987654";
    let dns = azure_client(&api, wrong).await;
    let err = dns.add_txt("example.com", NAME, "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 401, .. }) && !err.is_transient(), "{err}");
    assert_clean(&err, "AADSTS7000215", &[wrong, "invalid_client", "trace_id"]);
    assert_eq!(api.requests().len(), 1);
}

/// A 429 with `Retry-After` is waited out; a 503 is transient with ARM's message.
#[tokio::test]
async fn azure_rate_limit_then_success_and_server_error_transient() {
    let api = AzureApi::start(principal(), &azure_zones(), 10);
    let dns = azure_client(&api, CLIENT_SECRET).await;
    api.faults.push(429);
    dns.add_txt("example.com", NAME, "v", 60).await.unwrap();
    assert_eq!(api.txt("example.com", "_acme-challenge.www"), vec!["v"]);
    api.faults.push(503);
    let err = dns.add_txt("example.com", NAME, "w", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 503, .. }) && err.is_transient(), "{err}");
    assert_clean(&err, "injected 503", &["InjectedFault", CLIENT_SECRET]);
}

/// Two clients adding at one name at once both land (the ETag precondition makes the later
/// writer read the set again), and a token ARM stops taking is replaced once.
#[tokio::test]
async fn azure_concurrent_changes_and_a_revoked_token() {
    let api = AzureApi::start(principal(), &azure_zones(), 10);
    let (a, b) = (azure_client(&api, CLIENT_SECRET).await, azure_client(&api, CLIENT_SECRET).await);
    for round in 0..3 {
        let (x, y) = (format!("a{round}"), format!("b{round}"));
        let (ra, rb) = tokio::join!(a.add_txt("example.com", NAME, &x, 60), b.add_txt("example.com", NAME, &y, 60));
        ra.unwrap();
        rb.unwrap();
    }
    assert_eq!(api.txt("example.com", "_acme-challenge.www"), vec!["a0", "a1", "a2", "b0", "b1", "b2"]);
    let tokens = api.tokens.issued();
    api.tokens.revoke_all();
    a.remove_txt("example.com", NAME, "a0").await.unwrap();
    assert_eq!(api.tokens.issued(), tokens + 1, "one new token after the 401");
    assert_eq!(api.txt("example.com", "_acme-challenge.www").len(), 5);
}

// --- OVH

fn ovh_keys() -> OvhKeys {
    OvhKeys {
        application_key: "7kbG7Bk7S9Nt7ZSV".into(),
        application_secret: "EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF".into(),
        consumer_key: "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1".into(),
    }
}

async fn ovh_client(api: &OvhApi, keys: &OvhKeys) -> Box<dyn TxtRecords> {
    let request = json!({
        "endpoint": api.endpoint(), "application_key": keys.application_key,
        "application_secret": keys.application_secret, "consumer_key": keys.consumer_key,
    });
    build(DnsProvider::Ovh, request).await
}

/// Every call is signed on the API's clock (the stand-in runs its clock beyond the accepted window ahead and
/// recomputes each signature over the URL and body), two values at one name are two records, the
/// zone is refreshed so they are served, and removing one leaves the other.
#[tokio::test]
async fn ovh_adds_and_removes_signed_records() {
    let api = OvhApi::start(ovh_keys(), &["example.org", "example.com"]);
    let dns = ovh_client(&api, &ovh_keys()).await;
    assert_eq!(dns.find_zone("example.com").await.unwrap().as_deref(), Some("example.com"));
    let missing = dns.find_zone("example.net").await.unwrap_err();
    assert!(matches!(&missing, DnsError::ZoneNotFound { .. }) && !missing.is_transient(), "{missing}");
    dns.add_txt("example.com", NAME, "first", 60).await.unwrap();
    dns.add_txt("example.com", NAME, "second", 60).await.unwrap();
    dns.add_txt("example.com", NAME, "second", 60).await.unwrap();
    assert_eq!(api.served_txt("example.com", "_acme-challenge.www"), vec!["first", "second"]);
    assert_eq!(api.record_count("example.com", "_acme-challenge.www"), 2);
    dns.remove_txt("example.com", NAME, "first").await.unwrap();
    assert_eq!(api.served_txt("example.com", "_acme-challenge.www"), vec!["second"]);
    dns.remove_txt("example.com", NAME, "second").await.unwrap();
    assert!(api.served_txt("example.com", "_acme-challenge.www").is_empty());

    let requests = api.requests();
    assert_eq!(requests.iter().filter(|r| r.path.ends_with("/auth/time")).count(), 1, "the clock is read once");
    assert_eq!(requests.iter().filter(|r| r.path == "/1.0/domain/zone").count(), 1, "zones listed once");
    let err = dns.add_txt("example.net", "_acme-challenge.example.net", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::ZoneNotFound { .. }), "{err}");
}

/// A wrong application secret fails the signature (400 "Invalid signature") and an unknown consumer
/// key is refused (403): both permanent, with OVH's message, and neither secret in the error.
#[tokio::test]
async fn ovh_refused_keys_are_permanent_with_ovh_message() {
    let api = OvhApi::start(ovh_keys(), &["example.com"]);
    let keys = OvhKeys { application_secret: "WrongSecretWrongSecretWrongSecre".into(), ..ovh_keys() };
    let err = ovh_client(&api, &keys).await.add_txt("example.com", NAME, "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 400, .. }) && !err.is_transient(), "{err}");
    assert_clean(&err, "Invalid signature", &[&keys.application_secret, &keys.consumer_key, "INVALID_SIGNATURE"]);

    let keys = OvhKeys { consumer_key: "UnknownConsumerKeyUnknownConsum".into(), ..ovh_keys() };
    let err = ovh_client(&api, &keys).await.add_txt("example.com", NAME, "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 403, .. }) && !err.is_transient(), "{err}");
    assert_clean(&err, "This credential does not exist", &[&keys.application_secret, &keys.consumer_key]);
    assert_eq!(api.record_count("example.com", "_acme-challenge.www"), 0);
}

/// A 429 with `Retry-After` is waited out (the retried request is signed anew); a 500 is transient.
#[tokio::test]
async fn ovh_rate_limit_then_success_and_server_error_transient() {
    let api = OvhApi::start(ovh_keys(), &["example.com"]);
    let dns = ovh_client(&api, &ovh_keys()).await;
    api.faults.push(429);
    dns.add_txt("example.com", NAME, "v", 60).await.unwrap();
    assert_eq!(api.served_txt("example.com", "_acme-challenge.www"), vec!["v"]);
    api.faults.push(500);
    let err = dns.remove_txt("example.com", NAME, "v").await.unwrap_err();
    assert!(matches!(err, DnsError::Api { status: 500, .. }) && err.is_transient(), "{err}");
    assert_clean(&err, "injected fault", &[&ovh_keys().application_secret]);
}
