//! The `discover` job: a discovery scan of a project's endpoints and ranges. Every certificate an
//! endpoint serves is matched to the project's certificates by its SHA-256 fingerprint; a match is
//! noted on that certificate (`cert.served`, in its timeline); anything else is recorded once as an
//! `unmanaged` certificate of origin `discovered` (`cert.discovered`). The job's log is the scan
//! report, one line per endpoint and a summary.
//! Invariant: a scan only ever opens sockets to addresses the egress policy allows (the connector
//! checks each before connecting); a certificate is recorded once per project however many endpoints
//! serve it; what is recorded of an endpoint that failed is a classified reason.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use certautopilot_connectors::discovery::{probe_all, probes};
use certautopilot_connectors::import::served;
use certautopilot_core::ProjectScope;
use certautopilot_core::Timestamp;
use certautopilot_core::ids::CertificateId;
use certautopilot_core::jobs::{DiscoveryScan, JobSpec};
use certautopilot_core::model::{Certificate, CertificateOrigin, Job, JobKind, LogLevel};
use certautopilot_core::store::{PageRequest, RecordStore};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::issuance::{IssuanceDeps, OrgAudit};
use crate::job_pump::{JobContext, JobError, JobHandler};

/// How long one endpoint may take to connect and finish its handshake.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The most certificates one scan records: a range full of hosts serving throw-away certificates
/// must not fill the inventory.
const MAX_RECORDED: usize = 256;

/// Runs `discover` jobs.
pub struct DiscoverJobs {
    pub deps: IssuanceDeps,
}

/// What a scan found, for its summary.
#[derive(Default)]
struct Tally {
    probed: usize,
    serving: usize,
    known: usize,
    recorded: usize,
    unrecordable: usize,
}

#[async_trait]
impl JobHandler for DiscoverJobs {
    fn kind(&self) -> JobKind {
        JobKind::Discover
    }

    async fn run(&self, job: &Job, ctx: JobContext) -> Result<String, JobError> {
        let Ok(JobSpec::Discover { project_id, scan }) = JobSpec::decode(job) else {
            return Err(JobError::permanent("the job names no scan or project"));
        };
        let transient = |e: crate::issuance::IssueError| {
            if e.is_transient() { JobError::retryable(e.to_string()) } else { JobError::permanent(e.to_string()) }
        };
        let scope = self.deps.project_scope(project_id).await.map_err(transient)?;
        let org = self.deps.org().await.map_err(transient)?;
        let endpoints = probes(&scan).map_err(|e| JobError::permanent(e.to_string()))?;
        let scan_for = Scan { deps: &self.deps, scope: &scope, org: &org, ctx: &ctx, job, scan: &scan };
        scan_for.run(&endpoints).await
    }
}

struct Scan<'a> {
    deps: &'a IssuanceDeps,
    scope: &'a ProjectScope,
    org: &'a OrgAudit,
    ctx: &'a JobContext,
    job: &'a Job,
    scan: &'a DiscoveryScan,
}

impl Scan<'_> {
    async fn run(&self, endpoints: &[String]) -> Result<String, JobError> {
        self.log(
            LogLevel::Info,
            &format!("probing {} endpoints", endpoints.len()),
            json!({ "endpoints": endpoints.len() }),
        )
        .await;
        let probing = probe_all(endpoints, self.scan.server_name.as_deref(), PROBE_TIMEOUT, &self.deps.settings.egress);
        let mut ctx = self.ctx.clone();
        let answers = tokio::select! {
            answers = probing => answers,
            () = ctx.cancelled() => return Err(JobError::retryable("the scan was interrupted (shutdown or lost lease)")),
        };
        let mut known = self.known().await?;
        // Certificate → the endpoints found serving it, for one entry per certificate.
        let mut seen: BTreeMap<CertificateId, Vec<String>> = BTreeMap::new();
        let mut new: Vec<CertificateId> = Vec::new();
        let mut tally = Tally { probed: endpoints.len(), ..Tally::default() };
        for (endpoint, answer) in answers {
            let chain = match answer {
                Ok(chain) => chain,
                Err(e) => {
                    self.log(
                        LogLevel::Info,
                        &format!("{endpoint}: no certificate read ({e})"),
                        json!({ "endpoint": endpoint }),
                    )
                    .await;
                    continue;
                }
            };
            tally.serving += 1;
            let fingerprint: String = Sha256::digest(chain[0].as_ref()).iter().map(|b| format!("{b:02x}")).collect();
            if let Some(&(id, current)) = known.get(&fingerprint) {
                seen.entry(id).or_default().push(endpoint.clone());
                let fields = json!({ "endpoint": endpoint, "certificate_id": id, "fingerprint_sha256": fingerprint,
                    "current": current });
                let what = if current { "serves certificate" } else { "serves an earlier version of certificate" };
                self.log(LogLevel::Info, &format!("{endpoint}: {what} {id}"), fields).await;
                continue;
            }
            if new.len() >= MAX_RECORDED {
                tally.unrecordable += 1;
                let fields = json!({ "endpoint": endpoint, "fingerprint_sha256": fingerprint });
                let message = format!("{endpoint}: not recorded: this scan recorded its limit of {MAX_RECORDED}");
                self.log(LogLevel::Warn, &message, fields).await;
                continue;
            }
            match served(chain.iter().map(|c| c.as_ref().to_vec()).collect()) {
                Ok(found) => {
                    let id = self.record(&found, &endpoint).await?;
                    known.insert(fingerprint.clone(), (id, true));
                    new.push(id);
                    let fields =
                        json!({ "endpoint": endpoint, "certificate_id": id, "fingerprint_sha256": fingerprint });
                    let names = found.names().join(", ");
                    self.log(
                        LogLevel::Warn,
                        &format!("{endpoint}: serves {names}, not managed here: recorded unmanaged"),
                        fields,
                    )
                    .await;
                }
                Err(e) => {
                    tally.unrecordable += 1;
                    let fields = json!({ "endpoint": endpoint, "fingerprint_sha256": fingerprint });
                    self.log(
                        LogLevel::Warn,
                        &format!("{endpoint}: serves a certificate that cannot be recorded: it {e}"),
                        fields,
                    )
                    .await;
                }
            }
        }
        tally.recorded = new.len();
        for (id, endpoints) in &seen {
            if new.contains(id) {
                continue;
            }
            tally.known += 1;
            let details = json!({ "endpoints": endpoints, "scan_job_id": self.job.id });
            let audit = self.org.write(
                &self.actor(),
                "cert.served",
                ("certificate", id.to_string()),
                self.scope.project_id(),
                details,
            );
            self.deps.store.append_audit(audit).await?;
        }
        let summary = format!(
            "probed {} endpoints: {} served a certificate; {} known certificates found, {} new recorded unmanaged, {} could not be recorded",
            tally.probed, tally.serving, tally.known, tally.recorded, tally.unrecordable
        );
        let details = json!({ "probed": tally.probed, "serving": tally.serving, "known": tally.known,
            "recorded": tally.recorded, "unrecordable": tally.unrecordable });
        let audit = self.org.write(
            &self.actor(),
            "discovery.scanned",
            ("job", self.job.id.to_string()),
            self.scope.project_id(),
            details,
        );
        self.deps.store.append_audit(audit).await?;
        Ok(summary)
    }

    /// The project's certificates by the fingerprint of their current leaf (`true`) and of the
    /// versions they replaced (`false`: a server still serving one is behind, not a stranger).
    async fn known(&self) -> Result<BTreeMap<String, (CertificateId, bool)>, JobError> {
        let mut known = BTreeMap::new();
        let mut page = PageRequest::first(1_000);
        loop {
            let batch = self.deps.store.list::<Certificate>(self.scope, &page).await?;
            for c in &batch.items {
                known.extend(c.history.iter().map(|h| (h.fingerprint_sha256.clone(), (c.id, false))));
            }
            known.extend(batch.items.iter().filter_map(|c| Some((c.fingerprint_sha256.clone()?, (c.id, true)))));
            match batch.next_cursor {
                Some(cursor) => page = PageRequest::after(1_000, cursor),
                None => return Ok(known),
            }
        }
    }

    /// Records a certificate found at `endpoint` as unmanaged, with its `cert.discovered` entry.
    async fn record(
        &self,
        found: &certautopilot_connectors::import::ImportedCertificate,
        endpoint: &str,
    ) -> Result<CertificateId, JobError> {
        let cert = Certificate::unmanaged(
            self.scope.project_id(),
            found.issued_elsewhere(),
            CertificateOrigin::Discovered,
            Timestamp::now(),
        );
        let details = json!({ "endpoint": endpoint, "serial": cert.serial, "fingerprint_sha256": cert.fingerprint_sha256,
            "not_after": cert.not_after, "scan_job_id": self.job.id });
        let audit = self.org.write(
            &self.actor(),
            "cert.discovered",
            ("certificate", cert.id.to_string()),
            self.scope.project_id(),
            details,
        );
        self.deps.store.insert_audited(self.scope, &cert, audit).await?;
        Ok(cert.id)
    }

    fn actor(&self) -> String {
        self.deps.actor_name()
    }

    async fn log(&self, level: LogLevel, message: &str, fields: serde_json::Value) {
        if let Err(e) = self.ctx.log(level, message, fields).await {
            tracing::warn!(job_id = %self.job.id, error = %e, "could not write to the scan's log");
        }
    }
}
