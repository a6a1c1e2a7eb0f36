//! Distribution targets: admins add and change them; reload commands are for owners; operators
//! ask for drift scans.

use certautopilot_core::model::{DistributionTarget, JobKind};
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::*;
use crate::api::tests::harness::{Resources, world};
use crate::api::views::CreateTarget;
use crate::service::targets;

fn file_target(project: &Resources, config: serde_json::Value) -> CreateTarget {
    CreateTarget { project_id: project.scope.project_id(), name: "web".into(), kind: "file".into(), config }
}

fn paths() -> serde_json::Value {
    json!({ "cert_path": "/etc/ssl/web.pem", "key_path": "/etc/ssl/web.key" })
}

/// An admin adds a file target and an operator queues a scan of it; a viewer may not add one, and
/// the other project's target answers not found.
#[actix_web::test]
async fn admins_add_targets_and_operators_scan_them() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let by_viewer = targets::create(&acting(&h, &w.viewer_a, "createTarget"), file_target(&w.a, paths())).await;
    assert_refused(by_viewer, ErrorCode::Forbidden, None);
    let created = targets::create(&acting(&h, &w.admin_a, "createTarget"), file_target(&w.a, paths())).await.unwrap();
    assert_eq!(created.config["cert_path"], json!("/etc/ssl/web.pem"));
    let scan = targets::scan(&acting(&h, &w.operator_a, "scanTarget"), created.id).await.unwrap();
    assert_eq!((scan.job.kind, scan.created), (JobKind::Scan, true));
    assert_eq!(scan.job.subject, Some(format!("target:{}", created.id)), "the scan is the target's job");
    let foreign = targets::get(&acting(&h, &w.admin_a, "getTarget"), w.b.target.id).await;
    assert_refused(foreign, ErrorCode::NotFound, None);
}

/// A configuration that is not an object, a path outside the allowed directories, and an admin's
/// reload command are each refused; nothing is created.
#[actix_web::test]
async fn bad_targets_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let before = audit_actions(&h, &w).await;
    let admin = acting(&h, &w.admin_a, "createTarget");
    let listed = |h: &Harness| {
        let scope = w.a.scope.clone();
        let store = h.store.clone();
        async move { store.list::<DistributionTarget>(&scope, &Default::default()).await.unwrap().items.len() }
    };
    let count = listed(&h).await;
    assert_refused(
        targets::create(&admin, file_target(&w.a, json!([]))).await,
        ErrorCode::ValidationFailed,
        Some("config"),
    );
    let outside = json!({ "cert_path": "/root/web.pem", "key_path": "/etc/ssl/web.key" });
    let refused = targets::create(&admin, file_target(&w.a, outside)).await;
    assert_refused(refused, ErrorCode::ValidationFailed, Some("config.cert_path"));
    let mut reload = paths();
    reload["reload_command"] = json!(["systemctl", "reload", "nginx"]);
    assert_refused(targets::create(&admin, file_target(&w.a, reload)).await, ErrorCode::Forbidden, None);
    assert_eq!(audit_actions(&h, &w).await, before);
    assert_eq!(listed(&h).await, count);
}
