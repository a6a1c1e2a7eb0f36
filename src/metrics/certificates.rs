//! Certificate series named like the ones dashboards built for cert-manager already read
//! (`certmanager_certificate_expiration_timestamp_seconds`, `…_renewal_timestamp_seconds`,
//! `…_ready_status`), under our prefix, plus each certificate's health and the count per project and
//! health, and whether a scheduler is ticking. The alerting rules in `deploy/prometheus/` read them.
//! Invariant: labels are bounded: a certificate's id, its common name, its project's name and its
//! issuer's name, never a serial, an error text or a secret; at most `MAX_CERTIFICATE_SERIES`
//! certificates get series of their own (the counts cover every certificate).

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use certautopilot_core::ids::{AcmeAccountId, CertificateId};
use certautopilot_core::model::{AcmeAccount, Certificate, CertificateFacts, HealthRules, Project, StatsRequest};
use certautopilot_core::store::{PageRequest, Record, RecordStore, Store};
use certautopilot_core::{OrgScope, ProjectScope, Timestamp};

use super::escape;
use crate::service::health::SchedulerWatch;

/// Certificates with series of their own, across every project.
const MAX_CERTIFICATE_SERIES: usize = 10_000;
const PAGE: usize = 1_000;

/// The certificate series and the scheduler's liveness; nothing when the store does not answer
/// (`certautopilot_store_up` says so).
pub async fn render(out: &mut String, store: &dyn Store, scheduler: SchedulerWatch) {
    render_scheduler(out, store, scheduler).await;
    let now = Timestamp::now();
    let rules = HealthRules::at(now);
    let mut counts = String::new();
    let mut series = Series::default();
    let Ok(orgs) = store.list_organizations().await else { return };
    for org in orgs {
        let org_scope = OrgScope::for_system("metrics", &org);
        let Ok(projects) = every::<Project>(store, &org_scope).await else { return };
        for project in projects {
            let scope = ProjectScope::for_system("metrics", &project);
            let request = StatsRequest { now, calendar_start: now, calendar_days: 0, attention_limit: 1 };
            let Ok(stats) = store.certificate_stats(&scope, &request).await else { return };
            for (health, n) in stats.counts.health.iter() {
                let _ = writeln!(
                    counts,
                    "certautopilot_certificates{{project=\"{}\",health=\"{}\"}} {n}",
                    escape(&project.name),
                    health.as_str()
                );
            }
            if series.full() {
                continue;
            }
            let Ok(accounts) = every::<AcmeAccount>(store, &scope).await else { return };
            let issuers: HashMap<AcmeAccountId, String> = accounts.into_iter().map(|a| (a.id, a.name)).collect();
            let drifted: HashSet<CertificateId> = stats.drifted.into_iter().collect();
            let mut page = PageRequest::first(PAGE);
            while !series.full() {
                let Ok(batch) = store.list_unsealed::<Certificate>(&scope, &page).await else { return };
                for cert in &batch.items {
                    series.add(cert, &project.name, &issuers, drifted.contains(&cert.id), &rules);
                }
                match batch.next_cursor {
                    Some(cursor) => page = PageRequest::after(PAGE, cursor),
                    None => break,
                }
            }
        }
    }
    out.push_str(
        "# HELP certautopilot_certificates Certificates by project and health.\n# TYPE certautopilot_certificates gauge\n",
    );
    out.push_str(&counts);
    series.write(out);
}

/// Every record of kind `R` in `scope`, a page at a time.
async fn every<R: Record>(store: &dyn Store, scope: &R::Scope) -> Result<Vec<R>, certautopilot_core::StoreError> {
    let mut all = Vec::new();
    let mut page = PageRequest::first(PAGE);
    loop {
        let batch = store.list::<R>(scope, &page).await?;
        all.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(PAGE, cursor),
            None => return Ok(all),
        }
    }
}

/// The lines of each per-certificate metric, gathered before they are written under their headers.
#[derive(Default)]
struct Series {
    certificates: usize,
    expiration: String,
    not_before: String,
    renewal: String,
    ready: String,
    health: String,
}

impl Series {
    fn full(&self) -> bool {
        self.certificates >= MAX_CERTIFICATE_SERIES
    }

    fn add(
        &mut self,
        cert: &Certificate,
        project: &str,
        issuers: &HashMap<AcmeAccountId, String>,
        drifted: bool,
        rules: &HealthRules,
    ) {
        if self.full() {
            return;
        }
        self.certificates += 1;
        let issuer = cert.issued_by.or(cert.acme_account_id).and_then(|id| issuers.get(&id)).map_or("", String::as_str);
        let labels = format!(
            "id=\"{}\",name=\"{}\",project=\"{}\",issuer=\"{}\"",
            cert.id,
            escape(&cert.common_name),
            escape(project),
            escape(issuer)
        );
        let seconds = |t: Timestamp| t.as_unix_millis() as f64 / 1_000.0;
        if let Some(t) = cert.not_after {
            let _ = writeln!(
                self.expiration,
                "certautopilot_certificate_expiration_timestamp_seconds{{{labels}}} {}",
                seconds(t)
            );
        }
        if let Some(t) = cert.not_before {
            let _ = writeln!(
                self.not_before,
                "certautopilot_certificate_not_before_timestamp_seconds{{{labels}}} {}",
                seconds(t)
            );
        }
        if let Some(t) = cert.renew_at {
            let _ = writeln!(
                self.renewal,
                "certautopilot_certificate_renewal_timestamp_seconds{{{labels}}} {}",
                seconds(t)
            );
        }
        let health = rules.health(&CertificateFacts::of(cert), drifted);
        let condition = match health.ready() {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        };
        for c in ["True", "False", "Unknown"] {
            let _ = writeln!(
                self.ready,
                "certautopilot_certificate_ready_status{{{labels},condition=\"{c}\"}} {}",
                u8::from(c == condition)
            );
        }
        let _ = writeln!(self.health, "certautopilot_certificate_health{{{labels},health=\"{}\"}} 1", health.as_str());
    }

    fn write(&self, out: &mut String) {
        let metrics: [(&str, &str, &String); 5] = [
            (
                "certautopilot_certificate_expiration_timestamp_seconds",
                "When the certificate expires (not_after), Unix seconds.",
                &self.expiration,
            ),
            (
                "certautopilot_certificate_not_before_timestamp_seconds",
                "When the certificate became valid (not_before), Unix seconds.",
                &self.not_before,
            ),
            (
                "certautopilot_certificate_renewal_timestamp_seconds",
                "When the certificate's renewal window opens, Unix seconds.",
                &self.renewal,
            ),
            (
                "certautopilot_certificate_ready_status",
                "Whether the certificate serves as it should (True: ok or renewal due), by condition.",
                &self.ready,
            ),
            ("certautopilot_certificate_health", "The certificate's health (the label), always 1.", &self.health),
        ];
        for (name, help, lines) in metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            out.push_str(lines);
        }
    }
}

/// The newest scheduler heartbeat and whether it is recent enough (`SchedulerWatch`).
async fn render_scheduler(out: &mut String, store: &dyn Store, watch: SchedulerWatch) {
    let Ok(liveness) = watch.liveness(store, Timestamp::now()).await else { return };
    if let Some(beat) = &liveness.last_beat {
        out.push_str(
            "# HELP certautopilot_scheduler_last_beat_timestamp_seconds When a scheduler last finished a scan, Unix seconds.\n\
             # TYPE certautopilot_scheduler_last_beat_timestamp_seconds gauge\n",
        );
        let _ = writeln!(
            out,
            "certautopilot_scheduler_last_beat_timestamp_seconds {}",
            beat.at.as_unix_millis() as f64 / 1_000.0
        );
    }
    let absent = liveness.absent;
    out.push_str(
        "# HELP certautopilot_scheduler_up Whether a scheduler finished a scan within issuance.scheduler_absent_after_secs.\n\
         # TYPE certautopilot_scheduler_up gauge\n",
    );
    let _ = writeln!(out, "certautopilot_scheduler_up {}", u8::from(!absent));
}
