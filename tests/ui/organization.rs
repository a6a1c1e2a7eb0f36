//! The organization in the console: the owner sets the audit retention (a bad value refused beside
//! its field) and hands the organization over: the page offers the other active users; a wrong
//! password is refused beside its field and changes nothing; with the right one the chosen user
//! owns the organization, and the old owner's next page no longer shows the owner's screens.

use std::time::Duration;

use serde_json::json;

use crate::browser::{Driver, session};
use crate::process::ApiClient;
use crate::{OWNER, sign_in, start_server};

const NEXT: (&str, &str) = ("next-owner@acme.test", "the next owner's password");

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_hands_the_organization_over_from_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let c = ApiClient::setup_and_login(server.addr);
    let next = c.ok("POST", "/api/v1/users", Some(json!({ "email": NEXT.0, "password": NEXT.1 })), 201);
    let owner_now = || c.ok("GET", "/api/v1/organization", None, 200)["owner"]["email"].clone();
    let driver = Driver::start();
    let next_id = next["id"].as_str().unwrap().to_owned();
    session(&driver, server.addr, move |b| async move {
        sign_in(&b, OWNER).await;
        b.goto("/organization").await;
        assert!(b.page_text().await.contains(OWNER.0), "the owner is named");
        b.check("organization").await;
        // The audit retention: a bad value is refused beside its field, a good one saved.
        b.type_into("#f-days", "99999").await;
        b.submit("form[action='/organization/audit-retention']").await;
        assert!(b.page_text().await.contains("must be 0 to 36500"), "{}", b.page_text().await);
        b.check("organization-retention-refused").await;
        b.fill("#f-days", "30").await;
        b.submit("form[action='/organization/audit-retention']").await;
        let saved = b.page_text().await;
        assert!(saved.contains("Audit retention saved.") && saved.contains("30 days live, then archived"), "{saved}");
        let option = b.find("#f-user_id option").await.attr("value").await.unwrap();
        assert_eq!(option.as_deref(), Some(next_id.as_str()), "the one other active user is offered");

        b.type_into("#f-password", "not my password").await;
        b.submit("form[action='/organization/owner']").await;
        assert!(b.page_text().await.contains("the password is wrong"), "{}", b.page_text().await);
        b.check("organization-refused").await;

        b.type_into("#f-password", OWNER.1).await;
        b.submit("form[action='/organization/owner']").await;
        b.wait_for_text(None, "main", Duration::from_secs(10), |t| t.contains("now owns the organization")).await;
        assert_eq!(b.count("a[href='/audit']").await, 0, "the old owner no longer sees the owner's screens");
        assert_eq!(b.count("form[action='/organization/owner']").await, 0);
        b.check("organization-transferred").await;
    })
    .await;
    // The API agrees (the client is the old owner's session: reading who owns needs no owner).
    assert_eq!(owner_now(), json!(NEXT.0));
    assert_eq!(c.ok("GET", "/api/v1/organization", None, 200)["audit_retention_days"], json!(30));
}
