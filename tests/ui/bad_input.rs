//! Bad input on every form of the console: the service's message appears beside the field it
//! names (or above the form), the page says so with 422, and nothing is stored, checked through
//! the API afterwards.

use std::time::Duration;

use serde_json::json;

use crate::browser::{Driver, session};
use crate::process::ApiClient;
use crate::start_server;

/// Each form, one bad value each; the error is beside the field, and the store holds nothing new.
#[tokio::test(flavor = "multi_thread")]
async fn each_form_shows_the_field_error_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let addr = server.addr;
    let driver = Driver::start();
    let project_id = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let pid_out = project_id.clone();
    session(&driver, server.addr, move |b| async move {
        // --- setup: a bad e-mail is refused beside its field, and the organization does not exist yet.
        b.goto("/").await;
        assert_eq!(b.path().await, "/setup");
        b.fill("#f-org_name", "Acme").await;
        b.fill("#f-email", "not-an-address").await;
        b.fill("#f-password", "correct horse battery staple").await;
        b.submit("form").await;
        assert!(b.text("#e-email").await.contains("e-mail"), "setup names the e-mail");
        b.check("error-setup").await;
        b.goto("/setup").await;
        assert_eq!(b.path().await, "/setup", "no organization was created");
        b.fill("#f-org_name", "Acme").await;
        b.fill("#f-email", "owner@acme.test").await;
        b.fill("#f-password", "correct horse battery staple").await;
        b.submit("form").await;
        // --- sign-in with a wrong password: one message for the form, nothing about which part.
        b.wait_for_text(None, "h1", Duration::from_secs(10), |t| t == "Sign in").await;
        b.fill("#f-email", "owner@acme.test").await;
        b.fill("#f-password", "wrong password entirely").await;
        b.submit("form").await;
        assert!(b.text(".alert").await.contains("e-mail or password is wrong"));
        b.check("error-login").await;
        crate::sign_in(&b, crate::OWNER).await;

        // --- project and user.
        b.goto("/projects").await;
        b.fill("form[action='/projects'] #f-name", "   ").await;
        b.submit("form:has(input[value=project])").await;
        assert!(!b.text("#e-name").await.is_empty(), "project name error shown");
        b.check("error-project").await;
        b.fill("#f-email", "new@acme.test").await;
        b.fill("#f-password", "short").await;
        b.submit("form:has(input[value=user])").await;
        assert!(b.text("#e-password").await.contains("at least"));
        b.fill("#f-name", "web").await;
        b.submit("form:has(input[value=project])").await;
        let href = b.find("main table a[href^='/projects/']").await.attr("href").await.unwrap().unwrap();
        let pid = href.trim_start_matches("/projects/").to_owned();
        *pid_out.lock().unwrap() = pid.clone();

        // --- ACME account: a URL that is not one.
        b.goto(&format!("/accounts?project={pid}")).await;
        b.fill("#f-name", "ca").await;
        b.fill("#f-directory_url", "not a url").await;
        b.fill("#f-eab_hmac_key", "secret-that-must-not-come-back").await;
        b.submit("form[action='/accounts']").await;
        assert!(!b.text("#e-directory_url").await.is_empty());
        assert_eq!(b.find("#f-eab_hmac_key").await.prop("value").await.unwrap().unwrap_or_default(), "");
        assert!(!b.client.source().await.unwrap().contains("secret-that-must-not-come-back"), "secrets are not echoed");
        b.check("error-account").await;

        // --- DNS credential: a TSIG secret that is not base64; zone: no credential chosen.
        b.goto(&format!("/dns?project={pid}")).await;
        b.fill("#f-name", "bind").await;
        b.fill("#f-server", "127.0.0.1:53").await;
        b.fill("#f-key_name", "k").await;
        b.fill("#f-secret", "not base64 !!").await;
        b.submit("form[action='/dns/credentials']").await;
        assert!(!b.text("#e-secret").await.is_empty());
        b.check("error-credential").await;
        b.fill("#f-apex", "example.test").await;
        b.submit("form[action='/dns/zones']").await;
        assert!(!b.text("#e-credential_id").await.is_empty());

        // --- target: settings that are not JSON, then JSON the file target refuses.
        b.goto(&format!("/targets?project={pid}")).await;
        b.fill("#f-name", "files").await;
        b.fill("#f-config", "{not json").await;
        b.submit("form[action='/targets']").await;
        assert!(b.text("#e-config").await.contains("JSON"));
        b.check("error-target").await;

        // --- certificate: no issuer chosen (the project has no account).
        b.goto(&format!("/certificates/new?project={pid}")).await;
        b.fill("#f-common_name", "www.example.test").await;
        b.submit("form[action='/certificates/new']").await;
        assert!(!b.text("#e-acme_account_id").await.is_empty());
        b.check("error-certificate").await;

        // --- API token: zero days.
        b.goto("/tokens").await;
        b.fill("#f-name", "ci").await;
        b.fill("#f-expires_in_days", "0").await;
        b.submit("form[action='/tokens']").await;
        assert!(!b.text("#e-expires_in_days").await.is_empty());
        b.check("error-token").await;
    })
    .await;
    let mut c = ApiClient { addr, token: None };
    c.login();
    let pid = project_id.lock().unwrap().clone();
    let count = |path: String| c.ok("GET", &path, None, 200)["items"].as_array().unwrap().len();
    assert_eq!(count("/api/v1/projects".into()), 1, "only the valid project");
    assert_eq!(count("/api/v1/users".into()), 1, "only the owner");
    for kind in ["acme-accounts", "dns-credentials", "zones", "targets", "certificates"] {
        assert_eq!(count(format!("/api/v1/{kind}?project_id={pid}")), 0, "{kind}: nothing stored");
    }
    assert_eq!(count("/api/v1/auth/tokens".into()), 0, "no token");
}

/// A target's edit form: a bad value and a moved destination without its secret are refused
/// beside their fields and change nothing; the secret is never on the page; a good edit keeps the
/// stored secret; a form opened before someone else's change is refused as stale and then shows
/// the current values. Set up through the API (a webhook target with an HMAC secret), edited in
/// the browser, checked through the API afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn edit_forms_show_the_field_error_keep_secrets_and_refuse_stale_versions() {
    const SECRET: &str = "0123456789abcdef0123-secret";
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let c = ApiClient::setup_and_login(server.addr);
    let pid = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "web" })), 201)["id"].as_str().unwrap().to_owned();
    let target = json!({ "project_id": pid, "name": "hooks", "type": "webhook", "config": {
        "url": "https://hooks.acme.test/tls", "hmac_secret": SECRET } });
    let tid = c.ok("POST", "/api/v1/targets", Some(target), 201)["id"].as_str().unwrap().to_owned();
    let target_path = format!("/api/v1/targets/{tid}");
    let api = ApiClient { addr: server.addr, token: c.token.clone() };
    let driver = Driver::start();
    session(&driver, server.addr, move |b| async move {
        let look = || api.ok("GET", &target_path, None, 200);
        crate::sign_in(&b, crate::OWNER).await;
        b.goto(&format!("/targets?project={pid}")).await;
        b.click("a[aria-label='Edit target hooks']").await;
        assert_eq!(b.text("h1").await, "Edit target hooks");
        assert!(b.text("dl.facts").await.contains("set"), "the secret shows as set");
        assert!(!b.client.source().await.unwrap().contains(SECRET), "the secret is never on the page");
        b.check("edit-target").await;

        // --- a blank name: beside its field; nothing changed.
        b.fill("#f-name", "   ").await;
        b.submit("main form").await;
        assert!(!b.text("#e-name").await.is_empty(), "the name's error is beside it");
        assert_eq!(look()["name"], "hooks");
        b.check("error-edit-target").await;

        // --- a moved destination without the secret again: refused beside the secret's input.
        b.fill("#f-name", "hooks").await;
        b.fill("#f-config", r#"{"url": "https://elsewhere.acme.test/tls"}"#).await;
        b.submit("main form").await;
        assert!(b.text("#e-hmac_secret").await.contains("again"), "the secret is asked for again");
        assert_eq!(look()["config"]["url"], "https://hooks.acme.test/tls");
        assert!(!b.client.source().await.unwrap().contains(SECRET));

        // --- a good edit (the secret left empty): saved, the secret kept.
        b.fill("#f-name", "hooks-renamed").await;
        b.fill("#f-config", r#"{"url": "https://hooks.acme.test/tls"}"#).await;
        b.submit("main form").await;
        assert_eq!(b.text(".notice").await, "Saved.");
        let now = look();
        assert_eq!(now["name"], "hooks-renamed");
        assert_eq!(now["has_credential"], true, "an empty secret input keeps the stored secret");

        // --- a stale form: someone else saves first; this form is refused and shows their value.
        b.click("a[aria-label='Edit target hooks-renamed']").await;
        let version = now["version"].as_u64().unwrap();
        api.ok("PATCH", &target_path, Some(json!({ "name": "from-the-api", "version": version })), 200);
        b.fill("#f-name", "from-the-browser").await;
        b.submit("main form").await;
        assert!(b.text(".alert").await.contains("changed since the form was opened"));
        assert_eq!(b.find("#f-name").await.prop("value").await.unwrap().unwrap_or_default(), "from-the-api");
        assert_eq!(look()["name"], "from-the-api", "the stale form changed nothing");
    })
    .await;
}
