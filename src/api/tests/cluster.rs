//! The cluster routes: status for anyone signed in, membership changes for owners, against a real
//! one-node cluster in the test; bad bodies and a node without `[cluster]` get clear errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::*;

/// The node's settings, on a loopback port held by the returned reservation (bound, never
/// listening) for as long as the test keeps it: the node's own listener can share it, no other bind
/// or outgoing connection can take it.
fn settings(
    dir: &std::path::Path,
) -> (certautopilot_config::ClusterConfig, certautopilot_connectors::testsupport::PortReservation) {
    certautopilot_cluster::certs::issue(dir, &[1], &["127.0.0.1".into()]).unwrap();
    let held = certautopilot_connectors::testsupport::PortReservation::tcp();
    let port = held.port();
    let settings = certautopilot_config::ClusterConfig {
        node_id: 1,
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        advertise: format!("127.0.0.1:{port}"),
        source_address: None,
        raft_db: dir.join("raft.db"),
        ca_path: dir.join("ca.pem"),
        cert_path: dir.join("node-1.pem"),
        key_path: dir.join("node-1.key"),
        heartbeat: Duration::from_millis(50),
        election_timeout_min: Duration::from_millis(300),
        election_timeout_max: Duration::from_millis(600),
    };
    (settings, held)
}

#[actix_web::test]
async fn without_a_cluster_status_says_so_and_changes_are_refused() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let status = send(&app, Req::get("/api/v1/cluster/status").acting_as(&w.viewer_a)).await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json, json!({ "enabled": false, "status": null }));
    let join = Req::new(actix_web::http::Method::POST, "/api/v1/admin/cluster/join")
        .json(json!({ "node_id": 2, "addr": "127.0.0.1:7402" }));
    assert_problem(&send(&app, join.acting_as(&w.owner)).await, 409, "conflict");
}

#[actix_web::test]
async fn owners_form_and_change_the_cluster_and_bad_requests_change_nothing() {
    let h = Harness::new().await;
    let (settings, _held) = settings(&h.dir.path().join("cluster"));
    let node = Arc::new(certautopilot_cluster::ClusterNode::start(settings).await.unwrap());
    h.state.set_cluster(node.clone());
    let w = world(&h).await;
    let app = app!(h);

    let init =
        send(&app, Req::new(actix_web::http::Method::POST, "/api/v1/admin/cluster/init").acting_as(&w.owner)).await;
    assert_eq!(init.status, 200, "{init:?}");
    assert_problem(
        &send(&app, Req::new(actix_web::http::Method::POST, "/api/v1/admin/cluster/init").acting_as(&w.owner)).await,
        409,
        "conflict",
    );
    let start = Instant::now();
    loop {
        let s = send(&app, Req::get("/api/v1/cluster/status").acting_as(&w.viewer_a)).await;
        if s.json["status"]["scheduler_active"] == json!(true) {
            assert_eq!(s.json["status"]["voters"], json!([1]));
            assert_eq!(s.json["status"]["leader"], json!(1));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "node never led: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let join =
        |body: serde_json::Value| Req::new(actix_web::http::Method::POST, "/api/v1/admin/cluster/join").json(body);
    for (body, status, code) in [
        (json!({ "node_id": 0, "addr": "127.0.0.1:7402" }), 422, "validation_failed"),
        (json!({ "node_id": 2, "addr": "127.0.0.1:7402", "role": "boss" }), 400, "invalid_json"),
        (json!({ "node_id": 2 }), 400, "invalid_json"),
        (json!({ "node_id": 2, "addr": "no port here" }), 409, "conflict"),
    ] {
        assert_problem(&send(&app, join(body.clone()).acting_as(&w.owner)).await, status, code);
    }
    let leave = Req::new(actix_web::http::Method::POST, "/api/v1/admin/cluster/leave").json(json!({ "node_id": 1 }));
    assert_problem(&send(&app, leave.acting_as(&w.owner)).await, 409, "conflict");
    let leave = Req::new(actix_web::http::Method::POST, "/api/v1/admin/cluster/leave").json(json!({ "node_id": 7 }));
    assert_problem(&send(&app, leave.acting_as(&w.owner)).await, 409, "conflict");
    // Not owners: refused before anything is tried.
    let join_ok = json!({ "node_id": 2, "addr": "127.0.0.1:7402" });
    for who in [&w.admin_a, &w.viewer_a] {
        assert_problem(&send(&app, join(join_ok.clone()).acting_as(who)).await, 403, "forbidden");
    }
    let s = send(&app, Req::get("/api/v1/cluster/status").acting_as(&w.owner)).await;
    assert_eq!(s.json["status"]["voters"], json!([1]), "a refused request changed the membership");

    // The successful init is in the audit chain.
    let events = send(&app, Req::get("/api/v1/audit/events?action=cluster.initialized").acting_as(&w.owner)).await;
    assert_eq!(events.json["items"].as_array().map(Vec::len), Some(1), "{events:?}");
    node.shutdown().await;
}
