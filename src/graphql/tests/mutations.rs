//! Every mutation's happy path: the change is visible in the store or a follow-up query, and the
//! audit event REST writes for the same operation is in the chain.

use std::collections::BTreeSet;

use certautopilot_core::ids::{AcmeAccountId, CertificateId, DnsCredentialId, ProjectId, TargetId, UserId, ZoneId};
use certautopilot_core::model::{
    AcmeAccount, Certificate, DistributionTarget, DnsCredential, Membership, Project, User, Zone,
};
use certautopilot_core::store::{RecordStore, membership_key};
use serde_json::{Value, json};

use super::{data, gql, post};
use crate::api::tests::harness::*;
use crate::api::tests::victims::*;

/// The actions of every audit event in the organization's chain, as GraphQL lists them to an owner.
async fn audit_actions<S, B>(app: &S, owner: &Who) -> BTreeSet<String>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let resp = gql(app, owner, "{ auditEvents(first: 100) { edges { node { action } } } }", json!({})).await;
    data(&resp)["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap().to_owned())
        .collect()
}

/// The organization's records, projects', users' and API tokens' mutations: each answer is the
/// changed record, the store holds the change, and each write's audit event is in the chain.
#[actix_rt::test]
async fn organization_mutations_take_effect_and_are_audited() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let owner = &w.owner;
    let run = |query: &'static str, variables: Value| {
        let app = &app;
        async move { data(&gql(app, owner, query, variables).await).clone() }
    };

    let d = run("mutation { createProject(input: { name: \"fresh\" }) { id name version } }", json!({})).await;
    let project: ProjectId = d["createProject"]["id"].as_str().unwrap().parse().unwrap();
    let stored: Project = h.store.get(&w.org_scope, &project).await.unwrap();
    assert_eq!(stored.name, "fresh");
    let d = run(
        "mutation($id: ID!) { updateProject(id: $id, input: { name: \"renamed\", version: 1 }) { name version } }",
        json!({ "id": project }),
    )
    .await;
    assert_eq!(d["updateProject"], json!({ "name": "renamed", "version": 2 }));

    let user = fresh_user(&h, &w).await;
    let d = run(
        "mutation($p: ID!, $u: ID!) { addMember(projectId: $p, input: { userId: $u, role: \"operator\" }) { role user { email } } }",
        json!({ "p": project, "u": user.id }),
    )
    .await;
    assert_eq!(d["addMember"]["role"], json!("operator"));
    assert_eq!(d["addMember"]["user"]["email"], json!(user.email));
    let key = membership_key(project, user.id);
    assert!(h.store.find_unique::<Membership>(&w.org_scope, &key).await.is_ok());
    let d = run(
        "mutation($p: ID!, $u: ID!) { updateMember(projectId: $p, userId: $u, input: { role: \"viewer\" }) { role } }",
        json!({ "p": project, "u": user.id }),
    )
    .await;
    assert_eq!(d["updateMember"]["role"], json!("viewer"));
    let stored: Membership = h.store.find_unique(&w.org_scope, &key).await.unwrap();
    assert_eq!(stored.role, certautopilot_core::model::Role::Viewer);
    let d = run(
        "mutation($p: ID!, $u: ID!) { removeMember(projectId: $p, userId: $u) }",
        json!({ "p": project, "u": user.id }),
    )
    .await;
    assert_eq!(d["removeMember"], json!(user.id));
    assert!(h.store.find_unique::<Membership>(&w.org_scope, &key).await.is_err());

    let d = run("mutation($id: ID!) { deleteProject(id: $id) }", json!({ "id": project })).await;
    assert_eq!(d["deleteProject"], json!(project));
    assert!(h.store.get::<Project>(&w.org_scope, &project).await.is_err());

    let d = run(
        "mutation { createUser(input: { email: \"new@acme.test\", password: \"a long enough password\" }) { id email orgRole disabled } }",
        json!({}),
    )
    .await;
    assert_eq!(d["createUser"]["orgRole"], json!("member"));
    let created: UserId = d["createUser"]["id"].as_str().unwrap().parse().unwrap();
    let d = run("mutation($id: ID!) { disableUser(id: $id) { disabled } }", json!({ "id": created })).await;
    assert_eq!(d["disableUser"]["disabled"], json!(true));
    assert!(h.store.get::<User>(&w.org_scope, &created).await.unwrap().disabled);
    let d = run("mutation($id: ID!) { enableUser(id: $id) { disabled } }", json!({ "id": created })).await;
    assert_eq!(d["enableUser"]["disabled"], json!(false));

    // Only a signed-in session mints tokens; the new one then works as a credential.
    let session = session_token(&h, &w.org_scope, owner.user.as_ref().unwrap()).await;
    let mint = "mutation { createApiToken(input: { name: \"ci\", expiresInDays: 7 }) { id name token expiresAt } }";
    let mut req = post(owner, mint, json!({}));
    req.bearer = Some(session);
    let minted = send(&app, req).await;
    let token = data(&minted)["createApiToken"].clone();
    assert_eq!(token["name"], json!("ci"));
    assert!(token["expiresAt"].is_string());
    let with_it = Who { name: "minted", user: owner.user.clone(), token: token["token"].as_str().map(str::to_owned) };
    let me = gql(&app, &with_it, "{ me { user { email } } }", json!({})).await;
    assert_eq!(data(&me)["me"]["user"]["email"], json!(OWNER_EMAIL));
    let d = run("mutation($id: ID!) { revokeApiToken(id: $id) }", json!({ "id": token["id"] })).await;
    assert_eq!(d["revokeApiToken"], token["id"]);
    let me = gql(&app, &with_it, "{ me { user { email } } }", json!({})).await;
    assert_eq!(me.status.as_u16(), 401, "a revoked token still works: {me:?}");

    let actions = audit_actions(&app, owner).await;
    for action in [
        "project.created",
        "project.updated",
        "member.added",
        "member.updated",
        "member.removed",
        "project.deleted",
        "user.created",
        "user.disabled",
        "user.enabled",
        "api_token.created",
        "api_token.revoked",
    ] {
        assert!(actions.contains(action), "no {action} event in {actions:?}");
    }
}

/// A project's records: ACME accounts, DNS credentials, zones, targets and certificates are
/// created, changed and deleted; jobs are queued for scan, renew, revoke and distribute; each has
/// the audit event REST writes.
#[actix_rt::test]
async fn record_mutations_take_effect_and_are_audited() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let (a, admin) = (&w.a, &w.admin_a);
    let pa = a.scope.project_id();
    let run = |query: &'static str, variables: Value| {
        let app = &app;
        async move { data(&gql(app, admin, query, variables).await).clone() }
    };

    let d = run(
        "mutation($p: ID!) { createAcmeAccount(input: { projectId: $p, name: \"le\", directoryUrl: \"https://ca.test/dir\",
            contact: [\"mailto:ops@acme.test\"], tosAgreed: true, eabKid: \"kid-1\", eabHmacKey: \"aGVsbG8taG1hYy1rZXk\" })
            { id name status hasEabHmacKey eabKid version } }",
        json!({ "p": pa }),
    )
    .await;
    let account = d["createAcmeAccount"].clone();
    assert_eq!((account["hasEabHmacKey"].clone(), account["eabKid"].clone()), (json!(true), json!("kid-1")));
    let account_id: AcmeAccountId = account["id"].as_str().unwrap().parse().unwrap();
    let d = run(
        "mutation($id: ID!, $v: Int!) { updateAcmeAccount(id: $id, input: { version: $v, contact: [\"mailto:new@acme.test\"] }) { contact } }",
        json!({ "id": account_id, "v": account["version"] }),
    )
    .await;
    assert_eq!(d["updateAcmeAccount"]["contact"], json!(["mailto:new@acme.test"]));
    let stored: AcmeAccount = h.store.get(&a.scope, &account_id).await.unwrap();
    assert_eq!(stored.contact, vec!["mailto:new@acme.test".to_owned()]);

    let d = run(
        "mutation($p: ID!) { createDnsCredential(input: { projectId: $p, name: \"bind\", provider: \"rfc2136\",
            config: { server: \"127.0.0.1:53\", key_name: \"update.\", algorithm: \"hmac-sha256\", secret: \"c2VjcmV0LXNlY3JldC1zZWNyZXQ=\" } })
            { id hasSecret config } }",
        json!({ "p": pa }),
    )
    .await;
    assert_eq!(d["createDnsCredential"]["hasSecret"], json!(true));
    assert_eq!(d["createDnsCredential"]["config"]["key_name"], json!("update."));
    let credential = d["createDnsCredential"]["id"].clone();
    let d = run(
        "mutation($p: ID!, $c: ID!) { createZone(input: { projectId: $p, apex: \"new.example.org\", credentialId: $c }) { id apex credential { id } } }",
        json!({ "p": pa, "c": credential }),
    )
    .await;
    assert_eq!(d["createZone"]["credential"]["id"], credential);
    let zone: Value = d["createZone"]["id"].clone();

    let d = run(
        "mutation($p: ID!) { createTarget(input: { projectId: $p, name: \"disk\", type: \"file\",
            config: { cert_path: \"/etc/ssl/new.pem\", key_path: \"/etc/ssl/new.key\" } }) { id type version config } }",
        json!({ "p": pa }),
    )
    .await;
    let target = d["createTarget"].clone();
    assert_eq!(target["config"]["cert_path"], json!("/etc/ssl/new.pem"));
    let d = run(
        "mutation($id: ID!, $v: Int!) { updateTarget(id: $id, input: { version: $v, name: \"disk-2\" }) { name version } }",
        json!({ "id": target["id"], "v": target["version"] }),
    )
    .await;
    assert_eq!(d["updateTarget"]["name"], json!("disk-2"));
    let d = run(
        "mutation($id: ID!) { scanTarget(id: $id) { created job { kind subject status } } }",
        json!({ "id": target["id"] }),
    )
    .await;
    assert_eq!(d["scanTarget"]["job"]["kind"], json!("scan"));
    assert_eq!(d["scanTarget"]["job"]["subject"], json!(format!("target:{}", target["id"].as_str().unwrap())));

    let d = run(
        "mutation($p: ID!, $acct: ID!, $t: ID!) { createCertificate(input: { projectId: $p, commonName: \"www.new.example.org\",
            sans: [\"api.new.example.org\"], keyType: \"ecdsa-p384\", acmeAccountId: $acct, renewBeforeDays: 20, targetIds: [$t] })
            { id status sans keyType renewBeforeDays targetIds version jobs { kind } } }",
        json!({ "p": pa, "acct": account_id, "t": target["id"] }),
    )
    .await;
    let cert = d["createCertificate"].clone();
    assert_eq!(cert["status"], json!("requested"));
    assert_eq!(cert["sans"], json!(["www.new.example.org", "api.new.example.org"]));
    assert_eq!(cert["jobs"], json!([{ "kind": "issue" }]));
    let cert_id: CertificateId = cert["id"].as_str().unwrap().parse().unwrap();
    let d = run(
        "mutation($id: ID!, $v: Int!) { updateCertificate(id: $id, input: { version: $v, paused: true, renewBeforeDays: null }) { version renewBeforeDays } }",
        json!({ "id": cert_id, "v": cert["version"] }),
    )
    .await;
    assert_eq!(d["updateCertificate"]["renewBeforeDays"], Value::Null);
    let stored: Certificate = h.store.get(&a.scope, &cert_id).await.unwrap();
    assert!(stored.paused && stored.renew_before_days.is_none());
    let d = run(
        "mutation($id: ID!, $v: Int!) { setCertificateTargets(id: $id, input: { version: $v, targetIds: [] }) { targetIds } }",
        json!({ "id": cert_id, "v": d["updateCertificate"]["version"] }),
    )
    .await;
    assert_eq!(d["setCertificateTargets"]["targetIds"], json!([]));

    for (mutation, kind) in
        [("renewCertificate", "renew"), ("revokeCertificate", "revoke"), ("distributeCertificate", "distribute")]
    {
        let issued = issued_certificate_in_a(&h, &w).await;
        let query = format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ created job {{ kind subject }} }} }}");
        let d = data(&gql(&app, admin, &query, json!({ "id": issued.id })).await).clone();
        assert_eq!(d[mutation]["job"], json!({ "kind": kind, "subject": issued.id }), "{mutation}");
        assert_eq!(d[mutation]["created"], json!(true));
    }

    let d = run("mutation($id: ID!) { deleteCertificate(id: $id) }", json!({ "id": cert_id })).await;
    assert_eq!(d["deleteCertificate"], json!(cert_id));
    assert!(h.store.get::<Certificate>(&a.scope, &cert_id).await.is_err());
    let target_id: TargetId = target["id"].as_str().unwrap().parse().unwrap();
    run("mutation($id: ID!) { deleteTarget(id: $id) }", json!({ "id": target_id })).await;
    assert!(h.store.get::<DistributionTarget>(&a.scope, &target_id).await.is_err());
    let zone_id: ZoneId = zone.as_str().unwrap().parse().unwrap();
    run("mutation($id: ID!) { deleteZone(id: $id) }", json!({ "id": zone_id })).await;
    assert!(h.store.get::<Zone>(&a.scope, &zone_id).await.is_err());
    let credential_id: DnsCredentialId = credential.as_str().unwrap().parse().unwrap();
    run("mutation($id: ID!) { deleteDnsCredential(id: $id) }", json!({ "id": credential_id })).await;
    assert!(h.store.get::<DnsCredential>(&a.scope, &credential_id).await.is_err());
    run("mutation($id: ID!) { deleteAcmeAccount(id: $id) }", json!({ "id": account_id })).await;
    assert!(h.store.get::<AcmeAccount>(&a.scope, &account_id).await.is_err());

    let actions = audit_actions(&app, &w.owner).await;
    for action in [
        "credential.created",
        "credential.updated",
        "credential.deleted",
        "zone.created",
        "zone.deleted",
        "target.created",
        "target.updated",
        "target.scan_requested",
        "target.deleted",
        "cert.requested",
        "cert.updated",
        "cert.targets_changed",
        "cert.renew_requested",
        "cert.revoke_requested",
        "cert.distribute_requested",
        "cert.deleted",
    ] {
        assert!(actions.contains(action), "no {action} event in {actions:?}");
    }
}
