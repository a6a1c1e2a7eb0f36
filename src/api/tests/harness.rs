//! The test harness: the real app on a fresh store, a world of users and projects, and a request
//! helper that returns status, headers and parsed body.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::{test, web};
use certautopilot_config::AuthConfig;
use certautopilot_core::crypto::{Envelope, LocalKek};
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use certautopilot_core::store::sqlite::SqliteStore;
use certautopilot_core::store::{RecordStore, Store};
use certautopilot_core::{OrgScope, ProjectScope, SystemClock, Timestamp};
use serde_json::{Value, json};

use crate::api::AppState;
use crate::metrics::HttpMetrics;
use crate::service::credentials::{API_TOKEN_PREFIX, secret_digest};

pub const OWNER_EMAIL: &str = "owner@acme.test";
pub const OWNER_PASSWORD: &str = "correct horse battery staple";
pub const BODY_LIMIT: usize = 64 * 1024;

/// The node id the harness's actors are registered under.
pub const NODE: &str = "test-node";

pub struct Harness {
    pub state: web::Data<AppState>,
    /// Owns the KEK actor's thread for as long as the harness lives.
    _kek: certautopilot_actors::kek::KekService,
    pub store: Arc<SqliteStore>,
    pub metrics: Arc<HttpMetrics>,
    pub dir: tempfile::TempDir,
}

/// The directory file targets may name in these tests; nothing is written there (no worker runs).
pub const FILE_TARGET_DIR: &str = "/etc/ssl";

/// File targets may name paths under `FILE_TARGET_DIR`, never the harness's data directory, even
/// though it is listed as allowed too (the protected paths win).
pub fn file_targets(data_dir: &std::path::Path) -> Arc<certautopilot_connectors::targets::FilePathPolicy> {
    Arc::new(certautopilot_connectors::targets::FilePathPolicy::new(
        [std::path::PathBuf::from(FILE_TARGET_DIR), data_dir.to_owned()],
        [data_dir.to_owned()],
    ))
}

pub fn auth_config() -> AuthConfig {
    AuthConfig {
        session_ttl: Duration::from_secs(3_600),
        api_token_max_days: 365,
        login_slowdown_after: 8,
        // Small, so tests that fail many logins do not wait long; the delays are the store's to test.
        login_slowdown_max: Duration::from_millis(100),
        login_lockout_after_per_account_address: 10,
        login_lockout: Duration::from_secs(900),
        login_lockout_after_per_address: 100,
        password_hash_concurrency: 0,
        password_hash_wait: Duration::from_secs(2),
        reauth_window: Duration::from_secs(300),
    }
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::with_auth(auth_config()).await
    }

    /// A harness whose login throttling and password hashing are `auth`.
    pub async fn with_auth(auth: AuthConfig) -> Harness {
        Harness::build(auth, None).await
    }

    /// A harness whose ACME account writes fetch the CA's directory as `serve` does.
    pub async fn with_acme_directory_check(check: crate::service::directory::DirectoryCheck) -> Harness {
        Harness::build(auth_config(), Some(check)).await
    }

    async fn build(auth: AuthConfig, directory_check: Option<crate::service::directory::DirectoryCheck>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
        // The KEK actor as `serve` runs it, so the envelope and the registry are the real ones.
        let actors = certautopilot_actors::ActorRegistry::new();
        let kek = certautopilot_actors::kek::KekService::start(&actors, NODE, Arc::new(LocalKek::ephemeral()), 1_000);
        let envelope = Envelope::new(Arc::new(kek.client()));
        let audit = certautopilot_actors::audit::AuditHub::start(
            store.clone() as Arc<dyn Store>,
            envelope.clone(),
            &actors,
            actix_rt::Arbiter::current(),
            Duration::from_millis(200),
        );
        let mut state = AppState::new(envelope, auth, 5, false, Arc::new(SystemClock))
            .with_actors(actors)
            .with_file_targets(file_targets(dir.path()))
            // Credential tests reach the loopback DNS servers tests start, and give up soon.
            .with_dns_probe(crate::service::dns_probe::DnsProbe {
                egress: certautopilot_connectors::egress::EgressPolicy::allowing_loopback(),
                timeout: Duration::from_secs(2),
                limit: Duration::from_secs(10),
            });
        if let Some(check) = directory_check {
            state = state.with_acme_directory_check(check);
        }
        state.set_store(store.clone() as Arc<dyn Store>);
        state.set_audit(audit);
        Harness { state: web::Data::new(state), _kek: kek, store, metrics: Arc::default(), dir }
    }

    /// Another process's view of this harness's service: its own store connection to the same file,
    /// the same KEK, its own `AppState` (no audit actors: this harness's chain what it writes).
    pub async fn second_process(&self) -> OtherProcess {
        self.second_process_with(certautopilot_config::GraphqlConfig::default()).await
    }

    /// `second_process` with GraphQL bounded by `graphql`. Its store object counts only its own
    /// trips to the database (no audit actor polls through it).
    pub async fn second_process_with(&self, graphql: certautopilot_config::GraphqlConfig) -> OtherProcess {
        let store = Arc::new(SqliteStore::open_in(self.dir.path()).await.unwrap());
        let envelope = Envelope::new(Arc::new(self._kek.client()));
        let state = AppState::new(envelope, auth_config(), 5, false, Arc::new(SystemClock))
            .with_file_targets(file_targets(self.dir.path()))
            .with_graphql(graphql);
        state.set_store(store as Arc<dyn Store>);
        OtherProcess { state: web::Data::new(state), metrics: Arc::default() }
    }
}

/// What `app!` needs of a second process beside a harness.
pub struct OtherProcess {
    pub state: web::Data<AppState>,
    pub metrics: Arc<HttpMetrics>,
}

/// The real application for a harness (a macro: the app's type cannot be named, and a method
/// returning it would borrow the harness for as long as the service lives).
macro_rules! app {
    ($h:expr) => {{
        let readiness = crate::http::Readiness::default();
        readiness.set_ready();
        actix_web::test::init_service(crate::http::app(
            $h.state.clone(),
            actix_web::web::Data::new(readiness),
            $h.metrics.clone(),
            true,
            $crate::api::tests::harness::BODY_LIMIT,
            false,
        ))
        .await
    }};
}
pub(crate) use app;

/// A principal with an API token.
#[derive(Clone)]
pub struct Who {
    pub name: &'static str,
    pub user: Option<User>,
    pub token: Option<String>,
}

/// One of each project-scoped resource in a project.
#[derive(Clone)]
pub struct Resources {
    pub scope: ProjectScope,
    pub account: AcmeAccount,
    pub credential: DnsCredential,
    pub zone: Zone,
    pub target: DistributionTarget,
    pub certificate: Certificate,
    pub job: Job,
    /// A pending request (a renewal of `certificate`) waiting for an admin, asked by a user who is
    /// none of the world's callers, so any admin of the project may decide it.
    pub approval: certautopilot_core::model::ApprovalRequest,
    /// A webhook channel (at loopback, refused by the egress policy) and a rule sending to it.
    pub channel: certautopilot_core::model::NotificationChannel,
    pub rule: certautopilot_core::model::NotificationRule,
}

pub struct World {
    pub org: Organization,
    pub org_scope: OrgScope,
    pub owner: Who,
    pub admin_a: Who,
    pub operator_a: Who,
    pub viewer_a: Who,
    pub admin_b: Who,
    pub anonymous: Who,
    pub a: Resources,
    pub b: Resources,
}

impl World {
    pub fn principals(&self) -> Vec<Who> {
        vec![
            self.anonymous.clone(),
            self.admin_b.clone(),
            self.viewer_a.clone(),
            self.operator_a.clone(),
            self.admin_a.clone(),
            self.owner.clone(),
        ]
    }
}

pub async fn world(h: &Harness) -> World {
    let (org, owner_user) =
        crate::service::setup::perform(&h.state, "Acme", OWNER_EMAIL, OWNER_PASSWORD).await.unwrap();
    let org_scope = OrgScope::for_user(&owner_user).unwrap();
    let now = Timestamp::now();
    let mut projects = Vec::new();
    for name in ["project-a", "project-b"] {
        let project = Project::new(org.id, name, now);
        h.store.insert(&org_scope, &project).await.unwrap();
        projects.push(project);
    }
    let owner = Who { name: "owner", token: Some(api_token(h, &org_scope, &owner_user).await), user: Some(owner_user) };
    let member = |name: &'static str, project: usize, role: Role| {
        let (projects, org_scope, h) = (&projects, &org_scope, h);
        async move {
            let user = User::new(org.id, &format!("{name}@acme.test"), OrgRole::Member, now);
            h.store.insert(org_scope, &user).await.unwrap();
            h.store
                .insert(org_scope, &Membership::new(org.id, projects[project].id, user.id, role, now))
                .await
                .unwrap();
            Who { name, token: Some(api_token(h, org_scope, &user).await), user: Some(user) }
        }
    };
    let admin_a = member("admin_a", 0, Role::Admin).await;
    let operator_a = member("operator_a", 0, Role::Operator).await;
    let viewer_a = member("viewer_a", 0, Role::Viewer).await;
    let admin_b = member("admin_b", 1, Role::Admin).await;
    let owner_user = owner.user.clone().unwrap();
    let a = resources(h, ProjectScope::for_owner(&owner_user, &projects[0]).unwrap(), "a").await;
    let b = resources(h, ProjectScope::for_owner(&owner_user, &projects[1]).unwrap(), "b").await;
    World {
        org,
        org_scope,
        owner,
        admin_a,
        operator_a,
        viewer_a,
        admin_b,
        anonymous: Who { name: "anonymous", user: None, token: None },
        a,
        b,
    }
}

/// A fresh API token for `user`, straight into the store.
pub async fn api_token(h: &Harness, org_scope: &OrgScope, user: &User) -> String {
    let secret = crate::service::credentials::random_secret();
    let now = Timestamp::now();
    let token = ApiToken {
        id: ApiTokenId::new(),
        org_id: user.org_id,
        user_id: user.id,
        name: "test".into(),
        secret_sha256: secret_digest(&secret),
        expires_at: None,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    h.store.insert(org_scope, &token).await.unwrap();
    format!("{API_TOKEN_PREFIX}{}.{secret}", token.id)
}

/// A signed-in session for `user`, straight into the store, and its bearer token: what a login
/// returns, for users that have no password.
pub async fn session_token(h: &Harness, org_scope: &OrgScope, user: &User) -> String {
    let now = Timestamp::now();
    let expires_at = now.saturating_add(Duration::from_secs(3_600));
    let session = Session {
        id: SessionId::new(),
        org_id: user.org_id,
        user_id: user.id,
        csrf_token_sha256: secret_digest(&crate::service::credentials::random_secret()),
        expires_at,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    h.store.insert(org_scope, &session).await.unwrap();
    let org = h.state.organization().await.unwrap().unwrap();
    let claims = crate::service::credentials::jwt::Claims {
        sub: user.id.to_string(),
        org: user.org_id.to_string(),
        sid: session.id.to_string(),
        iat: now.as_unix_millis() / 1_000,
        exp: expires_at.as_unix_millis() / 1_000,
    };
    crate::service::credentials::jwt::sign(&org.jwt_key, &claims)
}

pub async fn resources(h: &Harness, scope: ProjectScope, tag: &str) -> Resources {
    let now = Timestamp::now();
    let n = unique();
    let account = AcmeAccount::new(scope.project_id(), format!("acct-{tag}-{n}"), "https://ca.test/dir", now);
    h.store.insert(&scope, &account).await.unwrap();
    let credential = DnsCredential::new(scope.project_id(), format!("cred-{tag}-{n}"), Rfc2136Config::default(), now);
    h.store.insert(&scope, &credential).await.unwrap();
    let zone = Zone::new(scope.project_id(), format!("z{n}.{tag}.example"), credential.id, now);
    h.store.insert(&scope, &zone).await.unwrap();
    let target = DistributionTarget::new(scope.project_id(), format!("target-{tag}-{n}"), TargetKind::File, now);
    h.store.insert(&scope, &target).await.unwrap();
    let certificate = Certificate::new(
        scope.project_id(),
        format!("www{n}.{tag}.example"),
        vec![format!("www{n}.{tag}.example")],
        KeyType::EcdsaP256,
        account.id,
        now,
    );
    let job = NewJob::for_project(&scope, JobKind::Issue, 3).subject(certificate.id.to_string());
    let job = h.store.insert_and_enqueue(&scope, &certificate, job, None).await.unwrap().job;
    let approval = certautopilot_core::model::ApprovalRequest::new(
        scope.project_id(),
        certificate.id,
        certautopilot_core::model::ApprovalAction::Renew,
        certautopilot_core::ids::UserId::new(),
        vec!["the project requires approval of every request".into()],
        24,
        now,
    );
    h.store.insert(&scope, &approval).await.unwrap();
    let channel = notification_channel(h, &scope, &format!("hook-{tag}-{n}")).await;
    let rule = certautopilot_core::model::NotificationRule {
        id: certautopilot_core::ids::RuleId::new(),
        project_id: scope.project_id(),
        name: format!("rule-{tag}-{n}"),
        enabled: true,
        events: vec![certautopilot_core::model::EventKind::Issued],
        channel_ids: vec![channel.id],
        expiry: None,
        digest_minutes: None,
        created_by: certautopilot_core::ids::UserId::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    h.store.insert(&scope, &rule).await.unwrap();
    Resources { scope, account, credential, zone, target, certificate, job, approval, channel, rule }
}

/// A webhook notification channel of the project, stored directly, that no rule sends to. It
/// points at loopback, which the harness's egress policy refuses: a test of it opens no socket.
pub async fn notification_channel(
    h: &Harness,
    scope: &ProjectScope,
    name: &str,
) -> certautopilot_core::model::NotificationChannel {
    let now = Timestamp::now();
    let id = certautopilot_core::ids::ChannelId::new();
    let secret = certautopilot_core::crypto::SecretBytes::from_text("a-signing-secret-of-enough-length");
    let channel = certautopilot_core::model::NotificationChannel {
        id,
        project_id: scope.project_id(),
        name: name.to_owned(),
        settings: certautopilot_core::model::ChannelSettings::Webhook {
            url: "https://127.0.0.1:9/cap".into(),
            trusted_roots_pem: None,
        },
        secret: Some(h.state.envelope.seal(&id.to_string(), "secret", &secret).unwrap()),
        created_by: certautopilot_core::ids::UserId::new(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    h.store.insert(scope, &channel).await.unwrap();
    channel
}

/// An imported certificate for a name under `apex`, unmanaged, living 90 days (one of them past).
pub async fn unmanaged_certificate(h: &Harness, scope: &ProjectScope, apex: &str) -> Certificate {
    let now = Timestamp::now();
    let n = unique();
    let day = std::time::Duration::from_secs(86_400);
    let found = IssuedElsewhere {
        names: vec![format!("imported{n}.{apex}")],
        key_type: KeyType::EcdsaP256,
        serial: format!("{n:02x}"),
        not_before: now.saturating_sub(day),
        not_after: now.saturating_add(day * 89),
        fingerprint_sha256: format!("{n:064x}"),
        chain_pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into(),
    };
    let cert = Certificate::unmanaged(scope.project_id(), found, CertificateOrigin::Imported, now);
    h.store.insert(scope, &cert).await.unwrap();
    cert
}

/// A PEM chain issued elsewhere (a test CA of its own) for a name under `apex`, to import.
pub fn chain_issued_elsewhere(apex: &str) -> String {
    let ca = certautopilot_connectors::testsupport::ElsewhereCa::new("Elsewhere");
    let day = std::time::Duration::from_secs(86_400);
    ca.leaf(&[&format!("e{}.{apex}", unique())], day, day * 90).chain_pem
}

pub fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

/// A request to send.
pub struct Req {
    pub method: actix_web::http::Method,
    pub path: String,
    pub bearer: Option<String>,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub content_type: Option<&'static str>,
    pub body: Option<Vec<u8>>,
}

impl Req {
    pub fn new(method: actix_web::http::Method, path: impl Into<String>) -> Req {
        Req { method, path: path.into(), bearer: None, cookie: None, csrf: None, content_type: None, body: None }
    }
    pub fn get(path: impl Into<String>) -> Req {
        Req::new(actix_web::http::Method::GET, path)
    }
    pub fn json(mut self, body: Value) -> Req {
        self.content_type = Some("application/json");
        self.body = Some(serde_json::to_vec(&body).unwrap());
        self
    }
    pub fn raw(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Req {
        self.content_type = Some(content_type);
        self.body = Some(body.into());
        self
    }
    pub fn acting_as(mut self, who: &Who) -> Req {
        self.bearer = who.token.clone();
        self
    }
    pub fn bearer(mut self, token: &str) -> Req {
        self.bearer = Some(token.to_owned());
        self
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

pub async fn send<S, B>(app: &S, req: Req) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut r =
        test::TestRequest::default().method(req.method).uri(&req.path).peer_addr("192.0.2.7:40000".parse().unwrap());
    if let Some(token) = req.bearer {
        r = r.insert_header(("authorization", format!("Bearer {token}")));
    }
    if let Some(cookie) = req.cookie {
        r = r.insert_header(("cookie", format!("{}={cookie}", crate::api::auth::SESSION_COOKIE)));
    }
    if let Some(csrf) = req.csrf {
        r = r.insert_header((crate::api::auth::CSRF_HEADER, csrf));
    }
    if let Some(ct) = req.content_type {
        r = r.insert_header(("content-type", ct));
    }
    if let Some(body) = req.body {
        r = r.set_payload(body);
    }
    let response = test::call_service(app, r.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status, headers, text, json }
}

/// Asserts a problem document with `status` and `code`.
pub fn assert_problem(resp: &Resp, status: u16, code: &str) {
    assert_eq!(resp.status.as_u16(), status, "{resp:?}");
    assert_eq!(
        resp.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{resp:?}"
    );
    assert_eq!(resp.json["code"], json!(code), "{resp:?}");
    assert_eq!(resp.json["status"], json!(status), "{resp:?}");
}
