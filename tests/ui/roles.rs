//! Roles and tenancy in the console: a viewer's pages show no write control, a form posted
//! without the session's CSRF token is refused and stores nothing (also for an owner), a write the
//! viewer's role does not reach is refused by the service (an edit too), another project's ids in a
//! URL give the not-found page, and an owner changes a member's role on the project page.

use serde_json::json;

use crate::browser::{Driver, session};
use crate::process::ApiClient;
use crate::{OWNER, sign_in, start_server};

const VIEWER: (&str, &str) = ("viewer@acme.test", "viewer password 123");

/// Everything the viewer may see is shown without write controls (the only forms left are signing
/// out and their own API tokens); the service refuses their writes, forged posts are refused, and
/// another project's pages are not found.
#[tokio::test(flavor = "multi_thread")]
async fn viewer_sees_no_write_controls_and_forged_posts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let c = ApiClient::setup_and_login(server.addr);
    let a = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "alpha" })), 201)["id"].as_str().unwrap().to_owned();
    let b_id =
        c.ok("POST", "/api/v1/projects", Some(json!({ "name": "beta" })), 201)["id"].as_str().unwrap().to_owned();
    let viewer = c.ok("POST", "/api/v1/users", Some(json!({ "email": VIEWER.0, "password": VIEWER.1 })), 201);
    c.ok(
        "POST",
        &format!("/api/v1/projects/{a}/members"),
        Some(json!({ "user_id": viewer["id"], "role": "viewer" })),
        201,
    );
    let credential = |project: &str| {
        json!({ "project_id": project, "name": "bind", "provider": "rfc2136", "config": {
            "server": "127.0.0.1:53", "key_name": "k", "algorithm": "hmac-sha256", "secret": "c2VjcmV0c2VjcmV0c2VjcmV0" } })
    };
    for project in [&a, &b_id] {
        let cred = c.ok("POST", "/api/v1/dns-credentials", Some(credential(project)), 201);
        let zone = json!({ "project_id": project, "apex": "example.test", "credential_id": cred["id"] });
        c.ok("POST", "/api/v1/zones", Some(zone), 201);
    }
    let target = json!({ "project_id": a, "name": "files", "type": "file", "config": {
        "cert_path": dir.path().join("site/cert.pem"), "key_path": dir.path().join("site/key.pem") } });
    let target_id = c.ok("POST", "/api/v1/targets", Some(target), 201)["id"].as_str().unwrap().to_owned();
    let target_name = || c.ok("GET", &format!("/api/v1/targets/{target_id}"), None, 200)["name"].clone();
    let zones_in_a =
        || c.ok("GET", &format!("/api/v1/zones?project_id={a}"), None, 200)["items"].as_array().unwrap().len();
    let projects = || c.ok("GET", "/api/v1/projects", None, 200)["items"].as_array().unwrap().len();

    let cred_a = c.ok("GET", &format!("/api/v1/dns-credentials?project_id={a}"), None, 200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let driver = Driver::start();
    let (a2, b2, t2) = (a.clone(), b_id.clone(), target_id.clone());
    let v2 = viewer["id"].as_str().unwrap().to_owned();
    session(&driver, server.addr, move |b| async move {
        sign_in(&b, VIEWER).await;
        let pages = [
            ("viewer-overview", "/".to_owned()),
            ("viewer-certificates", "/certificates".to_owned()),
            ("viewer-accounts", format!("/accounts?project={a2}")),
            ("viewer-dns", format!("/dns?project={a2}")),
            ("viewer-targets", format!("/targets?project={a2}")),
            ("viewer-jobs", format!("/jobs?project={a2}")),
            ("viewer-projects", "/projects".to_owned()),
            ("viewer-edit-target", format!("/targets/{t2}/edit")),
            ("viewer-project", format!("/projects/{a2}")),
        ];
        for (name, path) in &pages {
            b.goto(path).await;
            assert!(b.count("main form[method=post]").await == 0, "{name}: a write control is shown to a viewer");
            assert!(b.count("a[href^='/certificates/new']").await == 0, "{name}: 'request a certificate' shown");
            assert!(b.count("main a[href$='/edit']").await == 0, "{name}: an edit link is shown to a viewer");
            b.check(name).await;
        }
        assert!(b.page_text().await.contains("example.test") || b.path().await.starts_with("/projects"));
        b.goto("/audit").await;
        assert_eq!(b.text("h1").await, "Not allowed", "the audit is the owners'");
        b.goto(&format!("/certificates/new?project={a2}")).await;
        assert_eq!(b.text("h1").await, "Not allowed");

        // --- a write the viewer's role does not reach, with the right token: the service refuses it.
        b.goto(&format!("/dns?project={a2}")).await;
        let csrf: String = b.client.get_named_cookie("cap_csrf").await.unwrap().value().to_owned();
        let body = format!("csrf_token={csrf}&project_id={a2}&apex=other.test&credential_id={cred_a}");
        let (status, page) = b.fetch("POST", "/dns/zones", Some(&body)).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("admin role"), "{page}");
        // --- an edit forged with the right token: refused by the service, the target unchanged.
        let body = format!("csrf_token={csrf}&version=1&name=forged&config=%7B%7D");
        let (status, page) = b.fetch("POST", &format!("/targets/{t2}/edit"), Some(&body)).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("admin role"), "{page}");
        // --- the same post without the token is refused before anything runs.
        let (status, page) = b.fetch("POST", "/dns/zones", Some(&format!("project_id={a2}&apex=x.test"))).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("Form refused"), "{page}");

        // --- another project's ids: the not-found page, like ids that do not exist.
        for path in [
            format!("/projects/{b2}"),
            format!("/dns?project={b2}"),
            format!("/jobs?project={b2}"),
            format!("/certificates?project={b2}"),
            "/certificates/01900000-0000-7000-8000-000000000000".to_owned(),
            "/jobs/01900000-0000-7000-8000-000000000000".to_owned(),
        ] {
            b.goto(&path).await;
            assert_eq!(b.text("h1").await, "Not found", "{path}");
        }
        b.check("not-found").await;

        // --- an owner's forged post (no token) is refused as well.
        b.goto("/").await;
        b.submit("header form[action='/logout']").await;
        sign_in(&b, OWNER).await;
        let (status, _) = b.fetch("POST", "/projects", Some("form=project&name=forged")).await;
        assert_eq!(status, 403);

        // --- the owner gives the viewer another role from the project page.
        b.goto(&format!("/projects/{a2}")).await;
        b.fill(&format!("select[aria-label='Role of {}']", VIEWER.0), "operator").await;
        b.submit(&format!("form[action$='/members/role']:has(input[value='{v2}'])")).await;
        assert_eq!(b.text(".notice").await, "Role changed.");
    })
    .await;
    assert_eq!(zones_in_a(), 1, "nothing was stored by the refused posts");
    assert_eq!(projects(), 2, "the forged project was not created");
    assert_eq!(target_name(), "files", "the forged edit changed nothing");
    let members = c.ok("GET", &format!("/api/v1/projects/{a}/members"), None, 200);
    assert_eq!(members["items"][0]["role"], "operator", "the role changed on the project page");
}
