//! The inspection routes: owners see the live actors with their figures; everyone else is refused;
//! bad queries get clear errors.

use serde_json::json;

use super::harness::*;

#[actix_web::test]
async fn owners_see_the_kek_actor_and_bad_queries_are_refused() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);

    let all = send(&app, Req::get("/api/v1/admin/actors").acting_as(&w.owner)).await;
    assert_eq!(all.status, 200, "{all:?}");
    let kek = all.json["items"].as_array().unwrap().iter().find(|a| a["kind"] == "kek").expect("kek actor listed");
    assert_eq!((kek["key"].clone(), kek["alive"].clone()), (json!(NODE), json!(true)));
    // Building the world sealed secrets through the actor.
    assert!(kek["messages_handled"].as_u64().unwrap() > 0, "{kek}");
    for field in ["state", "mailbox_depth", "restarts", "last_error", "last_activity", "detail"] {
        assert!(kek.get(field).is_some(), "{field} missing from {kek}");
    }

    let one = send(&app, Req::get(format!("/api/v1/admin/actors/kek/{NODE}")).acting_as(&w.owner)).await;
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(one.json["detail"]["cache_capacity"], json!(1_000));
    assert_eq!(one.json["detail"]["current_version"], json!(1));

    let filtered = send(&app, Req::get("/api/v1/admin/actors?kind=certificate").acting_as(&w.owner)).await;
    assert_eq!(filtered.json["items"], json!([]));

    assert_problem(
        &send(&app, Req::get("/api/v1/admin/actors?kind=kettle").acting_as(&w.owner)).await,
        422,
        "validation_failed",
    );
    assert_problem(
        &send(&app, Req::get("/api/v1/admin/actors?sort=kind").acting_as(&w.owner)).await,
        400,
        "bad_request",
    );
    assert_problem(
        &send(&app, Req::get("/api/v1/admin/actors/kek/other-node").acting_as(&w.owner)).await,
        404,
        "not_found",
    );
    for who in [&w.admin_a, &w.viewer_a] {
        assert_problem(&send(&app, Req::get("/api/v1/admin/actors").acting_as(who)).await, 403, "forbidden");
    }
}
