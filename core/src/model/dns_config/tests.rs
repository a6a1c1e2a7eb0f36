use serde_json::json;

use super::*;

fn decode(provider: DnsProvider, config: Value) -> Result<(DnsProviderConfig, Option<DnsSecret>), ConfigError> {
    DnsProviderConfig::decode_request(provider, config.as_object().expect("an object").clone())
}

/// Each provider's request decodes into its typed settings without the secret fields, and the
/// settings read back from their stored JSON.
#[test]
fn every_provider_decodes_and_round_trips() {
    let examples = [
        (DnsProvider::Pdns, json!({ "api_url": "http://127.0.0.1:8081/", "api_key": "k3y" })),
        (DnsProvider::Route53, json!({ "access_key_id": "AKIDEXAMPLE", "secret_access_key": "s" })),
        (DnsProvider::Cloudflare, json!({ "api_token": "t" })),
        (DnsProvider::Digitalocean, json!({ "api_url": "http://127.0.0.1:9/v2", "token": "t" })),
        (DnsProvider::Hetzner, json!({ "api_token": "t" })),
        (
            DnsProvider::Azure,
            json!({ "tenant_id": "0a-1", "client_id": "2b", "subscription_id": "3c",
                                     "resource_group": "dns", "client_secret": "s" }),
        ),
        (DnsProvider::Ovh, json!({ "application_key": "ak", "application_secret": "as", "consumer_key": "ck" })),
        (
            DnsProvider::Acmedns,
            json!({ "api_url": "https://auth.example.net", "username": "u", "subdomain": "abc-1",
                                       "password": "p" }),
        ),
        (DnsProvider::Exec, json!({ "command": "/usr/local/bin/dns-hook" })),
    ];
    for (provider, request) in examples {
        let (config, secret) = decode(provider, request).unwrap_or_else(|e| panic!("{provider:?}: {e}"));
        assert_eq!(config.provider(), provider);
        let stored = config.to_json();
        for field in provider.secret_fields() {
            assert!(stored.get(field).is_none(), "{provider:?} stored its secret {field}");
        }
        assert_eq!(secret.is_some(), !provider.secret_fields().is_empty(), "{provider:?}");
        assert_eq!(DnsProviderConfig::from_json(provider, stored).unwrap(), config);
    }
}

/// The public API's address fills in, and a trailing slash goes.
#[test]
fn defaults_are_the_providers_public_apis() {
    let (config, _) = decode(DnsProvider::Cloudflare, json!({ "api_token": "t" })).unwrap();
    assert_eq!(config.to_json()["api_url"], CLOUDFLARE_API);
    let (config, _) =
        decode(DnsProvider::Pdns, json!({ "api_url": "http://127.0.0.1:8081/", "api_key": "k" })).unwrap();
    assert_eq!(config.to_json(), json!({ "api_url": "http://127.0.0.1:8081", "server_id": "localhost" }));
}

/// Bad input names its field.
#[test]
fn bad_requests_name_the_field() {
    let cases = [
        (DnsProvider::Pdns, json!({ "api_key": "k" }), "config.api_url", "is required"),
        (DnsProvider::Pdns, json!({ "api_url": "http://10.0.0.1", "api_key": "k" }), "config.api_url", ""),
        (DnsProvider::Pdns, json!({ "api_url": "http://127.0.0.1", "api_key": "k", "x": 1 }), "config.x", ""),
        (DnsProvider::Pdns, json!({ "api_url": "http://127.0.0.1", "api_key": 5 }), "config.api_key", ""),
        (DnsProvider::Exec, json!({ "command": "hook.sh" }), "config.command", ""),
        (DnsProvider::Exec, json!({ "command": "/bin/h", "timeout_seconds": 0 }), "config.timeout_seconds", ""),
        (DnsProvider::Exec, json!({ "command": "/bin/h", "timeout_seconds": "x" }), "config.timeout_seconds", ""),
        (DnsProvider::Ovh, json!({ "application_key": "a", "application_secret": "s" }), "config.consumer_key", ""),
        (DnsProvider::Gcloud, json!({ "project": "p", "service_account_key": "{}" }), "config.service_account_key", ""),
        (DnsProvider::Route53, json!({ "access_key_id": "A K", "secret_access_key": "s" }), "config.access_key_id", ""),
    ];
    for (provider, request, field, message) in cases {
        let err = decode(provider, request.clone()).expect_err(&request.to_string());
        assert_eq!(err.field, field, "{request}: {err}");
        assert!(err.message.contains(message), "{err}");
    }
}

/// An update that leaves the secret out keeps it, unless the secret would go somewhere else.
#[test]
fn moving_the_secret_needs_it_again() {
    let pdns = |url: &str| decode(DnsProvider::Pdns, json!({ "api_url": url })).unwrap().0;
    assert!(!pdns("http://127.0.0.1:1").moves_secret(&pdns("http://127.0.0.1:1/")));
    assert!(pdns("http://127.0.0.1:1").moves_secret(&pdns("http://127.0.0.1:2")));
    let exec = decode(DnsProvider::Exec, json!({ "command": "/bin/h" })).unwrap().0;
    assert!(pdns("http://127.0.0.1:1").moves_secret(&exec));
}

/// The sealed plaintext: TSIG text for RFC 2136 as always, a JSON object for the others; neither
/// shows in `Debug`.
#[test]
fn secrets_seal_as_they_always_did() {
    let tsig = json!({ "server": "127.0.0.1:53", "key_name": "k", "algorithm": "hmac-sha256",
                       "secret": "MDEyMzQ1Njc4OWFiY2RlZg==" });
    let (_, secret) = decode(DnsProvider::Rfc2136, tsig).unwrap();
    let secret = secret.unwrap();
    assert_eq!(secret.plaintext(DnsProvider::Rfc2136).expose(), b"MDEyMzQ1Njc4OWFiY2RlZg==");
    let (_, ovh) =
        decode(DnsProvider::Ovh, json!({ "application_key": "a", "application_secret": "s3", "consumer_key": "c4" }))
            .unwrap();
    let plain = ovh.unwrap().plaintext(DnsProvider::Ovh);
    let back = DnsSecret::from_plaintext(DnsProvider::Ovh, &plain).unwrap();
    assert_eq!((back.get("application_secret"), back.get("consumer_key")), (Some("s3"), Some("c4")));
    assert!(!format!("{back:?}").contains("s3"));
}

/// Every provider's example request decodes (tests elsewhere create credentials from them).
#[test]
fn every_example_decodes() {
    for provider in DnsProvider::ACCEPTED {
        decode(provider, example_request(provider)).unwrap_or_else(|e| panic!("{provider:?}: {e}"));
    }
}

/// Every provider's field list (what the console's forms render) covers its request exactly: each
/// key of its example request is a field, each field is a key the provider accepts, and the fields
/// marked secret are the provider's secret fields — so a form built from the list can create a
/// credential of every accepted provider.
#[test]
fn field_lists_cover_every_provider() {
    for provider in DnsProvider::ACCEPTED {
        let fields = provider.fields();
        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{provider:?}: a field listed twice");
        let example = example_request(provider);
        for key in example.as_object().unwrap().keys() {
            assert!(names.contains(&key.as_str()), "{provider:?}: {key} has no field");
        }
        let secrets: Vec<&str> = fields.iter().filter(|f| f.is_secret()).map(|f| f.name).collect();
        assert_eq!(secrets, provider.secret_fields(), "{provider:?}: secret fields");
        // A request made of the required fields alone (example values) decodes: nothing the
        // provider needs is missing from the list's required ones.
        let mut required = example.as_object().unwrap().clone();
        required.retain(|k, _| fields.iter().any(|f| f.name == k && f.required));
        assert!(DnsProviderConfig::decode_request(provider, required).is_ok(), "{provider:?}: required fields");
        // Every listed field is a key the provider accepts (an unknown key is refused by name).
        for f in fields {
            let mut with = example.as_object().unwrap().clone();
            if !with.contains_key(f.name) {
                let value = match f.kind {
                    FieldKind::Number => json!(10),
                    FieldKind::Lines => json!(["127.0.0.1:53"]),
                    FieldKind::Url => json!("http://127.0.0.1:9"),
                    _ => json!("x"),
                };
                with.insert(f.name.to_owned(), value);
            }
            if let Err(e) = DnsProviderConfig::decode_request(provider, with) {
                assert_ne!(e.message, "is not a setting of this provider", "{provider:?}: {} is not accepted", f.name);
            }
        }
    }
}
