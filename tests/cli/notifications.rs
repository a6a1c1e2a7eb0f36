//! Notifications end to end through the real binary: a renewal whose CA is down tells the project's
//! on-call rule once per change of health (renewal failing with the reason, overdue, expired) over a
//! signed webhook, while another project's rule hears nothing; a process killed in the middle of a
//! send delivers again after restart with the same delivery id; a channel that is down is retried
//! until it answers, one that refuses ends dead with the reason visible; a digest lists a period's
//! events in one message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certautopilot_connectors::notify::DELIVERY_HEADER;
use certautopilot_connectors::targets::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use certautopilot_connectors::testsupport::{
    AcmeEnv, AcmeEnvOptions, ChatStandIn, SmtpServer, SmtpServerOptions, StandIn, StandInAnswer, StandInRequest, ZONE,
};
use serde_json::{Value, json};

use crate::issuance::{ISSUE_DEADLINE, install_ring, project, request, start, wait_status};
use crate::process::ApiClient;

/// Pebble's lifetime for the certificate whose CA goes down (as in `health.rs`): renews at 60 s, is
/// overdue at 100 s, expires at 120 s.
const LIFETIME: Duration = Duration::from_secs(120);
const SECRET: &str = "a-webhook-signing-secret-of-32-b";
/// The router sweeps every second here (the default is a minute).
const NOTIFY: &[(&str, &str)] = &[("CERTAUTOPILOT_NOTIFICATIONS__SWEEP_SECS", "1")];

fn webhook_channel(c: &ApiClient, pid: &str, name: &str, receiver: &StandIn) -> String {
    let body = json!({
        "project_id": pid,
        "name": name,
        "settings": { "type": "webhook", "url": format!("{}/hooks/cap", receiver.url()) },
        "secret": SECRET,
    });
    c.ok("POST", "/api/v1/notification-channels", Some(body), 201)["id"].as_str().unwrap().to_owned()
}

fn rule(c: &ApiClient, pid: &str, name: &str, events: &[&str], channels: &[&str], extra: Value) -> String {
    let mut body = json!({ "project_id": pid, "name": name, "events": events, "channel_ids": channels });
    if let Value::Object(more) = extra {
        body.as_object_mut().unwrap().extend(more);
    }
    c.ok("POST", "/api/v1/notification-rules", Some(body), 201)["id"].as_str().unwrap().to_owned()
}

/// The events a receiver was sent (answered or not), in order.
fn events(receiver: &StandIn) -> Vec<String> {
    receiver.requests().iter().map(|r| r.body["event"].as_str().unwrap_or_default().to_owned()).collect()
}

fn wait_until(deadline: Duration, what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every request is signed over its timestamp and body with the channel's secret.
fn assert_signed(request: &StandInRequest) {
    let timestamp = request.header(TIMESTAMP_HEADER).expect("a timestamp");
    let expected = signature(SECRET.as_bytes(), timestamp, request.text.as_bytes());
    assert_eq!(request.header(SIGNATURE_HEADER), Some(expected.as_str()), "{request:?}");
}

/// The router's sweeps so far, from its registry snapshot.
fn sweeps_after(c: &ApiClient, after: &str) -> bool {
    let actors = c.ok("GET", "/api/v1/admin/actors?kind=notification_router", None, 200);
    actors["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["detail"]["last_sweep_at"].as_str())
        .any(|at| at > after)
}

#[test]
fn a_renewal_against_a_ca_that_is_down_tells_the_right_people_once_with_the_reason() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let options = AcmeEnvOptions { validity: Some(LIFETIME), ..Default::default() };
    let mut env = AcmeEnv::start(&dir.path().join("env"), options);
    let _server = start(dir.path(), NOTIFY);
    let c = ApiClient::setup_and_login(_server.addr);
    let (pid, account) = project(&c, &env, "payments", None);
    let on_call = StandIn::start(|_| (200, json!({})));
    let bystander = StandIn::start(|_| (200, json!({})));
    let channel = webhook_channel(&c, &pid, "on-call", &on_call);
    rule(&c, &pid, "on call", &["health.renewal_failing", "health.overdue", "health.expired"], &[&channel], json!({}));
    rule(&c, &pid, "issued", &["cert.issued"], &[&channel], json!({}));
    // Another project listens for the same events: it must hear nothing of this one's.
    let other =
        c.ok("POST", "/api/v1/projects", Some(json!({ "name": "other" })), 201)["id"].as_str().unwrap().to_owned();
    let other_channel = webhook_channel(&c, &other, "bystander", &bystander);
    rule(
        &c,
        &other,
        "everything",
        &["health.renewal_failing", "health.overdue", "health.expired", "cert.issued"],
        &[&other_channel],
        json!({}),
    );

    let cert = request(&c, &pid, &account, &format!("pay.{ZONE}"), &[]);
    wait_status(&c, &cert, "issued", ISSUE_DEADLINE);
    wait_until(Duration::from_secs(30), "the issued message", || events(&on_call) == ["cert.issued"]);
    env.pebble.stop();

    let wanted = ["cert.issued", "health.renewal_failing", "health.overdue", "health.expired"];
    wait_until(LIFETIME * 2, "failing, overdue and expired, each told", || events(&on_call) == wanted);
    // Two more sweeps look at the expired certificate: nothing is told twice.
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    wait_until(Duration::from_secs(30), "two sweeps", || sweeps_after(&c, &now));
    let later = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    wait_until(Duration::from_secs(30), "another sweep", || sweeps_after(&c, &later));
    assert_eq!(events(&on_call), wanted, "each change told once");
    assert!(bystander.requests().is_empty(), "another project's rule hears nothing: {:?}", bystander.requests());

    let sent = on_call.requests();
    let ids: std::collections::HashSet<_> =
        sent.iter().map(|r| r.header(DELIVERY_HEADER).unwrap().to_owned()).collect();
    assert_eq!(ids.len(), sent.len(), "one delivery id per message");
    for request in &sent {
        assert_signed(request);
        assert_eq!(request.body["data"]["project"]["name"], json!("payments"), "{}", request.body);
    }
    assert!(sent[0].body["subject"].as_str().unwrap().ends_with(&format!("pay.{ZONE} was issued")), "{}", sent[0].body);
    let failing = &sent[1].body;
    assert_eq!(failing["severity"], json!("warning"), "{failing}");
    let reason = failing["data"]["entry"]["details"]["reason"].as_str().unwrap();
    assert!(reason.contains("ACME CA unreachable"), "the reason is the attempt's error: {failing}");
    assert!(failing["subject"].as_str().unwrap().contains(&format!("pay.{ZONE} is renewal failing")), "{failing}");
    assert!(failing["text"].as_str().unwrap().contains(reason), "{failing}");
    assert_eq!(sent[3].body["severity"], json!("critical"));
    // What the closing note quotes: the messages as the on-call receiver got them.
    for request in &sent {
        println!("told: {}", request.body["subject"].as_str().unwrap_or_default());
    }
}

#[test]
fn a_send_cut_off_by_a_crash_is_sent_again_with_the_same_id_and_a_channel_that_is_down_is_waited_for() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let extra: Vec<(&str, &str)> =
        NOTIFY.iter().copied().chain([("CERTAUTOPILOT_NOTIFICATIONS__MAX_ATTEMPTS", "4")]).collect();
    let mut server = start(dir.path(), &extra);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "crash", None);
    // Holds its first request unanswered until released; answers every later one.
    let release = Arc::new(AtomicBool::new(false));
    let held = release.clone();
    let hanging = StandIn::start_answering(move |r| {
        if r.path.ends_with("/hooks/cap") && !held.swap(true, Ordering::SeqCst) {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        StandInAnswer::json(200, json!({}))
    });
    // Down (503) for the first two sends of each event, back afterwards: the outage is counted in
    // sends, not in the test's time, so the retries cannot run out while the test restarts the
    // service (four attempts leave room for one cut off by the kill).
    let refused_so_far = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let flaky = StandIn::start_answering(move |r| {
        let event = r.body["event"].as_str().unwrap_or_default().to_owned();
        let mut refused = refused_so_far.lock().unwrap();
        let count = refused.entry(event).or_default();
        if *count < 2 {
            *count += 1;
            return StandInAnswer::json(503, json!({}));
        }
        StandInAnswer::json(200, json!({}))
    });
    // Refuses for good.
    let refusing =
        StandIn::start_answering(|_| StandInAnswer::json(403, json!({ "error": "secret-looking body text" })));
    // E-mail over STARTTLS with AUTH, to a real SMTP server.
    let smtp_options =
        SmtpServerOptions { auth: Some(("cap".into(), "relay-password-1".into())), ..Default::default() };
    let smtp = SmtpServer::start(&dir.path().join("smtp"), smtp_options);
    let mail = json!({ "project_id": pid, "name": "on-call mail", "secret": "relay-password-1",
        "settings": { "type": "email", "host": "127.0.0.1", "port": smtp.starttls_addr().port(), "security": "starttls",
            "username": "cap", "from": "cap@example.test", "to": ["oncall@example.test"], "trusted_roots_pem": smtp.ca_pem() } });
    let mail = c.ok("POST", "/api/v1/notification-channels", Some(mail), 201)["id"].as_str().unwrap().to_owned();

    // The test action: a Slack channel answers; one with a wrong hook is refused, and says so
    // without the hook (the credential) or Slack's words.
    let slack = ChatStandIn::slack();
    let body = |name: &str, url: &str| json!({ "project_id": pid, "name": name, "settings": { "type": "slack" }, "secret": url });
    let good = c.ok("POST", "/api/v1/notification-channels", Some(body("team chat", &slack.url())), 201);
    let tested =
        c.ok("POST", &format!("/api/v1/notification-channels/{}/test", good["id"].as_str().unwrap()), None, 200);
    assert_eq!(tested["ok"], json!(true), "{tested}");
    assert!(slack.delivered()[0].shown.contains("test of channel team chat"), "{:?}", slack.delivered());
    let wrong_hook = format!("{}wrongwrongwrongwrong", slack.url().trim_end_matches(|ch: char| ch != '/'));
    let bad = c.ok("POST", "/api/v1/notification-channels", Some(body("stale chat", &wrong_hook)), 201);
    let refused =
        c.ok("POST", &format!("/api/v1/notification-channels/{}/test", bad["id"].as_str().unwrap()), None, 200);
    let error = refused["error"].as_str().unwrap_or_default();
    assert_eq!((refused["ok"].clone(), refused["transient"].clone()), (json!(false), json!(false)), "{refused}");
    assert!(error.starts_with("slack: ") && !error.contains("wrongwrong") && !error.contains("127.0.0.1"), "{error}");
    for secret in slack.secrets() {
        assert!(!refused.to_string().contains(&secret), "{refused}");
    }

    let crash = webhook_channel(&c, &pid, "hanging", &hanging);
    let down = webhook_channel(&c, &pid, "down for now", &flaky);
    let dead = webhook_channel(&c, &pid, "refusing", &refusing);
    rule(&c, &pid, "issued", &["cert.issued"], &[&crash, &down, &dead, &mail], json!({}));
    rule(&c, &pid, "digest", &["cert.issued"], &[&down], json!({ "digest_minutes": 1 }));

    let first = request(&c, &pid, &account, &format!("one.{ZONE}"), &[]);
    wait_status(&c, &first, "issued", ISSUE_DEADLINE);
    wait_until(Duration::from_secs(30), "the send in flight", || hanging.requests().len() == 1);
    // Killed with the message sent and its answer not yet read.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = start(dir.path(), &extra);
    // The session outlives the process: it is in the store.
    let c = ApiClient { addr: server.addr, token: c.token.clone() };
    wait_until(Duration::from_secs(60), "the send again after the restart", || hanging.requests().len() == 2);
    let ids: Vec<_> = hanging.requests().iter().map(|r| r.header(DELIVERY_HEADER).unwrap().to_owned()).collect();
    assert_eq!(ids[0], ids[1], "the repeat carries the same delivery id, for the receiver to drop");

    // The e-mail: one message, its subject naming the certificate, its Message-ID the delivery's.
    let mails = smtp.wait_for_messages(1, Duration::from_secs(30));
    let subject = mails[0].header("Subject").unwrap_or_default().to_owned();
    assert!(subject.ends_with(&format!("one.{ZONE} was issued")), "{subject}");
    assert!(mails[0].header("Message-ID").is_some_and(|id| id.ends_with("@certautopilot>")), "{:?}", mails[0]);

    // The refusing channel: dead after one attempt, its reason the status, not the body.
    let jobs =
        |c: &ApiClient| c.ok("GET", &format!("/api/v1/jobs?project_id={pid}&limit=100"), None, 200)["items"].clone();
    let dead_job = || {
        jobs(&c)
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["kind"] == json!("notify") && j["status"] == json!("dead"))
            .cloned()
    };
    wait_until(Duration::from_secs(30), "the refused notification dead", || dead_job().is_some());
    let error = dead_job().unwrap()["last_error"].as_str().unwrap().to_owned();
    assert!(error.contains("refusing") && error.contains("403"), "{error}");
    assert!(!error.contains("secret-looking"), "the receiver's words never reach the job: {error}");

    // The down channel: retried while it answers 503, delivered once it is back.
    let delivered = |r: &&StandInRequest| r.body["event"] == json!("cert.issued");
    let on_down = format!("channel:{down}");
    let settled = || {
        let all: Vec<Value> =
            jobs(&c).as_array().unwrap().iter().filter(|j| j["subject"] == json!(on_down.as_str())).cloned().collect();
        all.len() == 2 && all.iter().all(|j| j["status"] == json!("succeeded"))
    };
    // Its message and its digest: both delivered once it is back.
    wait_until(Duration::from_secs(150), "delivered once back", settled);
    let tries = flaky.requests().iter().filter(delivered).count();
    assert!(tries >= 3, "retried while down, then delivered: {tries}");

    // The digest: one message for the period, listing the issuance.
    let digests: Vec<_> = flaky.requests().into_iter().filter(|r| r.body["event"] == json!("digest")).collect();
    assert!(digests.len() >= 3, "the digest retried while down, then delivered: {}", digests.len());
    let digest = digests.last().unwrap();
    assert_eq!(digest.body["data"]["total"], json!(1), "{}", digest.body);
    assert!(digest.body["text"].as_str().unwrap().contains(&format!("one.{ZONE} was issued")), "{}", digest.body);
}
