//! Mutations refuse what REST refuses, the same way: a bad input gets REST's problem code and
//! field (REST's snake_case name) for the same body, another project's ids are not found, a stale
//! version is a conflict, and none of them changes anything. Secrets given to a mutation never
//! come back in an answer or an error.

use actix_web::http::Method;
use certautopilot_core::ProjectScope;
use certautopilot_core::ids::TargetId;
use certautopilot_core::model::{
    AcmeAccount, ApiToken, Certificate, DistributionTarget, DnsCredential, Membership, Project, User, Zone,
};
use certautopilot_core::store::{PageRequest, Record, RecordStore};
use serde_json::{Value, json};

use super::{data, first_code, gql, post, snake_case_keys};
use crate::api::tests::harness::*;
use crate::api::tests::victims::*;

/// Every record of the organization and of both projects, as stored: equal snapshots mean a
/// refused request changed nothing.
async fn snapshot(h: &Harness, w: &World) -> Value {
    async fn all<R: Record>(h: &Harness, scope: &R::Scope) -> Value {
        json!(h.store.list::<R>(scope, &PageRequest::first(1_000)).await.unwrap().items)
    }
    let project = |scope: &ProjectScope| {
        let scope = scope.clone();
        async move {
            json!([
                all::<AcmeAccount>(h, &scope).await,
                all::<DnsCredential>(h, &scope).await,
                all::<Zone>(h, &scope).await,
                all::<DistributionTarget>(h, &scope).await,
                all::<Certificate>(h, &scope).await,
            ])
        }
    };
    json!([
        all::<Project>(h, &w.org_scope).await,
        all::<User>(h, &w.org_scope).await,
        all::<Membership>(h, &w.org_scope).await,
        all::<ApiToken>(h, &w.org_scope).await,
        project(&w.a.scope).await,
        project(&w.b.scope).await,
    ])
}

/// One bad request, written once in GraphQL's terms: REST gets `input` with snake_case keys as its
/// body (`rest_body` when the mutation's arguments are not one input object).
struct Twin {
    what: &'static str,
    rest: (Method, String),
    query: String,
    id: Option<Value>,
    input: Value,
    rest_body: Option<Value>,
}

impl Twin {
    fn new(what: &'static str, method: Method, path: String, mutation: &str, input_type: &str, input: Value) -> Twin {
        let query = format!("mutation($i: {input_type}!) {{ {mutation}(input: $i) {{ __typename }} }}");
        Twin { what, rest: (method, path), query, id: None, input, rest_body: None }
    }
    fn on(
        what: &'static str,
        method: Method,
        path: String,
        mutation: &str,
        input_type: &str,
        id: Value,
        input: Value,
    ) -> Twin {
        let query =
            format!("mutation($id: ID!, $i: {input_type}!) {{ {mutation}(id: $id, input: $i) {{ __typename }} }}");
        Twin { what, rest: (method, path), query, id: Some(id), input, rest_body: None }
    }
    fn variables(&self) -> Value {
        match (&self.id, self.rest_body.is_some()) {
            (_, true) => self.input.clone(),
            (Some(id), false) => json!({ "id": id, "i": self.input }),
            (None, false) => json!({ "i": self.input }),
        }
    }
    fn rest_body(&self) -> Value {
        self.rest_body.clone().unwrap_or_else(|| snake_case_keys(&self.input))
    }
}

/// For a representative bad input of every mutation group, GraphQL's `extensions.code` and
/// `extensions.field` are REST's problem `code` and `field` for the same body, and neither stored
/// anything. (Inputs GraphQL's own types refuse, a number for a string, never reach the service
/// and are not compared.)
#[actix_rt::test]
async fn bad_inputs_get_rests_code_and_field_and_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let a = &w.a;
    let pa = json!(a.scope.project_id());
    let issued = issued_certificate_in_a(&h, &w).await;
    let file = |cert: &str| json!({ "cert_path": cert, "key_path": "/etc/ssl/k.pem" });
    let mut cases = vec![
        Twin::new(
            "project name",
            Method::POST,
            "/api/v1/projects".into(),
            "createProject",
            "CreateProjectInput",
            json!({ "name": "../../etc" }),
        ),
        Twin::on(
            "project rename",
            Method::PATCH,
            format!("/api/v1/projects/{}", a.scope.project_id()),
            "updateProject",
            "UpdateProjectInput",
            pa.clone(),
            json!({ "name": "a/b", "version": 1 }),
        ),
        Twin::new(
            "user email",
            Method::POST,
            "/api/v1/users".into(),
            "createUser",
            "CreateUserInput",
            json!({ "email": "not-an-email", "password": "a long enough password" }),
        ),
        Twin::new(
            "user password",
            Method::POST,
            "/api/v1/users".into(),
            "createUser",
            "CreateUserInput",
            json!({ "email": "short@acme.test", "password": "short" }),
        ),
        Twin::new(
            "acme directory",
            Method::POST,
            "/api/v1/acme-accounts".into(),
            "createAcmeAccount",
            "CreateAcmeAccountInput",
            json!({ "projectId": pa, "name": "x", "directoryUrl": "ftp://ca.test/dir", "tosAgreed": true }),
        ),
        Twin::on(
            "acme contact",
            Method::PATCH,
            format!("/api/v1/acme-accounts/{}", a.account.id),
            "updateAcmeAccount",
            "UpdateAcmeAccountInput",
            json!(a.account.id),
            json!({ "version": a.account.version, "contact": ["ops@acme.test"] }),
        ),
        Twin::new(
            "tsig algorithm",
            Method::POST,
            "/api/v1/dns-credentials".into(),
            "createDnsCredential",
            "CreateDnsCredentialInput",
            json!({ "projectId": pa, "name": "x", "provider": "rfc2136",
                "config": { "server": "127.0.0.1:53", "key_name": "update.", "algorithm": "hmac-md5", "secret": "c2VjcmV0" } }),
        ),
        Twin::on(
            "dns credential moved without its secret",
            Method::PATCH,
            format!("/api/v1/dns-credentials/{}", a.credential.id),
            "updateDnsCredential",
            "UpdateDnsCredentialInput",
            json!(a.credential.id),
            json!({ "config": { "server": "127.0.0.2:53", "key_name": "update.", "algorithm": "hmac-sha256" },
                "version": 1 }),
        ),
        Twin::on(
            "dns credential provider",
            Method::PATCH,
            format!("/api/v1/dns-credentials/{}", a.credential.id),
            "updateDnsCredential",
            "UpdateDnsCredentialInput",
            json!(a.credential.id),
            json!({ "provider": "pdns", "version": 1 }),
        ),
        Twin::new(
            "zone apex",
            Method::POST,
            "/api/v1/zones".into(),
            "createZone",
            "CreateZoneInput",
            json!({ "projectId": pa, "apex": "*.example.com", "credentialId": a.credential.id }),
        ),
        Twin::new(
            "target path",
            Method::POST,
            "/api/v1/targets".into(),
            "createTarget",
            "CreateTargetInput",
            json!({ "projectId": pa, "name": "x", "type": "file", "config": file("/root/c.pem") }),
        ),
        Twin::on(
            "target rename",
            Method::PATCH,
            format!("/api/v1/targets/{}", a.target.id),
            "updateTarget",
            "UpdateTargetInput",
            json!(a.target.id),
            json!({ "version": a.target.version, "name": "../x" }),
        ),
        Twin::new(
            "certificate name",
            Method::POST,
            "/api/v1/certificates".into(),
            "createCertificate",
            "CreateCertificateInput",
            json!({ "projectId": pa, "commonName": "not a name", "keyType": "ecdsa-p256",
                "acmeAccountId": a.account.id }),
        ),
        Twin::new(
            "certificate key type",
            Method::POST,
            "/api/v1/certificates".into(),
            "createCertificate",
            "CreateCertificateInput",
            json!({ "projectId": pa, "commonName": format!("x.{}", a.zone.apex),
                "keyType": "dsa-1024", "acmeAccountId": a.account.id }),
        ),
        Twin::new(
            "certificate name outside the zones",
            Method::POST,
            "/api/v1/certificates".into(),
            "createCertificate",
            "CreateCertificateInput",
            json!({ "projectId": pa, "commonName": "www.elsewhere.example",
                "keyType": "ecdsa-p256", "acmeAccountId": a.account.id }),
        ),
        Twin::on(
            "renewal lead",
            Method::PATCH,
            format!("/api/v1/certificates/{}", a.certificate.id),
            "updateCertificate",
            "UpdateCertificateInput",
            json!(a.certificate.id),
            json!({ "version": a.certificate.version, "renewBeforeDays": 100000 }),
        ),
        Twin::on(
            "unknown target",
            Method::PUT,
            format!("/api/v1/certificates/{}/targets", a.certificate.id),
            "setCertificateTargets",
            "SetCertificateTargetsInput",
            json!(a.certificate.id),
            json!({ "version": a.certificate.version, "targetIds": [TargetId::new()] }),
        ),
    ];
    cases.push(Twin {
        what: "member role",
        rest: (Method::POST, format!("/api/v1/projects/{}/members", a.scope.project_id())),
        query: "mutation($p: ID!, $i: AddMemberInput!) { addMember(projectId: $p, input: $i) { id } }".into(),
        id: None,
        input: json!({ "p": pa, "i": { "userId": w.admin_b.user.as_ref().unwrap().id, "role": "superuser" } }),
        rest_body: Some(json!({ "user_id": w.admin_b.user.as_ref().unwrap().id, "role": "superuser" })),
    });
    cases.push(Twin {
        what: "revocation reason",
        rest: (Method::POST, format!("/api/v1/certificates/{}/revoke", issued.id)),
        query: "mutation($id: ID!, $r: String) { revokeCertificate(id: $id, reason: $r) { created } }".into(),
        id: None,
        input: json!({ "id": issued.id, "r": "because" }),
        rest_body: Some(json!({ "reason": "because" })),
    });
    let before = snapshot(&h, &w).await;
    for case in &cases {
        let (method, path) = case.rest.clone();
        let rest = send(&app, Req::new(method, path).acting_as(&w.owner).json(case.rest_body())).await;
        assert!(rest.status.is_client_error(), "{}: REST accepted it: {rest:?}", case.what);
        let graphql = gql(&app, &w.owner, &case.query, case.variables()).await;
        let ext = &graphql.json["errors"][0]["extensions"];
        assert_eq!(
            (ext["code"].clone(), ext["field"].clone()),
            (rest.json["code"].clone(), rest.json["field"].clone()),
            "{}: REST {rest:?}, GraphQL {graphql:?}",
            case.what
        );
        assert_eq!(graphql.json["errors"][0]["message"], rest.json["detail"], "{}", case.what);
        assert!(graphql.json["data"].is_null(), "{}: {graphql:?}", case.what);
    }
    // Token creation needs a session: the same refusal through both with one.
    let session = session_token(&h, &w.org_scope, w.owner.user.as_ref().unwrap()).await;
    let too_long = json!({ "name": "ci", "expiresInDays": 100_000 });
    let rest =
        send(&app, Req::new(Method::POST, "/api/v1/auth/tokens").bearer(&session).json(snake_case_keys(&too_long)))
            .await;
    let mut req = post(
        &w.owner,
        "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { id } }",
        json!({ "i": too_long }),
    );
    req.bearer = Some(session);
    let graphql = send(&app, req).await;
    let ext = &graphql.json["errors"][0]["extensions"];
    assert_eq!(
        (ext["code"].clone(), ext["field"].clone()),
        (rest.json["code"].clone(), rest.json["field"].clone()),
        "{rest:?} {graphql:?}"
    );
    // With an API token instead of a session, both refuse to mint another.
    let rest =
        send(&app, Req::new(Method::POST, "/api/v1/auth/tokens").acting_as(&w.owner).json(json!({ "name": "ci" })))
            .await;
    assert!(rest.status.is_client_error(), "{rest:?}");
    let graphql =
        gql(&app, &w.owner, "mutation { createApiToken(input: { name: \"ci\" }) { id token } }", json!({})).await;
    assert_eq!(first_code(&graphql), rest.json["code"].as_str().map(str::to_owned), "{rest:?} {graphql:?}");
    assert_eq!(snapshot(&h, &w).await, before, "a refused request changed the store");
}

/// Another project's ids in a mutation's arguments: the record's id or `projectId` is not found
/// for a member of the other project; `acmeAccountId`, `credentialId` or `targetIds` of another
/// project given with this project's `projectId` (even by an owner, who may see both) are refused
/// exactly as an id that exists nowhere; nothing changes either way.
#[actix_rt::test]
async fn other_projects_ids_are_not_found_and_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let (a, b) = (&w.a, &w.b);
    let (pa, pb) = (json!(a.scope.project_id()), json!(b.scope.project_id()));
    let by_id = |m: &str| format!("mutation($id: ID!) {{ {m}(id: $id) }}");
    let as_admin_a: Vec<(&str, String, Value)> = vec![
        (
            "update project",
            "mutation($id: ID!) { updateProject(id: $id, input: { name: \"x\", version: 1 }) { id } }".into(),
            json!({ "id": pb }),
        ),
        (
            "add member",
            "mutation($p: ID!, $u: ID!) { addMember(projectId: $p, input: { userId: $u, role: \"viewer\" }) { id } }"
                .into(),
            json!({ "p": pb, "u": w.viewer_a.user.as_ref().unwrap().id }),
        ),
        (
            "remove member",
            "mutation($p: ID!, $u: ID!) { removeMember(projectId: $p, userId: $u) }".into(),
            json!({ "p": pb, "u": w.admin_b.user.as_ref().unwrap().id }),
        ),
        (
            "create target",
            "mutation($p: ID!) { createTarget(input: { projectId: $p, name: \"x\", type: \"file\",
            config: { cert_path: \"/etc/ssl/c.pem\", key_path: \"/etc/ssl/k.pem\" } }) { id } }"
                .into(),
            json!({ "p": pb }),
        ),
        (
            "update account",
            "mutation($id: ID!, $v: Int!) { updateAcmeAccount(id: $id, input: { version: $v, contact: [] }) { id } }"
                .into(),
            json!({ "id": b.account.id, "v": b.account.version }),
        ),
        ("delete account", by_id("deleteAcmeAccount"), json!({ "id": b.account.id })),
        ("delete credential", by_id("deleteDnsCredential"), json!({ "id": b.credential.id })),
        ("delete zone", by_id("deleteZone"), json!({ "id": b.zone.id })),
        ("delete target", by_id("deleteTarget"), json!({ "id": b.target.id })),
        ("scan target", "mutation($id: ID!) { scanTarget(id: $id) { created } }".into(), json!({ "id": b.target.id })),
        (
            "update certificate",
            "mutation($id: ID!, $v: Int!) { updateCertificate(id: $id, input: { version: $v, paused: true }) { id } }"
                .into(),
            json!({ "id": b.certificate.id, "v": b.certificate.version }),
        ),
        (
            "renew certificate",
            "mutation($id: ID!) { renewCertificate(id: $id) { created } }".into(),
            json!({ "id": b.certificate.id }),
        ),
        ("delete certificate", by_id("deleteCertificate"), json!({ "id": b.certificate.id })),
    ];
    let cert_a = "mutation($p: ID!, $acct: ID!, $t: [ID!]!, $cn: String!) { createCertificate(input: { projectId: $p,
        commonName: $cn, keyType: \"ecdsa-p256\", acmeAccountId: $acct, targetIds: $t }) { id } }";
    let cn = format!("x.{}", a.zone.apex);
    let mixing_as_owner: Vec<(&str, String, Value)> = vec![
        ("certificate with B's account", cert_a.into(), json!({ "p": pa, "acct": b.account.id, "t": [], "cn": cn })),
        ("certificate with B's target", cert_a.into(), json!({ "p": pa, "acct": a.account.id, "t": [b.target.id], "cn": cn })),
        ("zone with B's credential", "mutation($p: ID!, $c: ID!) { createZone(input: { projectId: $p, apex: \"mixed.example\", credentialId: $c }) { id } }".into(),
            json!({ "p": pa, "c": b.credential.id })),
        ("set B's target on A's certificate", "mutation($id: ID!, $v: Int!, $t: ID!) { setCertificateTargets(id: $id, input: { version: $v, targetIds: [$t] }) { id } }".into(),
            json!({ "id": a.certificate.id, "v": a.certificate.version, "t": b.target.id })),
        ("update A's certificate with B's target", "mutation($id: ID!, $v: Int!, $t: ID!) { updateCertificate(id: $id, input: { version: $v, targetIds: [$t] }) { id } }".into(),
            json!({ "id": a.certificate.id, "v": a.certificate.version, "t": b.target.id })),
    ];
    let before = snapshot(&h, &w).await;
    for (what, query, variables) in &as_admin_a {
        let resp = gql(&app, &w.admin_a, query, variables.clone()).await;
        assert_eq!(first_code(&resp).as_deref(), Some("not_found"), "{what}: {resp:?}");
        assert!(!resp.text.contains(&b.target.name) && !resp.text.contains(&b.account.name), "{what}: {resp:?}");
    }
    // A related id in an input is refused as REST refuses it (`validation_failed` on the id's
    // field: "no such … in this project"): word for word what an id that exists nowhere gets.
    let b_ids = [b.account.id.to_string(), b.target.id.to_string(), b.credential.id.to_string()];
    for (what, query, variables) in &mixing_as_owner {
        let resp = gql(&app, &w.owner, query, variables.clone()).await;
        let mut unknown = variables.to_string();
        for id in &b_ids {
            unknown = unknown.replace(id.as_str(), &TargetId::new().to_string());
        }
        let nowhere = gql(&app, &w.owner, query, serde_json::from_str(&unknown).unwrap()).await;
        assert!(first_code(&resp).is_some(), "{what}: {resp:?}");
        assert_eq!(resp.json["errors"][0]["message"], nowhere.json["errors"][0]["message"], "{what}");
        assert_eq!(resp.json["errors"][0]["extensions"], nowhere.json["errors"][0]["extensions"], "{what}");
    }
    assert_eq!(snapshot(&h, &w).await, before, "a request with another project's ids changed the store");
}

/// A version other than the stored one is `version_conflict` for every mutation that takes one,
/// and the record stays as it was.
#[actix_rt::test]
async fn stale_versions_are_conflicts() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let a = &w.a;
    let stale = 99;
    let cases: Vec<(&str, Value)> = vec![
        (
            "mutation($id: ID!, $v: Int!) { updateProject(id: $id, input: { name: \"x\", version: $v }) { id } }",
            json!({ "id": a.scope.project_id() }),
        ),
        (
            "mutation($id: ID!, $v: Int!) { updateAcmeAccount(id: $id, input: { version: $v, contact: [] }) { id } }",
            json!({ "id": a.account.id }),
        ),
        (
            "mutation($id: ID!, $v: Int!) { updateTarget(id: $id, input: { version: $v, name: \"x\" }) { id } }",
            json!({ "id": a.target.id }),
        ),
        (
            "mutation($id: ID!, $v: Int!) { updateCertificate(id: $id, input: { version: $v, paused: true }) { id } }",
            json!({ "id": a.certificate.id }),
        ),
        (
            "mutation($id: ID!, $v: Int!) { setCertificateTargets(id: $id, input: { version: $v, targetIds: [] }) { id } }",
            json!({ "id": a.certificate.id }),
        ),
    ];
    let before = snapshot(&h, &w).await;
    for (query, mut variables) in cases {
        variables["v"] = json!(stale);
        let resp = gql(&app, &w.owner, query, variables).await;
        assert_eq!(first_code(&resp).as_deref(), Some("version_conflict"), "{query}: {resp:?}");
    }
    assert_eq!(snapshot(&h, &w).await, before);
}

const EAB_HMAC_KEY: &str = "ZWFiLWhtYWMta2V5LXNlY3JldC0wMTIz";
const TSIG_SECRET: &str = "dHNpZy1zZWNyZXQtdHNpZy1zZWNyZXQ=";
const PASSWORD: &str = "a password nobody may read back";

/// The EAB HMAC key, the TSIG secret and a new user's password never come back: not in the
/// mutation's answer (whatever it selects), not in an error about the same input, not in later
/// reads or the audit chain. A created token's secret is in `createApiToken`'s answer only.
#[actix_rt::test]
async fn secrets_never_come_back() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let secrets = [EAB_HMAC_KEY, TSIG_SECRET, PASSWORD];
    let mut texts = Vec::new();
    let account = |url: &str| {
        json!({ "i": { "projectId": pa, "name": format!("eab{}", unique()), "directoryUrl": url, "tosAgreed": true,
            "eabKid": "kid", "eabHmacKey": EAB_HMAC_KEY } })
    };
    let q = "mutation($i: CreateAcmeAccountInput!) { createAcmeAccount(input: $i) { id name eabKid hasEabHmacKey status } }";
    texts.push(data(&gql(&app, &w.owner, q, account("https://ca.test/dir")).await).to_string());
    let refused = gql(&app, &w.owner, q, account("ftp://ca.test/dir")).await;
    assert!(first_code(&refused).is_some());
    texts.push(refused.text);
    let credential = |algorithm: &str| {
        json!({ "i": { "projectId": pa, "name": format!("tsig{}", unique()), "provider": "rfc2136",
            "config": { "server": "127.0.0.1:53", "key_name": "update.", "algorithm": algorithm, "secret": TSIG_SECRET } } })
    };
    let q = "mutation($i: CreateDnsCredentialInput!) { createDnsCredential(input: $i) { id config hasSecret } }";
    texts.push(data(&gql(&app, &w.owner, q, credential("hmac-sha256")).await).to_string());
    let refused = gql(&app, &w.owner, q, credential("hmac-md5")).await;
    assert!(first_code(&refused).is_some());
    texts.push(refused.text);
    let user = |email: &str| json!({ "i": { "email": email, "password": PASSWORD } });
    let q = "mutation($i: CreateUserInput!) { createUser(input: $i) { id email } }";
    texts.push(data(&gql(&app, &w.owner, q, user("reader@acme.test")).await).to_string());
    let refused = gql(&app, &w.owner, q, user("not an email")).await;
    assert!(first_code(&refused).is_some());
    texts.push(refused.text);

    let session = session_token(&h, &w.org_scope, w.owner.user.as_ref().unwrap()).await;
    let mut req = post(&w.owner, "mutation { createApiToken(input: { name: \"once\" }) { id token } }", json!({}));
    req.bearer = Some(session);
    let minted = send(&app, req).await;
    let token = data(&minted)["createApiToken"]["token"].as_str().unwrap().to_owned();
    let token_secret = token.rsplit('.').next().unwrap().to_owned();

    let reads = "query($p: ID!) { acmeAccounts(projectId: $p) { edges { node { id eabKid hasEabHmacKey } } }
        dnsCredentials(projectId: $p) { edges { node { config hasSecret } } }
        users { edges { node { email apiTokens { edges { node { id name } } } } } }
        apiTokens { edges { node { id name } } }
        auditEvents(first: 100) { edges { node { action details } } } }";
    let read = gql(&app, &w.owner, reads, json!({ "p": pa })).await;
    data(&read);
    texts.push(read.text);
    for text in &texts {
        for secret in secrets.iter().copied().chain([token_secret.as_str()]) {
            assert!(!text.contains(secret), "a secret came back: {text}");
        }
    }
}
