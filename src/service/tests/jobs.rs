//! Jobs of a project, with their logs.

use super::*;
use crate::api::tests::harness::world;
use crate::service::jobs;
use certautopilot_core::store::PageRequest;

/// A viewer lists and reads their project's jobs; the other project's job is not found; a page
/// size out of range is refused; without a caller nothing is read.
#[actix_web::test]
async fn viewers_read_their_projects_jobs_only() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let viewer = acting(&h, &w.viewer_a, "listJobs");
    let listed = jobs::list(&viewer, w.a.scope.project_id(), Default::default()).await.unwrap();
    assert_eq!(listed.items.iter().map(|j| j.id).collect::<Vec<_>>(), [w.a.job.id]);
    let one = jobs::get(&acting(&h, &w.viewer_a, "getJob"), w.a.job.id).await.unwrap();
    assert_eq!(one.job.subject, Some(w.a.certificate.id.to_string()));
    assert_refused(jobs::get(&acting(&h, &w.admin_a, "getJob"), w.b.job.id).await, ErrorCode::NotFound, None);
    let huge = PageRequest { limit: Some(5_000), cursor: None };
    let refused = jobs::list(&viewer, w.a.scope.project_id(), huge).await;
    assert_refused(refused, ErrorCode::ValidationFailed, Some("limit"));
    let anonymous = jobs::get(&acting(&h, &w.anonymous, "getJob"), w.a.job.id).await;
    assert_refused(anonymous, ErrorCode::Unauthenticated, None);
}
