//! Projects: owners create and delete them, admins rename their own, members see theirs.

use certautopilot_core::model::Project;
use certautopilot_core::store::RecordStore;

use super::*;
use crate::api::tests::harness::world;
use crate::api::views::{CreateProject, UpdateProject};
use crate::service::projects;

/// An owner creates a project; an admin may not; a member's list shows only their own project.
#[actix_web::test]
async fn owners_create_projects_and_members_list_their_own() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let by_admin = projects::create(&acting(&h, &w.admin_a, "createProject"), CreateProject { name: "c".into() }).await;
    assert_refused(by_admin, ErrorCode::Forbidden, None);
    let created =
        projects::create(&acting(&h, &w.owner, "createProject"), CreateProject { name: "project-c".into() }).await;
    assert_eq!(created.unwrap().name, "project-c");
    let listed = projects::list(&acting(&h, &w.viewer_a, "listProjects"), Default::default()).await.unwrap();
    let ids: Vec<_> = listed.items.iter().map(|p| p.id).collect();
    assert_eq!(ids, [w.a.scope.project_id()]);
}

/// An admin renames their project; another project answers not found, a bad name is refused and
/// the project keeps its name; a project that still holds records is not deleted.
#[actix_web::test]
async fn admins_rename_their_own_project_only() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let (a, b) = (w.a.scope.project_id(), w.b.scope.project_id());
    let admin = acting(&h, &w.admin_a, "updateProject");
    let rename = |name: &str| UpdateProject { name: name.into(), version: 1 };
    assert_refused(projects::update(&admin, b, rename("mine")).await, ErrorCode::NotFound, None);
    assert_refused(projects::get(&acting(&h, &w.admin_a, "getProject"), b).await, ErrorCode::NotFound, None);
    let before = audit_actions(&h, &w).await;
    assert_refused(projects::update(&admin, a, rename("../x")).await, ErrorCode::ValidationFailed, Some("name"));
    assert_eq!(audit_actions(&h, &w).await, before);
    assert_eq!(h.store.get::<Project>(&w.org_scope, &a).await.unwrap().name, "project-a");
    assert_eq!(projects::update(&admin, a, rename("renamed")).await.unwrap().name, "renamed");
    assert_refused(projects::delete(&acting(&h, &w.owner, "deleteProject"), a).await, ErrorCode::Conflict, None);
}
