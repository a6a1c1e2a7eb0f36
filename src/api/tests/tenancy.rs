//! Tenancy beyond a project's own records (issue 15, item 14): deployment records across the
//! projects of one organization, and sessions, API tokens, memberships and audit events across
//! organizations sharing one store. The store's own refusals are in the conformance suite
//! (`project_scope_cannot_reach_other_projects` for deployments, `org_records_stay_in_their_organization`,
//! `memberships_name_a_project_and_a_user_of_their_own_organization`, `audit_chains_stay_in_their_organization`).
//!
//! `setup` runs once per installation, so a second organization exists only when written straight
//! into the store, which these tests do. A process serves the first organization of the store
//! (`AppState::organization`, cached once read): the harness caches organization 1 before the
//! second is written, and the second gets the lowest id there is, so `second_process()` on the
//! same store serves organization 2. Each test checks that precondition before relying on it.

use std::time::Duration;

use actix_web::http::Method;
use certautopilot_core::audit::AuditDraft;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use certautopilot_core::store::{AuditWrite, PageRequest, RecordStore, StoreError, prelude::*};
use certautopilot_core::{OrgScope, Principal, ProjectScope, Timestamp};
use serde_json::{Value, json};

use super::harness::*;
use crate::api::route_spec::{Policy, RouteSpec};
use crate::api::routes::table;
use crate::service::state::{AUDIT_SECRET_FIELD, JWT_KEY_FIELD};

/// What project A's and organization 2's records carry, so a leak shows in any response text.
const ALPHA: &str = "ALPHA-7c1e";
const GLOBEX: &str = "GLOBEX-3f9a";

/// Marks `res`'s certificate issued (chain and all) onto its target, and writes the deployment
/// record and the drift event a scan would: every field a reader could leak carries `marker`.
async fn deployed(h: &Harness, org_id: OrgId, res: &Resources, marker: &str) -> Deployment {
    let now = Timestamp::now();
    let mut cert: Certificate = h.store.get(&res.scope, &res.certificate.id).await.unwrap();
    let not_after = now.saturating_add(Duration::from_secs(90 * 86_400));
    cert.mark_issued(format!("{marker}-serial"), now, not_after, format!("{marker}-fingerprint"));
    cert.chain_pem = Some(format!("-----BEGIN CERTIFICATE-----\n{marker}\n-----END CERTIFICATE-----\n"));
    cert.target_ids = vec![res.target.id];
    let cert = h.store.update(&res.scope, &cert).await.unwrap();
    let mut deployment = Deployment::new(res.scope.project_id(), cert.id, res.target.id, now);
    deployment.status = DeploymentStatus::Deployed;
    deployment.serial = cert.serial.clone();
    deployment.fingerprint_sha256 = cert.fingerprint_sha256.clone();
    deployment.deployed_at = Some(now);
    deployment.last_error = Some(format!("{marker}-last-error"));
    deployment.drift = Some(format!("{marker}-drift"));
    deployment.scanned_at = Some(now);
    h.store.insert(&res.scope, &deployment).await.unwrap();
    let draft = AuditDraft {
        org_id,
        actor: Principal::System("scan".into()),
        action: "cert.drift_detected".into(),
        object: Some(AuditObject { kind: "certificate".into(), id: cert.id.to_string() }),
        project_id: Some(res.scope.project_id()),
        details: json!({ "target_id": res.target.id, "found": format!("{marker}-drift") }),
    };
    h.store.append_audit(AuditWrite { draft }).await.unwrap();
    deployment
}

/// A member of `project` with `role` and an API token.
async fn member(h: &Harness, w: &World, project: ProjectId, name: &'static str, role: Role) -> Who {
    let now = Timestamp::now();
    let user = User::new(w.org.id, &format!("{name}@acme.test"), OrgRole::Member, now);
    h.store.insert(&w.org_scope, &user).await.unwrap();
    h.store.insert(&w.org_scope, &Membership::new(w.org.id, project, user.id, role, now)).await.unwrap();
    Who { name, token: Some(api_token(h, &w.org_scope, &user).await), user: Some(user) }
}

/// Everything a project's deployments show through, and what changes them, as the owner sees it.
async fn deployment_state(h: &Harness, org: OrgId, res: &Resources) -> String {
    let page = PageRequest::first(1_000);
    let cert: Certificate = h.store.get(&res.scope, &res.certificate.id).await.unwrap();
    let target: DistributionTarget = h.store.get(&res.scope, &res.target.id).await.unwrap();
    let deployments =
        h.store.list_by_lookup::<Deployment>(&res.scope, &cert.id.to_string(), &page).await.unwrap().items;
    let jobs = h.store.list_project_jobs(&res.scope, &page).await.unwrap().items;
    h.state.flush_audit(org).await;
    let pending = h.store.pending_audit(org, 1_000).await.unwrap().len();
    let head = h.store.audit_head(org).await.unwrap().map(|e| e.seq);
    format!("{cert:?}\n{target:?}\n{deployments:?}\n{jobs:?}\npending audit {pending}, head {head:?}")
}

/// The routes that show a certificate's deployments (its list, the certificate, its timeline and
/// chain, the target, the project's lists) and those that change them (distribute, set targets,
/// edit, scan, renew, revoke, delete), addressed with `cert`, `target` and `project`.
fn deployment_routes(
    cert: &str,
    target: &str,
    project: &str,
    body_target: TargetId,
) -> Vec<(Method, String, Option<Value>)> {
    let c = |tail: &str| format!("/api/v1/certificates/{cert}{tail}");
    vec![
        (Method::GET, c("/deployments"), None),
        (Method::GET, c(""), None),
        (Method::GET, c("/timeline"), None),
        (Method::GET, c("/chain"), None),
        (Method::GET, format!("/api/v1/targets/{target}"), None),
        (Method::GET, format!("/api/v1/certificates?project_id={project}"), None),
        (Method::GET, format!("/api/v1/targets?project_id={project}"), None),
        (Method::GET, format!("/api/v1/jobs?project_id={project}"), None),
        (Method::POST, c("/distribute"), None),
        (Method::PUT, c("/targets"), Some(json!({ "target_ids": [body_target], "version": 2 }))),
        (Method::PATCH, c(""), Some(json!({ "target_ids": [], "version": 2 }))),
        (Method::POST, format!("/api/v1/targets/{target}/scan"), None),
        (Method::POST, c("/renew"), None),
        (Method::POST, c("/revoke"), Some(json!({ "reason": "superseded" }))),
        (Method::DELETE, c(""), None),
        (Method::DELETE, format!("/api/v1/targets/{target}"), None),
    ]
}

fn request(method: &Method, path: &str, body: &Option<Value>, who: &Who) -> Req {
    let req = Req::new(method.clone(), path).acting_as(who);
    match body {
        Some(body) => req.json(body.clone()),
        None => req,
    }
}

/// Project B's viewer, operator and admin address project A's deployed certificate and its target
/// on every route that shows or changes deployment records. Each answer is a 404 byte for byte
/// equal to the same request with ids that exist nowhere, so it reveals nothing, and carries
/// nothing of A's (every field of A's records holds a marker). A's certificate, target,
/// deployment, jobs and audit trail are unchanged afterwards. Their own certificate's deployments
/// and timeline show theirs only, and they cannot attach A's target to it (a deployment onto
/// another project's target). The control at the end: A's own viewer reads the deployment and A's
/// operator distributes, scans and sets targets with the same requests, so each route does expose
/// or change deployments when the caller may, and the 404s are the authorization's.
#[actix_web::test]
async fn deployment_records_of_another_project_are_not_found_for_every_role_and_untouched() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let (a, b) = (&w.a, &w.b);
    let a_deployment = deployed(&h, w.org.id, a, ALPHA).await;
    deployed(&h, w.org.id, b, "beta").await;
    let pb = b.scope.project_id();
    let viewer_b = member(&h, &w, pb, "viewer_b", Role::Viewer).await;
    let operator_b = member(&h, &w, pb, "operator_b", Role::Operator).await;
    let members_b = [viewer_b, operator_b, w.admin_b.clone()];
    let before = deployment_state(&h, w.org.id, a).await;
    assert!(before.contains(&format!("{ALPHA}-drift")), "A's deployment is in the snapshot: {before}");

    let pa = a.scope.project_id().to_string();
    let foreign = deployment_routes(&a.certificate.id.to_string(), &a.target.id.to_string(), &pa, a.target.id);
    let (unknown_cert, unknown_target) = (CertificateId::new().to_string(), TargetId::new().to_string());
    let unknown = deployment_routes(&unknown_cert, &unknown_target, &ProjectId::new().to_string(), TargetId::new());
    for who in &members_b {
        for ((method, path, body), (_, unknown_path, unknown_body)) in foreign.iter().zip(&unknown) {
            let theirs = send(&app, request(method, path, body, who)).await;
            let nowhere = send(&app, request(method, unknown_path, unknown_body, who)).await;
            assert_problem(&theirs, 404, "not_found");
            assert_eq!(theirs.text, nowhere.text, "{method} {path} as {}: unlike an unknown id", who.name);
            assert!(!theirs.text.contains(ALPHA), "{method} {path} as {}: {theirs:?}", who.name);
        }

        // Their own certificate: their deployment only, their timeline only.
        let own =
            send(&app, Req::get(format!("/api/v1/certificates/{}/deployments", b.certificate.id)).acting_as(who)).await;
        assert_eq!(own.status, 200, "{own:?}");
        let targets: Vec<&Value> = own.json["items"].as_array().unwrap().iter().map(|d| &d["target_id"]).collect();
        assert_eq!(targets, [&json!(b.target.id)], "{own:?}");
        assert!(own.text.contains("beta-drift") && !own.text.contains(ALPHA), "{own:?}");
        let timeline =
            send(&app, Req::get(format!("/api/v1/certificates/{}/timeline", b.certificate.id)).acting_as(who)).await;
        assert_eq!(timeline.status, 200, "{timeline:?}");
        assert!(timeline.text.contains("beta-drift") && !timeline.text.contains(ALPHA), "{timeline:?}");

        // A's target onto their own certificate: refused as a target that is not theirs.
        let current: Certificate = h.store.get(&b.scope, &b.certificate.id).await.unwrap();
        let attach = [
            (Method::PUT, "/targets", json!({ "target_ids": [a.target.id], "version": current.version })),
            (Method::PATCH, "", json!({ "target_ids": [a.target.id], "version": current.version })),
        ];
        for (method, tail, body) in attach {
            let path = format!("/api/v1/certificates/{}{tail}", b.certificate.id);
            let resp = send(&app, Req::new(method.clone(), &path).acting_as(who).json(body)).await;
            if who.name == "viewer_b" {
                assert_problem(&resp, 403, "forbidden");
            } else {
                assert_problem(&resp, 422, "validation_failed");
                assert_eq!(resp.json["field"], json!("target_ids[0]"), "{method} {path}: {resp:?}");
            }
        }
    }
    assert_eq!(deployment_state(&h, w.org.id, a).await, before, "project A's deployments changed");
    let b_cert: Certificate = h.store.get(&b.scope, &b.certificate.id).await.unwrap();
    assert_eq!(b_cert.target_ids, vec![b.target.id], "B's certificate kept its own target only");

    // The control: A's own members get through on the same routes.
    let viewer_a = &w.viewer_a;
    let seen =
        send(&app, Req::get(format!("/api/v1/certificates/{}/deployments", a.certificate.id)).acting_as(viewer_a))
            .await;
    assert_eq!(seen.status, 200, "{seen:?}");
    assert_eq!(seen.json["items"][0]["drift"], json!(a_deployment.drift), "{seen:?}");
    let story =
        send(&app, Req::get(format!("/api/v1/certificates/{}/timeline", a.certificate.id)).acting_as(viewer_a)).await;
    assert!(story.text.contains(&format!("{ALPHA}-drift")), "{story:?}");
    for (method, path, _) in foreign.iter().filter(|(m, p, _)| *m == Method::POST && !p.ends_with("/revoke")) {
        let resp = send(&app, Req::new(method.clone(), path).acting_as(&w.operator_a)).await;
        assert_eq!(resp.status, 202, "{method} {path} as A's operator: {resp:?}");
    }
    let current: Certificate = h.store.get(&a.scope, &a.certificate.id).await.unwrap();
    let body = json!({ "target_ids": [a.target.id], "version": current.version });
    let path = format!("/api/v1/certificates/{}/targets", a.certificate.id);
    let resp = send(&app, Req::new(Method::PUT, &path).acting_as(&w.operator_a).json(body)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
}

/// Organization 2, written straight into the store.
struct OtherOrg {
    org: Organization,
    scope: OrgScope,
    owner: Who,
    /// An admin of `res`'s project.
    member: Who,
    owner_session: String,
    /// The id of `member`'s API token.
    member_token_id: ApiTokenId,
    /// A user of no project yet, to add as a member.
    candidate: UserId,
    res: Resources,
    jwt_key: SecretBytes,
}

fn random_key() -> SecretBytes {
    let mut key = vec![0u8; 32];
    rand::fill(&mut key[..]);
    SecretBytes::new(key)
}

/// Organization 2 with its own sealed signing key and audit secret, an owner, an admin of its
/// project, a user of no project, one of each project resource with a deployed certificate, API
/// tokens, a session, and
/// audit events chained by its own secret. Its id is the lowest there is (see the module comment).
async fn other_org(h: &Harness, w: &World) -> OtherOrg {
    assert_eq!(h.state.org().await.unwrap().org.id, w.org.id, "the harness serves organization 1");
    let now = Timestamp::now();
    let mut org = Organization::new("Globex", now);
    org.id = "00000000-0000-7000-8000-000000000001".parse().unwrap();
    let id = org.id.to_string();
    let jwt_key = random_key();
    org.jwt_signing_key = Some(h.state.envelope.seal(&id, JWT_KEY_FIELD, &jwt_key).unwrap());
    org.audit_secret = Some(h.state.envelope.seal(&id, AUDIT_SECRET_FIELD, &random_key()).unwrap());
    h.store.create_organization(&org).await.unwrap();
    let owner = User::new(org.id, "owner@globex.test", OrgRole::Owner, now);
    let scope = OrgScope::for_user(&owner).unwrap();
    h.store.insert(&scope, &owner).await.unwrap();
    let project = Project::new(org.id, "project-g", now);
    h.store.insert(&scope, &project).await.unwrap();
    let member = User::new(org.id, "admin@globex.test", OrgRole::Member, now);
    h.store.insert(&scope, &member).await.unwrap();
    h.store.insert(&scope, &Membership::new(org.id, project.id, member.id, Role::Admin, now)).await.unwrap();
    let candidate = User::new(org.id, "candidate@globex.test", OrgRole::Member, now);
    h.store.insert(&scope, &candidate).await.unwrap();
    let res = resources(h, ProjectScope::for_owner(&owner, &project).unwrap(), "g").await;
    deployed(h, org.id, &res, GLOBEX).await;
    for i in 0..3 {
        let draft = AuditDraft {
            org_id: org.id,
            actor: Principal::User(owner.id),
            action: format!("globex.event.{i}"),
            object: None,
            project_id: Some(project.id),
            details: json!({ "marker": GLOBEX }),
        };
        h.store.append_audit(AuditWrite { draft }).await.unwrap();
    }
    h.state.flush_audit(org.id).await;
    assert_eq!(h.store.audit_head(org.id).await.unwrap().map(|e| e.seq), Some(4), "organization 2's chain");
    let owner_session = session_in(h, &scope, &owner, &jwt_key).await;
    let member_token = api_token(h, &scope, &member).await;
    let member_token_id = member_token.trim_start_matches("cap_").split('.').next().unwrap().parse().unwrap();
    let owner = Who { name: "owner_2", token: Some(api_token(h, &scope, &owner).await), user: Some(owner) };
    let member = Who { name: "admin_2", token: Some(member_token), user: Some(member) };
    OtherOrg { org, scope, owner, member, owner_session, member_token_id, candidate: candidate.id, res, jwt_key }
}

/// A session of `user` in the store and its bearer JWT signed with `key` (the harness's
/// `session_token` signs with the served organization's key).
async fn session_in(h: &Harness, scope: &OrgScope, user: &User, key: &SecretBytes) -> String {
    let now = Timestamp::now();
    let expires_at = now.saturating_add(Duration::from_secs(3_600));
    let session = Session {
        id: SessionId::new(),
        org_id: user.org_id,
        user_id: user.id,
        csrf_token_sha256: crate::service::credentials::secret_digest(&crate::service::credentials::random_secret()),
        expires_at,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    h.store.insert(scope, &session).await.unwrap();
    jwt(key, user.id, user.org_id, session.id, expires_at)
}

fn jwt(key: &SecretBytes, user: UserId, org: OrgId, session: SessionId, expires_at: Timestamp) -> String {
    let claims = crate::service::credentials::jwt::Claims {
        sub: user.to_string(),
        org: org.to_string(),
        sid: session.to_string(),
        iat: Timestamp::now().as_unix_millis() / 1_000,
        exp: expires_at.as_unix_millis() / 1_000,
    };
    crate::service::credentials::jwt::sign(key, &claims)
}

/// The session id inside a JWT the harness or `session_in` made.
fn session_of(token: &str) -> SessionId {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().parse().unwrap()
}

/// Everything of organization 2, as its owner sees it in the store.
async fn org_snapshot(h: &Harness, o: &OtherOrg) -> String {
    let page = PageRequest::first(1_000);
    let (s, r) = (&o.scope, &o.res.scope);
    let mut out = String::new();
    out += &format!("{:?}", h.store.list::<User>(s, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<Project>(s, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<Membership>(s, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<Session>(s, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<ApiToken>(s, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<AcmeAccount>(r, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<DnsCredential>(r, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<Zone>(r, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<DistributionTarget>(r, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<Certificate>(r, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<Deployment>(r, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.list_project_jobs(r, &page).await.unwrap().items);
    out += &format!("{:?}", h.store.pending_audit(o.org.id, 1_000).await.unwrap().len());
    out += &format!("{:?}", h.store.audit_head(o.org.id).await.unwrap());
    out
}

/// A session and an API token only work in the organization they were issued in. At the process
/// serving organization 1: organization 2's owner and admin API tokens (right secret, stored in
/// org 2), org 2's owner's session (signed with org 2's key), and org 2's session id in a JWT
/// signed with org 1's own key (so only the session lookup's scope can refuse it) are all 401 on
/// `me` and on org 2's own project. The same holds the other way at the process serving
/// organization 2, and org 1's owner cannot sign in there with a correct password. The
/// precondition: each credential works at its own organization's process.
#[actix_web::test]
async fn sessions_and_tokens_of_one_organization_are_refused_by_the_other() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let o = other_org(&h, &w).await;
    let app1 = app!(h);
    let p2 = h.second_process().await;
    let app2 = app!(p2);
    assert_eq!(p2.state.org().await.unwrap().org.id, o.org.id, "the second process serves organization 2");
    let org1_key = h.state.org().await.unwrap().jwt_key.expose().to_vec();
    let org1_key = SecretBytes::new(org1_key);
    let owner_1 = w.owner.user.clone().unwrap();
    let owner_1_session = session_token(&h, &w.org_scope, &owner_1).await;
    let owner_2 = o.owner.user.clone().unwrap();
    let later = Timestamp::now().saturating_add(Duration::from_secs(3_600));

    let me = |token: &str| Req::get("/api/v1/auth/me").bearer(token);
    for (token, user) in [
        (o.owner.token.clone().unwrap(), owner_2.id),
        (o.member.token.clone().unwrap(), o.member.user.as_ref().unwrap().id),
        (o.owner_session.clone(), owner_2.id),
    ] {
        let resp = send(&app2, me(&token)).await;
        assert_eq!(resp.status, 200, "precondition: works in its own organization: {resp:?}");
        assert_eq!(resp.json["user"]["id"], json!(user), "{resp:?}");
    }
    for (token, user) in [(w.owner.token.clone().unwrap(), owner_1.id), (owner_1_session.clone(), owner_1.id)] {
        let resp = send(&app1, me(&token)).await;
        assert_eq!(resp.status, 200, "precondition: works in its own organization: {resp:?}");
        assert_eq!(resp.json["user"]["id"], json!(user), "{resp:?}");
    }

    let forged_into_1 = jwt(&org1_key, owner_2.id, o.org.id, session_of(&o.owner_session), later);
    let org_2_credentials = [
        ("org 2 owner's token", o.owner.token.clone().unwrap()),
        ("org 2 admin's token", o.member.token.clone().unwrap()),
        ("org 2 owner's session", o.owner_session.clone()),
        ("org 2 session signed with org 1's key", forged_into_1),
    ];
    let project_2 = format!("/api/v1/projects/{}", o.res.scope.project_id());
    for (what, token) in &org_2_credentials {
        for path in ["/api/v1/auth/me", project_2.as_str(), "/api/v1/audit/events"] {
            let resp = send(&app1, Req::get(path).bearer(token)).await;
            assert_problem(&resp, 401, "unauthenticated");
            assert!(!resp.text.contains(GLOBEX), "{what} on {path}: {resp:?}");
        }
    }

    let forged_into_2 = jwt(&o.jwt_key, owner_1.id, w.org.id, session_of(&owner_1_session), later);
    let org_1_credentials = [
        ("org 1 owner's token", w.owner.token.clone().unwrap()),
        ("org 1 admin's token", w.admin_a.token.clone().unwrap()),
        ("org 1 owner's session", owner_1_session),
        ("org 1 session signed with org 2's key", forged_into_2),
    ];
    let project_a = format!("/api/v1/projects/{}", w.a.scope.project_id());
    for (what, token) in &org_1_credentials {
        for path in ["/api/v1/auth/me", project_a.as_str(), "/api/v1/audit/events"] {
            let resp = send(&app2, Req::get(path).bearer(token)).await;
            assert_problem(&resp, 401, "unauthenticated");
            assert!(!resp.text.contains(ALPHA), "{what} on {path}: {resp:?}");
        }
    }
    let login = json!({ "email": OWNER_EMAIL, "password": OWNER_PASSWORD });
    let resp = send(&app2, Req::new(Method::POST, "/api/v1/auth/login").json(login.clone())).await;
    assert_eq!(resp.status, 401, "org 1's owner signing in at org 2: {resp:?}");
    assert!(resp.headers.get("set-cookie").is_none(), "{resp:?}");
    let resp = send(&app1, Req::new(Method::POST, "/api/v1/auth/login").json(login)).await;
    assert_eq!(resp.status, 200, "the control: the same login at org 1: {resp:?}");
}

/// Ids of organization 2 (with valid bodies that organization 2's owner gets accepted).
struct Ids {
    project: String,
    user: String,
    token: String,
    account: String,
    credential: String,
    zone: String,
    target: String,
    certificate: String,
    job: String,
    approval: String,
    channel: String,
    rule: String,
}

impl Ids {
    fn of(o: &OtherOrg) -> Ids {
        let r = &o.res;
        Ids {
            project: r.scope.project_id().to_string(),
            user: o.member.user.as_ref().unwrap().id.to_string(),
            token: o.member_token_id.to_string(),
            account: r.account.id.to_string(),
            credential: r.credential.id.to_string(),
            zone: r.zone.id.to_string(),
            target: r.target.id.to_string(),
            certificate: r.certificate.id.to_string(),
            job: r.job.id.to_string(),
            approval: r.approval.id.to_string(),
            channel: r.channel.id.to_string(),
            rule: r.rule.id.to_string(),
        }
    }

    fn unknown() -> Ids {
        Ids {
            project: ProjectId::new().to_string(),
            user: UserId::new().to_string(),
            token: ApiTokenId::new().to_string(),
            account: AcmeAccountId::new().to_string(),
            credential: DnsCredentialId::new().to_string(),
            zone: ZoneId::new().to_string(),
            target: TargetId::new().to_string(),
            certificate: CertificateId::new().to_string(),
            job: JobId::new().to_string(),
            approval: certautopilot_core::ids::ApprovalId::new().to_string(),
            channel: certautopilot_core::ids::ChannelId::new().to_string(),
            rule: certautopilot_core::ids::RuleId::new().to_string(),
        }
    }

    /// `route`'s path with these ids, or `None` for a route that names no object of an
    /// organization (the first-run and sign-in routes, the process's actors).
    fn path(&self, route: &RouteSpec) -> Option<String> {
        if route.path.starts_with("/api/v1/admin/actors/") {
            return None;
        }
        // The audit events route takes an optional project (`is_project_id` names required ones).
        let takes_project = route.query.iter().any(|q| q.is_project_id()) || route.path == "/api/v1/audit/events";
        let mut path = route.path.replace("{user_id}", &self.user);
        if path.contains("{id}") {
            let id = match route.path.split('/').nth(3).unwrap() {
                "projects" => &self.project,
                "users" => &self.user,
                "auth" => &self.token,
                "acme-accounts" => &self.account,
                "dns-credentials" => &self.credential,
                "zones" => &self.zone,
                "targets" => &self.target,
                "certificates" => &self.certificate,
                "jobs" => &self.job,
                "approvals" => &self.approval,
                "notification-channels" => &self.channel,
                "notification-rules" => &self.rule,
                other => panic!("no id of organization 2 for {other}: add it to tenancy::Ids"),
            };
            path = path.replace("{id}", id);
        } else if !takes_project && !body_names_project(route) {
            return None;
        }
        if takes_project {
            path = format!("{path}?project_id={}", self.project);
        }
        Some(path)
    }
}

/// Routes whose body names the project the object is created in.
fn body_names_project(route: &RouteSpec) -> bool {
    route.method == Method::POST
        && [
            "/api/v1/acme-accounts",
            "/api/v1/dns-credentials",
            "/api/v1/zones",
            "/api/v1/targets",
            "/api/v1/certificates",
            "/api/v1/notification-channels",
            "/api/v1/notification-rules",
        ]
        .contains(&route.path)
}

/// A body for `route` that organization 2's owner gets accepted for organization 2's objects,
/// naming `ids` where it names objects (so the same body goes out with unknown ids), or `None`.
async fn body(h: &Harness, o: &OtherOrg, route: &RouteSpec, ids: &Ids) -> Option<Value> {
    let r = &o.res;
    let n = unique();
    let project = &ids.project;
    let certificate = || async { h.store.get::<Certificate>(&r.scope, &r.certificate.id).await.unwrap().version };
    let body = match (route.method.clone(), route.path) {
        _ if route.request.is_none() => return None,
        (Method::POST, "/api/v1/auth/tokens")
        | (Method::POST, "/api/v1/users")
        | (Method::POST, "/api/v1/projects") => {
            return None;
        }
        (Method::PATCH, "/api/v1/projects/{id}") => {
            let current: Project = h.store.get(&o.scope, &r.scope.project_id()).await.unwrap();
            json!({ "name": format!("renamed-{n}"), "version": current.version })
        }
        (Method::POST, "/api/v1/projects/{id}/members") => json!({ "user_id": o.candidate, "role": "viewer" }),
        // The member is an admin there: the same role again is accepted and changes nothing.
        (Method::PATCH, "/api/v1/projects/{id}/members/{user_id}") => json!({ "role": "admin" }),
        (Method::POST, "/api/v1/acme-accounts") => json!({ "project_id": project, "name": format!("acct{n}"),
            "directory_url": "https://ca.test/dir", "tos_agreed": true }),
        (Method::POST, "/api/v1/dns-credentials") => json!({ "project_id": project, "name": format!("cred{n}"),
            "provider": "rfc2136", "config": { "server": "127.0.0.1:53", "key_name": "update.",
            "algorithm": "hmac-sha256", "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" } }),
        (Method::PATCH, "/api/v1/dns-credentials/{id}") => {
            let current: DnsCredential = h.store.get(&r.scope, &r.credential.id).await.unwrap();
            json!({ "name": format!("renamed-{n}"), "version": current.version })
        }
        (Method::POST, "/api/v1/dns-credentials/{id}/test") => json!({}),
        (Method::PATCH, "/api/v1/zones/{id}") => {
            let current: Zone = h.store.get(&r.scope, &r.zone.id).await.unwrap();
            json!({ "version": current.version, "propagation": { "strategy": "none" } })
        }
        (Method::POST, "/api/v1/zones") => {
            json!({ "project_id": project, "apex": format!("zone{n}.example.com"), "credential_id": ids.credential })
        }
        (Method::POST, "/api/v1/targets") => json!({ "project_id": project, "name": format!("t{n}"), "type": "file",
            "config": { "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem" } }),
        (Method::PATCH, "/api/v1/targets/{id}") => {
            let current: DistributionTarget = h.store.get(&r.scope, &r.target.id).await.unwrap();
            json!({ "name": format!("renamed-{n}"), "version": current.version })
        }
        (Method::POST, "/api/v1/certificates") => json!({ "project_id": project,
            "common_name": format!("c{n}.{}", r.zone.apex), "key_type": "ecdsa-p256", "acme_account_id": ids.account }),
        (Method::PATCH, "/api/v1/acme-accounts/{id}") => {
            let current: AcmeAccount = h.store.get(&r.scope, &r.account.id).await.unwrap();
            json!({ "version": current.version, "contact": [format!("mailto:ops{n}@globex.test")] })
        }
        (Method::PATCH, "/api/v1/certificates/{id}") => json!({ "version": certificate().await, "paused": true }),
        (Method::POST, "/api/v1/certificates/{id}/revoke") => json!({ "reason": "superseded" }),
        (Method::POST, "/api/v1/discovery/scans") => json!({ "project_id": project, "endpoints": ["127.0.0.1:9"] }),
        (Method::POST, "/api/v1/certificates/import") => {
            json!({ "project_id": project, "chain_pem": chain_issued_elsewhere(&r.zone.apex) })
        }
        // The certificate is managed already: the owner is refused for its state (409).
        (Method::POST, "/api/v1/certificates/{id}/manage") => {
            json!({ "version": certificate().await, "acme_account_id": ids.account })
        }
        (Method::PUT, "/api/v1/certificates/{id}/targets") => {
            json!({ "target_ids": [ids.target], "version": certificate().await })
        }
        (Method::PUT, "/api/v1/projects/{id}/approval-policy") => json!({ "require": "all" }),
        (Method::POST, "/api/v1/approvals/{id}/approve") | (Method::POST, "/api/v1/approvals/{id}/reject") => {
            json!({ "comment": "from organization 1" })
        }
        (Method::POST, "/api/v1/notification-channels") => json!({ "project_id": project, "name": format!("ch{n}"),
            "settings": { "type": "webhook", "url": "https://127.0.0.1:9/hook" }, "secret": "a-signing-secret-long-enough" }),
        (Method::PATCH, "/api/v1/notification-channels/{id}") => {
            let current: NotificationChannel = h.store.get(&r.scope, &r.channel.id).await.unwrap();
            json!({ "name": format!("renamed-{n}"), "version": current.version })
        }
        (Method::POST, "/api/v1/notification-rules") => {
            json!({ "project_id": project, "name": format!("r{n}"), "events": ["cert.issued"], "channel_ids": [ids.channel] })
        }
        (Method::PATCH, "/api/v1/notification-rules/{id}") => {
            let current: NotificationRule = h.store.get(&r.scope, &r.rule.id).await.unwrap();
            json!({ "enabled": true, "version": current.version })
        }
        (method, path) => panic!("{method} {path} takes a body: add one organization 2's owner gets accepted"),
    };
    Some(body)
}

/// Organization 1's owner (reaching projects by ownership) and project A's admin (by membership)
/// send, on every route of the table that names an object or a project, organization 2's ids with
/// bodies organization 2's owner gets accepted. Each answer is byte for byte the answer to the
/// same request with ids that exist nowhere: 404 for the owner everywhere, and for the admin too
/// except on owner-only routes (403 for both ids alike); no answer carries anything of org 2, and
/// org 2 is unchanged afterwards. Organization 1's own lists (users, projects, me, tokens, audit
/// events) show nothing of org 2 either. The control: org 2's owner, at the process serving org 2,
/// sends the same requests and none is a 404, so the ids and bodies were right.
#[actix_web::test]
async fn ids_of_another_organization_are_not_found_and_untouched() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let o = other_org(&h, &w).await;
    let app1 = app!(h);
    let before = org_snapshot(&h, &o).await;
    let (theirs, nowhere) = (Ids::of(&o), Ids::unknown());
    let org_2_marks = [GLOBEX.to_owned(), theirs.project.clone(), theirs.user.clone(), o.org.id.to_string()];
    let routes: Vec<RouteSpec> = table().into_iter().filter(|r| theirs.path(r).is_some()).collect();
    assert!(routes.len() >= 40, "only {} routes name an object or a project", routes.len());
    for who in [&w.owner, &w.admin_a] {
        for route in &routes {
            let path = theirs.path(route).unwrap();
            let mut req = Req::new(route.method.clone(), &path).acting_as(who);
            let mut unknown_req = Req::new(route.method.clone(), nowhere.path(route).unwrap()).acting_as(who);
            if let Some(b) = body(&h, &o, route, &theirs).await {
                req = req.json(b);
                unknown_req = unknown_req.json(body(&h, &o, route, &nowhere).await.unwrap());
            }
            let resp = send(&app1, req).await;
            let unknown = send(&app1, unknown_req).await;
            // Audit events filtered by a project nobody here has: an empty list, as for any id.
            let expected = match (who.name, route.policy) {
                ("admin_a", Policy::Owner) => 403,
                _ if route.path == "/api/v1/audit/events" => 200,
                _ => 404,
            };
            assert_eq!(resp.status.as_u16(), expected, "{} {path} as {}: {resp:?}", route.method, who.name);
            assert_eq!(resp.text, unknown.text, "{} {path} as {}: unlike an unknown id", route.method, who.name);
            for mark in &org_2_marks {
                assert!(!resp.text.contains(mark.as_str()), "{} {path} as {}: {resp:?}", route.method, who.name);
            }
        }
    }
    for path in [
        "/api/v1/users",
        "/api/v1/projects",
        "/api/v1/auth/me",
        "/api/v1/auth/tokens",
        "/api/v1/audit/events?limit=1000",
    ] {
        let resp = send(&app1, Req::get(path).acting_as(&w.owner)).await;
        assert_eq!(resp.status, 200, "{path}: {resp:?}");
        for mark in &org_2_marks {
            assert!(!resp.text.contains(mark.as_str()), "{path}: {resp:?}");
        }
    }
    assert_eq!(org_snapshot(&h, &o).await, before, "organization 2 changed");

    let p2 = h.second_process().await;
    let app2 = app!(p2);
    assert_eq!(p2.state.org().await.unwrap().org.id, o.org.id, "the second process serves organization 2");
    // Deletes last, so every other request still finds what its body names.
    let (deletes, others): (Vec<&RouteSpec>, Vec<&RouteSpec>) = routes.iter().partition(|r| r.method == Method::DELETE);
    for route in others.into_iter().chain(deletes) {
        let path = theirs.path(route).unwrap();
        let mut req = Req::new(route.method.clone(), &path).acting_as(&o.owner);
        if let Some(b) = body(&h, &o, route, &theirs).await {
            req = req.json(b);
        }
        let resp = send(&app2, req).await;
        assert!(
            resp.status.is_success() || resp.status.as_u16() == 409,
            "{} {path} as organization 2's owner: {resp:?}",
            route.method
        );
    }
}

/// Memberships never reach across organizations. Project A's admin (an org 1 membership) cannot
/// add organization 2's user to project A (422 on `user_id`, exactly as for an unknown user), and
/// the store refuses a membership of org 1 naming org 2's project, so no membership can give an
/// org 1 user a scope over an org 2 project: project A's admin gets 404 on org 2's project, its
/// jobs and one of its jobs. (Jobs are kept per project only: before the store refused such a
/// membership, it was stored and `GET /jobs?project_id=` then listed org 2's jobs to A's admin.)
/// At the process serving org 2, org 2's admin cannot reach project A and org 2's member list
/// shows only its own member.
#[actix_web::test]
async fn memberships_of_one_organization_grant_nothing_in_another() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let o = other_org(&h, &w).await;
    let app1 = app!(h);
    let admin_a = w.admin_a.user.clone().unwrap();
    let (pa, p2) = (w.a.scope.project_id(), o.res.scope.project_id());
    let members_a = h.store.project_members(&w.org_scope, pa).await.unwrap();

    let add = |user: String| {
        Req::new(Method::POST, format!("/api/v1/projects/{pa}/members"))
            .acting_as(&w.admin_a)
            .json(json!({ "user_id": user, "role": "admin" }))
    };
    let theirs = send(&app1, add(o.member.user.as_ref().unwrap().id.to_string())).await;
    let nowhere = send(&app1, add(UserId::new().to_string())).await;
    assert_problem(&theirs, 422, "validation_failed");
    assert_eq!(theirs.json["field"], json!("user_id"), "{theirs:?}");
    assert_eq!(theirs.text, nowhere.text);
    assert_eq!(h.store.project_members(&w.org_scope, pa).await.unwrap(), members_a, "project A's members changed");

    let forged = Membership::new(w.org.id, p2, admin_a.id, Role::Admin, Timestamp::now());
    let refused = h.store.insert(&w.org_scope, &forged).await;
    assert!(matches!(refused, Err(StoreError::ScopeMismatch { .. })), "{refused:?}");
    let mine = send(&app1, Req::get("/api/v1/auth/me").acting_as(&w.admin_a)).await;
    let projects: Vec<&Value> = mine.json["memberships"].as_array().unwrap().iter().map(|m| &m["project_id"]).collect();
    assert_eq!(projects, [&json!(pa)], "{mine:?}");
    for path in [
        format!("/api/v1/projects/{p2}"),
        format!("/api/v1/jobs?project_id={p2}"),
        format!("/api/v1/jobs/{}", o.res.job.id),
        format!("/api/v1/certificates/{}/deployments", o.res.certificate.id),
    ] {
        let resp = send(&app1, Req::get(&path).acting_as(&w.admin_a)).await;
        assert_problem(&resp, 404, "not_found");
    }

    let p2_process = h.second_process().await;
    let app2 = app!(p2_process);
    assert_eq!(p2_process.state.org().await.unwrap().org.id, o.org.id, "the second process serves organization 2");
    for path in [format!("/api/v1/projects/{pa}"), format!("/api/v1/jobs?project_id={pa}")] {
        let resp = send(&app2, Req::get(&path).acting_as(&o.member)).await;
        assert_problem(&resp, 404, "not_found");
    }
    let members = send(&app2, Req::get(format!("/api/v1/projects/{p2}/members")).acting_as(&o.member)).await;
    assert_eq!(members.status, 200, "{members:?}");
    let users: Vec<&Value> = members.json["items"].as_array().unwrap().iter().map(|m| &m["user_id"]).collect();
    assert_eq!(users, [&json!(o.member.user.as_ref().unwrap().id)], "{members:?}");
}

/// Each organization's owner lists and verifies only their own audit trail. Organization 1's
/// owner lists a gap-free chain from 1 to organization 1's head with none of organization 2's
/// events (which carry a marker and were chained between org 1's), nothing when filtering by org
/// 2's project, and verifies exactly that many entries; organization 2's owner, at the process
/// serving org 2, lists exactly org 2's events and verifies its 4. Then one of org 1's entries is
/// altered in the database: org 1's verification names it, org 2's still reports its chain intact.
#[actix_web::test]
async fn each_organization_lists_and_verifies_only_its_own_audit_trail() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app1 = app!(h);
    let pa = w.a.scope.project_id();
    let create = |name: &str| {
        Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(json!({ "project_id": pa, "name": name,
            "type": "file", "config": { "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem" } }))
    };
    assert_eq!(send(&app1, create("before")).await.status, 201);
    let o = other_org(&h, &w).await;
    assert_eq!(send(&app1, create("after")).await.status, 201);
    let p2 = h.second_process().await;
    let app2 = app!(p2);
    assert_eq!(p2.state.org().await.unwrap().org.id, o.org.id, "the second process serves organization 2");
    let org_2_actions: Vec<String> =
        h.store.list_audit_events(&o.scope, 0, 100).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(org_2_actions, ["cert.drift_detected", "globex.event.0", "globex.event.1", "globex.event.2"]);

    let events =
        |app_owner: &Who, query: &str| Req::get(format!("/api/v1/audit/events?limit=1000{query}")).acting_as(app_owner);
    let listed = send(&app1, events(&w.owner, "")).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let items = listed.json["items"].as_array().unwrap();
    let head_1 = h.store.audit_head(w.org.id).await.unwrap().unwrap().seq;
    let seqs: Vec<u64> = items.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=head_1).collect::<Vec<_>>(), "org 1's whole chain, in order");
    assert!(items.iter().any(|e| e["action"] == json!("target.created")), "{listed:?}");
    assert!(!listed.text.contains(GLOBEX) && !listed.text.contains("globex.event"), "{listed:?}");
    assert!(!listed.text.contains(&o.res.certificate.id.to_string()), "org 2's drift event: {listed:?}");
    let filtered = send(&app1, events(&w.owner, &format!("&project_id={}", o.res.scope.project_id()))).await;
    assert_eq!(filtered.json["items"], json!([]), "{filtered:?}");
    let verified = send(&app1, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&w.owner)).await;
    assert_eq!((&verified.json["intact"], &verified.json["entries"]), (&json!(true), &json!(head_1)), "{verified:?}");

    let listed = send(&app2, events(&o.owner, "")).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let actions: Vec<&str> =
        listed.json["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, org_2_actions, "{listed:?}");
    let filtered = send(&app2, events(&o.owner, &format!("&project_id={pa}"))).await;
    assert_eq!(filtered.json["items"], json!([]), "{filtered:?}");
    let verified = send(&app2, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&o.owner)).await;
    assert_eq!((&verified.json["intact"], &verified.json["entries"]), (&json!(true), &json!(4)), "{verified:?}");

    let conn = rusqlite::Connection::open(h.dir.path().join("certautopilot.db")).unwrap();
    let altered = conn
        .execute(
            r#"UPDATE audit_events SET doc = replace(doc, '"name":"after"', '"name":"later"')
               WHERE org_id = ?1 AND doc LIKE '%"name":"after"%'"#,
            [w.org.id.to_string()],
        )
        .unwrap();
    assert_eq!(altered, 1, "one entry of org 1 altered");
    let broken = send(&app1, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&w.owner)).await;
    assert_eq!((&broken.json["intact"], &broken.json["broken_at"]), (&json!(false), &json!(head_1)), "{broken:?}");
    let still = send(&app2, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&o.owner)).await;
    assert_eq!((&still.json["intact"], &still.json["entries"]), (&json!(true), &json!(4)), "{still:?}");
}
