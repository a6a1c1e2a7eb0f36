//! The watch: for each certificate of a project with rules that watch health or expiry, what was
//! last announced (`CertificateWatch`), compared with its health now (`decide_watch`). The chain's
//! entries about a certificate bring it to the next round; the sweep looks at every one, for what
//! only time changes (a renewal window opening, an expiry) and as the backstop.
//! Invariant: a watch and the audit entry of its change are written in one transaction; a write
//! that lost a race (another version, a duplicate) is dropped and decided again later.

use std::collections::{HashMap, HashSet};

use certautopilot_core::audit::AuditDraft;
use certautopilot_core::ids::CertificateId;
use certautopilot_core::model::{
    AuditObject, Certificate, CertificateWatch, HealthRules, NotificationRule, Organization, WatchOutcome, decide_watch,
};
use certautopilot_core::scope::Principal;
use certautopilot_core::store::{AuditWrite, PageRequest, RecordStore};
use certautopilot_core::{ProjectScope, StoreError, Timestamp};

use super::route::{ACTOR, Round, Router, unwatched, watched};

const PAGE: usize = 1_000;

impl Router {
    /// Looks at the certificates the chain showed changing.
    pub(super) async fn watch_touched(&mut self, orgs: &[Organization], round: &mut Round) -> Result<(), StoreError> {
        if self.touched.is_empty() {
            return Ok(());
        }
        for org in orgs {
            self.load_rules(org).await?;
        }
        let projects = watched(&self.rules);
        unwatched(&mut self.touched, &projects.iter().map(|(p, _)| p.id).collect::<HashSet<_>>());
        for (project, rules) in projects {
            let Some(ids) = self.touched.remove(&project.id) else { continue };
            let ids: Vec<CertificateId> = ids.into_iter().collect();
            let scope = ProjectScope::for_system(ACTOR, &project);
            let drifted = self.drifted(&scope).await?;
            for chunk in ids.chunks(PAGE) {
                let certs: Vec<Certificate> = self.deps.store.get_many(&scope, chunk).await?;
                let watches: Vec<CertificateWatch> = self.deps.store.get_many(&scope, chunk).await?;
                let watches = watches.into_iter().map(|w| (w.id, w)).collect();
                self.decide_all(&scope, &rules, &certs, &watches, &drifted, round).await?;
            }
        }
        Ok(())
    }

    /// Looks at every certificate of every watched project, and drops the watches of certificates
    /// that are gone.
    pub(super) async fn sweep(&mut self, orgs: &[Organization], round: &mut Round) -> Result<(), StoreError> {
        for org in orgs {
            self.load_rules(org).await?;
        }
        let projects = watched(&self.rules);
        self.touched.clear();
        for (project, rules) in projects {
            let scope = ProjectScope::for_system(ACTOR, &project);
            let mut watches = HashMap::new();
            let mut page = PageRequest::first(PAGE);
            loop {
                let batch = self.deps.store.list::<CertificateWatch>(&scope, &page).await?;
                watches.extend(batch.items.into_iter().map(|w| (w.id, w)));
                match batch.next_cursor {
                    Some(cursor) => page = PageRequest::after(PAGE, cursor),
                    None => break,
                }
            }
            let drifted = self.drifted(&scope).await?;
            let mut seen = HashSet::new();
            let mut page = PageRequest::first(PAGE);
            loop {
                let batch = self.deps.store.list::<Certificate>(&scope, &page).await?;
                seen.extend(batch.items.iter().map(|c| c.id));
                self.decide_all(&scope, &rules, &batch.items, &watches, &drifted, round).await?;
                match batch.next_cursor {
                    Some(cursor) => page = PageRequest::after(PAGE, cursor),
                    None => break,
                }
            }
            for gone in watches.keys().filter(|id| !seen.contains(*id)) {
                match self.deps.store.delete::<CertificateWatch>(&scope, gone, None).await {
                    Ok(()) | Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// The project's certificates with a drifted deployment, read once per look at the project.
    async fn drifted(&self, scope: &ProjectScope) -> Result<HashSet<CertificateId>, StoreError> {
        Ok(self.deps.store.drifted_certificates(scope).await?.into_iter().collect())
    }

    async fn decide_all(
        &self,
        scope: &ProjectScope,
        rules: &[NotificationRule],
        certs: &[Certificate],
        watches: &HashMap<CertificateId, CertificateWatch>,
        drifted: &HashSet<CertificateId>,
        round: &mut Round,
    ) -> Result<(), StoreError> {
        let health = HealthRules::at(Timestamp::now());
        for cert in certs {
            let Some(outcome) = decide_watch(cert, drifted.contains(&cert.id), &health, watches.get(&cert.id), rules)
            else {
                continue;
            };
            let announced = outcome.event.is_some();
            match self.write(scope, outcome).await {
                Ok(()) => {
                    if announced {
                        round.watch_events += 1;
                        round.progressed = true;
                    }
                }
                Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. } | StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn write(&self, scope: &ProjectScope, outcome: WatchOutcome) -> Result<(), StoreError> {
        let store = &self.deps.store;
        let WatchOutcome { mut watch, event, first } = outcome;
        watch.updated_at = Timestamp::now();
        let audit = event.map(|e| AuditWrite {
            draft: AuditDraft {
                org_id: scope.org_id(),
                actor: Principal::System(ACTOR.to_owned()),
                action: e.action.to_owned(),
                object: Some(AuditObject { kind: "certificate".into(), id: watch.id.to_string() }),
                project_id: Some(watch.project_id),
                details: e.details,
            },
        });
        match (first, audit) {
            (true, Some(audit)) => store.insert_audited(scope, &watch, audit).await,
            (true, None) => store.insert(scope, &watch).await,
            (false, Some(audit)) => store.update_audited(scope, &watch, audit).await.map(drop),
            (false, None) => store.update(scope, &watch).await.map(drop),
        }
    }
}
