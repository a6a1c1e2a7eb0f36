//! The route table: every API route with its policy, in one place. Handlers are registered from this
//! table with their policy attached as route data (the `Authorized` extractor reads it from the
//! request), the OpenAPI document is generated from it, and the role-matrix test walks it, so a
//! route cannot exist without a declared policy.
//! GraphQL reads the same policies by operation id (`policy_of`).
//! Invariant: the top of `api`'s import tree: it imports the handlers and the generator, and none
//! of them imports it back (only `api::configure` mounts it).

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{guard, web};
use certautopilot_core::model::Role;

use crate::api::auth::Authorized;
use crate::api::handlers::*;
use crate::api::openapi;
use crate::api::route_spec::{Body, Policy, Query, RouteSpec};
use crate::api::views::*;

const LIST: &[Query] = &[Query::PROJECT_ID, Query::CURSOR, Query::LIMIT];
const PAGE: &[Query] = &[Query::CURSOR, Query::LIMIT];
const APPROVAL_LIST: &[Query] = &[Query::PROJECT_ID, Query::APPROVAL_STATUS, Query::CURSOR, Query::LIMIT];
const CERTIFICATE_LIST: &[Query] = &[Query::PROJECT_ID, Query::HEALTH, Query::CURSOR, Query::LIMIT];
const AUDIT: &[Query] =
    &[Query::OPTIONAL_PROJECT_ID, Query::ACTION, Query::FROM, Query::UNTIL, Query::CURSOR, Query::LIMIT];

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $policy:expr, $op:literal, $summary:literal,
        req: $req:expr, $status:literal $resp:expr, query: $query:expr; )*) => {
        pub fn table() -> Vec<RouteSpec> {
            vec![$( RouteSpec {
                method: Method::$method,
                path: $path,
                policy: $policy,
                operation_id: $op,
                summary: $summary,
                request: $req,
                status: $status,
                response: $resp,
                query: $query,
            } ),*]
        }

        pub fn register(cfg: &mut web::ServiceConfig) {
            // One resource per (method, path), as `cfg.route` makes, carrying the route's policy.
            // Fixed paths first: a request is matched against the resources in order, and each
            // path with a `{parameter}` is a pattern match, so the busiest lists no longer pass
            // every pattern before them (no fixed path matches a pattern of its method:
            // `fixed_paths_are_matched_by_no_pattern_of_their_method`, so the order decides nothing).
            for patterns in [false, true] {
                $( if $path.contains('{') == patterns {
                    cfg.service(
                        web::resource($path)
                            .guard(guard::Method(Method::$method))
                            .app_data($policy)
                            .route(web::route().to($handler)),
                    );
                } )*
            }
            // Any other method on a known path: 405 as a problem document, not a silent 404.
            let mut seen = std::collections::BTreeSet::new();
            $( if seen.insert($path) { cfg.route($path, web::route().to(method_not_allowed)); } )*
        }
    };
}

use Policy::{Authenticated, Owner, Public};
const VIEWER: Policy = Policy::Project(Role::Viewer);
const OPERATOR: Policy = Policy::Project(Role::Operator);
const ADMIN: Policy = Policy::Project(Role::Admin);

routes! {
    GET "/api/v1/openapi.json" => openapi_document, Public, "getOpenApi", "this OpenAPI document",
        req: None, 200 None, query: &[];
    POST "/api/v1/setup" => setup::setup, Public, "setup", "create the organization and its owner (once)",
        req: Some(Body::of::<SetupRequest>()), 201 Some(Body::of::<SetupResponse>()), query: &[];
    POST "/api/v1/auth/login" => session::login, Public, "login", "exchange e-mail and password for a session token",
        req: Some(Body::of::<LoginRequest>()), 200 Some(Body::of::<LoginResponse>()), query: &[];
    POST "/api/v1/auth/logout" => session::logout, Authenticated, "logout", "revoke the current session",
        req: None, 204 None, query: &[];
    GET "/api/v1/auth/me" => session::me, Authenticated, "me", "the signed-in user and their memberships",
        req: None, 200 Some(Body::of::<MeView>()), query: &[];
    GET "/api/v1/auth/tokens" => tokens::list, Authenticated, "listApiTokens", "your API tokens",
        req: None, 200 Some(Body::of::<ApiTokenPage>()), query: PAGE;
    POST "/api/v1/auth/tokens" => tokens::create, Authenticated, "createApiToken", "create an API token (shown once; from a signed-in session only, never with a token)",
        req: Some(Body::of::<CreateApiToken>()), 201 Some(Body::of::<CreatedApiToken>()), query: &[];
    DELETE "/api/v1/auth/tokens/{id}" => tokens::revoke, Authenticated, "revokeApiToken", "revoke one of your API tokens (owners: anyone's)",
        req: None, 204 None, query: &[];
    GET "/api/v1/users" => users::list, Owner, "listUsers", "users of the organization",
        req: None, 200 Some(Body::of::<UserPage>()), query: PAGE;
    POST "/api/v1/users" => users::create, Owner, "createUser", "create a user",
        req: Some(Body::of::<CreateUser>()), 201 Some(Body::of::<UserView>()), query: &[];
    GET "/api/v1/users/{id}/tokens" => tokens::list_for_user, Owner, "listUserApiTokens", "a user's API tokens",
        req: None, 200 Some(Body::of::<ApiTokenPage>()), query: PAGE;
    POST "/api/v1/users/{id}/disable" => users::disable, Owner, "disableUser", "disable a user and end all their sessions and API tokens at once",
        req: None, 200 Some(Body::of::<UserView>()), query: &[];
    POST "/api/v1/users/{id}/enable" => users::enable, Owner, "enableUser", "let a disabled user sign in again (old sessions and tokens stay revoked)",
        req: None, 200 Some(Body::of::<UserView>()), query: &[];
    GET "/api/v1/organization" => organization::get, Authenticated, "getOrganization", "the organization and its owner",
        req: None, 200 Some(Body::of::<OrganizationDetail>()), query: &[];
    POST "/api/v1/organization/owner" => organization::transfer_owner, Owner, "transferOwnership", "make another active user the owner (your password re-entered, or a session younger than auth.reauth_window_secs); you become an ordinary user",
        req: Some(Body::of::<TransferOwnership>()), 200 Some(Body::of::<OwnerTransferred>()), query: &[];
    PUT "/api/v1/organization/audit-retention" => organization::set_audit_retention, Owner, "setAuditRetention", "how many days audit entries stay in the live chain before they are archived (null: forever)",
        req: Some(Body::of::<SetAuditRetention>()), 200 Some(Body::of::<OrganizationDetail>()), query: &[];
    GET "/api/v1/projects" => projects::list, Authenticated, "listProjects", "projects you can see",
        req: None, 200 Some(Body::of::<ProjectPage>()), query: PAGE;
    POST "/api/v1/projects" => projects::create, Owner, "createProject", "create a project",
        req: Some(Body::of::<CreateProject>()), 201 Some(Body::of::<ProjectView>()), query: &[];
    GET "/api/v1/projects/{id}" => projects::get, VIEWER, "getProject", "one project",
        req: None, 200 Some(Body::of::<ProjectView>()), query: &[];
    PATCH "/api/v1/projects/{id}" => projects::update, ADMIN, "updateProject", "rename a project",
        req: Some(Body::of::<UpdateProject>()), 200 Some(Body::of::<ProjectView>()), query: &[];
    GET "/api/v1/projects/{id}/approval-policy" => approvals::policy, VIEWER, "getApprovalPolicy", "which operator requests of the project wait for an admin's approval",
        req: None, 200 Some(Body::of::<ApprovalPolicyView>()), query: &[];
    PUT "/api/v1/projects/{id}/approval-policy" => approvals::set_policy, ADMIN, "setApprovalPolicy", "replace the project's approval policy",
        req: Some(Body::of::<ApprovalPolicyView>()), 200 Some(Body::of::<ApprovalPolicyView>()), query: &[];
    GET "/api/v1/approvals" => approvals::list, VIEWER, "listApprovals", "requests waiting for approval (and decided ones) of a project",
        req: None, 200 Some(Body::of::<ApprovalPage>()), query: APPROVAL_LIST;
    GET "/api/v1/approvals/{id}" => approvals::get, VIEWER, "getApproval", "one approval request",
        req: None, 200 Some(Body::of::<ApprovalView>()), query: &[];
    POST "/api/v1/approvals/{id}/approve" => approvals::approve, ADMIN, "approveRequest", "grant a request (starts its job); never your own",
        req: Some(Body::of::<DecideApproval>()), 200 Some(Body::of::<ApprovalDecided>()), query: &[];
    POST "/api/v1/approvals/{id}/reject" => approvals::reject, ADMIN, "rejectRequest", "reject a request, with a comment; never your own",
        req: Some(Body::of::<DecideApproval>()), 200 Some(Body::of::<ApprovalDecided>()), query: &[];
    DELETE "/api/v1/projects/{id}" => projects::delete, Owner, "deleteProject", "delete an empty project",
        req: None, 204 None, query: &[];
    GET "/api/v1/projects/{id}/members" => members::list, VIEWER, "listMembers", "members of a project",
        req: None, 200 Some(Body::of::<MemberPage>()), query: PAGE;
    POST "/api/v1/projects/{id}/members" => members::add, ADMIN, "addMember", "give a user a role in a project",
        req: Some(Body::of::<AddMember>()), 201 Some(Body::of::<MemberView>()), query: &[];
    PATCH "/api/v1/projects/{id}/members/{user_id}" => members::update, ADMIN, "updateMember", "change a member's role in a project",
        req: Some(Body::of::<UpdateMember>()), 200 Some(Body::of::<MemberView>()), query: &[];
    DELETE "/api/v1/projects/{id}/members/{user_id}" => members::remove, ADMIN, "removeMember", "take a user out of a project",
        req: None, 204 None, query: &[];
    GET "/api/v1/acme-catalogue" => acme_accounts::catalogue, Authenticated, "listAcmeCatalogue", "the ACME CAs known by name: directory URLs, staging endpoints, whether EAB is required",
        req: None, 200 Some(Body::of::<AcmeCatalogueView>()), query: &[];
    GET "/api/v1/acme-accounts" => acme_accounts::list, VIEWER, "listAcmeAccounts", "ACME accounts of a project",
        req: None, 200 Some(Body::of::<AcmeAccountPage>()), query: LIST;
    POST "/api/v1/acme-accounts" => acme_accounts::create, ADMIN, "createAcmeAccount", "add an ACME account",
        req: Some(Body::of::<CreateAcmeAccount>()), 201 Some(Body::of::<AcmeAccountView>()), query: &[];
    GET "/api/v1/acme-accounts/{id}" => acme_accounts::get, VIEWER, "getAcmeAccount", "one ACME account",
        req: None, 200 Some(Body::of::<AcmeAccountView>()), query: &[];
    PATCH "/api/v1/acme-accounts/{id}" => acme_accounts::update, ADMIN, "updateAcmeAccount", "change an account's contact, CA bundle or EAB binding (the CA's directory is fetched first; a kept EAB key must come again when the bundle changes)",
        req: Some(Body::of::<UpdateAcmeAccount>()), 200 Some(Body::of::<AcmeAccountView>()), query: &[];
    DELETE "/api/v1/acme-accounts/{id}" => acme_accounts::delete, ADMIN, "deleteAcmeAccount", "delete an ACME account",
        req: None, 204 None, query: &[];
    GET "/api/v1/dns-credentials" => dns::list_credentials, VIEWER, "listDnsCredentials", "DNS credentials of a project",
        req: None, 200 Some(Body::of::<DnsCredentialPage>()), query: LIST;
    POST "/api/v1/dns-credentials" => dns::create_credential, ADMIN, "createDnsCredential", "add a DNS credential",
        req: Some(Body::of::<CreateDnsCredential>()), 201 Some(Body::of::<DnsCredentialView>()), query: &[];
    GET "/api/v1/dns-credentials/{id}" => dns::get_credential, VIEWER, "getDnsCredential", "one DNS credential",
        req: None, 200 Some(Body::of::<DnsCredentialView>()), query: &[];
    PATCH "/api/v1/dns-credentials/{id}" => dns::update_credential, ADMIN, "updateDnsCredential", "change a credential's name or settings (secret fields left out are kept; a moved destination needs them again)",
        req: Some(Body::of::<UpdateDnsCredential>()), 200 Some(Body::of::<DnsCredentialView>()), query: &[];
    POST "/api/v1/dns-credentials/{id}/test" => dns::test_credential, ADMIN, "testDnsCredential", "write and remove a probe TXT record in a zone the credential serves, reporting each step",
        req: Some(Body::optional::<TestDnsCredential>()), 200 Some(Body::of::<CredentialTestResult>()), query: &[];
    DELETE "/api/v1/dns-credentials/{id}" => dns::delete_credential, ADMIN, "deleteDnsCredential", "delete a DNS credential",
        req: None, 204 None, query: &[];
    GET "/api/v1/zones" => dns::list_zones, VIEWER, "listZones", "zones of a project",
        req: None, 200 Some(Body::of::<ZonePage>()), query: LIST;
    POST "/api/v1/zones" => dns::create_zone, ADMIN, "createZone", "add a zone served by a DNS credential",
        req: Some(Body::of::<CreateZone>()), 201 Some(Body::of::<ZoneView>()), query: &[];
    GET "/api/v1/zones/{id}" => dns::get_zone, VIEWER, "getZone", "one zone",
        req: None, 200 Some(Body::of::<ZoneView>()), query: &[];
    PATCH "/api/v1/zones/{id}" => dns::update_zone, ADMIN, "updateZone", "change a zone's credential or propagation settings",
        req: Some(Body::of::<UpdateZone>()), 200 Some(Body::of::<ZoneView>()), query: &[];
    DELETE "/api/v1/zones/{id}" => dns::delete_zone, ADMIN, "deleteZone", "delete a zone",
        req: None, 204 None, query: &[];
    GET "/api/v1/targets" => targets::list, VIEWER, "listTargets", "distribution targets of a project",
        req: None, 200 Some(Body::of::<TargetPage>()), query: LIST;
    POST "/api/v1/targets" => targets::create, ADMIN, "createTarget", "add a distribution target",
        req: Some(Body::of::<CreateTarget>()), 201 Some(Body::of::<TargetView>()), query: &[];
    POST "/api/v1/targets/{id}/scan" => targets::scan, OPERATOR, "scanTarget", "scan the target for drift now (queues a scan job)",
        req: None, 202 Some(Body::of::<JobQueued>()), query: &[];
    GET "/api/v1/targets/{id}" => targets::get, VIEWER, "getTarget", "one distribution target",
        req: None, 200 Some(Body::of::<TargetView>()), query: &[];
    PATCH "/api/v1/targets/{id}" => targets::update, ADMIN, "updateTarget", "change a target's name or configuration (secrets left out are kept)",
        req: Some(Body::of::<UpdateTarget>()), 200 Some(Body::of::<TargetView>()), query: &[];
    DELETE "/api/v1/targets/{id}" => targets::delete, ADMIN, "deleteTarget", "delete a distribution target",
        req: None, 204 None, query: &[];
    GET "/api/v1/notification-channels" => notifications::list_channels, VIEWER, "listNotificationChannels", "notification channels of a project (secrets never shown)",
        req: None, 200 Some(Body::of::<ChannelPage>()), query: LIST;
    POST "/api/v1/notification-channels" => notifications::create_channel, ADMIN, "createNotificationChannel", "add a notification channel: e-mail, webhook, Slack, Teams, Discord, Mattermost, ntfy or Telegram",
        req: Some(Body::of::<CreateChannel>()), 201 Some(Body::of::<ChannelView>()), query: &[];
    GET "/api/v1/notification-channels/{id}" => notifications::get_channel, VIEWER, "getNotificationChannel", "one notification channel",
        req: None, 200 Some(Body::of::<ChannelView>()), query: &[];
    PATCH "/api/v1/notification-channels/{id}" => notifications::update_channel, ADMIN, "updateNotificationChannel", "change a channel's name, settings or secret (a secret left out is kept, unless it would go somewhere new)",
        req: Some(Body::of::<UpdateChannel>()), 200 Some(Body::of::<ChannelView>()), query: &[];
    DELETE "/api/v1/notification-channels/{id}" => notifications::delete_channel, ADMIN, "deleteNotificationChannel", "delete a channel no rule sends to",
        req: None, 204 None, query: &[];
    POST "/api/v1/notification-channels/{id}/test" => notifications::test_channel, ADMIN, "testNotificationChannel", "send a test message through the channel now",
        req: None, 200 Some(Body::of::<ChannelTested>()), query: &[];
    GET "/api/v1/notification-rules" => notifications::list_rules, VIEWER, "listNotificationRules", "notification rules of a project",
        req: None, 200 Some(Body::of::<RulePage>()), query: LIST;
    POST "/api/v1/notification-rules" => notifications::create_rule, ADMIN, "createNotificationRule", "send events of the project to channels, one message each or as a digest",
        req: Some(Body::of::<CreateRule>()), 201 Some(Body::of::<RuleView>()), query: &[];
    GET "/api/v1/notification-rules/{id}" => notifications::get_rule, VIEWER, "getNotificationRule", "one notification rule",
        req: None, 200 Some(Body::of::<RuleView>()), query: &[];
    PATCH "/api/v1/notification-rules/{id}" => notifications::update_rule, ADMIN, "updateNotificationRule", "change a rule (version-checked)",
        req: Some(Body::of::<UpdateRule>()), 200 Some(Body::of::<RuleView>()), query: &[];
    DELETE "/api/v1/notification-rules/{id}" => notifications::delete_rule, ADMIN, "deleteNotificationRule", "delete a rule",
        req: None, 204 None, query: &[];
    GET "/api/v1/certificates" => certificates::list, VIEWER, "listCertificates", "certificates of a project",
        req: None, 200 Some(Body::of::<CertificatePage>()), query: CERTIFICATE_LIST;
    POST "/api/v1/certificates" => certificates::create, OPERATOR, "createCertificate", "request a certificate (queues its issue job)",
        req: Some(Body::of::<CreateCertificate>()), 202 Some(Body::of::<CertificateCreated>()), query: &[];
    POST "/api/v1/certificates/import" => certificates::import, OPERATOR, "importCertificate", "import a certificate issued elsewhere (PEM chain with or without its key, or PKCS#12) to watch it, unmanaged",
        req: Some(Body::of::<ImportCertificate>()), 201 Some(Body::of::<CertificateView>()), query: &[];
    POST "/api/v1/discovery/scans" => certificates::discover, ADMIN, "startDiscoveryScan", "scan endpoints and networks for the certificates they serve (queues a discover job; the unknown ones are recorded unmanaged)",
        req: Some(Body::of::<StartDiscoveryScan>()), 202 Some(Body::of::<JobQueued>()), query: &[];
    POST "/api/v1/certificates/{id}/manage" => certificates::manage, OPERATOR, "manageCertificate", "put an unmanaged certificate under management: an issuer renews it from now on (version-checked)",
        req: Some(Body::of::<ManageCertificate>()), 200 Some(Body::of::<CertificateView>()), query: &[];
    POST "/api/v1/certificates/{id}/renew" => certificates::renew, OPERATOR, "renewCertificate", "renew now (queues a renew job)",
        req: None, 202 Some(Body::of::<CertificateJobRequested>()), query: &[];
    POST "/api/v1/certificates/{id}/revoke" => certificates::revoke, ADMIN, "revokeCertificate", "revoke at the CA (queues a revoke job)",
        req: Some(Body::of::<RevokeCertificate>()), 202 Some(Body::of::<CertificateJobRequested>()), query: &[];
    GET "/api/v1/certificates/{id}/timeline" => certificates::timeline, VIEWER, "getCertificateTimeline", "the certificate's state changes and job steps, oldest first",
        req: None, 200 Some(Body::of::<TimelineView>()), query: &[];
    GET "/api/v1/certificates/{id}/live" => certificates::live, VIEWER, "getCertificateLive", "what the certificate's newest job is doing now, and which DNS servers an order still waits for",
        req: None, 200 Some(Body::of::<LiveStatus>()), query: &[];
    POST "/api/v1/certificates/{id}/distribute" => certificates::distribute, OPERATOR, "distributeCertificate", "deploy the current certificate to every attached target again (one job, all targets at once)",
        req: None, 202 Some(Body::of::<CertificateJobRequested>()), query: &[];
    GET "/api/v1/certificates/{id}/deployments" => certificates::deployments, VIEWER, "getCertificateDeployments", "where the certificate stands on each target",
        req: None, 200 Some(Body::of::<DeploymentList>()), query: &[];
    PUT "/api/v1/certificates/{id}/targets" => certificates::set_targets, OPERATOR, "setCertificateTargets", "attach and detach targets (the full list)",
        req: Some(Body::of::<SetTargets>()), 200 Some(Body::of::<CertificateView>()), query: &[];
    GET "/api/v1/certificates/{id}/chain" => certificates::chain, VIEWER, "getCertificateChain", "the issued chain as PEM (application/pem-certificate-chain)",
        req: None, 200 None, query: &[];
    GET "/api/v1/certificates/{id}" => certificates::get, VIEWER, "getCertificate", "one certificate",
        req: None, 200 Some(Body::of::<CertificateView>()), query: &[];
    PATCH "/api/v1/certificates/{id}" => certificates::update, OPERATOR, "updateCertificate", "change a certificate's renewal policy, targets or pause (version-checked)",
        req: Some(Body::of::<UpdateCertificate>()), 200 Some(Body::of::<CertificateView>()), query: &[];
    DELETE "/api/v1/certificates/{id}" => certificates::delete, ADMIN, "deleteCertificate", "delete a certificate that is revoked, expired or never issued, with its keys (its history stays in the audit trail)",
        req: None, 204 None, query: &[];
    GET "/api/v1/jobs" => jobs::list, VIEWER, "listJobs", "jobs of a project",
        req: None, 200 Some(Body::of::<JobPage>()), query: LIST;
    GET "/api/v1/jobs/{id}" => jobs::get, VIEWER, "getJob", "one job with its log",
        req: None, 200 Some(Body::of::<JobDetail>()), query: &[];
    GET "/api/v1/audit/events" => audit::events, Owner, "listAuditEvents", "audit events, filtered by project, action and time",
        req: None, 200 Some(Body::of::<AuditEventPage>()), query: AUDIT;
    POST "/api/v1/audit/verify" => audit::verify, Owner, "verifyAudit", "verify the audit chain from its verified-up-to mark (or whole, with full=true) and name the first broken link",
        req: None, 200 Some(Body::of::<AuditVerifyResult>()), query: &[Query::FULL];
    GET "/api/v1/cluster/status" => cluster::status, Authenticated, "getClusterStatus", "this node's view of the cluster: leader, term, voters, whether its scheduler is active",
        req: None, 200 Some(Body::of::<ClusterStatusView>()), query: &[];
    POST "/api/v1/admin/cluster/init" => cluster::init, Owner, "initCluster", "make this node a one-voter cluster",
        req: None, 200 Some(Body::of::<ClusterChanged>()), query: &[];
    POST "/api/v1/admin/cluster/join" => cluster::join, Owner, "joinCluster", "add a node: as a learner that catches up, then as a voter",
        req: Some(Body::of::<JoinCluster>()), 200 Some(Body::of::<ClusterChanged>()), query: &[];
    POST "/api/v1/admin/cluster/leave" => cluster::leave, Owner, "leaveCluster", "remove a node from the cluster",
        req: Some(Body::of::<LeaveCluster>()), 200 Some(Body::of::<ClusterChanged>()), query: &[];
    GET "/api/v1/admin/actors" => admin::list, Owner, "listActors", "every live actor of this process: state, mailbox, restarts, last error",
        req: None, 200 Some(Body::of::<ActorList>()), query: &[Query::ACTOR_KIND];
    GET "/api/v1/admin/actors/{kind}/{key}" => admin::get, Owner, "getActor", "one actor by kind and key",
        req: None, 200 Some(Body::of::<ActorView>()), query: &[];
    POST "/api/v1/admin/actors/{kind}/{key}/panic" => admin::panic, Owner, "panicActor", "make an actor panic to watch it restart (debug.fault_injection only)",
        req: None, 202 None, query: &[];
}

/// The policy the table declares for `operation_id` (`createCertificate`, …), computed once: how
/// GraphQL builds the same `Authorized` as the REST route of the same operation
/// (`Authorized::admit(caller, policy_of("createCertificate")?, state)`). Mount GraphQL from
/// `api::configure`, not from this table, so that this file never imports it back.
pub fn policy_of(operation_id: &str) -> Option<Policy> {
    static POLICIES: OnceLock<HashMap<&'static str, Policy>> = OnceLock::new();
    POLICIES
        .get_or_init(|| table().into_iter().map(|r| (r.operation_id, r.policy)).collect())
        .get(operation_id)
        .copied()
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, crate::api::error::ApiError> {
    Err(crate::api::error::ApiError::new(
        crate::api::error::ErrorCode::MethodNotAllowed,
        "this method is not allowed on this path",
    ))
}

/// `GET /api/v1/openapi.json`: the document of this table, generated once.
async fn openapi_document(_auth: Authorized) -> web::Json<serde_json::Value> {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    web::Json(DOCUMENT.get_or_init(|| openapi::document(&table())).clone())
}

#[cfg(test)]
mod tests {
    use actix_web::dev::ResourceDef;

    use super::*;

    /// Registering fixed paths before patterns (`register`) answers every request with the route
    /// the table's order would: no pattern matches a fixed path of the same method.
    #[test]
    fn fixed_paths_are_matched_by_no_pattern_of_their_method() {
        let table = table();
        let (patterns, fixed): (Vec<&RouteSpec>, Vec<&RouteSpec>) = table.iter().partition(|r| r.path.contains('{'));
        assert!(!patterns.is_empty() && !fixed.is_empty());
        for route in &fixed {
            for pattern in patterns.iter().filter(|p| p.method == route.method) {
                assert!(
                    !ResourceDef::new(pattern.path).is_match(route.path),
                    "{} {} would be answered by {}",
                    route.method,
                    route.path,
                    pattern.path
                );
            }
        }
    }
}
