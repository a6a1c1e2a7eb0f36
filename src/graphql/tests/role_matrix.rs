//! The GraphQL role matrix: every field of `FIELD_OPERATIONS` × every kind of caller (anonymous, a
//! member of another project, viewer, operator, admin, owner), judged by the REST role matrix's
//! own expectation for the field's operation policy. Generated from the list, so a new field is
//! covered the day it is listed, and a field without a query here fails the test.

use certautopilot_core::ids::ApiTokenId;
use certautopilot_core::model::{Certificate, Project};
use certautopilot_core::store::RecordStore;
use serde_json::{Value, json};

use super::{first_code, post};
use crate::api::routes::policy_of;
use crate::api::tests::harness::*;
use crate::api::tests::role_matrix::{Expect, expectation};
use crate::api::tests::victims::*;
use crate::graphql::FIELD_OPERATIONS;

/// A query reaching the (read) `field` that an allowed caller gets an answer from, on project A's
/// records.
fn query_for(field: &str, w: &World) -> (String, Value) {
    let a = &w.a;
    let pa = json!(a.scope.project_id());
    let cert = |selection: &str| {
        (format!("query($id: ID!) {{ certificate(id: $id) {{ {selection} }} }}"), json!({ "id": a.certificate.id }))
    };
    let list = |name: &str| {
        (format!("query($p: ID!) {{ {name}(projectId: $p) {{ edges {{ node {{ id }} }} }} }}"), json!({ "p": pa }))
    };
    let one = |name: &str, id: Value| (format!("query($id: ID!) {{ {name}(id: $id) {{ id }} }}"), json!({ "id": id }));
    match field {
        "Query.me" => ("{ me { user { id } } }".into(), json!({})),
        "Query.apiTokens" => ("{ apiTokens { edges { node { id } } } }".into(), json!({})),
        "Query.users" => ("{ users { edges { node { id } } } }".into(), json!({})),
        "Query.organization" => ("{ organization { id owner { id } } }".into(), json!({})),
        "User.apiTokens" => ("{ users { edges { node { apiTokens { edges { node { id } } } } } } }".into(), json!({})),
        "Query.projects" => ("{ projects { edges { node { id } } } }".into(), json!({})),
        "Query.project" => one("project", pa),
        "Project.members" => {
            ("query($id: ID!) { project(id: $id) { members { edges { node { id } } } } }".into(), json!({ "id": pa }))
        }
        "Member.user" => (
            "query($id: ID!) { project(id: $id) { members { edges { node { user { id } } } } } }".into(),
            json!({ "id": pa }),
        ),
        "Query.acmeAccounts" => list("acmeAccounts"),
        "Query.acmeAccount" => one("acmeAccount", json!(a.account.id)),
        "Query.dnsCredentials" => list("dnsCredentials"),
        "Query.dnsCredential" => one("dnsCredential", json!(a.credential.id)),
        "Query.zones" => list("zones"),
        "Query.zone" => one("zone", json!(a.zone.id)),
        "Zone.credential" => {
            ("query($id: ID!) { zone(id: $id) { credential { id } } }".into(), json!({ "id": a.zone.id }))
        }
        "Query.targets" => list("targets"),
        "Query.target" => one("target", json!(a.target.id)),
        "Target.deployments" => {
            ("query($id: ID!) { target(id: $id) { deployments { status } } }".into(), json!({ "id": a.target.id }))
        }
        "Query.certificates" => list("certificates"),
        "Query.certificate" => one("certificate", json!(a.certificate.id)),
        "Certificate.account" => cert("account { id }"),
        "Certificate.zones" => cert("zones { id }"),
        "Certificate.targets" => cert("targets { targetId }"),
        "Certificate.deployments" => cert("deployments { status }"),
        "Certificate.timeline" => cert("timeline { event }"),
        "Certificate.live" => cert("live { running }"),
        "Certificate.jobs" => cert("jobs { id }"),
        "CertificateTarget.target" => cert("targets { target { id } }"),
        "Query.jobs" => list("jobs"),
        "Query.approvals" => list("approvals"),
        "Query.approval" => one("approval", json!(a.approval.id)),
        "Query.approvalPolicy" => {
            ("query($p: ID!) { approvalPolicy(projectId: $p) }".into(), json!({ "p": a.scope.project_id() }))
        }
        "Query.job" => ("query($id: ID!) { job(id: $id) { job { id } } }".into(), json!({ "id": a.job.id })),
        "Query.notificationChannels" => list("notificationChannels"),
        "Query.notificationChannel" => one("notificationChannel", json!(a.channel.id)),
        "Query.notificationRules" => list("notificationRules"),
        "Query.notificationRule" => one("notificationRule", json!(a.rule.id)),
        "Query.auditEvents" => ("{ auditEvents { edges { node { seq } } } }".into(), json!({})),
        // Operations and admin fields (issue M2.4). The harness runs no cluster and no fault
        // injection: the membership mutations and the forced panic answer `conflict`, past the policy.
        "Certificate.chain" => cert("chain"),
        "Query.auditVerification" => ("{ auditVerification { intact } }".into(), json!({})),
        "Query.clusterStatus" => ("{ clusterStatus { enabled } }".into(), json!({})),
        "Query.acmeCatalogue" => ("{ acmeCatalogue { id eabRequired } }".into(), json!({})),
        "Query.actors" => ("{ actors(kind: \"kek\") { key } }".into(), json!({})),
        "Query.actor" => ("query($k: String!) { actor(kind: \"kek\", key: $k) { key } }".into(), json!({ "k": NODE })),
        "Mutation.initCluster" => ("mutation { initCluster { message } }".into(), json!({})),
        "Mutation.joinCluster" => {
            ("mutation { joinCluster(input: { nodeId: 2, addr: \"127.0.0.1:1\" }) { message } }".into(), json!({}))
        }
        "Mutation.leaveCluster" => ("mutation { leaveCluster(input: { nodeId: 2 }) { message } }".into(), json!({})),
        "Mutation.panicActor" => {
            ("mutation($k: String!) { panicActor(kind: \"kek\", key: $k) { key } }".into(), json!({ "k": NODE }))
        }
        other => panic!("no matrix query for {other}: add one"),
    }
}

/// A request reaching `field` that an allowed `who` succeeds with: queries as `query_for` says;
/// mutations that destroy or change something get a fresh victim per call (as REST's matrix does),
/// and `createApiToken` goes with a signed-in session's token, as only a session may mint tokens.
async fn request_for(h: &Harness, w: &World, field: &str, who: &Who) -> Req {
    let Some(mutation) = field.strip_prefix("Mutation.") else {
        let (query, variables) = query_for(field, w);
        return post(who, &query, variables);
    };
    let n = unique();
    let a = &w.a;
    let pa = json!(a.scope.project_id());
    let by_id = |name: &str, id: Value| (format!("mutation($id: ID!) {{ {name}(id: $id) }}"), json!({ "id": id }));
    let job = |name: &str, id: Value| {
        (format!("mutation($id: ID!) {{ {name}(id: $id) {{ job {{ id }} created }} }}"), json!({ "id": id }))
    };
    let (query, variables) = match mutation {
        "createProject" => (
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }".to_owned(),
            json!({ "i": { "name": format!("p{n}") } }),
        ),
        "updateProject" => {
            let current: Project = h.store.get(&w.org_scope, &a.scope.project_id()).await.unwrap();
            (
                "mutation($id: ID!, $i: UpdateProjectInput!) { updateProject(id: $id, input: $i) { id } }".to_owned(),
                json!({ "id": pa, "i": { "name": format!("renamed-{n}"), "version": current.version } }),
            )
        }
        "deleteProject" => by_id("deleteProject", json!(empty_project_with_a_members(h, w).await.id)),
        "addMember" => (
            "mutation($p: ID!, $i: AddMemberInput!) { addMember(projectId: $p, input: $i) { id } }".to_owned(),
            json!({ "p": pa, "i": { "userId": fresh_user(h, w).await.id, "role": "viewer" } }),
        ),
        "updateMember" => (
            "mutation($p: ID!, $u: ID!, $i: UpdateMemberInput!) { updateMember(projectId: $p, userId: $u, input: $i) { role } }"
                .to_owned(),
            json!({ "p": pa, "u": fresh_member_of_a(h, w).await.id, "i": { "role": "operator" } }),
        ),
        "removeMember" => (
            "mutation($p: ID!, $u: ID!) { removeMember(projectId: $p, userId: $u) }".to_owned(),
            json!({ "p": pa, "u": fresh_member_of_a(h, w).await.id }),
        ),
        "createUser" => (
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }".to_owned(),
            json!({ "i": { "email": format!("u{n}@acme.test"), "password": "another long password" } }),
        ),
        // The owner named as their own successor: allowed callers get a conflict and the
        // owner stays the owner for the rest of the matrix.
        "transferOwnership" => (
            "mutation($i: TransferOwnershipInput!) { transferOwnership(input: $i) { owner { id } } }".to_owned(),
            json!({ "i": { "userId": w.owner.user.as_ref().unwrap().id, "password": crate::api::tests::harness::OWNER_PASSWORD } }),
        ),
        "setAuditRetention" => ("mutation { setAuditRetention(days: null) { id } }".to_owned(), json!({})),
        "disableUser" => (
            "mutation($id: ID!) { disableUser(id: $id) { id } }".to_owned(),
            json!({ "id": fresh_user(h, w).await.id }),
        ),
        "enableUser" => {
            ("mutation($id: ID!) { enableUser(id: $id) { id } }".to_owned(), json!({ "id": fresh_user(h, w).await.id }))
        }
        "createApiToken" => {
            let query = "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { id } }";
            let mut req = post(who, query, json!({ "i": { "name": format!("t{n}") } }));
            req.bearer = match &who.user {
                Some(user) => Some(session_token(h, &w.org_scope, user).await),
                None => None,
            };
            return req;
        }
        "revokeApiToken" => {
            let id = match &who.user {
                Some(user) => fresh_api_token_id(h, w, user).await,
                None => ApiTokenId::new().to_string(),
            };
            by_id("revokeApiToken", json!(id))
        }
        "createAcmeAccount" => (
            "mutation($i: CreateAcmeAccountInput!) { createAcmeAccount(input: $i) { id } }".to_owned(),
            json!({ "i": { "projectId": pa, "name": format!("acct{n}"), "directoryUrl": "https://ca.test/dir",
                "tosAgreed": true } }),
        ),
        "updateAcmeAccount" => {
            let account = fresh_in_a(h, w).await.account;
            (
                "mutation($id: ID!, $i: UpdateAcmeAccountInput!) { updateAcmeAccount(id: $id, input: $i) { id } }"
                    .to_owned(),
                json!({ "id": account.id, "i": { "contact": [format!("mailto:ops{n}@acme.test")],
                    "version": account.version } }),
            )
        }
        "deleteAcmeAccount" => by_id("deleteAcmeAccount", json!(unused_account_in_a(h, w).await.id)),
        "createDnsCredential" => (
            "mutation($i: CreateDnsCredentialInput!) { createDnsCredential(input: $i) { id } }".to_owned(),
            json!({ "i": { "projectId": pa, "name": format!("cred{n}"), "provider": "rfc2136",
                "config": { "server": "127.0.0.1:53", "key_name": "update.", "algorithm": "hmac-sha256",
                            "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" } } }),
        ),
        "updateDnsCredential" => {
            let credential = fresh_in_a(h, w).await.credential;
            (
                "mutation($id: ID!, $i: UpdateDnsCredentialInput!) { updateDnsCredential(id: $id, input: $i) { id } }"
                    .to_owned(),
                json!({ "id": credential.id, "i": { "name": format!("renamed-{n}"), "version": credential.version } }),
            )
        }
        "testDnsCredential" => (
            "mutation($id: ID!) { testDnsCredential(id: $id) { ok steps { step ok } } }".to_owned(),
            json!({ "id": a.credential.id }),
        ),
        "deleteDnsCredential" => by_id("deleteDnsCredential", json!(unused_credential_in_a(h, w).await.id)),
        "createZone" => (
            "mutation($i: CreateZoneInput!) { createZone(input: $i) { id } }".to_owned(),
            json!({ "i": { "projectId": pa, "apex": format!("zone{n}.example.com"), "credentialId": a.credential.id } }),
        ),
        "deleteZone" => by_id("deleteZone", json!(fresh_in_a(h, w).await.zone.id)),
        "updateZone" => {
            let zone = fresh_in_a(h, w).await.zone;
            (
                "mutation($id: ID!, $i: UpdateZoneInput!) { updateZone(id: $id, input: $i) { id } }".to_owned(),
                json!({ "id": zone.id, "i": { "propagation": { "strategy": "none" }, "version": zone.version } }),
            )
        }
        "createTarget" => (
            "mutation($i: CreateTargetInput!) { createTarget(input: $i) { id } }".to_owned(),
            json!({ "i": { "projectId": pa, "name": format!("t{n}"), "type": "file",
                "config": { "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem" } } }),
        ),
        "updateTarget" => {
            let target = fresh_in_a(h, w).await.target;
            (
                "mutation($id: ID!, $i: UpdateTargetInput!) { updateTarget(id: $id, input: $i) { id } }".to_owned(),
                json!({ "id": target.id, "i": { "name": format!("renamed-{n}"), "version": target.version } }),
            )
        }
        "deleteTarget" => by_id("deleteTarget", json!(fresh_in_a(h, w).await.target.id)),
        "scanTarget" => job("scanTarget", json!(a.target.id)),
        "createCertificate" => (
            "mutation($i: CreateCertificateInput!) { createCertificate(input: $i) { id } }".to_owned(),
            json!({ "i": { "projectId": pa, "commonName": format!("c{n}.{}", a.zone.apex), "keyType": "ecdsa-p256",
                "acmeAccountId": a.account.id } }),
        ),
        "updateCertificate" => {
            let cert = fresh_in_a(h, w).await.certificate;
            (
                "mutation($id: ID!, $i: UpdateCertificateInput!) { updateCertificate(id: $id, input: $i) { id } }"
                    .to_owned(),
                json!({ "id": cert.id, "i": { "paused": true, "version": cert.version } }),
            )
        }
        "startDiscoveryScan" => (
            "mutation($i: StartDiscoveryScanInput!) { startDiscoveryScan(input: $i) { job { id } created } }".to_owned(),
            json!({ "i": { "projectId": pa, "endpoints": ["127.0.0.1:9"] } }),
        ),
        "importCertificate" => (
            "mutation($i: ImportCertificateInput!) { importCertificate(input: $i) { id } }".to_owned(),
            json!({ "i": { "projectId": pa, "chainPem": chain_issued_elsewhere(&a.zone.apex) } }),
        ),
        "manageCertificate" => {
            let cert = unmanaged_certificate(h, &a.scope, &a.zone.apex).await;
            (
                "mutation($id: ID!, $i: ManageCertificateInput!) { manageCertificate(id: $id, input: $i) { id } }"
                    .to_owned(),
                json!({ "id": cert.id, "i": { "version": cert.version, "acmeAccountId": a.account.id } }),
            )
        }
        "deleteCertificate" => by_id("deleteCertificate", json!(fresh_in_a(h, w).await.certificate.id)),
        "renewCertificate" => job("renewCertificate", json!(issued_certificate_in_a(h, w).await.id)),
        "revokeCertificate" => job("revokeCertificate", json!(issued_certificate_in_a(h, w).await.id)),
        "distributeCertificate" => job("distributeCertificate", json!(issued_certificate_in_a(h, w).await.id)),
        "setCertificateTargets" => {
            let cert = fresh_in_a(h, w).await.certificate;
            (
                "mutation($id: ID!, $i: SetCertificateTargetsInput!) { setCertificateTargets(id: $id, input: $i) { id } }"
                    .to_owned(),
                json!({ "id": cert.id, "i": { "targetIds": [a.target.id], "version": cert.version } }),
            )
        }
        "approveRequest" | "rejectRequest" => (
            format!("mutation($id: ID!) {{ {mutation}(id: $id, comment: \"matrix\") {{ approval {{ status }} }} }}"),
            json!({ "id": fresh_in_a(h, w).await.approval.id }),
        ),
        "setApprovalPolicy" => (
            "mutation($p: ID!, $policy: ApprovalPolicyInput!) { setApprovalPolicy(projectId: $p, policy: $policy) }"
                .to_owned(),
            json!({ "p": pa, "policy": { "require": "none", "rules": [] } }),
        ),
        "createNotificationChannel" => (
            "mutation($i: CreateNotificationChannelInput!) { createNotificationChannel(input: $i) { id } }".to_owned(),
            json!({ "i": { "projectId": pa, "name": format!("ch{n}"),
                "settings": { "type": "webhook", "url": "https://hooks.example.test/cap" },
                "secret": "a-signing-secret-of-enough-length" } }),
        ),
        "updateNotificationChannel" => {
            let channel = fresh_in_a(h, w).await.channel;
            (
                "mutation($id: ID!, $i: UpdateNotificationChannelInput!) { updateNotificationChannel(id: $id, input: $i) { id } }"
                    .to_owned(),
                json!({ "id": channel.id, "i": { "name": format!("renamed-{n}"), "version": channel.version } }),
            )
        }
        "deleteNotificationChannel" => {
            let channel = notification_channel(h, &a.scope, &format!("unused-{n}")).await;
            by_id("deleteNotificationChannel", json!(channel.id))
        }
        "testNotificationChannel" => (
            "mutation($id: ID!) { testNotificationChannel(id: $id) { ok error } }".to_owned(),
            json!({ "id": a.channel.id }),
        ),
        "createNotificationRule" => (
            "mutation($i: CreateNotificationRuleInput!) { createNotificationRule(input: $i) { id } }".to_owned(),
            json!({ "i": { "projectId": pa, "name": format!("r{n}"), "events": ["cert.issued"],
                "channelIds": [a.channel.id] } }),
        ),
        "updateNotificationRule" => {
            let rule = fresh_in_a(h, w).await.rule;
            (
                "mutation($id: ID!, $i: UpdateNotificationRuleInput!) { updateNotificationRule(id: $id, input: $i) { id } }"
                    .to_owned(),
                json!({ "id": rule.id, "i": { "enabled": false, "version": rule.version } }),
            )
        }
        "deleteNotificationRule" => by_id("deleteNotificationRule", json!(fresh_in_a(h, w).await.rule.id)),
        // Owners' cluster and actor mutations destroy nothing here: `query_for` has them.
        "initCluster" | "joinCluster" | "leaveCluster" | "panicActor" => query_for(field, w),
        other => panic!("no matrix mutation for {other}: add one"),
    };
    post(who, &query, variables)
}

/// Every listed field answers each caller as its REST operation's policy says: data for allowed
/// callers, `unauthenticated`, `forbidden` or `not_found` (another project's member) otherwise.
#[actix_rt::test]
async fn every_field_for_every_caller() {
    let h = Harness::new().await;
    let w = world(&h).await;
    // The certificate has a target, so fields below `targets` are reached.
    let mut cert: Certificate = h.store.get(&w.a.scope, &w.a.certificate.id).await.unwrap();
    cert.target_ids = vec![w.a.target.id];
    h.store.update(&w.a.scope, &cert).await.unwrap();
    let app = app!(h);
    let mut failures = Vec::new();
    for (field, operation) in FIELD_OPERATIONS {
        let policy = policy_of(operation).unwrap_or_else(|| panic!("{field}: no operation {operation}"));
        for who in w.principals() {
            let resp = send(&app, request_for(&h, &w, field, &who).await).await;
            let expected = expectation(policy, who.name);
            let got = match first_code(&resp).as_deref() {
                None if resp.status.as_u16() == 200 && !resp.json["data"].is_null() => Expect::Allowed,
                Some("unauthenticated") => Expect::Unauthenticated,
                Some("forbidden") => Expect::Forbidden,
                Some("not_found") => Expect::Hidden,
                // Refused by the service after the policy admitted the caller (REST's 409).
                Some("conflict") => Expect::Allowed,
                _ => {
                    failures.push(format!("{field} as {}: unexpected {resp:?}", who.name));
                    continue;
                }
            };
            if got != expected {
                failures.push(format!("{field} as {}: expected {expected:?}, got {got:?}: {}", who.name, resp.text));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
