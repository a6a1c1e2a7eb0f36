//! A flood of concurrent bad logins against the real binary (issue 14, item 3), with small numbers:
//! the service stays up, /healthz answers throughout, and logins beyond the password-hashing slots
//! get 503 with Retry-After, never a 500. The figures (memory, latency) come from
//! `certautopilot bench login-flood`.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::process::{ApiClient, Server, http_get, http_request, wait_for_status};

/// One hashing slot and no waiting for it: of 40 logins sent at once (each for its own unknown
/// e-mail, from its own X-Forwarded-For address, so no throttle spreads them), those arriving while
/// a hash runs (tens of milliseconds) are shed with 503 `service_unavailable` and `Retry-After`;
/// the others get 401. /healthz answers 200 all along, the process lives, and the owner logs in
/// once the flood has passed.
#[test]
fn a_login_flood_is_shed_with_503_and_the_service_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[],
        &[("CERTAUTOPILOT_AUTH__PASSWORD_HASH_CONCURRENCY", "1"), ("CERTAUTOPILOT_AUTH__PASSWORD_HASH_WAIT_MS", "0")],
    );
    let addr = server.addr;
    wait_for_status(addr, "/readyz", 200, Duration::from_secs(30));
    ApiClient::setup_and_login(addr);

    let logins = 40;
    let barrier = Barrier::new(logins);
    let flooding = AtomicBool::new(true);
    let (answers, health) = std::thread::scope(|s| {
        let health = s.spawn(|| {
            let mut statuses = Vec::new();
            while flooding.load(Ordering::Relaxed) {
                statuses.push(http_get(addr, "/healthz").0);
                std::thread::sleep(Duration::from_millis(10));
            }
            statuses
        });
        let flood: Vec<_> = (0..logins)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    let body = json!({ "email": format!("nobody{i}@acme.test"), "password": "not the password" });
                    let from = format!("10.0.0.{i}");
                    barrier.wait();
                    http_request(addr, "POST", "/api/v1/auth/login", &[("X-Forwarded-For", &from)], Some(&body))
                })
            })
            .collect();
        let answers: Vec<_> = flood.into_iter().map(|t| t.join().unwrap()).collect();
        flooding.store(false, Ordering::Relaxed);
        (answers, health.join().unwrap())
    });

    let shed: Vec<_> = answers.iter().filter(|(status, _, _)| *status == 503).collect();
    for (status, head, body) in &answers {
        assert!(matches!(status, 401 | 503), "{status} {body}");
        if *status == 503 {
            assert!(head.to_ascii_lowercase().contains("\r\nretry-after: 1"), "{head}");
            assert_eq!(serde_json::from_str::<serde_json::Value>(body).unwrap()["code"], "service_unavailable");
        }
    }
    assert!(!shed.is_empty(), "one slot and no wait: a burst of {logins} must be shed in part");
    assert!(!health.is_empty() && health.iter().all(|s| *s == 200), "/healthz during the flood: {health:?}");
    assert!(server.child.try_wait().unwrap().is_none(), "the service is still running");
    let owner = json!({ "email": "owner@acme.test", "password": "correct horse battery staple" });
    let (status, _, body) =
        http_request(addr, "POST", "/api/v1/auth/login", &[("X-Forwarded-For", "192.0.2.9")], Some(&owner));
    assert_eq!(status, 200, "{body}");
}
