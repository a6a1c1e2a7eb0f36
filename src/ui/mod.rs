//! The web console: server-rendered HTML pages (askama templates in `src/ui/templates`, compiled
//! into the binary) with htmx for the little that updates in place, served by the `api` mode at
//! `/` beside the REST API under `/api`. One file per group of screens; every page calls the
//! service layer with the caller's `Authorized` context under the route table's policy for the
//! REST operation of the same id (docs/ui.md).
//! Invariant: no rule of an operation lives here: pages read and forms write only through
//! `crate::service`; a form post needs the session's CSRF token; every page carries the strict
//! Content-Security-Policy (`context::CONTENT_SECURITY_POLICY`).

mod admin;
mod approvals;
mod assets;
mod calendar;
mod certificate_detail;
mod certificates;
pub mod context;
mod credentials;
mod display;
mod edits;
mod forms;
mod imports;
mod jobs;
mod notifications;
mod organization;
mod overview;
mod projects;
mod resources;
mod sign_in;
mod zone_edit;

use actix_web::web;

/// Mounts the console's pages and assets (after the API, so `/api/…` is never shadowed).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(assets::configure)
        .route("/", web::get().to(overview::overview))
        .route("/setup", web::get().to(sign_in::setup_page))
        .route("/setup", web::post().to(sign_in::setup))
        .route("/login", web::get().to(sign_in::login_page))
        .route("/login", web::post().to(sign_in::login))
        .route("/logout", web::post().to(sign_in::logout))
        .route("/certificates", web::get().to(certificates::inventory))
        .route("/certificates/new", web::get().to(certificates::new_page))
        .route("/certificates/new", web::post().to(certificates::create))
        .route("/certificates/import", web::get().to(imports::import_page))
        .route("/certificates/import", web::post().to(imports::import))
        .route("/certificates/discover", web::post().to(imports::discover))
        .route("/certificates/{id}", web::get().to(certificate_detail::detail))
        .route("/certificates/{id}/live", web::get().to(certificate_detail::live))
        .route("/certificates/{id}/chain.pem", web::get().to(certificate_detail::chain))
        .route("/certificates/{id}/{action}", web::post().to(certificate_detail::action))
        .route("/accounts", web::get().to(resources::accounts))
        .route("/accounts", web::post().to(resources::create_account))
        .route("/dns", web::get().to(resources::dns))
        .route("/dns/credentials", web::post().to(credentials::create))
        .route("/dns/zones", web::post().to(resources::create_zone))
        .route("/targets", web::get().to(resources::targets))
        .route("/targets", web::post().to(resources::create_target))
        .route("/accounts/{id}/edit", web::get().to(edits::edit_account_page))
        .route("/accounts/{id}/edit", web::post().to(edits::update_account))
        .route("/targets/{id}/edit", web::get().to(edits::edit_target_page))
        .route("/targets/{id}/edit", web::post().to(edits::update_target))
        .route("/zones/{id}/edit", web::get().to(zone_edit::edit_page))
        .route("/zones/{id}/edit", web::post().to(zone_edit::update))
        .route("/credentials/{id}/edit", web::get().to(credentials::edit_page))
        .route("/credentials/{id}/edit", web::post().to(credentials::update))
        .route("/credentials/{id}/test", web::post().to(credentials::test))
        .route("/{kind:accounts|credentials|zones|targets}/{id}/{action}", web::post().to(resources::record_action))
        .route("/approvals", web::get().to(approvals::list))
        .route("/approvals/policy", web::post().to(approvals::set_policy))
        .route("/approvals/{id}/{action}", web::post().to(approvals::decide))
        .route("/notifications", web::get().to(notifications::list))
        .route("/notifications/channels", web::post().to(notifications::create_channel))
        .route("/notifications/channels/{id}/{action}", web::post().to(notifications::channel_action))
        .route("/notifications/rules", web::post().to(notifications::create_rule))
        .route("/notifications/rules/{id}/delete", web::post().to(notifications::delete_rule))
        .route("/organization", web::get().to(organization::show))
        .route("/organization/owner", web::post().to(organization::transfer))
        .route("/organization/audit-retention", web::post().to(organization::set_retention))
        .route("/jobs", web::get().to(jobs::list))
        .route("/jobs/{id}", web::get().to(jobs::detail))
        .route("/projects", web::get().to(projects::projects))
        .route("/projects", web::post().to(projects::create))
        .route("/projects/{id}", web::get().to(projects::project))
        .route("/projects/{id}/members/{action}", web::post().to(projects::members))
        .route("/tokens", web::get().to(projects::tokens))
        .route("/tokens", web::post().to(projects::create_token))
        .route("/tokens/{id}/revoke", web::post().to(projects::revoke_token))
        .route("/audit", web::get().to(admin::audit))
        .route("/audit/verify", web::post().to(admin::verify))
        .route("/cluster", web::get().to(admin::cluster));
}

#[cfg(test)]
mod tests {
    /// Every operation id the console names (the argument of each `ui.auth` call) is in the route
    /// table, so each page runs under a declared policy; a misspelt id would otherwise surface only
    /// when clicked.
    #[test]
    fn every_operation_the_console_calls_has_a_policy() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            for part in text.split("auth(\"").skip(1) {
                names.push(part.split('"').next().unwrap().to_owned());
            }
        }
        assert!(names.len() > 30, "found {names:?}");
        for name in names {
            assert!(crate::api::routes::policy_of(&name).is_some(), "{name} is not an operation of the route table");
        }
    }
}
