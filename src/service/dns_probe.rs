//! The test of a DNS credential (`testDnsCredential`): for one zone of the project the credential
//! serves, build the provider's client the way issuance does, find the zone, write a probe TXT
//! record `_certautopilot-probe.<apex>` with a random value and remove it, timing each step.
//! Invariants: a failing step is the last one run; its detail is the classified error
//! (`DnsError`'s text: status and the provider's short message), never a remote body or a secret;
//! the whole test ends within `DnsProbe::limit`.

use std::future::Future;
use std::time::{Duration, Instant};

use certautopilot_connectors::dns::{Authoritative, ProviderContext, TxtRecords, client};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_core::ProjectScope;
use certautopilot_core::ids::{DnsCredentialId, ZoneId};
use certautopilot_core::model::{DnsCredential, DnsSecret, Zone};
use certautopilot_core::store::{PageRequest, RecordStore};
use serde_json::json;

use crate::api::views::{CredentialTestResult, CredentialTestStep, TestDnsCredential};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;
use crate::service::records;

/// The label the probe record is written under, at the zone's apex.
pub const PROBE_LABEL: &str = "_certautopilot-probe";

/// How a credential test reaches the provider: `serve` sets it from `[egress]` and `[issuance]`.
#[derive(Debug, Clone)]
pub struct DnsProbe {
    pub egress: EgressPolicy,
    /// One DNS query or API request.
    pub timeout: Duration,
    /// The whole test, every step included.
    pub limit: Duration,
}

/// The longest a credential test may take (an API request waits for it).
pub const MAX_PROBE_TIME: Duration = Duration::from_secs(30);

impl Default for DnsProbe {
    fn default() -> Self {
        DnsProbe { egress: EgressPolicy::default(), timeout: Duration::from_secs(2), limit: MAX_PROBE_TIME }
    }
}

/// Tests the credential against one of its zones (the given one, or the first) and reports each
/// step; audited as `credential.tested`.
pub async fn test_credential(
    auth: &Authorized,
    id: DnsCredentialId,
    input: TestDnsCredential,
) -> Result<CredentialTestResult, ApiError> {
    let (scope, credential): (_, DnsCredential) = records::addressed(auth, &id, "dns credential").await?;
    let zone = zone_to_probe(auth, &scope, &credential, input.zone_id).await?;
    let probe = auth.state().dns_probe().clone();
    let steps = run(auth, &probe, &credential, &zone).await;
    let ok = steps.iter().all(|s| s.ok);
    let failed_step = steps.iter().find(|s| !s.ok).map(|s| s.step.clone());
    let details = json!({ "name": credential.name, "zone": zone.apex, "ok": ok, "failed_step": failed_step });
    let object = Some(("dns_credential", credential.id.to_string()));
    let audit = auth.audit("credential.tested", object, Some(scope.project_id()), details).await?;
    auth.state().store()?.append_audit(audit).await?;
    tracing::info!(credential_id = %credential.id, zone = %zone.apex, ok, failed_step = ?failed_step, "dns credential tested");
    Ok(CredentialTestResult { zone_id: zone.id, zone: zone.apex, steps, ok })
}

/// The zone the test writes to: `wanted`, which must be a zone of the project served by this
/// credential, or the first such zone.
async fn zone_to_probe(
    auth: &Authorized,
    scope: &ProjectScope,
    credential: &DnsCredential,
    wanted: Option<ZoneId>,
) -> Result<Zone, ApiError> {
    let store = auth.state().store()?;
    let mut page = PageRequest::first(1_000);
    loop {
        let batch = store.list::<Zone>(scope, &page).await?;
        let found =
            batch.items.into_iter().find(|z| z.credential_id == credential.id && wanted.is_none_or(|w| z.id == w));
        if let Some(zone) = found {
            return Ok(zone);
        }
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => break,
        }
    }
    Err(match wanted {
        Some(_) => ApiError::invalid("zone_id", "no zone of this project served by this credential has this id"),
        None => ApiError::invalid("zone_id", "no zone of this project is served by this credential; add one first"),
    })
}

/// The steps run so far, and the time left for the rest.
struct Steps {
    done: Vec<CredentialTestStep>,
    deadline: Instant,
    limit: Duration,
}

impl Steps {
    /// Runs one step within the time left; `None` when it failed (it is then recorded as the last).
    async fn step<T>(
        &mut self,
        step: &str,
        work: impl Future<Output = Result<(T, Option<String>), String>>,
    ) -> Option<T> {
        let started = Instant::now();
        let left = self.deadline.saturating_duration_since(started);
        let outcome = match tokio::time::timeout(left, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("did not finish within the test's {} s", self.limit.as_secs())),
        };
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (ok, detail, value) = match outcome {
            Ok((value, detail)) => (true, detail, Some(value)),
            Err(detail) => (false, Some(detail), None),
        };
        self.done.push(CredentialTestStep { step: step.to_owned(), ok, detail, ms });
        value
    }
}

async fn run(auth: &Authorized, probe: &DnsProbe, credential: &DnsCredential, zone: &Zone) -> Vec<CredentialTestStep> {
    let mut steps = Steps { done: Vec::new(), deadline: Instant::now() + probe.limit, limit: probe.limit };
    let Some(provider) = steps.step("connect", connect(auth, probe, credential)).await else { return steps.done };
    let found = steps.step("find zone", find_zone(probe, provider.as_ref(), &zone.apex)).await;
    if found.is_none() {
        return steps.done;
    }
    let name = format!("{PROBE_LABEL}.{}", zone.apex);
    let value = probe_value();
    let added = async {
        provider.add_txt(&zone.apex, &name, &value, 60).await.map_err(|e| e.to_string())?;
        Ok(((), Some(format!("TXT at {name}"))))
    };
    if steps.step("add record", added).await.is_none() {
        return steps.done;
    }
    let removed = async {
        provider.remove_txt(&zone.apex, &name, &value).await.map_err(|e| e.to_string())?;
        Ok(((), None))
    };
    steps.step("remove record", removed).await;
    steps.done
}

/// The provider's client, built from the credential's settings and its opened secret.
async fn connect(
    auth: &Authorized,
    probe: &DnsProbe,
    credential: &DnsCredential,
) -> Result<(Box<dyn TxtRecords>, Option<String>), String> {
    let secret = match &credential.secret {
        Some(sealed) => {
            let unreadable = || "the sealed secret does not open; set it again".to_owned();
            let opened =
                auth.state().envelope.open(&credential.id.to_string(), "secret", sealed).map_err(|_| unreadable())?;
            Some(DnsSecret::from_plaintext(credential.provider(), &opened).ok_or_else(unreadable)?)
        }
        None => None,
    };
    let context = ProviderContext { timeout: probe.timeout, egress: probe.egress.clone() };
    let provider = client(&credential.config, secret.as_ref(), &context).await.map_err(|e| e.to_string())?;
    let detail = provider.dns_server().map(|server| format!("DNS server {server}"));
    Ok((provider, detail))
}

/// A DNS server's provider is asked for the zone's name servers (a server that does not serve the
/// zone refuses); an API provider looks its zone up as issuance does; a provider with no zone to
/// look up (acme-dns, the exec hook) says so.
async fn find_zone(probe: &DnsProbe, provider: &dyn TxtRecords, apex: &str) -> Result<((), Option<String>), String> {
    let Some(server) = provider.dns_server() else {
        let found = provider.find_zone(apex).await.map_err(|e| e.to_string())?;
        let detail = found.map_or_else(|| "this provider has no zone to look up".to_owned(), |z| format!("found {z}"));
        return Ok(((), Some(detail)));
    };
    let check = Authoritative { timeout: probe.timeout, egress: probe.egress.clone() };
    let servers = check.servers(apex, server).await.map_err(|e| e.to_string())?;
    Ok(((), Some(format!("{apex} served by {} name server(s)", servers.len()))))
}

/// A random value no challenge will have.
fn probe_value() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
