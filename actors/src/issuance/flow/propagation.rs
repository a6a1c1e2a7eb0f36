//! Waiting for one challenge record by its zone's strategy: the provider's own report first
//! (`wait_applied`, Route 53's `INSYNC`), then a fixed delay, nothing, or polling every server the
//! zone checks until all answer the value. While it polls, a job log line (the certificate's live
//! step and timeline entry) is written whenever the picture changes (`PropagationWatch`).
//! Invariant: the wait ends by the zone's timeout; its failure names every server still missing
//! and what it answered, and servers that never answered are reported as unreachable.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use certautopilot_connectors::dns::{Authoritative, DnsError, provider_name};
use certautopilot_core::model::{
    LogLevel, PropagationStrategy, PropagationWatch, PublishedRecord, ServerAnswer, UNREACHABLE_ADVICE, WaitPicture,
};
use serde_json::json;

use super::Flow;
use crate::issuance::IssueError;
use crate::issuance::dns::ChallengeTarget;
use crate::issuance::propagation_metrics;

/// The first pause between polls: a primary usually has the record at once.
const FIRST_POLL_PAUSE: Duration = Duration::from_millis(10);

impl Flow<'_> {
    /// Waits for one record until its zone's strategy is satisfied; the time waited comes back.
    pub(super) async fn await_record(
        &self,
        check: &Authoritative,
        target: &ChallengeTarget,
        record: &PublishedRecord,
    ) -> Result<Duration, IssueError> {
        let started = Instant::now();
        let provider = target.provider.provider();
        let propagation = &target.zone.propagation;
        let strategy = propagation.strategy;
        let timeout = propagation.timeout(provider, self.deps.settings.dns_propagation_timeout);
        let provider_label = provider_name(provider);
        let outcome = |result: &Result<(), IssueError>| match result {
            Ok(()) => "visible",
            Err(IssueError::Dns(DnsError::ServersUnreachable { .. })) => "unreachable",
            Err(_) => "timeout",
        };
        // Every provider is asked first; those without a change status answer at once.
        self.cancellable(target.provider.wait_applied(timeout)).await??;
        let result = match strategy {
            PropagationStrategy::None => Ok(()),
            PropagationStrategy::Delay => {
                let delay = Duration::from_secs(u64::from(propagation.delay_seconds.unwrap_or(0)));
                let fields = json!({ "name": record.name, "strategy": "delay", "delay_seconds": delay.as_secs() });
                self.log(LogLevel::Info, &format!("waiting a fixed {} s for {}", delay.as_secs(), record.name), fields)
                    .await;
                self.cancellable(tokio::time::sleep(delay.saturating_sub(started.elapsed()))).await
            }
            PropagationStrategy::Authoritative | PropagationStrategy::Resolvers => {
                let servers = target.check_servers(check).await?;
                let poll = propagation.poll_interval(provider);
                self.poll_until_visible(check, &servers, record, strategy, started, timeout, poll).await
            }
        };
        propagation_metrics::observe(&provider_label, strategy.as_str(), outcome(&result), started.elapsed());
        result.map(|()| started.elapsed())
    }

    /// Asks every server until all answer the value, writing the picture when it changes.
    #[allow(clippy::too_many_arguments)]
    async fn poll_until_visible(
        &self,
        check: &Authoritative,
        servers: &[SocketAddr],
        record: &PublishedRecord,
        strategy: PropagationStrategy,
        started: Instant,
        timeout: Duration,
        poll: Duration,
    ) -> Result<(), IssueError> {
        let mut watch = PropagationWatch::default();
        let mut pause = FIRST_POLL_PAUSE.min(poll);
        loop {
            let answers = self.cancellable(answers(check, servers, &record.name, &record.value)).await??;
            let waited = started.elapsed();
            let (picture, write) = watch.observe(&record.name, strategy.as_str(), answers, waited.as_millis() as u64);
            if write {
                let level = if picture.ready() { LogLevel::Info } else { LogLevel::Warn };
                let fields = serde_json::to_value(&picture).unwrap_or_default();
                self.log(level, &picture.summary(), fields).await;
            }
            if picture.ready() {
                return Ok(());
            }
            if started.elapsed() + pause > timeout {
                return Err(gave_up(&picture).into());
            }
            self.cancellable(tokio::time::sleep(pause)).await?;
            pause = (pause * 2).min(poll);
        }
    }
}

/// Every server's answer, asked at once (one server's timeout does not delay the others').
async fn answers(
    check: &Authoritative,
    servers: &[SocketAddr],
    name: &str,
    value: &str,
) -> Result<Vec<(SocketAddr, ServerAnswer)>, DnsError> {
    let mut asked = tokio::task::JoinSet::new();
    for (i, server) in servers.iter().copied().enumerate() {
        let (check, name, value) = (check.clone(), name.to_owned(), value.to_owned());
        asked.spawn(async move { (i, server, check.answer(server, &name, &value).await) });
    }
    let mut out: Vec<Option<(SocketAddr, ServerAnswer)>> = vec![None; servers.len()];
    while let Some(joined) = asked.join_next().await {
        let (i, server, answer) = joined.map_err(|e| DnsError::Config(format!("a DNS query task failed: {e}")))?;
        out[i] = Some((server, answer?));
    }
    Ok(out.into_iter().flatten().collect())
}

/// The wait's failure: unreachable servers when every missing one never answered (checking from
/// here is what fails), otherwise not propagated, naming each missing server and its answer.
fn gave_up(picture: &WaitPicture) -> DnsError {
    let missing: Vec<_> = picture.missing().collect();
    if !missing.is_empty() && missing.iter().all(|s| s.unreachable) {
        return DnsError::ServersUnreachable {
            name: picture.name.clone(),
            servers: picture.missing_text(),
            waited_ms: picture.waited_ms,
            advice: UNREACHABLE_ADVICE,
        };
    }
    let mut missing = picture.missing_text();
    if picture.unreachable().next().is_some() {
        missing.push_str("; ");
        missing.push_str(UNREACHABLE_ADVICE);
    }
    DnsError::NotPropagated { name: picture.name.clone(), missing, waited_ms: picture.waited_ms }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certautopilot_core::model::PropagationWatch;

    /// A wait that ends with every missing server never having answered is `unreachable` with the
    /// advice; one where some answered (an old value, NXDOMAIN) is `not propagated`, naming each
    /// missing server and its answer.
    #[test]
    fn the_final_failure_names_servers_and_answers() {
        let (a, b): (SocketAddr, SocketAddr) = ("127.0.0.1:5301".parse().unwrap(), "127.0.0.1:5302".parse().unwrap());
        let no_answer = || ServerAnswer::NoAnswer { reason: "timeout".into() };
        let mut watch = PropagationWatch::default();
        let (p, _) = watch.observe("n.test", "authoritative", vec![(a, ServerAnswer::HasValue), (b, no_answer())], 9);
        let e = gave_up(&p);
        assert!(matches!(e, DnsError::ServersUnreachable { .. }), "{e}");
        assert!(e.to_string().contains("127.0.0.1:5302 (unreachable (timeout))"), "{e}");
        assert!(e.to_string().contains("`resolvers`"), "{e}");
        let (p, _) = watch.observe("n.test", "authoritative", vec![(a, ServerAnswer::Nxdomain), (b, no_answer())], 9);
        let e = gave_up(&p);
        assert!(matches!(e, DnsError::NotPropagated { .. }), "{e}");
        assert!(e.to_string().contains("127.0.0.1:5301 (NXDOMAIN)"), "{e}");
        assert!(e.to_string().contains("127.0.0.1:5302 (unreachable"), "{e}");
    }
}
