//! Mutations of a project's records: ACME accounts, DNS credentials and zones, targets and
//! certificates (and the jobs they queue).
//! Invariant: each resolver admits the caller under its REST operation's policy and calls that
//! operation's service function; a record answered with its relations is read back in the scope
//! the service checked (`record_by_id`), so another project's ids stay not found.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use certautopilot_core::ids::{CertificateId, TargetId, ZoneId};
use certautopilot_core::model::{Certificate, DistributionTarget, Zone};
use serde::Serialize;

use crate::graphql::acme::AcmeAccountNode;
use crate::graphql::approvals::CertificateJobPayload;
use crate::graphql::certificates::CertificateNode;
use crate::graphql::dns::{CredentialTestPayload, DnsCredentialNode, ZoneNode};
use crate::graphql::errors::GqlResult;
use crate::graphql::mutations::{JobQueuedPayload, decode};
use crate::graphql::scalars::Json;
use crate::graphql::targets::TargetNode;
use crate::graphql::{authorize, parse_id, record_by_id};
use crate::service;

#[derive(InputObject, Serialize)]
pub struct CreateAcmeAccountInput {
    project_id: ID,
    name: String,
    /// The CA's ACME directory (https; plain http only on loopback, for test CAs); or `ca`.
    directory_url: Option<String>,
    /// A CA of `acmeCatalogue` instead of `directoryUrl`, e.g. `letsencrypt`.
    ca: Option<String>,
    /// With `ca`: its staging endpoint.
    #[graphql(default)]
    staging: bool,
    /// `mailto:` addresses.
    #[graphql(default)]
    contact: Vec<String>,
    tos_agreed: bool,
    eab_kid: Option<String>,
    /// Write-only.
    eab_hmac_key: Option<String>,
    ca_bundle_pem: Option<String>,
}

#[derive(InputObject, Serialize)]
pub struct UpdateAcmeAccountInput {
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<Vec<String>>,
    /// `null` removes the extra roots; omitted keeps them.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    ca_bundle_pem: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eab_kid: Option<String>,
    /// Write-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    eab_hmac_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    directory_url: Option<String>,
}

#[derive(InputObject, Serialize)]
pub struct CreateDnsCredentialInput {
    project_id: ID,
    name: String,
    /// The DNS provider, as REST's `provider` (`rfc2136`, `pdns`, …).
    provider: String,
    /// The provider's settings and secret fields, as REST's `config` object (docs/dns.md).
    config: Json,
}

#[derive(InputObject, Serialize)]
pub struct UpdateDnsCredentialInput {
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// When given, the credential's own provider (it cannot change).
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    /// The provider's full settings, as REST's `config`: secret fields left out are kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<Json>,
}

#[derive(InputObject, Serialize)]
pub struct TestDnsCredentialInput {
    /// A zone served by this credential; default: the first one.
    #[serde(skip_serializing_if = "Option::is_none")]
    zone_id: Option<ID>,
}

#[derive(InputObject, Serialize)]
pub struct CreateZoneInput {
    project_id: ID,
    apex: String,
    credential_id: ID,
    #[serde(skip_serializing_if = "Option::is_none")]
    propagation: Option<ZonePropagationInput>,
}

/// A zone's propagation settings, as REST's `propagation` object (docs/dns/propagation.md).
#[derive(InputObject, Serialize)]
pub struct ZonePropagationInput {
    /// `authoritative` (default), `resolvers`, `delay` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    strategy: Option<String>,
    /// `authoritative`: the servers to check (`ip:port`).
    #[graphql(default)]
    nameservers: Vec<String>,
    /// `resolvers`: the recursive resolvers to check (`ip:port`).
    #[graphql(default)]
    resolvers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    poll_interval_ms: Option<u32>,
}

#[derive(InputObject, Serialize)]
pub struct UpdateZoneInput {
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_id: Option<ID>,
    #[serde(skip_serializing_if = "Option::is_none")]
    propagation: Option<ZonePropagationInput>,
}

#[derive(InputObject, Serialize)]
pub struct CreateTargetInput {
    project_id: ID,
    name: String,
    /// The target kind, as REST's `type`.
    #[graphql(name = "type")]
    #[serde(rename = "type")]
    kind: String,
    /// The kind's settings, as REST's `config` object.
    config: Json,
}

#[derive(InputObject, Serialize)]
pub struct UpdateTargetInput {
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<Json>,
}

#[derive(InputObject, Serialize)]
pub struct CreateCertificateInput {
    project_id: ID,
    /// Required unless `csrPem` gives the names.
    #[graphql(default)]
    common_name: String,
    #[graphql(default)]
    sans: Vec<String>,
    /// `ecdsa-p256`, `ecdsa-p384`, `rsa2048`, `rsa3072` or `rsa4096`, as REST spells it; omitted
    /// with `csrPem`.
    key_type: Option<String>,
    /// Your own CSR (PEM): names and key from it, no private key held.
    csr_pem: Option<String>,
    /// With `csrPem`: `reuse` (default) or `new` (wait for a new CSR before each renewal).
    csr_renewal: Option<String>,
    acme_account_id: ID,
    /// Further accounts tried in order when the one before cannot issue for its CA's own reason.
    #[graphql(default)]
    fallback_account_ids: Vec<ID>,
    /// Renewals start with the issuer of the current certificate instead of the first.
    #[graphql(default)]
    keep_fallback_issuer: bool,
    /// One of the account's `profiles`; omitted: the CA's default.
    profile: Option<String>,
    renew_before_days: Option<u32>,
    /// Instead of `renewBeforeDays`, for short-lived certificates.
    renew_before_hours: Option<u32>,
    #[graphql(default)]
    target_ids: Vec<ID>,
}

/// As REST's import body: `chainPem` (with `privateKeyPem` if you have it) or `pkcs12Base64` with
/// its `password`.
#[derive(InputObject, Serialize)]
pub struct ImportCertificateInput {
    project_id: ID,
    chain_pem: Option<String>,
    private_key_pem: Option<String>,
    pkcs12_base64: Option<String>,
    password: Option<String>,
    #[graphql(default)]
    target_ids: Vec<ID>,
}

/// As REST's discovery scan body.
#[derive(InputObject, Serialize)]
pub struct StartDiscoveryScanInput {
    project_id: ID,
    #[graphql(default)]
    endpoints: Vec<String>,
    #[graphql(default)]
    cidrs: Vec<String>,
    #[graphql(default)]
    ports: Vec<u16>,
    server_name: Option<String>,
}

#[derive(InputObject, Serialize)]
pub struct ManageCertificateInput {
    version: u64,
    acme_account_id: ID,
    #[graphql(default)]
    fallback_account_ids: Vec<ID>,
    #[graphql(default)]
    keep_fallback_issuer: bool,
    renew_before_days: Option<u32>,
    renew_before_hours: Option<u32>,
}

#[derive(InputObject, Serialize)]
pub struct UpdateCertificateInput {
    version: u64,
    /// `null` goes back to the default, a third of the lifetime; omitted keeps it.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    renew_before_days: MaybeUndefined<u32>,
    /// As `renewBeforeDays`, in hours; setting one unit clears the other.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    renew_before_hours: MaybeUndefined<u32>,
    /// One of the account's `profiles`; `null` goes back to the CA's default; omitted keeps it.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    profile: MaybeUndefined<String>,
    /// A new CSR with the same names, for a certificate issued from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    csr_pem: Option<String>,
    /// `reuse` or `new`, for a certificate issued from a CSR.
    #[serde(skip_serializing_if = "Option::is_none")]
    csr_renewal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_ids: Option<Vec<ID>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paused: Option<bool>,
    /// Every fallback issuer, in order; `[]` removes them.
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_account_ids: Option<Vec<ID>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_fallback_issuer: Option<bool>,
}

#[derive(InputObject, Serialize)]
pub struct SetCertificateTargetsInput {
    target_ids: Vec<ID>,
    version: u64,
}

async fn certificate(ctx: &Context<'_>, field: &str, id: CertificateId) -> GqlResult<CertificateNode> {
    let id = ID(id.to_string());
    let (scope, cert) = record_by_id::<Certificate, CertificateId>(ctx, field, &id, "certificate").await?;
    Ok(CertificateNode::new(cert, &scope))
}

async fn target(ctx: &Context<'_>, field: &str, id: TargetId) -> GqlResult<TargetNode> {
    let id = ID(id.to_string());
    let (scope, target) = record_by_id::<DistributionTarget, TargetId>(ctx, field, &id, "target").await?;
    Ok(TargetNode { target, scope })
}

#[derive(Default)]
pub struct RecordMutation;

#[Object]
impl RecordMutation {
    /// Creates an ACME account (registered with the CA by a job).
    async fn create_acme_account(
        &self,
        ctx: &Context<'_>,
        input: CreateAcmeAccountInput,
    ) -> GqlResult<AcmeAccountNode> {
        let auth = authorize(ctx, "Mutation.createAcmeAccount")?;
        Ok(AcmeAccountNode(service::acme_accounts::create(&auth, decode(&input)?).await?))
    }

    async fn update_acme_account(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAcmeAccountInput,
    ) -> GqlResult<AcmeAccountNode> {
        let auth = authorize(ctx, "Mutation.updateAcmeAccount")?;
        let account = parse_id(&id, "acme account")?;
        Ok(AcmeAccountNode(service::acme_accounts::update(&auth, account, decode(&input)?).await?))
    }

    /// Deletes an ACME account no certificate uses; answers its id.
    async fn delete_acme_account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let auth = authorize(ctx, "Mutation.deleteAcmeAccount")?;
        service::acme_accounts::delete(&auth, parse_id(&id, "acme account")?).await?;
        Ok(id)
    }

    async fn create_dns_credential(
        &self,
        ctx: &Context<'_>,
        input: CreateDnsCredentialInput,
    ) -> GqlResult<DnsCredentialNode> {
        let auth = authorize(ctx, "Mutation.createDnsCredential")?;
        Ok(DnsCredentialNode(service::dns::create_credential(&auth, decode(&input)?).await?))
    }

    /// Changes a DNS credential's name or settings (secret fields left out keep the sealed secret).
    async fn update_dns_credential(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateDnsCredentialInput,
    ) -> GqlResult<DnsCredentialNode> {
        let auth = authorize(ctx, "Mutation.updateDnsCredential")?;
        let id = parse_id(&id, "dns credential")?;
        Ok(DnsCredentialNode(service::dns::update_credential(&auth, id, decode(&input)?).await?))
    }

    /// Writes and removes a probe TXT record in a zone the credential serves, reporting each step.
    async fn test_dns_credential(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: Option<TestDnsCredentialInput>,
    ) -> GqlResult<CredentialTestPayload> {
        let auth = authorize(ctx, "Mutation.testDnsCredential")?;
        let id = parse_id(&id, "dns credential")?;
        let input = match input {
            Some(input) => decode(&input)?,
            None => Default::default(),
        };
        Ok(CredentialTestPayload(service::dns_probe::test_credential(&auth, id, input).await?))
    }

    /// Deletes a DNS credential no zone uses; answers its id.
    async fn delete_dns_credential(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let auth = authorize(ctx, "Mutation.deleteDnsCredential")?;
        service::dns::delete_credential(&auth, parse_id(&id, "dns credential")?).await?;
        Ok(id)
    }

    async fn create_zone(&self, ctx: &Context<'_>, input: CreateZoneInput) -> GqlResult<ZoneNode> {
        let field = "Mutation.createZone";
        let auth = authorize(ctx, field)?;
        let view = service::dns::create_zone(&auth, decode(&input)?).await?;
        let (scope, zone) = record_by_id::<Zone, ZoneId>(ctx, field, &ID(view.id.to_string()), "zone").await?;
        Ok(ZoneNode { zone, scope })
    }

    /// Changes a zone's credential (another of its project) or its propagation settings.
    async fn update_zone(&self, ctx: &Context<'_>, id: ID, input: UpdateZoneInput) -> GqlResult<ZoneNode> {
        let field = "Mutation.updateZone";
        let auth = authorize(ctx, field)?;
        let view = service::dns::update_zone(&auth, parse_id(&id, "zone")?, decode(&input)?).await?;
        let (scope, zone) = record_by_id::<Zone, ZoneId>(ctx, field, &ID(view.id.to_string()), "zone").await?;
        Ok(ZoneNode { zone, scope })
    }

    /// Deletes a zone; answers its id.
    async fn delete_zone(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let auth = authorize(ctx, "Mutation.deleteZone")?;
        service::dns::delete_zone(&auth, parse_id(&id, "zone")?).await?;
        Ok(id)
    }

    async fn create_target(&self, ctx: &Context<'_>, input: CreateTargetInput) -> GqlResult<TargetNode> {
        let field = "Mutation.createTarget";
        let view = service::targets::create(&authorize(ctx, field)?, decode(&input)?).await?;
        target(ctx, field, view.id).await
    }

    async fn update_target(&self, ctx: &Context<'_>, id: ID, input: UpdateTargetInput) -> GqlResult<TargetNode> {
        let field = "Mutation.updateTarget";
        let view = service::targets::update(&authorize(ctx, field)?, parse_id(&id, "target")?, decode(&input)?).await?;
        target(ctx, field, view.id).await
    }

    /// Deletes a target no certificate uses; answers its id.
    async fn delete_target(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let auth = authorize(ctx, "Mutation.deleteTarget")?;
        service::targets::delete(&auth, parse_id(&id, "target")?).await?;
        Ok(id)
    }

    /// Scans the target for drift now (queues a scan job).
    async fn scan_target(&self, ctx: &Context<'_>, id: ID) -> GqlResult<JobQueuedPayload> {
        let auth = authorize(ctx, "Mutation.scanTarget")?;
        Ok(service::targets::scan(&auth, parse_id(&id, "target")?).await?.into())
    }

    /// Creates a certificate and queues its issuance; answers the certificate (its job is in
    /// `jobs`).
    async fn create_certificate(&self, ctx: &Context<'_>, input: CreateCertificateInput) -> GqlResult<CertificateNode> {
        let field = "Mutation.createCertificate";
        let created = service::certificates::create(&authorize(ctx, field)?, decode(&input)?).await?;
        certificate(ctx, field, created.certificate.id).await
    }

    async fn update_certificate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCertificateInput,
    ) -> GqlResult<CertificateNode> {
        let field = "Mutation.updateCertificate";
        let auth = authorize(ctx, field)?;
        let view = service::certificates::update(&auth, parse_id(&id, "certificate")?, decode(&input)?).await?;
        certificate(ctx, field, view.id).await
    }

    /// Imports a certificate issued elsewhere, unmanaged (watched, not renewed).
    async fn import_certificate(&self, ctx: &Context<'_>, input: ImportCertificateInput) -> GqlResult<CertificateNode> {
        let field = "Mutation.importCertificate";
        let view = crate::service::certificate_import::import(&authorize(ctx, field)?, decode(&input)?).await?;
        certificate(ctx, field, view.id).await
    }

    /// Scans endpoints and networks for the certificates they serve (queues a discover job).
    async fn start_discovery_scan(
        &self,
        ctx: &Context<'_>,
        input: StartDiscoveryScanInput,
    ) -> GqlResult<JobQueuedPayload> {
        let auth = authorize(ctx, "Mutation.startDiscoveryScan")?;
        Ok(crate::service::discovery::start(&auth, decode(&input)?).await?.into())
    }

    /// Puts an unmanaged certificate under management with an issuer.
    async fn manage_certificate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ManageCertificateInput,
    ) -> GqlResult<CertificateNode> {
        let field = "Mutation.manageCertificate";
        let auth = authorize(ctx, field)?;
        let id = parse_id(&id, "certificate")?;
        let view = crate::service::certificate_import::manage(&auth, id, decode(&input)?).await?;
        certificate(ctx, field, view.id).await
    }

    /// Deletes a certificate; answers its id.
    async fn delete_certificate(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let auth = authorize(ctx, "Mutation.deleteCertificate")?;
        service::certificates::delete(&auth, parse_id(&id, "certificate")?).await?;
        Ok(id)
    }

    /// Renews now (queues a renew job).
    async fn renew_certificate(&self, ctx: &Context<'_>, id: ID) -> GqlResult<CertificateJobPayload> {
        let auth = authorize(ctx, "Mutation.renewCertificate")?;
        Ok(service::certificates::renew(&auth, parse_id(&id, "certificate")?).await?.into())
    }

    /// Revokes at the CA (queues a revoke job); `reason` as REST spells it.
    async fn revoke_certificate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> GqlResult<CertificateJobPayload> {
        let auth = authorize(ctx, "Mutation.revokeCertificate")?;
        let input = decode(&serde_json::json!({ "reason": reason }))?;
        Ok(service::certificates::revoke(&auth, parse_id(&id, "certificate")?, input).await?.into())
    }

    /// Deploys the current certificate to every attached target again (one job).
    async fn distribute_certificate(&self, ctx: &Context<'_>, id: ID) -> GqlResult<CertificateJobPayload> {
        let auth = authorize(ctx, "Mutation.distributeCertificate")?;
        Ok(service::certificates::distribute(&auth, parse_id(&id, "certificate")?).await?.into())
    }

    /// Attaches and detaches targets (the full list).
    async fn set_certificate_targets(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SetCertificateTargetsInput,
    ) -> GqlResult<CertificateNode> {
        let field = "Mutation.setCertificateTargets";
        let auth = authorize(ctx, field)?;
        let view = service::certificates::set_targets(&auth, parse_id(&id, "certificate")?, decode(&input)?).await?;
        certificate(ctx, field, view.id).await
    }
}
