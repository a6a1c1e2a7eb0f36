//! The bearer-token DNS providers (Cloudflare, DigitalOcean, Hetzner DNS) against their contract
//! stand-ins: each client is built by the one factory from typed settings and a secret, as issuance
//! builds it, and every behaviour is checked for all three.

use std::time::{Duration, Instant};

use certautopilot_connectors::dns::{DnsError, ProviderContext, TxtRecords, client};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::testsupport::{
    Bind, DnsStandIn, Fault, TestZone, TsigKey, cloudflare_standin, digitalocean_standin, hetzner_standin,
};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{DnsProvider, DnsProviderConfig, DnsSecret, TokenApiConfig};

const TOKEN: &str = "tok-Secret-0123456789abcdef";
const NAME: &str = "_acme-challenge.www.example.test";

#[derive(Debug, Clone, Copy)]
enum Kind {
    Cloudflare,
    Digitalocean,
    Hetzner,
}

const ALL: [Kind; 3] = [Kind::Cloudflare, Kind::Digitalocean, Kind::Hetzner];

/// The provider's stand-in over an account with several zones: `example.test` (on Cloudflare also
/// a `pending` copy in another account, listed first), `eu.example.test` under it, and others.
fn standin(kind: Kind, bind: Option<&Bind>) -> DnsStandIn {
    match kind {
        Kind::Cloudflare => cloudflare_standin(
            TOKEN,
            &[
                ("z-a", "a.test", "active"),
                ("z-pending", "example.test", "pending"),
                ("z-example", "example.test", "active"),
                ("z-eu", "eu.example.test", "active"),
            ],
            bind,
        ),
        Kind::Digitalocean => {
            digitalocean_standin(TOKEN, &["a.test", "b.test", "c.test", "example.test", "eu.example.test"], bind)
        }
        Kind::Hetzner => hetzner_standin(
            TOKEN,
            &[
                ("z-a", "a.test"),
                ("z-b", "b.test"),
                ("z-c", "c.test"),
                ("z-example", "example.test"),
                ("z-eu", "eu.example.test"),
            ],
            bind,
        ),
    }
}

/// The client for `kind` built through the factory, with `token` as its secret.
async fn provider(kind: Kind, standin: &DnsStandIn, token: &str) -> Box<dyn TxtRecords> {
    let settings = TokenApiConfig { api_url: standin.url() };
    let (config, provider, field) = match kind {
        Kind::Cloudflare => (DnsProviderConfig::Cloudflare(settings), DnsProvider::Cloudflare, "api_token"),
        Kind::Digitalocean => (DnsProviderConfig::Digitalocean(settings), DnsProvider::Digitalocean, "token"),
        Kind::Hetzner => (DnsProviderConfig::Hetzner(settings), DnsProvider::Hetzner, "api_token"),
    };
    let secret =
        DnsSecret::from_plaintext(provider, &SecretBytes::from_text(&serde_json::json!({ field: token }).to_string()))
            .unwrap();
    let context = ProviderContext { timeout: Duration::from_secs(5), egress: EgressPolicy::allowing_loopback() };
    client(&config, Some(&secret), &context).await.unwrap()
}

/// The zone a stored record went into, by the provider's zone id.
fn zone_of(standin: &DnsStandIn, name: &str) -> Vec<String> {
    standin.records().into_iter().filter(|r| r.name == name).map(|r| r.zone_id).collect()
}

/// A value is created in the right zone with the name as the API wants it (fully qualified on
/// Cloudflare, relative elsewhere), deleted by id, and deleting it again succeeds.
#[tokio::test]
async fn create_and_delete_a_value() {
    for kind in ALL {
        let api = standin(kind, None);
        let dns = provider(kind, &api, TOKEN).await;
        dns.add_txt("example.test", NAME, "value-one", 60).await.unwrap();
        assert_eq!(api.values_at(NAME), vec!["value-one"], "{kind:?}");
        let expected_zone = if matches!(kind, Kind::Digitalocean) { "example.test" } else { "z-example" };
        assert_eq!(zone_of(&api, NAME), vec![expected_zone], "{kind:?}: the active zone, not the pending copy");
        let create = api.requests().into_iter().find(|r| r.method == "POST").unwrap();
        let sent_name = create.body["name"].as_str().unwrap().to_owned();
        let expected_name = if matches!(kind, Kind::Cloudflare) { NAME } else { "_acme-challenge.www" };
        assert_eq!(sent_name, expected_name, "{kind:?}");

        dns.remove_txt("example.test", NAME, "value-one").await.unwrap();
        assert!(api.values_at(NAME).is_empty(), "{kind:?}");
        dns.remove_txt("example.test", NAME, "value-one").await.unwrap();
        assert!(
            api.requests().iter().filter(|r| r.method == "DELETE").count() == 1,
            "{kind:?}: nothing left to delete"
        );
        let found = dns.find_zone("example.test").await.unwrap();
        let expected = if matches!(kind, Kind::Digitalocean) { "example.test" } else { "example.test (id z-example)" };
        assert_eq!(found.as_deref(), Some(expected), "{kind:?}: the credential test's description");
    }
}

/// Zones are read across every page (the stand-in serves one or two per page), the longest
/// suffix wins (`eu.example.test` over `example.test`), and a name no zone serves is a permanent
/// `ZoneNotFound`.
#[tokio::test]
async fn zone_lookup_reads_every_page_and_takes_the_longest_suffix() {
    for kind in ALL {
        let api = standin(kind, None);
        api.max_page(if matches!(kind, Kind::Cloudflare) { 1 } else { 2 });
        let dns = provider(kind, &api, TOKEN).await;
        let deep = "_acme-challenge.x.eu.example.test";
        dns.add_txt("eu.example.test", deep, "v", 60).await.unwrap();
        let expected = if matches!(kind, Kind::Digitalocean) { "eu.example.test" } else { "z-eu" };
        assert_eq!(zone_of(&api, deep), vec![expected], "{kind:?}");

        // Cloudflare: two zones named example.test on two pages; the second (active) one is chosen.
        dns.add_txt("example.test", NAME, "v", 60).await.unwrap();
        let expected = if matches!(kind, Kind::Digitalocean) { "example.test" } else { "z-example" };
        assert_eq!(zone_of(&api, NAME), vec![expected], "{kind:?}");
        assert!(api.requests().iter().any(|r| r.path.contains("page=2")), "{kind:?}: a second page was read");

        let err = dns.add_txt("nowhere.test", "_acme-challenge.nowhere.test", "v", 60).await.unwrap_err();
        assert!(matches!(err, DnsError::ZoneNotFound { .. }) && !err.is_transient(), "{kind:?}: {err}");
        assert!(err.to_string().contains("nowhere.test"), "{err}");
    }
}

/// A wildcard and its base validate at one name in one order: both values stay, removing one
/// leaves the other, and adding a value already there does not duplicate it.
#[tokio::test]
async fn several_values_at_one_name_coexist() {
    for kind in ALL {
        let api = standin(kind, None);
        let dns = provider(kind, &api, TOKEN).await;
        dns.add_txt("example.test", NAME, "wildcard", 60).await.unwrap();
        dns.add_txt("example.test", NAME, "base", 60).await.unwrap();
        dns.add_txt("example.test", NAME, "base", 60).await.unwrap();
        assert_eq!(api.values_at(NAME), vec!["base", "wildcard"], "{kind:?}");
        dns.remove_txt("example.test", NAME, "wildcard").await.unwrap();
        assert_eq!(api.values_at(NAME), vec!["base"], "{kind:?}");
    }
}

/// A refused token is permanent, carries the provider's own words (and code), and neither the
/// token nor the answer's body.
#[tokio::test]
async fn a_refused_token_is_permanent_and_named_without_the_token_or_the_body() {
    for kind in ALL {
        let api = standin(kind, None);
        let wrong = "tok-WRONG-9876543210fedcba";
        let dns = provider(kind, &api, wrong).await;
        let err = dns.add_txt("example.test", NAME, "v", 60).await.unwrap_err();
        let text = err.to_string();
        let words = match kind {
            Kind::Cloudflare => "Invalid access token (code 9109)",
            Kind::Digitalocean => "Unable to authenticate you (unauthorized)",
            Kind::Hetzner => "Invalid authentication credentials",
        };
        assert!(matches!(err, DnsError::Api { status: 401 | 403, .. }) && !err.is_transient(), "{kind:?}: {text}");
        assert!(text.contains(words), "{kind:?}: {text}");
        assert!(!text.contains(wrong) && !text.contains(TOKEN) && !text.contains('{'), "{kind:?}: {text}");
        let sent = api.requests();
        assert_eq!(sent.len(), 1, "{kind:?}: a refusal is not retried");
        let header = sent[0].header("authorization").or(sent[0].header("auth-api-token")).unwrap();
        assert!(header.ends_with(wrong), "{kind:?}: the token goes in the documented header");
    }
}

/// A 429 with a short wait is waited out and the request sent again; one asking longer than a
/// request may wait is reported as rate limiting (transient) with the wait asked for.
#[tokio::test]
async fn rate_limited_then_success() {
    for kind in ALL {
        let api = standin(kind, None);
        let dns = provider(kind, &api, TOKEN).await;
        api.fail_next(&[Fault::RateLimited(1)]);
        let started = Instant::now();
        dns.add_txt("example.test", NAME, "v", 60).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(900), "{kind:?}: waited as asked");
        assert_eq!(api.values_at(NAME), vec!["v"], "{kind:?}");

        api.fail_next(&[Fault::RateLimited(600)]);
        let err = dns.remove_txt("example.test", NAME, "v").await.unwrap_err();
        assert!(err.is_transient(), "{kind:?}: {err}");
        match err {
            DnsError::RateLimited { retry_after_s, .. } => assert!((590..=600).contains(&retry_after_s), "{kind:?}"),
            other => panic!("{kind:?}: {other}"),
        }
    }
}

/// A server error is transient and carries the provider's message, never the body.
#[tokio::test]
async fn a_server_error_is_transient_with_the_providers_message() {
    for kind in ALL {
        let api = standin(kind, None);
        let dns = provider(kind, &api, TOKEN).await;
        api.fail_next(&[Fault::ServerError]);
        let err = dns.add_txt("example.test", NAME, "v", 60).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, DnsError::Api { status: 500, .. }) && err.is_transient(), "{kind:?}: {text}");
        let words = match kind {
            Kind::Cloudflare => "Internal server error (code 10000)",
            Kind::Digitalocean => "Unexpected server-side error (server_error)",
            Kind::Hetzner => "internal server error",
        };
        assert!(text.contains(words) && !text.contains('{') && !text.contains("success"), "{kind:?}: {text}");
        // The next attempt (the job's retry) goes through.
        dns.add_txt("example.test", NAME, "v", 60).await.unwrap();
        assert_eq!(api.values_at(NAME), vec!["v"], "{kind:?}");
    }
}

/// With a BIND behind it, each stand-in publishes what the API stores there (RFC 2136), so the
/// values are answered by a real authoritative server, and removed from it again.
#[tokio::test]
async fn records_reach_the_bind_behind_the_standin() {
    let dir = tempfile::tempdir().unwrap();
    let bind = Bind::start(dir.path(), TsigKey::random("standin"), vec![TestZone::new("example.test")]);
    for kind in ALL {
        let api = standin(kind, Some(&bind));
        let dns = provider(kind, &api, TOKEN).await;
        let name = format!("_acme-challenge.{kind:?}.example.test").to_ascii_lowercase();
        dns.add_txt("example.test", &name, "one", 60).await.unwrap();
        dns.add_txt("example.test", &name, "two", 60).await.unwrap();
        let mut seen = bind.txt(&name);
        seen.sort();
        assert_eq!(seen, vec!["one", "two"], "{kind:?}");
        dns.remove_txt("example.test", &name, "one").await.unwrap();
        assert_eq!(bind.txt(&name), vec!["two"], "{kind:?}");
    }
}

/// A credential whose opened secret lacks the provider's token field (or has no secret) builds no
/// client: a configuration error naming the field, and nothing is sent.
#[tokio::test]
async fn a_credential_without_its_token_builds_no_client() {
    let context = ProviderContext { timeout: Duration::from_secs(5), egress: EgressPolicy::allowing_loopback() };
    for (kind, field) in [(Kind::Cloudflare, "api_token"), (Kind::Digitalocean, "token"), (Kind::Hetzner, "api_token")]
    {
        let api = standin(kind, None);
        let settings = TokenApiConfig { api_url: api.url() };
        let (config, provider) = match kind {
            Kind::Cloudflare => (DnsProviderConfig::Cloudflare(settings), DnsProvider::Cloudflare),
            Kind::Digitalocean => (DnsProviderConfig::Digitalocean(settings), DnsProvider::Digitalocean),
            Kind::Hetzner => (DnsProviderConfig::Hetzner(settings), DnsProvider::Hetzner),
        };
        let other = DnsSecret::from_plaintext(provider, &SecretBytes::from_text(r#"{"unrelated":"x"}"#));
        for secret in [other.as_ref(), None] {
            let err = client(&config, secret, &context).await.unwrap_err();
            assert!(matches!(err, DnsError::Config(_)) && err.to_string().contains(field), "{kind:?}: {err}");
        }
        assert!(api.requests().is_empty(), "{kind:?}: nothing sent");
    }
}
