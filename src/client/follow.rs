//! Following work on the server as it happens: a job's log (`job show --follow`), and a
//! certificate's timeline while its issue, renew or revoke job runs (`cert create --wait`).
//! Invariants: each step is printed once, in the server's order, to standard error; following
//! ends when the job is finished (succeeded or dead) or the certificate failed, or at `--timeout`;
//! a job that is only `failed` is waiting for its retry and is followed on.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::Value;

use crate::client::error::ClientError;
use crate::client::http::{ApiClient, encode};
use crate::client::output::note;

/// The first pause between polls; it grows to `MAX_POLL` while nothing changes.
const FIRST_POLL: Duration = Duration::from_millis(250);
const MAX_POLL: Duration = Duration::from_secs(2);

/// `--wait` and its deadline, on the commands that queue a job.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Follow the job, printing each step, until the certificate is done (exit 8 if it fails).
    #[arg(long)]
    pub wait: bool,
    /// How long to follow before giving up (exit 7; the job goes on): `90s`, `10m`, `1h`.
    #[arg(long, default_value = "10m", value_parser = parse_duration, requires = "wait")]
    pub timeout: Duration,
}

/// `90`, `90s`, `10m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 90s, 10m or 1h"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value.saturating_mul(60),
        "h" => value.saturating_mul(3_600),
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    if seconds == 0 {
        return Err("the timeout must be at least one second".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// A deadline and the growing pause between polls.
struct Poll {
    end: Instant,
    after: Duration,
    pause: Duration,
}

impl Poll {
    fn new(after: Duration) -> Self {
        Poll { end: Instant::now() + after, after, pause: FIRST_POLL }
    }

    /// Sleeps before the next poll; `false` once the deadline has passed.
    async fn next(&mut self, changed: bool) -> bool {
        self.pause = if changed { FIRST_POLL } else { (self.pause * 3 / 2).min(MAX_POLL) };
        let now = Instant::now();
        if now >= self.end {
            return false;
        }
        tokio::time::sleep(self.pause.min(self.end - now)).await;
        true
    }
}

/// Follows a job's log until it succeeds (its detail) or is dead (exit 8).
pub async fn follow_job(api: &ApiClient, job_id: &str, timeout: Duration) -> Result<Value, ClientError> {
    let mut poll = Poll::new(timeout);
    let mut printed_seq: Option<u64> = None;
    let mut attempts_reported = 0;
    loop {
        let detail = api.get(&format!("/api/v1/jobs/{}", encode(job_id))).await?;
        let mut changed = false;
        for line in detail.get("log").and_then(Value::as_array).into_iter().flatten() {
            let seq = line.get("seq").and_then(Value::as_u64);
            if seq.is_some() && seq <= printed_seq {
                continue;
            }
            printed_seq = seq;
            changed = true;
            note(&format!("{} [{}] {}", clock(&line["at"]), text(&line["level"]), text(&line["message"])));
        }
        let job = &detail["job"];
        changed |= report_retry(job, &mut attempts_reported);
        match text(&job["status"]).as_str() {
            "succeeded" => return Ok(detail),
            "dead" => return Err(job_failed(job_id, &job["last_error"])),
            _ => {}
        }
        if !poll.next(changed).await {
            return Err(ClientError::WaitTimedOut { what: format!("job {job_id}"), after: poll.after });
        }
    }
}

/// The timeline entries already printed (or present before the request, for a renewal).
#[derive(Default)]
pub struct Timeline {
    seen: HashSet<String>,
}

impl Timeline {
    /// Marks every entry there now as seen, so only what the new job does is printed.
    pub async fn after_now(api: &ApiClient, certificate_id: &str) -> Result<Timeline, ClientError> {
        let mut timeline = Timeline::default();
        for entry in timeline_entries(api, certificate_id).await? {
            timeline.seen.insert(entry_key(&entry));
        }
        Ok(timeline)
    }

    /// Prints the entries not printed yet; whether there were any.
    async fn print_new(&mut self, api: &ApiClient, certificate_id: &str) -> Result<bool, ClientError> {
        let mut any = false;
        for entry in timeline_entries(api, certificate_id).await? {
            if self.seen.insert(entry_key(&entry)) {
                any = true;
                let level = match text(&entry["level"]).as_str() {
                    "warn" | "error" => format!(" [{}]", text(&entry["level"])),
                    _ => String::new(),
                };
                let by =
                    if entry["source"] == "job" { format!("{}{level}: ", text(&entry["by"])) } else { String::new() };
                note(&format!("{} {by}{}", clock(&entry["at"]), text(&entry["event"])));
            }
        }
        Ok(any)
    }
}

/// Follows a certificate's job, printing its timeline, until the job has finished with the
/// certificate in `expect` (its view), or it failed (exit 8).
pub async fn follow_certificate(
    api: &ApiClient,
    certificate_id: &str,
    job_id: &str,
    expect: &str,
    mut timeline: Timeline,
    timeout: Duration,
) -> Result<Value, ClientError> {
    let mut poll = Poll::new(timeout);
    let mut attempts_reported = 0;
    let certificate_path = format!("/api/v1/certificates/{}", encode(certificate_id));
    loop {
        let mut changed = timeline.print_new(api, certificate_id).await?;
        let detail = api.get(&format!("/api/v1/jobs/{}", encode(job_id))).await?;
        let job = &detail["job"];
        changed |= report_retry(job, &mut attempts_reported);
        let certificate = api.get(&certificate_path).await?;
        let status = text(&certificate["status"]);
        let what = format!("certificate {certificate_id}");
        if status == "failed" {
            timeline.print_new(api, certificate_id).await?;
            return Err(ClientError::JobFailed { what, reason: reason(&certificate, job) });
        }
        match text(&job["status"]).as_str() {
            "succeeded" if status == expect => return Ok(certificate),
            "succeeded" => {
                let reason = format!("its job finished but the certificate is {status}, not {expect}");
                return Err(ClientError::JobFailed { what, reason });
            }
            "dead" => return Err(ClientError::JobFailed { what, reason: reason(&certificate, job) }),
            _ => {}
        }
        if !poll.next(changed).await {
            return Err(ClientError::WaitTimedOut { what, after: poll.after });
        }
    }
}

async fn timeline_entries(api: &ApiClient, certificate_id: &str) -> Result<Vec<Value>, ClientError> {
    let timeline = api.get(&format!("/api/v1/certificates/{}/timeline", encode(certificate_id))).await?;
    Ok(timeline.get("items").and_then(Value::as_array).cloned().unwrap_or_default())
}

fn entry_key(entry: &Value) -> String {
    Value::Array(vec![entry["at"].clone(), entry["source"].clone(), entry["event"].clone(), entry["job_id"].clone()])
        .to_string()
}

/// Says once per failed attempt that the job will be retried; whether it said anything.
fn report_retry(job: &Value, reported: &mut u64) -> bool {
    let attempts = job["attempts"].as_u64().unwrap_or(0);
    if job["status"] != "failed" || attempts <= *reported {
        return false;
    }
    *reported = attempts;
    note(&format!(
        "attempt {attempts} of {} failed: {}; retrying at {}",
        job["max_attempts"].as_u64().unwrap_or(0),
        text(&job["last_error"]),
        text(&job["run_at"])
    ));
    true
}

fn reason(certificate: &Value, job: &Value) -> String {
    [&certificate["last_error"], &job["last_error"]]
        .into_iter()
        .find_map(|e| e.as_str().map(str::to_owned))
        .unwrap_or_else(|| "no reason given".into())
}

fn job_failed(job_id: &str, last_error: &Value) -> ClientError {
    ClientError::JobFailed {
        what: format!("job {job_id}"),
        reason: last_error.as_str().unwrap_or("no reason given").to_owned(),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// `HH:MM:SS` of an RFC 3339 time (the server's clock, UTC).
fn clock(at: &Value) -> String {
    let at = at.as_str().unwrap_or_default();
    at.get(11..19).filter(|_| at.as_bytes().get(10) == Some(&b'T')).unwrap_or(at).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_take_seconds_minutes_and_hours() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7_200));
        for bad in ["", "0", "5d", "m", "1.5m", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    /// A retry is announced once per failed attempt, and not for queued, running or dead jobs.
    #[test]
    fn retries_are_announced_once_per_attempt() {
        let mut reported = 0;
        let failed = json!({ "status": "failed", "attempts": 1, "max_attempts": 5, "last_error": "CA unreachable" });
        assert!(report_retry(&failed, &mut reported));
        assert!(!report_retry(&failed, &mut reported));
        assert!(!report_retry(&json!({ "status": "running", "attempts": 2 }), &mut reported));
        assert!(report_retry(&json!({ "status": "failed", "attempts": 2 }), &mut reported));
        assert_eq!(clock(&json!("2026-05-01T10:11:12.345Z")), "10:11:12");
    }
}
