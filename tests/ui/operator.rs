//! The operator's whole path through the console against a real Pebble and BIND 9: setup,
//! sign-in, project, ACME account, DNS credential, zone, file target, certificate (a bad name
//! first), watching it become issued on its page, the chain, revocation; then every other screen,
//! narrow screens, sign-out and an expired session. Each step asserts what the user sees; each
//! screen is screenshotted and checked by axe-core.

use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ElsewhereCa, ServedTls, ZONE, verify_chain};
use serde_json::json;

use crate::browser::{Browser, Driver, session};
use crate::{OWNER, sign_in, start_server};

const ISSUE_DEADLINE: Duration = Duration::from_secs(90);

/// Setup, sign-in, and the project, as a first-time user does them; returns the project's id.
async fn first_run(b: &Browser) -> String {
    b.goto("/").await;
    assert_eq!(b.path().await, "/setup", "a fresh installation opens on the setup page");
    b.check("setup").await;
    b.type_into("#f-org_name", "Acme").await;
    b.type_into("#f-email", OWNER.0).await;
    b.type_into("#f-password", OWNER.1).await;
    b.submit("form").await;
    b.wait_for_text(None, ".notice", Duration::from_secs(10), |t| t.contains("set up")).await;
    b.check("login").await;
    sign_in(b, OWNER).await;
    assert!(b.page_text().await.contains("No projects yet"));
    b.check("overview-empty").await;
    b.goto("/projects").await;
    b.fill("#f-name", "web").await;
    b.submit("form:has(input[value=project])").await;
    assert_eq!(b.text(".notice").await, "Created.");
    let href = b.find("main table a[href^='/projects/']").await.attr("href").await.unwrap().unwrap();
    href.trim_start_matches("/projects/").to_owned()
}

/// The account, credential, zone and target of the project, each through its form.
async fn building_blocks(
    b: &Browser,
    pid: &str,
    urls: (String, String),
    bind: (String, String, String, String),
    files: String,
) {
    b.goto(&format!("/accounts?project={pid}")).await;
    b.fill("#f-name", "pebble").await;
    b.fill("#f-directory_url", &urls.0).await;
    b.fill("#f-contact", "mailto:ops@example.test").await;
    b.click("input[name=tos_agreed]").await;
    b.fill("#f-ca_bundle_pem", &urls.1).await;
    b.submit("form[action='/accounts']").await;
    assert_eq!(b.text(".notice").await, "Created.");
    assert!(b.text("main table").await.contains("pebble"));
    b.check("accounts").await;

    // --- edit the account: a contact that is not a mailto: address is refused beside its field,
    // and nothing changes; then a second address is saved.
    b.click("a[aria-label='Edit account pebble']").await;
    b.check("edit-account").await;
    b.fill("#f-contact", "ops@example.test").await;
    b.submit("main form").await;
    assert!(b.text("#e-contact").await.contains("mailto"), "the contact's error is beside it");
    b.check("error-edit-account").await;
    b.goto(&format!("/accounts?project={pid}")).await;
    assert!(b.text("main table").await.contains("mailto:ops@example.test"), "the refused edit changed nothing");
    b.click("a[aria-label='Edit account pebble']").await;
    b.fill("#f-contact", "mailto:ops@example.test\nmailto:certs@example.test").await;
    b.submit("main form").await;
    assert_eq!(b.text(".notice").await, "Saved.");
    assert!(b.text("main table").await.contains("certs@example.test"));

    b.goto(&format!("/dns?project={pid}")).await;
    let (server, key_name, algorithm, secret) = bind;
    b.fill("#f-name", "bind").await;
    b.fill("#f-server", &server).await;
    b.fill("#f-key_name", &key_name).await;
    b.fill("#f-algorithm", &algorithm).await;
    b.fill("#f-secret", &secret).await;
    b.submit("form[action='/dns/credentials']").await;
    assert_eq!(b.text(".notice").await, "Created.");
    assert!(!b.client.source().await.unwrap().contains(&secret), "the TSIG secret is never shown");
    b.fill("#f-apex", ZONE).await;
    b.choose("#f-credential_id", 1).await;
    b.submit("form[action='/dns/zones']").await;
    assert!(b.text("main").await.contains(ZONE));
    b.check("dns").await;

    b.goto(&format!("/targets?project={pid}")).await;
    b.fill("#f-name", "files").await;
    b.fill("#f-type", "file").await;
    b.fill("#f-config", &files).await;
    b.submit("form[action='/targets']").await;
    assert_eq!(b.text(".notice").await, "Created.");
    b.check("targets").await;
}

/// Requests the certificate (after one bad name), watches it become issued, returns its page.
async fn request_and_watch(b: &Browser, pid: &str) -> String {
    b.goto(&format!("/certificates/new?project={pid}")).await;
    b.check("new-certificate").await;
    b.fill("#f-common_name", "not a name!").await;
    b.choose("#f-acme_account_id", 1).await;
    b.submit("form[action='/certificates/new']").await;
    assert!(!b.text("#e-common_name").await.is_empty(), "the bad name is refused beside its field");
    b.fill("#f-common_name", &format!("www.{ZONE}")).await;
    b.click("input[name=target_ids]").await;
    b.submit("form[action='/certificates/new']").await;
    assert!(b.text(".notice").await.contains("requested"));
    let page = b.path().await.split('?').next().unwrap().to_owned();
    assert!(page.starts_with("/certificates/"), "{page}");
    b.screenshot("certificate-issuing").await;
    // The live box polls (htmx) and reloads the page when the job ends: no reload here.
    b.wait_for_text(None, "#cert-status", ISSUE_DEADLINE, |t| t == "issued").await;
    let facts = b.text("#facts-h + dl").await;
    assert!(facts.contains(&format!("www.{ZONE}")));
    // The CA's ARI window, or the plain statement that it gave none: never a blank row.
    let ari = facts.split("CA's renewal window (ARI)").nth(1).expect("the ARI row").trim_start();
    assert!(ari.starts_with("not offered by the CA") || ari.contains(" UTC to "), "ARI row: {ari}");
    b.wait_for_text(Some(&page), "#targets-h + div", Duration::from_secs(60), |t| t.contains("deployed")).await;
    b.check("certificate-issued").await;
    page
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_issues_downloads_and_revokes_through_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = start_server(dir.path());
    let addr = server.addr;
    let key = env.bind.key();
    let bind = (env.bind.addr().to_string(), key.name.clone(), key.algorithm.to_owned(), key.secret.clone());
    let urls = (env.pebble.directory_url(), env.pebble.https_ca_pem());
    let root = env.pebble.issuing_root_pem();
    std::fs::create_dir_all(dir.path().join("site")).unwrap();
    let files = json!({ "cert_path": dir.path().join("site/cert.pem"), "key_path": dir.path().join("site/key.pem") })
        .to_string();
    let driver = Driver::start();
    session(&driver, addr, move |b| async move {
        let pid = first_run(&b).await;
        building_blocks(&b, &pid, urls, bind, files).await;
        let page = request_and_watch(&b, &pid).await;

        // --- the chain downloads from the page and verifies against Pebble's root.
        let href = b.find("a[href$='chain.pem']").await.attr("href").await.unwrap().unwrap();
        let (status, chain) = b.fetch("GET", &href, None).await;
        assert_eq!(status, 200);
        verify_chain(&chain, &root, &format!("www.{ZONE}")).unwrap();

        other_screens(&b, &pid, &page).await;
        import_and_manage(&b, &pid).await;

        // --- revoke with a reason: queued, then revoked on the page.
        b.goto(&page).await;
        b.fill("#revoke-reason", "superseded").await;
        b.submit("form[action$='/revoke']").await;
        assert_eq!(b.text(".notice").await, "Revocation queued.");
        b.wait_for_text(Some(&page), "#cert-status", ISSUE_DEADLINE, |t| t == "revoked").await;
        assert_eq!(b.count("form[action$='/revoke']").await, 0, "a revoked certificate offers no revoke");
        b.check("certificate-revoked").await;

        // --- narrow screens: nothing but wide tables scrolls sideways.
        b.client.set_window_size(390, 844).await.unwrap();
        for (name, path) in [("overview-narrow", "/".to_owned()), ("certificate-narrow", page.clone())] {
            b.goto(&path).await;
            assert!(b.fits_width().await, "{name} is wider than the screen");
            b.screenshot(name).await;
        }
        b.client.set_window_size(1280, 800).await.unwrap();

        // --- sign out, then a session that ends on the server says so.
        b.submit("header form[action='/logout']").await;
        assert!(b.text(".notice").await.contains("signed out"));
        sign_in(&b, OWNER).await;
        let token = b.session_token().await;
        let api = crate::process::ApiClient {
            addr: b.base.trim_start_matches("http://").parse().unwrap(),
            token: Some(token),
        };
        api.ok("POST", "/api/v1/auth/logout", None, 204);
        b.goto("/certificates").await;
        assert_eq!(b.path().await, "/login?expired=1");
        assert!(b.text(".notice").await.contains("expired"));
        b.check("session-expired").await;
    })
    .await;
}

/// A certificate issued elsewhere, through the import form: a key that is not its own is refused
/// beside its field (the chain kept, the key not written back), then it is imported unmanaged
/// and put under management with the project's account from its page.
async fn import_and_manage(b: &Browser, pid: &str) {
    const DAY: Duration = Duration::from_secs(86_400);
    let ca = ElsewhereCa::new("Another CA");
    let cert = ca.leaf(&[&format!("legacy.{ZONE}")], DAY * 10, DAY * 90);
    let stranger = ca.leaf(&[&format!("other.{ZONE}")], DAY, DAY * 90);
    b.goto(&format!("/certificates/import?project={pid}")).await;
    b.fill("#f-chain_pem", &cert.chain_pem).await;
    b.fill("#f-private_key_pem", &stranger.key_pem).await;
    b.submit("form[action='/certificates/import']").await;
    assert!(b.text("#e-private_key_pem").await.contains("not the key of the leaf"));
    assert!(
        b.find("#f-chain_pem").await.prop("value").await.unwrap().unwrap_or_default().contains("BEGIN CERTIFICATE")
    );
    assert_eq!(
        b.find("#f-private_key_pem").await.prop("value").await.unwrap().unwrap_or_default(),
        "",
        "a key is never written back"
    );
    b.check("import-refused").await;
    b.fill("#f-private_key_pem", &cert.key_pem).await;
    b.submit("form[action='/certificates/import']").await;
    assert!(b.text(".notice").await.contains("imported"));
    assert_eq!(b.text("#cert-status").await, "unmanaged");
    assert_eq!(b.count("form[action$='/renew']").await, 0, "nothing renews an unmanaged certificate");
    b.check("certificate-imported").await;
    b.choose("#manage-account", 1).await;
    b.submit("form[action$='/manage']").await;
    assert!(b.text(".notice").await.contains("Under management"));
    assert_eq!(b.text("#cert-status").await, "issued");
    assert!(b.page_text().await.contains("pebble"), "the issuer is named on the page");

    // --- a discovery scan from the same page: a bad endpoint is refused beside its field; then a
    // loopback server serving the certificate just imported is found and named in the scan's log.
    let served = ServedTls::start("127.0.0.2", 0, &cert.chain_pem, &cert.key_pem);
    b.goto(&format!("/certificates/import?project={pid}")).await;
    b.fill("#f-endpoints", "no-port").await;
    b.submit("form[action='/certificates/discover']").await;
    assert!(b.text("#e-endpoints").await.contains("host:port"));
    b.check("discover-refused").await;
    b.fill("#f-endpoints", &served.addr().to_string()).await;
    b.submit("form[action='/certificates/discover']").await;
    assert!(b.path().await.starts_with("/jobs/"), "the scan opens its job");
    let job = b.path().await;
    b.wait_for_text(Some(&job), "main", Duration::from_secs(30), |t| t.contains("serves certificate")).await;
    b.check("discover-report").await;
}

/// Every other screen with the issued certificate in place: inventory, overview, jobs, a job,
/// projects, the project, tokens (a new one shown once), audit with verification, cluster.
async fn other_screens(b: &Browser, pid: &str, page: &str) {
    b.goto("/certificates?status=issued").await;
    assert!(b.text("main table").await.contains(&format!("www.{ZONE}")));
    b.check("inventory").await;
    b.goto("/certificates?status=failed").await;
    assert!(b.text("main table").await.contains("No certificates match"));
    // --- the expiry order: the project's inventory soonest first, the order kept in the form.
    b.goto(&format!("/certificates?project={pid}&sort=expires")).await;
    assert!(b.text("main table").await.contains(&format!("www.{ZONE}")));
    assert_eq!(b.find("select[name=sort]").await.prop("value").await.unwrap().unwrap_or_default(), "expires");
    b.check("inventory-expires").await;
    b.goto("/certificates?sort=soonest").await;
    assert!(b.text(".alert").await.contains("unknown sort"), "a bad order is named, not ignored");
    // --- by health: the issued certificate is ok, nothing fails, a health that is none is named.
    b.goto("/certificates?health=ok").await;
    assert!(b.text("main table").await.contains(&format!("www.{ZONE}")));
    assert_eq!(b.find("select[name=health]").await.prop("value").await.unwrap().unwrap_or_default(), "ok");
    b.check("inventory-health").await;
    b.goto("/certificates?health=renewal_failing").await;
    assert!(b.text("main table").await.contains("No certificates match"));
    b.goto("/certificates?health=fine").await;
    assert!(b.text(".alert").await.contains("unknown health"), "a bad health is named, not ignored");
    b.goto(page).await;
    assert!(b.text("#cert-health").await.contains("ok"), "the certificate's page shows its health");
    b.goto("/").await;
    assert!(b.text(".card.ok").await.starts_with('1'), "one issued certificate on the overview");
    assert!(b.text("a.card[href='/certificates?health=ok']").await.starts_with('1'), "one ok by health");
    assert!(b.count("svg.calendar a").await == 90, "the calendar links each of the 90 days");
    b.check("overview").await;
    // --- approvals: the inbox and the policy form (a rule that is no JSON is named, kept, and
    //     changes nothing; a valid one is saved).
    b.goto(&format!("/approvals?project={pid}")).await;
    assert!(b.text("main").await.contains("Nothing waits for approval"));
    b.fill("#p-require", "rules").await;
    b.fill("#p-rules", "[{\"kind\": \"names\", \"patterns\": [\"bad name\"]}]").await;
    b.submit("form[action='/approvals/policy']").await;
    assert!(b.text(".alert").await.contains("rules[0]"), "the refused rule is named");
    b.fill("#p-rules", &format!("[{{\"kind\": \"names\", \"patterns\": [\"*.prod.{ZONE}\"]}}]")).await;
    b.submit("form[action='/approvals/policy']").await;
    assert_eq!(b.text(".notice").await, "Approval policy saved.");
    assert!(b.text("#p-rules").await.contains(&format!("*.prod.{ZONE}")));
    b.check("approvals").await;
    notifications(b, pid).await;
    b.goto(&format!("/jobs?project={pid}")).await;
    assert!(b.text("main table").await.contains("succeeded"));
    b.check("jobs").await;
    b.click("main table a[href^='/jobs/']").await;
    b.wait_for_text(None, "h1", Duration::from_secs(10), |t| t.contains("job")).await;
    b.check("job").await;
    b.goto("/projects").await;
    b.check("projects").await;
    b.goto(&format!("/projects/{pid}")).await;
    b.check("project").await;
    b.goto("/tokens").await;
    b.fill("#f-name", "ci").await;
    b.submit("form[action='/tokens']").await;
    let token = b.find("#new-token").await.prop("value").await.unwrap().unwrap_or_default();
    assert!(token.starts_with("cap_"), "the new token is shown once: {token}");
    b.check("tokens").await;
    b.goto("/tokens").await;
    assert!(!b.client.source().await.unwrap().contains(&token), "and never again");
    b.goto("/audit").await;
    b.submit("form[action='/audit/verify']").await;
    assert!(b.text(".notice").await.contains("intact"));
    b.check("audit").await;
    b.goto("/cluster").await;
    b.check("cluster").await;
    b.goto(page).await;
}

/// Notifications: a channel refused for its short secret (named, nothing added), then added; its
/// test says the receiver is unreachable; a rule refused for a threshold without its event, then
/// one added for overdue certificates.
async fn notifications(b: &Browser, pid: &str) {
    b.goto(&format!("/notifications?project={pid}")).await;
    assert!(b.text("main").await.contains("No channels yet"));
    b.click("section[aria-labelledby=channels-h] summary").await;
    b.fill("#ch-name", "on-call hook").await;
    b.fill("#ch-type", "webhook").await;
    // Nothing listens on the discard port: the test below is refused at once, on loopback.
    b.fill("#ch-url", "http://127.0.0.1:9/hook").await;
    b.fill("#ch-secret", "short").await;
    b.submit("form[action='/notifications/channels']").await;
    assert!(b.text(".alert").await.contains("secret"), "the short secret is named");
    assert!(b.text("main").await.contains("No channels yet"), "nothing was added");
    b.click("section[aria-labelledby=channels-h] summary").await;
    b.fill("#ch-name", "on-call hook").await;
    b.fill("#ch-type", "webhook").await;
    b.fill("#ch-url", "http://127.0.0.1:9/hook").await;
    b.fill("#ch-secret", "a-signing-secret-long-enough").await;
    b.submit("form[action='/notifications/channels']").await;
    assert_eq!(b.text(".notice").await, "Channel added.");
    let row = b.text("main table").await;
    assert!(row.contains("on-call hook") && row.contains("http://127.0.0.1:9/hook"), "{row}");
    assert!(!b.page_text().await.contains("a-signing-secret-long-enough"), "the secret is never shown");
    b.submit("form[aria-label='Test channel on-call hook']").await;
    let told = b.text(".alert").await;
    assert!(told.contains("Test of on-call hook failed") && told.contains("connection refused"), "{told}");
    b.click("section[aria-labelledby=rules-h] summary").await;
    b.fill("#r-name", "overdue to on-call").await;
    b.click("input[name=events][value='cert.expiring']").await;
    b.click("section[aria-labelledby=rules-h] input[name=channel_ids]").await;
    b.submit("form[action='/notifications/rules']").await;
    assert!(b.text(".alert").await.contains("expiry"), "a threshold is asked for");
    b.click("section[aria-labelledby=rules-h] summary").await;
    b.fill("#r-name", "overdue to on-call").await;
    b.click("input[name=events][value='health.overdue']").await;
    b.click("section[aria-labelledby=rules-h] input[name=channel_ids]").await;
    b.submit("form[action='/notifications/rules']").await;
    assert_eq!(b.text(".notice").await, "Rule added.");
    let rules = b.text("section[aria-labelledby=rules-h] table").await;
    assert!(rules.contains("health.overdue") && rules.contains("on-call hook"), "{rules}");
    b.check("notifications").await;
}
