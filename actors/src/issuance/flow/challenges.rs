//! The DNS side of the lifecycle runtime: where each challenge record goes, publishing it, waiting
//! for it by the zone's propagation strategy (`propagation.rs`), and removing it afterwards.
//! Invariant: the providers resolved for an order's challenges live only for this run (in `Io`); the
//! records themselves are in the certificate's order progress before they are published.

use std::time::Instant;

use certautopilot_connectors::dns::Authoritative;
use certautopilot_core::lifecycle::{Event, PendingChallenge};
use certautopilot_core::model::{LogLevel, PublishedRecord};
use serde_json::json;

use super::{Flow, Io};
use crate::issuance::IssueError;
use crate::issuance::dns::{challenge_target, project_zones};

impl Flow<'_> {
    /// Where every pending challenge's TXT value goes; the providers stay in `io` for publishing.
    pub(super) async fn resolve_challenges(
        &self,
        io: &mut Io,
        challenges: Vec<PendingChallenge>,
    ) -> Result<Event, IssueError> {
        let zones = project_zones(self.deps, &io.scope).await?;
        let mut resolved = Vec::new();
        io.challenges.clear();
        for challenge in challenges {
            let value = challenge.dns_value.ok_or_else(|| {
                IssueError::Refused(format!("the CA offers no dns-01 challenge for {}", challenge.identifier))
            })?;
            let target = challenge_target(self.deps, &io.scope, &zones, &challenge.identifier).await?;
            let record = PublishedRecord {
                zone_id: target.zone.id,
                zone: target.zone.apex.clone(),
                name: target.name.clone(),
                value,
            };
            resolved.push((challenge.identifier, record));
            io.challenges.push(target);
        }
        Ok(Event::ChallengesResolved(resolved))
    }

    /// Adds every resolved challenge's TXT record.
    pub(super) async fn publish_txt(&self, io: &Io, records: &[PublishedRecord]) -> Result<Event, IssueError> {
        for (target, record) in io.challenges.iter().zip(records) {
            target.provider.add_txt(&target.zone.apex, &target.name, &record.value, 60).await?;
        }
        Ok(Event::TxtPublished)
    }

    /// Waits for every record by its zone's propagation strategy (`propagation.rs`).
    pub(super) async fn await_propagation(&self, io: &Io, records: &[PublishedRecord]) -> Result<Event, IssueError> {
        let settings = &self.deps.settings;
        let check = Authoritative { timeout: settings.dns_query_timeout, egress: settings.egress.clone() };
        let started = Instant::now();
        for (target, record) in io.challenges.iter().zip(records) {
            self.await_record(&check, target, record).await?;
        }
        Ok(Event::Propagated { waited_ms: started.elapsed().as_millis() as u64 })
    }

    /// Removes every challenge record this order published; failures are logged, not fatal (the
    /// values are single-use and short-lived).
    pub(super) async fn remove_txt(&self, io: &Io, published: &[PublishedRecord]) -> Event {
        let zones = project_zones(self.deps, &io.scope).await.unwrap_or_default();
        for record in published {
            let removed = match zones.iter().find(|z| z.id == record.zone_id) {
                Some(zone) => match crate::issuance::dns::provider(self.deps, &io.scope, zone).await {
                    Ok(provider) => {
                        provider.remove_txt(&record.zone, &record.name, &record.value).await.map_err(IssueError::from)
                    }
                    Err(e) => Err(e),
                },
                None => Err(IssueError::Setup("the zone was deleted".into())),
            };
            if let Err(e) = removed {
                self.log(
                    LogLevel::Warn,
                    "could not remove a challenge record",
                    json!({ "name": record.name, "reason": e.to_string() }),
                )
                .await;
            }
        }
        Event::TxtRemoved
    }
}
