//! `JobSpec`: every job this system queues, one variant per kind with typed fields. The spec owns the
//! job's subject, its dedupe key and its payload; `decode` reads a stored job back into its spec.
//! Invariant: the payload JSON and the dedupe keys are byte-for-byte what the hand-written builders
//! wrote before (issue 16), so jobs queued by an older version still run and still deduplicate.
//!
//! | kind       | subject            | dedupe key                                      | payload keys                         |
//! |------------|--------------------|-------------------------------------------------|--------------------------------------|
//! | issue      | certificate id     | `issue:<cert>`                                  | certificate_id                       |
//! | renew      | certificate id     | `renew:<cert>:manual:v<version>` (by hand)      | certificate_id, reason               |
//! |            |                    | `renew:<cert>:<not_after ms or 0>:v<version>`   | certificate_id, not_after, reason    |
//! | revoke     | certificate id     | `revoke:<cert>:<serial>`                        | certificate_id, reason, serial       |
//! | distribute | certificate id     | `distribute:<cert>:<serial>` (after issuance),  | certificate_id, target_ids, force    |
//! |            |                    | `redeploy:<cert>:<target>:<deployment version>` |                                      |
//! |            |                    | none (by hand)                                  |                                      |
//! | scan       | `target:<target>`  | `scan:<target>:<window>` (scheduled), none      | target_id                            |
//! | rotate_kek | none               | `kek-rotation:<period ms>:<window>`             | (empty object)                       |
//! | notify     | `channel:<channel>` | `notify:<rule>:<channel>:<audit seq>`,          | rule_id, channel_id, seq or window   |
//! |            |                    | `digest:<rule>:<channel>:<window>`              | and minutes                          |

use serde::{Deserialize, Serialize};

use crate::ids::{CertificateId, ChannelId, ProjectId, RuleId, TargetId};
use crate::model::{Job, JobKind, NewJob};
use crate::scope::ProjectScope;

/// What a renewal job was queued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewReason {
    /// Asked for through the API: it runs even when the certificate is paused.
    Requested,
    /// The scheduler found the renewal window open for the certificate that expires at `not_after`
    /// (Unix ms); a newer certificate makes the job a no-op.
    WindowOpen { not_after: Option<i64> },
}

impl RenewReason {
    pub fn is_by_hand(self) -> bool {
        self == RenewReason::Requested
    }
}

/// Why a distribute job was queued; it decides the dedupe key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistributeCause {
    /// The certificate was issued with this serial: one deployment per serial.
    Issued { serial: String },
    /// Asked for through the API: every request queues one.
    Requested,
    /// A drift scan found the deployment (at this record version) drifted, with auto-redeploy on.
    Redeploy { deployment_version: u64 },
}

/// One job, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSpec {
    Issue {
        certificate_id: CertificateId,
    },
    Renew {
        certificate_id: CertificateId,
        reason: RenewReason,
        /// The certificate record's version when queued: one renewal job per version.
        record_version: u64,
    },
    Revoke {
        certificate_id: CertificateId,
        /// RFC 5280 reason code.
        reason: Option<u8>,
        /// The serial current when asked: a renewal in between makes the job refuse.
        serial: Option<String>,
    },
    Distribute {
        certificate_id: CertificateId,
        /// The targets to deploy to; empty: all of the certificate's targets.
        target_ids: Vec<TargetId>,
        /// Deploy again where this serial is already deployed.
        force: bool,
        cause: DistributeCause,
    },
    Scan {
        target_id: TargetId,
        /// The scheduler's scan window; `None` for a scan asked for by hand.
        window: Option<i64>,
    },
    RotateKek {
        period_ms: i64,
        window: i64,
    },
    /// A discovery scan of a project's endpoints (checked when it was asked for).
    Discover {
        project_id: ProjectId,
        scan: DiscoveryScan,
    },
    /// One notification of a rule to one of its channels.
    Notify {
        rule_id: RuleId,
        channel_id: ChannelId,
        delivery: NotifyDelivery,
    },
}

/// What a notify job sends: one audit entry, or a digest of a rule's events over one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyDelivery {
    /// The entry with this `seq` in the organization's chain.
    Event { seq: u64 },
    /// Period number `window` of `minutes` minutes since the Unix epoch: the digest is sent at its
    /// end with the rule's events not sent in an earlier digest.
    Digest { window: i64, minutes: u32 },
}

impl NotifyDelivery {
    /// The digest period holding `now` for a rule that sends one every `minutes`.
    pub fn digest_at(now: crate::timestamp::Timestamp, minutes: u32) -> NotifyDelivery {
        let period = i64::from(minutes.max(1)) * 60_000;
        NotifyDelivery::Digest { window: now.as_unix_millis().div_euclid(period), minutes }
    }

    /// When a digest period ends (its job's first run).
    pub fn digest_end(window: i64, minutes: u32) -> crate::timestamp::Timestamp {
        crate::timestamp::Timestamp::from_unix_millis((window + 1) * i64::from(minutes.max(1)) * 60_000)
    }
}

/// What a discovery scan probes: endpoints (`host:port`) and, on each of `ports`, every address
/// of `cidrs`; `server_name` is the name asked for (SNI) where the endpoint gives none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveryScan {
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub cidrs: Vec<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub server_name: Option<String>,
}

/// Why a stored job could not be read as a spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobSpecError {
    #[error("the job names no certificate")]
    NoCertificate,
    #[error("the job names no target")]
    NoTarget,
    #[error("the job names no project")]
    NoProject,
    #[error("the {kind} job's payload is malformed: {reason}")]
    Payload { kind: &'static str, reason: String },
    #[error("{0} jobs have no spec")]
    Unsupported(&'static str),
}

#[derive(Serialize, Deserialize)]
struct CertificatePayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate_id: Option<CertificateId>,
}

#[derive(Serialize, Deserialize)]
struct RenewPayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate_id: Option<CertificateId>,
    /// Present (possibly null) on scheduled renewals only.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present_or_null")]
    not_after: Option<Option<i64>>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct RevokePayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate_id: Option<CertificateId>,
    #[serde(default)]
    reason: Option<u8>,
    #[serde(default)]
    serial: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct DistributePayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate_id: Option<CertificateId>,
    #[serde(default)]
    target_ids: Vec<TargetId>,
    #[serde(default)]
    force: bool,
}

#[derive(Serialize, Deserialize)]
struct NotifyPayload {
    rule_id: RuleId,
    channel_id: ChannelId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    minutes: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct ScanPayload {
    #[serde(default)]
    target_id: Option<TargetId>,
}

/// A field that is absent (`None`), null (`Some(None)`) or a value (`Some(Some(v))`).
mod present_or_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Option<i64>>, s: S) -> Result<S::Ok, S::Error> {
        value.as_ref().and_then(|v| v.as_ref()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Ok(Some(Option::<i64>::deserialize(d)?))
    }
}

/// The name renewals asked for by hand carry in their payload.
const REASON_REQUESTED: &str = "requested";
/// The name the scheduler's renewals carry.
const REASON_WINDOW_OPEN: &str = "renewal window open";

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Issue { .. } => JobKind::Issue,
            JobSpec::Renew { .. } => JobKind::Renew,
            JobSpec::Revoke { .. } => JobKind::Revoke,
            JobSpec::Distribute { .. } => JobKind::Distribute,
            JobSpec::Scan { .. } => JobKind::Scan,
            JobSpec::RotateKek { .. } => JobKind::RotateKek,
            JobSpec::Discover { .. } => JobKind::Discover,
            JobSpec::Notify { .. } => JobKind::Notify,
        }
    }

    /// What the job works on: at most one running job per subject.
    pub fn subject(&self) -> Option<String> {
        match self {
            JobSpec::Issue { certificate_id }
            | JobSpec::Renew { certificate_id, .. }
            | JobSpec::Revoke { certificate_id, .. }
            | JobSpec::Distribute { certificate_id, .. } => Some(certificate_id.to_string()),
            JobSpec::Scan { target_id, .. } => Some(format!("target:{target_id}")),
            JobSpec::RotateKek { .. } => None,
            // Scans of one project run one at a time: each records what it finds before the next.
            JobSpec::Discover { project_id, .. } => Some(format!("discovery:{project_id}")),
            // One send at a time per channel: chat services rate-limit per webhook.
            JobSpec::Notify { channel_id, .. } => Some(format!("channel:{channel_id}")),
        }
    }

    /// A second enqueue with the same key returns the first job.
    pub fn dedupe_key(&self) -> Option<String> {
        match self {
            JobSpec::Issue { certificate_id } => Some(format!("issue:{certificate_id}")),
            JobSpec::Renew { certificate_id, reason: RenewReason::Requested, record_version } => {
                Some(format!("renew:{certificate_id}:manual:v{record_version}"))
            }
            JobSpec::Renew { certificate_id, reason: RenewReason::WindowOpen { not_after }, record_version } => {
                Some(format!("renew:{certificate_id}:{}:v{record_version}", not_after.unwrap_or_default()))
            }
            JobSpec::Revoke { certificate_id, serial, .. } => {
                Some(format!("revoke:{certificate_id}:{}", serial.as_deref().unwrap_or_default()))
            }
            JobSpec::Distribute { certificate_id, target_ids, cause, .. } => match cause {
                DistributeCause::Issued { serial } => Some(format!("distribute:{certificate_id}:{serial}")),
                DistributeCause::Requested => None,
                DistributeCause::Redeploy { deployment_version } => {
                    let target = target_ids.first().map(ToString::to_string).unwrap_or_default();
                    Some(format!("redeploy:{certificate_id}:{target}:{deployment_version}"))
                }
            },
            JobSpec::Scan { target_id, window } => window.map(|w| format!("scan:{target_id}:{w}")),
            JobSpec::RotateKek { period_ms, window } => Some(format!("kek-rotation:{period_ms}:{window}")),
            JobSpec::Discover { .. } => None,
            JobSpec::Notify { rule_id, channel_id, delivery: NotifyDelivery::Event { seq } } => {
                Some(format!("notify:{rule_id}:{channel_id}:{seq}"))
            }
            JobSpec::Notify { rule_id, channel_id, delivery: NotifyDelivery::Digest { window, .. } } => {
                Some(format!("digest:{rule_id}:{channel_id}:{window}"))
            }
        }
    }

    /// The payload as stored.
    pub fn payload(&self) -> serde_json::Value {
        let value = match self {
            JobSpec::Issue { certificate_id } => {
                serde_json::to_value(CertificatePayload { certificate_id: Some(*certificate_id) })
            }
            JobSpec::Renew { certificate_id, reason, .. } => serde_json::to_value(RenewPayload {
                certificate_id: Some(*certificate_id),
                not_after: match reason {
                    RenewReason::Requested => None,
                    RenewReason::WindowOpen { not_after } => Some(*not_after),
                },
                reason: Some(if reason.is_by_hand() { REASON_REQUESTED } else { REASON_WINDOW_OPEN }.to_owned()),
            }),
            JobSpec::Revoke { certificate_id, reason, serial } => serde_json::to_value(RevokePayload {
                certificate_id: Some(*certificate_id),
                reason: *reason,
                serial: serial.clone(),
            }),
            JobSpec::Distribute { certificate_id, target_ids, force, .. } => serde_json::to_value(DistributePayload {
                certificate_id: Some(*certificate_id),
                target_ids: target_ids.clone(),
                force: *force,
            }),
            JobSpec::Scan { target_id, .. } => serde_json::to_value(ScanPayload { target_id: Some(*target_id) }),
            JobSpec::RotateKek { .. } => Ok(serde_json::Value::Object(Default::default())),
            JobSpec::Discover { scan, .. } => serde_json::to_value(scan),
            JobSpec::Notify { rule_id, channel_id, delivery } => {
                let (seq, window, minutes) = match *delivery {
                    NotifyDelivery::Event { seq } => (Some(seq), None, None),
                    NotifyDelivery::Digest { window, minutes } => (None, Some(window), Some(minutes)),
                };
                serde_json::to_value(NotifyPayload { rule_id: *rule_id, channel_id: *channel_id, seq, window, minutes })
            }
        };
        value.expect("a job payload of ids, numbers and strings serializes")
    }

    /// The job to enqueue for a project (every kind but `rotate_kek`).
    pub fn into_job(self, scope: &ProjectScope, max_attempts: u32) -> NewJob {
        self.fill(NewJob::for_project(scope, self.kind(), max_attempts))
    }

    /// The job to enqueue for the system (`rotate_kek`).
    pub fn into_system_job(self, max_attempts: u32) -> NewJob {
        self.fill(NewJob::system(self.kind(), max_attempts))
    }

    fn fill(&self, mut job: NewJob) -> NewJob {
        job.subject = self.subject();
        job.dedupe_key = self.dedupe_key();
        job.payload = self.payload();
        job
    }

    /// Reads a stored job back into its spec. Fields only the dedupe key holds (a record version, a
    /// window) are read from it; a certificate job names its certificate in the payload or, for
    /// jobs queued without one, in its subject.
    pub fn decode(job: &Job) -> Result<JobSpec, JobSpecError> {
        let key = job.dedupe_key.as_deref().unwrap_or_default();
        let kind = job.kind.as_str();
        let certificate = |from_payload: Option<CertificateId>| {
            from_payload
                .or_else(|| job.subject.as_deref().and_then(|s| s.parse().ok()))
                .ok_or(JobSpecError::NoCertificate)
        };
        match job.kind {
            JobKind::Issue => {
                let p: CertificatePayload = payload(job, kind)?;
                Ok(JobSpec::Issue { certificate_id: certificate(p.certificate_id)? })
            }
            JobKind::Renew => {
                let p: RenewPayload = payload(job, kind)?;
                let reason = match (p.reason.as_deref(), p.not_after) {
                    (Some(REASON_REQUESTED), _) => RenewReason::Requested,
                    (_, not_after) => RenewReason::WindowOpen { not_after: not_after.flatten() },
                };
                let record_version = last_number(key.rsplit(':').next().and_then(|v| v.strip_prefix('v')));
                Ok(JobSpec::Renew { certificate_id: certificate(p.certificate_id)?, reason, record_version })
            }
            JobKind::Revoke => {
                let p: RevokePayload = payload(job, kind)?;
                Ok(JobSpec::Revoke {
                    certificate_id: certificate(p.certificate_id)?,
                    reason: p.reason,
                    serial: p.serial,
                })
            }
            JobKind::Distribute => {
                let p: DistributePayload = payload(job, kind)?;
                let certificate_id = p.certificate_id.ok_or(JobSpecError::NoCertificate)?;
                let cause = if let Some(serial) = key.strip_prefix(&format!("distribute:{certificate_id}:")) {
                    DistributeCause::Issued { serial: serial.to_owned() }
                } else if key.starts_with("redeploy:") {
                    DistributeCause::Redeploy { deployment_version: last_number(key.rsplit(':').next()) }
                } else {
                    DistributeCause::Requested
                };
                Ok(JobSpec::Distribute { certificate_id, target_ids: p.target_ids, force: p.force, cause })
            }
            JobKind::Scan => {
                let p: ScanPayload = payload(job, kind)?;
                let target_id = p.target_id.ok_or(JobSpecError::NoTarget)?;
                let window = key.strip_prefix("scan:").and_then(|k| k.rsplit(':').next()?.parse().ok());
                Ok(JobSpec::Scan { target_id, window })
            }
            JobKind::RotateKek => {
                let mut parts = key.strip_prefix("kek-rotation:").unwrap_or_default().split(':');
                let period_ms = parts.next().and_then(|p| p.parse().ok()).unwrap_or_default();
                let window = parts.next().and_then(|w| w.parse().ok()).unwrap_or_default();
                Ok(JobSpec::RotateKek { period_ms, window })
            }
            JobKind::Discover => Ok(JobSpec::Discover {
                project_id: job.project_id.ok_or(JobSpecError::NoProject)?,
                scan: payload(job, kind)?,
            }),
            JobKind::Notify => {
                let p: NotifyPayload = payload(job, kind)?;
                let delivery = match (p.seq, p.window, p.minutes) {
                    (Some(seq), None, None) => NotifyDelivery::Event { seq },
                    (None, Some(window), Some(minutes)) => NotifyDelivery::Digest { window, minutes },
                    _ => {
                        return Err(JobSpecError::Payload {
                            kind,
                            reason: "names neither an event nor a digest".into(),
                        });
                    }
                };
                Ok(JobSpec::Notify { rule_id: p.rule_id, channel_id: p.channel_id, delivery })
            }
            JobKind::Validate => Err(JobSpecError::Unsupported(kind)),
        }
    }
}

fn payload<T: serde::de::DeserializeOwned>(job: &Job, kind: &'static str) -> Result<T, JobSpecError> {
    serde_json::from_value(job.payload.clone()).map_err(|e| JobSpecError::Payload { kind, reason: e.to_string() })
}

fn last_number(text: Option<&str>) -> u64 {
    text.and_then(|t| t.parse().ok()).unwrap_or_default()
}
