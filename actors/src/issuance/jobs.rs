//! The job kinds the certificate actors run: `issue`, `renew` and `revoke`, each routed to the
//! actor of the job's certificate (named by the job's typed spec).

use async_trait::async_trait;
use certautopilot_core::jobs::JobSpec;
use certautopilot_core::model::{Job, JobKind};

use super::certificate::CertificateHub;
use crate::job_pump::{JobContext, JobError, JobHandler};

pub struct CertificateJobs {
    pub kind: JobKind,
    pub hub: CertificateHub,
}

impl CertificateJobs {
    /// One handler per certificate job kind, all sharing `hub`.
    pub fn all(hub: &CertificateHub) -> Vec<CertificateJobs> {
        [JobKind::Issue, JobKind::Renew, JobKind::Revoke]
            .into_iter()
            .map(|kind| CertificateJobs { kind, hub: hub.clone() })
            .collect()
    }
}

#[async_trait]
impl JobHandler for CertificateJobs {
    fn kind(&self) -> JobKind {
        self.kind
    }

    async fn run(&self, job: &Job, ctx: JobContext) -> Result<String, JobError> {
        let id = match JobSpec::decode(job) {
            Ok(
                JobSpec::Issue { certificate_id }
                | JobSpec::Renew { certificate_id, .. }
                | JobSpec::Revoke { certificate_id, .. },
            ) => certificate_id,
            _ => return Err(JobError::permanent("the job names no certificate")),
        };
        self.hub.run(id, job.clone(), ctx).await
    }
}
