//! DNS credentials in the console: the create form shows the chosen provider's fields (swapped in
//! place when the provider select changes), a bad field is refused beside it and stores nothing,
//! the edit form is prefilled with the settings and keeps a secret left empty, a moved API without
//! its key is refused naming the key, and the test button shows the steps. Every accepted
//! provider is created through its rendered form.

use std::time::{Duration, Instant};

use certautopilot_core::model::{DnsProvider, example_request};
use serde_json::{Value, json};

use crate::browser::{Browser, Driver, session};
use crate::process::ApiClient;
use crate::{OWNER, sign_in, start_server};

const KEY: &str = "pdns-key-that-never-comes-back";

/// Chooses `provider` in the create form's select as a user would (a change event), and waits for
/// the field set to be swapped in.
async fn choose_provider(b: &Browser, provider: &str, first_field: &str) {
    let script = "const s = document.querySelector('#f-provider'); s.value = arguments[0]; \
                  s.dispatchEvent(new Event('change', { bubbles: true })); return s.value;";
    b.client.execute(script, vec![json!(provider)]).await.unwrap();
    let start = Instant::now();
    let wanted = format!("#credential-form input[name=provider][value={provider}]");
    while b.count(&wanted).await == 0 || b.count(&format!("#credential-form #f-{first_field}")).await == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "the {provider} fields did not appear");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Create (a bad URL first), edit (secret kept), a moved API without its key, test; then every
/// provider through its form. Checked through the API afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_created_edited_and_tested_through_their_forms() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let c = ApiClient::setup_and_login(server.addr);
    let pid = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "dns" })), 201)["id"].as_str().unwrap().to_owned();
    let driver = Driver::start();
    let p = pid.clone();
    session(&driver, server.addr, move |b| async move {
        sign_in(&b, OWNER).await;
        b.goto(&format!("/dns?project={p}")).await;
        choose_provider(&b, "pdns", "api_url").await;
        b.check("new-credential-pdns").await;
        b.fill("#f-name", "pdns-1").await;
        b.fill("#f-api_url", "not a url").await;
        b.fill("#f-api_key", KEY).await;
        b.submit("#credential-form").await;
        assert!(!b.text("#e-api_url").await.is_empty(), "the URL's error is beside it");
        assert!(!b.client.source().await.unwrap().contains(KEY), "the key is not echoed");
        assert_eq!(b.find("#f-api_url").await.prop("value").await.unwrap().as_deref(), Some("not a url"));
        b.check("error-credential-pdns").await;
        b.fill("#f-api_url", "http://127.0.0.1:8081").await;
        b.fill("#f-api_key", KEY).await;
        b.submit("#credential-form").await;
        assert_eq!(b.text(".notice").await, "Created.");

        b.click("a[aria-label='Edit credential pdns-1']").await;
        assert_eq!(b.find("#f-api_url").await.prop("value").await.unwrap().as_deref(), Some("http://127.0.0.1:8081"));
        assert_eq!(b.find("#f-api_key").await.prop("value").await.unwrap().as_deref(), Some(""));
        assert!(b.text("label[for=f-api_key]").await.contains("set"), "the secret shows as set");
        b.check("edit-credential").await;
        b.fill("#f-server_id", "ns1").await;
        b.submit("form[action$='/edit']").await;
        assert_eq!(b.text(".notice").await, "Saved.");
        b.fill("#f-api_url", "http://127.0.0.2:8081").await;
        b.submit("form[action$='/edit']").await;
        assert!(b.text("#e-api_key").await.contains("again"), "a moved API needs the key again");
        b.check("error-edit-credential").await;

        b.goto(&format!("/dns?project={p}")).await;
        b.fill("#f-apex", "example.test").await;
        b.choose("#f-credential_id", 1).await;
        b.submit("form[action='/dns/zones']").await;

        // --- the zone's edit form: a bad resolver is refused beside its field, then saved.
        b.click("a[aria-label='Edit zone example.test']").await;
        b.fill("#f-propagation\\.strategy", "resolvers").await;
        b.fill("#f-propagation\\.resolvers", "not-an-address").await;
        b.submit("form[action$='/edit']").await;
        assert!(!b.text("#e-propagation\\.resolvers").await.is_empty(), "the resolver's error is beside it");
        b.check("error-edit-zone").await;
        b.fill("#f-propagation\\.resolvers", "127.0.0.1:53").await;
        b.submit("form[action$='/edit']").await;
        assert_eq!(b.text(".notice").await, "Saved.");
        b.check("edit-zone").await;

        b.goto(&format!("/dns?project={p}")).await;
        b.click("a[aria-label='Edit credential pdns-1']").await;
        b.submit("form[action$='/test']").await;
        assert!(b.text("#test-result").await.contains("connect"), "the steps are shown");
        b.check("test-credential").await;

        // --- every provider through its own rendered form.
        for provider in DnsProvider::ACCEPTED {
            let name = serde_json::to_value(provider).unwrap().as_str().unwrap().to_owned();
            b.goto(&format!("/dns?project={p}&provider={name}")).await;
            b.fill("#f-name", &format!("form-{name}")).await;
            for (key, value) in example_request(provider).as_object().unwrap() {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                b.fill(&format!("#credential-form [name={key}]"), &text).await;
            }
            b.submit("#credential-form").await;
            assert_eq!(b.text(".notice").await, "Created.", "{name} through its form");
        }
    })
    .await;
    drop(driver);

    let items = c.ok("GET", &format!("/api/v1/dns-credentials?project_id={pid}"), None, 200)["items"].clone();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 1 + DnsProvider::ACCEPTED.len(), "the refused posts stored nothing: {items:?}");
    let pdns = items.iter().find(|i| i["name"] == "pdns-1").unwrap();
    assert_eq!(pdns["config"], json!({ "api_url": "http://127.0.0.1:8081", "server_id": "ns1" }));
    assert_eq!((pdns["has_secret"].as_bool(), pdns["version"].as_u64()), (Some(true), Some(2)));
    let zone = c.ok("GET", &format!("/api/v1/zones?project_id={pid}"), None, 200)["items"][0].clone();
    assert_eq!(zone["propagation"]["strategy"], json!("resolvers"), "{zone}");
    assert_eq!(zone["propagation"]["resolvers"], json!(["127.0.0.1:53"]), "{zone}");
    assert_eq!(zone["version"], json!(2), "the refused post changed nothing: {zone}");
}
