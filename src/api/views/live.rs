//! A certificate's live status: what its newest job is doing now, and while an order waits for
//! its DNS records to propagate, which servers already answer with the value and which do not.
//! Built from the job's newest log line, so the wait shown is the one the job last wrote. The plain
//! parts are GraphQL's types too (`Certificate.live`, `graphql::live`), so both say the same.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::JobId;
use certautopilot_core::model::{CertificateStatus, Job, JobLogLine, ServerStatus, UNREACHABLE_ADVICE, WaitPicture};
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /api/v1/certificates/{id}/live`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveStatus {
    /// The certificate's status (`requested`, `issuing`, …).
    #[schema(value_type = String)]
    pub status: CertificateStatus,
    /// A job about the certificate is queued or running.
    pub running: bool,
    /// Its newest job, if it ever had one.
    pub job: Option<LiveJob>,
    /// That job's newest log line.
    pub step: Option<LiveStep>,
    /// Set while the newest line is a propagation wait that has not ended.
    pub waiting: Option<LiveWaiting>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveJob {
    #[schema(value_type = String, format = "uuid")]
    pub id: JobId,
    /// `issue`, `renew`, `revoke`, `distribute`, …
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `dead`.
    pub status: String,
    pub attempts: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveStep {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
}

/// A DNS-01 record being waited for.
#[derive(Debug, Serialize, ToSchema, async_graphql::SimpleObject)]
pub struct LiveWaiting {
    /// The name the TXT record is at.
    pub name: String,
    /// The zone's propagation strategy: `authoritative` or `resolvers`.
    pub strategy: String,
    /// How long the wait had run when the line was written.
    pub waited_ms: u64,
    /// Servers that answer with the value.
    pub ready: Vec<String>,
    /// Servers that do not yet, with what they answered.
    pub missing: Vec<LiveServer>,
    /// Set when a server has never answered: what to do about it.
    pub advice: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, async_graphql::SimpleObject)]
pub struct LiveServer {
    /// `address:port`.
    pub server: String,
    /// `nxdomain`, `no_txt`, `other_values`, `refused` or `no_answer`.
    pub answer: String,
    /// The answer in words: `NXDOMAIN`, `other values: …`, `unreachable (timeout)`.
    pub detail: String,
    /// It has not answered once during this wait.
    pub unreachable: bool,
}

impl LiveStatus {
    /// The status from the certificate's newest job and that job's newest log line.
    pub fn new(status: CertificateStatus, job: Option<&Job>, line: Option<&JobLogLine>) -> Self {
        let running = job.is_some_and(|j| !j.status.is_terminal());
        let waiting = line
            .filter(|_| running)
            .and_then(|l| serde_json::from_value::<WaitPicture>(l.fields.clone()).ok())
            .filter(|p| !p.ready())
            .map(LiveWaiting::from);
        LiveStatus {
            status,
            running,
            job: job.map(|j| LiveJob {
                id: j.id,
                kind: j.kind.as_str().to_owned(),
                status: j.status.as_str().to_owned(),
                attempts: j.attempts,
            }),
            step: line.map(|l| LiveStep {
                at: l.at,
                level: serde_json::to_value(l.level)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                message: l.message.clone(),
            }),
            waiting,
        }
    }
}

impl From<WaitPicture> for LiveWaiting {
    fn from(p: WaitPicture) -> Self {
        let server = |s: &ServerStatus| LiveServer {
            server: s.server.to_string(),
            answer: s.answer.kind().to_owned(),
            detail: s.describe(),
            unreachable: s.unreachable,
        };
        let advice = p.unreachable().next().map(|_| UNREACHABLE_ADVICE.to_owned());
        let ready = p.servers.iter().filter(|s| s.ready()).map(|s| s.server.to_string()).collect();
        let missing = p.missing().map(server).collect();
        LiveWaiting { advice, ready, missing, name: p.name, strategy: p.strategy, waited_ms: p.waited_ms }
    }
}

#[cfg(test)]
mod tests {
    use certautopilot_core::ids::{JobId, ProjectId};
    use certautopilot_core::model::{JobKind, JobStatus, LogLevel, PropagationWatch, ServerAnswer};
    use serde_json::json;

    use super::*;

    fn job(status: JobStatus) -> Job {
        let now = Timestamp::from_unix_millis(1_000);
        Job {
            id: JobId::new(),
            project_id: Some(ProjectId::new()),
            kind: JobKind::Issue,
            subject: None,
            dedupe_key: None,
            payload: json!({}),
            status,
            attempts: 1,
            max_attempts: 5,
            run_at: now,
            lease_owner: None,
            lease_expires_at: None,
            lease_seq: 1,
            last_error: None,
            queued_at: now,
            first_started_at: None,
            started_at: None,
            finished_at: None,
            version: 1,
        }
    }

    fn wait_line(answers: Vec<(&str, ServerAnswer)>) -> JobLogLine {
        let answers = answers.into_iter().map(|(a, answer)| (a.parse().unwrap(), answer)).collect();
        let (picture, _) =
            PropagationWatch::default().observe("_acme-challenge.a.test", "authoritative", answers, 1_500);
        JobLogLine {
            seq: 3,
            at: Timestamp::from_unix_millis(2_000),
            level: LogLevel::Warn,
            message: picture.summary(),
            fields: serde_json::to_value(&picture).unwrap(),
        }
    }

    #[test]
    fn a_running_wait_names_the_servers_and_advises_on_an_unreachable_one() {
        let line = wait_line(vec![
            ("127.0.0.1:53", ServerAnswer::HasValue),
            ("127.0.0.2:53", ServerAnswer::Nxdomain),
            ("127.0.0.3:53", ServerAnswer::NoAnswer { reason: "timeout".into() }),
        ]);
        let live = LiveStatus::new(CertificateStatus::Issuing, Some(&job(JobStatus::Running)), Some(&line));
        assert!(live.running);
        let waiting = live.waiting.expect("waiting");
        assert_eq!(waiting.ready, ["127.0.0.1:53"]);
        let missing: Vec<_> =
            waiting.missing.iter().map(|s| (s.server.as_str(), s.answer.as_str(), s.unreachable)).collect();
        assert_eq!(missing, [("127.0.0.2:53", "nxdomain", false), ("127.0.0.3:53", "no_answer", true)]);
        assert_eq!(waiting.missing[1].detail, "unreachable (timeout)");
        assert_eq!(waiting.advice.as_deref(), Some(UNREACHABLE_ADVICE));
        assert_eq!(live.step.unwrap().level, "warn");
    }

    #[test]
    fn a_wait_that_ended_or_a_finished_job_is_not_waiting() {
        let waiting = wait_line(vec![("127.0.0.2:53", ServerAnswer::Nxdomain)]);
        let done = LiveStatus::new(CertificateStatus::Issued, Some(&job(JobStatus::Succeeded)), Some(&waiting));
        assert!(!done.running && done.waiting.is_none(), "{done:?}");
        let seen = wait_line(vec![("127.0.0.2:53", ServerAnswer::HasValue)]);
        let live = LiveStatus::new(CertificateStatus::Issuing, Some(&job(JobStatus::Running)), Some(&seen));
        assert!(live.running && live.waiting.is_none(), "{live:?}");
        let other = JobLogLine { fields: json!({ "name": "x", "strategy": "delay" }), ..seen };
        assert!(
            LiveStatus::new(CertificateStatus::Issuing, Some(&job(JobStatus::Running)), Some(&other)).waiting.is_none()
        );
        let never = LiveStatus::new(CertificateStatus::Requested, None, None);
        assert!(!never.running && never.job.is_none() && never.step.is_none());
    }
}
