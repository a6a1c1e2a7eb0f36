//! One routing round: for each organization, the audit entries after the router's cursor are
//! checked link by link, turned into `notify` jobs for the rules that want them, and the cursor is
//! moved past them; then the watch looks at the certificates those entries touched (or, at the
//! sweep's period, at every certificate of a watched project).
//! Invariant: the cursor (and the link check's position) moves only after every job of the entries
//! before it is queued; a rule's change is applied from its own entry, in chain order, and a rule
//! never takes an event from before it existed. (A router that starts behind the chain loads the
//! rules as they are now: a rule changed since is applied as changed from the start.)

use std::collections::{BTreeSet, HashMap, HashSet};

use certautopilot_core::audit::{AuditDraft, LinkFault, Verifier};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::{CertificateId, ChannelId, OrgId, ProjectId, RuleId};
use certautopilot_core::jobs::{JobSpec, NotifyDelivery};
use certautopilot_core::model::{AuditEvent, EventKind, Fence, NotificationRule, Organization, Project, RuleChange};
use certautopilot_core::scope::Principal;
use certautopilot_core::store::{AuditWrite, PageRequest, RecordStore};
use certautopilot_core::{OrgScope, ProjectScope, StoreError, Timestamp};
use serde_json::json;

use super::{NotifySettings, ROUTER_CURSOR, digest_cursor};
use crate::issuance::{AUDIT_SECRET_FIELD, IssuanceDeps};

/// Entries read per organization and round.
const BATCH: usize = 500;
/// Who the router's own audit entries are by.
pub(super) const ACTOR: &str = "notifications";

/// What one round did.
#[derive(Debug, Default)]
pub(crate) struct Round {
    pub progressed: bool,
    pub failure: Option<String>,
    pub entries_read: u64,
    pub queued: u64,
    pub watch_events: u64,
    pub chain_breaks: u64,
    pub swept: bool,
}

/// Where the link check of an organization's chain stands.
#[derive(Debug, Clone)]
enum Checked {
    /// The last entry checked.
    After(u64, String),
    /// The entry before the cursor could not be read (damaged): the next entry is taken as it is.
    Unknown,
}

/// The router's state across rounds: rules and projects by organization, the link check, and the
/// certificates the chain showed changing since the watch last looked.
pub(crate) struct Router {
    pub(super) deps: IssuanceDeps,
    pub(super) settings: NotifySettings,
    fence: Option<Fence>,
    pub(super) rules: HashMap<OrgId, HashMap<ProjectId, (Project, Vec<NotificationRule>)>>,
    checked: HashMap<OrgId, Checked>,
    /// Breaks already audited, so a round retried after a failure does not report one again.
    reported: std::collections::HashSet<(OrgId, u64)>,
    secrets: HashMap<OrgId, SecretBytes>,
    pub(super) touched: HashMap<ProjectId, BTreeSet<CertificateId>>,
}

impl Router {
    pub(super) fn new(deps: IssuanceDeps, settings: NotifySettings, fence: Option<Fence>) -> Self {
        Router {
            deps,
            settings,
            fence,
            rules: HashMap::new(),
            checked: HashMap::new(),
            reported: Default::default(),
            secrets: HashMap::new(),
            touched: HashMap::new(),
        }
    }

    pub(super) async fn round(&mut self, sweep: bool) -> Round {
        let mut round = Round::default();
        let orgs = match self.deps.store.list_organizations().await {
            Ok(orgs) => orgs,
            Err(e) => {
                round.failure = Some(e.to_string());
                return round;
            }
        };
        for org in &orgs {
            if let Err(e) = self.route(org, &mut round).await {
                round.failure = Some(e.to_string());
                return round;
            }
        }
        let watched =
            if sweep { self.sweep(&orgs, &mut round).await } else { self.watch_touched(&orgs, &mut round).await };
        match watched {
            Ok(()) => round.swept = sweep,
            Err(e) => round.failure = Some(e.to_string()),
        }
        round
    }

    /// The organization's projects and their rules, read once and kept.
    pub(super) async fn load_rules(&mut self, org: &Organization) -> Result<(), StoreError> {
        if self.rules.contains_key(&org.id) {
            return Ok(());
        }
        let scope = OrgScope::for_system(ACTOR, org);
        let mut projects = HashMap::new();
        let mut page = PageRequest::first(1_000);
        loop {
            let batch = self.deps.store.list::<Project>(&scope, &page).await?;
            for project in batch.items {
                let rules = self.project_rules(&project).await?;
                projects.insert(project.id, (project, rules));
            }
            match batch.next_cursor {
                Some(cursor) => page = PageRequest::after(1_000, cursor),
                None => break,
            }
        }
        self.rules.insert(org.id, projects);
        Ok(())
    }

    async fn project_rules(&self, project: &Project) -> Result<Vec<NotificationRule>, StoreError> {
        let scope = ProjectScope::for_system(ACTOR, project);
        let mut rules = Vec::new();
        let mut page = PageRequest::first(1_000);
        loop {
            let batch = self.deps.store.list::<NotificationRule>(&scope, &page).await?;
            rules.extend(batch.items);
            match batch.next_cursor {
                Some(cursor) => page = PageRequest::after(1_000, cursor),
                None => return Ok(rules),
            }
        }
    }

    /// Applies a `notification_rule.*` entry to the rules in memory (a new project is read
    /// first), and starts each digest it opens at this entry, so a digest never reports what
    /// went out before it existed.
    async fn apply_rule_change(&mut self, org: &Organization, entry: &AuditEvent) -> Result<(), StoreError> {
        let Some(project_id) = entry.project_id else { return Ok(()) };
        if !self.rules.get(&org.id).is_some_and(|p| p.contains_key(&project_id)) {
            let scope = OrgScope::for_system(ACTOR, org);
            match self.deps.store.get::<Project>(&scope, &project_id).await {
                Ok(project) => {
                    let rules = self.project_rules(&project).await?;
                    self.rules.entry(org.id).or_default().insert(project_id, (project, rules));
                }
                Err(StoreError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        let rule_id = entry.object.as_ref().and_then(|o| o.id.parse::<RuleId>().ok());
        let previous = self
            .rules
            .get(&org.id)
            .and_then(|p| p.get(&project_id))
            .and_then(|(_, rules)| rules.iter().find(|r| Some(r.id) == rule_id).cloned());
        let mut change = NotificationRule::change_of(entry, previous.as_ref());
        if change.is_none()
            && let Some(id) = rule_id
        {
            // An entry without the rule's fields (written before they were recorded): the stored rule.
            let project = self.rules.get(&org.id).and_then(|p| p.get(&project_id)).map(|(p, _)| p.clone());
            if let Some(project) = project {
                let scope = ProjectScope::for_system(ACTOR, &project);
                change = match self.deps.store.get::<NotificationRule>(&scope, &id).await {
                    Ok(rule) => Some(RuleChange::Set(Box::new(rule))),
                    Err(StoreError::NotFound { .. }) => Some(RuleChange::Deleted(id)),
                    Err(e) => return Err(e),
                };
            }
        }
        let Some((_, rules)) = self.rules.get_mut(&org.id).and_then(|p| p.get_mut(&project_id)) else { return Ok(()) };
        let position = rules.iter().position(|r| Some(r.id) == rule_id);
        let opened: Vec<(RuleId, ChannelId)> = match change {
            Some(RuleChange::Set(rule)) => {
                let before: Vec<ChannelId> = previous
                    .as_ref()
                    .filter(|p| p.digest_minutes.is_some())
                    .map(|p| p.channel_ids.clone())
                    .unwrap_or_default();
                let opened = match rule.digest_minutes {
                    Some(_) => rule.channel_ids.iter().filter(|c| !before.contains(c)).map(|c| (rule.id, *c)).collect(),
                    None => Vec::new(),
                };
                match position {
                    Some(i) => rules[i] = *rule,
                    None => rules.push(*rule),
                }
                opened
            }
            Some(RuleChange::Deleted(id)) => {
                rules.retain(|r| r.id != id);
                Vec::new()
            }
            None => Vec::new(),
        };
        for (rule, channel) in opened {
            self.deps.store.advance_siem_cursor(&digest_cursor(rule, channel), org.id, entry.seq).await?;
        }
        Ok(())
    }

    /// The organization's audit secret, opened once; while it cannot be opened, links are checked
    /// without it (and opening is tried again next round).
    async fn audit_secret(&mut self, org: &Organization) -> Option<SecretBytes> {
        if let Some(secret) = self.secrets.get(&org.id) {
            return Some(secret.clone());
        }
        let opened = org.audit_secret.as_ref().and_then(|sealed| {
            self.deps
                .envelope
                .open(&org.id.to_string(), AUDIT_SECRET_FIELD, sealed)
                .map_err(
                    |e| tracing::warn!(error = %e, "the audit secret cannot be opened: links are checked without it"),
                )
                .ok()
        })?;
        self.secrets.insert(org.id, opened.clone());
        Some(opened)
    }

    async fn route(&mut self, org: &Organization, round: &mut Round) -> Result<(), StoreError> {
        let store = self.deps.store.clone();
        let scope = OrgScope::for_system(ACTOR, org);
        let cursor = store.siem_cursor(ROUTER_CURSOR, org.id).await?;
        let entries = match store.list_audit_events(&scope, cursor, BATCH).await {
            Ok(entries) => entries,
            Err(StoreError::CorruptAuditEntry { org: bad, seq, reason }) if bad == org.id => {
                if seq > cursor + 1 {
                    store.list_audit_events(&scope, cursor, (seq - cursor - 1) as usize).await?
                } else {
                    // A damaged entry can be neither routed nor linked: report it once, step over it.
                    self.report_break(org, seq, &LinkFault::Damaged { reason }, round).await?;
                    store.advance_siem_cursor(ROUTER_CURSOR, org.id, seq).await?;
                    self.checked.insert(org.id, Checked::Unknown);
                    round.progressed = true;
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        };
        let Some(last) = entries.last().map(|e| e.seq) else { return Ok(()) };
        self.load_rules(org).await?;
        let checked = self.check_links(org, cursor, &entries, round).await?;
        let mut queued_any = false;
        for entry in &entries {
            if entry.action.starts_with("notification_rule.") {
                self.apply_rule_change(org, entry).await?;
            }
            if let (Some(object), Some(project)) = (&entry.object, entry.project_id)
                && object.kind == "certificate"
                && let Ok(id) = object.id.parse()
            {
                self.touched.entry(project).or_default().insert(id);
            }
            queued_any |= self.enqueue(org, entry, round).await?;
        }
        store.advance_siem_cursor(ROUTER_CURSOR, org.id, last).await?;
        // Only now: a round that failed before this point reads (and checks) these entries again.
        self.checked.insert(org.id, checked);
        round.entries_read += entries.len() as u64;
        round.progressed = true;
        if queued_any {
            self.deps.wake_workers();
        }
        Ok(())
    }

    /// Checks each entry's link to the one before; a break is audited (`audit.chain_broken`) and
    /// the check goes on from the entry after it. Returns where the check stands after `entries`,
    /// for the caller to keep once they are routed.
    async fn check_links(
        &mut self,
        org: &Organization,
        cursor: u64,
        entries: &[AuditEvent],
        round: &mut Round,
    ) -> Result<Checked, StoreError> {
        let previous = match self.checked.get(&org.id).cloned() {
            Some(checked) => checked,
            None if cursor == 0 => Checked::After(0, String::new()),
            None => {
                let scope = OrgScope::for_system(ACTOR, org);
                match self.deps.store.list_audit_events(&scope, cursor - 1, 1).await {
                    Ok(found) => match found.into_iter().find(|e| e.seq == cursor) {
                        Some(entry) => Checked::After(entry.seq, entry.hmac),
                        None => Checked::Unknown,
                    },
                    Err(StoreError::CorruptAuditEntry { .. }) => Checked::Unknown,
                    Err(e) => return Err(e),
                }
            }
        };
        let secret = self.audit_secret(org).await;
        let seed = |entry: &AuditEvent, checked: &Checked| match checked {
            Checked::After(0, _) => None,
            Checked::After(seq, hmac) => Some((*seq, hmac.clone())),
            Checked::Unknown => Some((entry.seq - 1, entry.prev_hmac.clone())),
        };
        let mut verifier = Verifier::resume(secret.as_ref(), entries.first().and_then(|e| seed(e, &previous)));
        for entry in entries {
            if let Err(broken) = verifier.check(entry) {
                self.report_break(org, broken.seq, &broken.fault, round).await?;
                verifier = Verifier::resume(secret.as_ref(), Some((entry.seq, entry.hmac.clone())));
            }
        }
        Ok(match entries.last() {
            Some(last) => Checked::After(last.seq, last.hmac.clone()),
            None => previous,
        })
    }

    async fn report_break(
        &mut self,
        org: &Organization,
        seq: u64,
        fault: &LinkFault,
        round: &mut Round,
    ) -> Result<(), StoreError> {
        if !self.reported.insert((org.id, seq)) {
            return Ok(());
        }
        tracing::error!(org = %org.id, seq, fault = %fault, "AUDIT CHAIN IS BROKEN");
        round.chain_breaks += 1;
        let draft = AuditDraft {
            org_id: org.id,
            actor: Principal::System(ACTOR.to_owned()),
            action: "audit.chain_broken".into(),
            object: None,
            project_id: None,
            details: json!({ "seq": seq, "reason": format!("at seq {seq}: {fault}") }),
        };
        self.deps.store.append_audit(AuditWrite { draft }).await?;
        Ok(())
    }

    /// Queues the jobs of the rules that want `entry`; true when one was new.
    async fn enqueue(&mut self, org: &Organization, entry: &AuditEvent, round: &mut Round) -> Result<bool, StoreError> {
        let Some(kind) = EventKind::of_entry(entry) else { return Ok(false) };
        let Some(projects) = self.rules.get(&org.id) else { return Ok(false) };
        let everywhere = kind.is_organization_wide() && entry.project_id.is_none();
        let mut jobs = Vec::new();
        for (project, rules) in projects.values() {
            if !everywhere && entry.project_id != Some(project.id) {
                continue;
            }
            let scope = ProjectScope::for_system(ACTOR, project);
            for rule in rules.iter().filter(|r| r.wants(entry, kind)) {
                for channel_id in &rule.channel_ids {
                    let delivery = match rule.digest_minutes {
                        None => NotifyDelivery::Event { seq: entry.seq },
                        // The later of now and the entry's time: the digest cuts off by entry time.
                        Some(minutes) => NotifyDelivery::digest_at(Timestamp::now().max(entry.at), minutes),
                    };
                    let mut job = JobSpec::Notify { rule_id: rule.id, channel_id: *channel_id, delivery }
                        .into_job(&scope, self.settings.max_attempts);
                    if let NotifyDelivery::Digest { window, minutes } = delivery {
                        let end = NotifyDelivery::digest_end(window, minutes);
                        job.delay = end.duration_since(Timestamp::now());
                    }
                    job.fence = self.fence.clone();
                    jobs.push(job);
                }
            }
        }
        let mut created = false;
        for job in jobs {
            if self.deps.store.enqueue_job(job).await?.created {
                round.queued += 1;
                created = true;
            }
        }
        Ok(created)
    }
}

/// The projects of `orgs` with rules that watch, and those rules.
pub(super) fn watched(
    rules: &HashMap<OrgId, HashMap<ProjectId, (Project, Vec<NotificationRule>)>>,
) -> Vec<(Project, Vec<NotificationRule>)> {
    let mut out = Vec::new();
    for projects in rules.values() {
        for (project, rules) in projects.values() {
            let watching: Vec<NotificationRule> = rules.iter().filter(|r| r.watches()).cloned().collect();
            if !watching.is_empty() {
                out.push((project.clone(), watching));
            }
        }
    }
    out
}

/// Touched certificates of projects nobody watches are forgotten.
pub(super) fn unwatched(touched: &mut HashMap<ProjectId, BTreeSet<CertificateId>>, watched: &HashSet<ProjectId>) {
    touched.retain(|project, _| watched.contains(project));
}
