//! Certificates of a project through a filter (status, issuer, expiring within N days, text in
//! the names), a page at a time: the inventory the web console shows. The store pages by id; the
//! filter is applied while paging, so a page holds at most `limit` matches and its cursor resumes
//! right after the last record read.
//! Without a project it walks every project the caller sees, one after the other; the cursor
//! names the project it stopped in.
//! Two orders (`InventorySort`): the default, by id, and `expires`, soonest `not_after` first with
//! unissued certificates last (`CertificateStats::certificates_by_expiry`). In the expiry order the
//! filters on stored facts (status, expiring within, expires on) go into the store's query; issuer
//! and text are not facts the store indexes, so they are checked while paging, under the same budget.
//! The expiry order needs one project: an order across projects would merge every project's walk.
//! Invariant: one call reads at most `SCAN_BUDGET` records, so a filter that matches little
//! still answers quickly; the answer then says how far it got and the cursor continues from there.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::{AcmeAccountId, ProjectId};
use std::collections::HashSet;

use certautopilot_core::model::{
    Certificate, CertificateFacts, CertificateHealth, CertificateStatus, Condition, DAY_MILLIS, HealthRules,
    OverviewRules,
};
use certautopilot_core::store::{Page, PageRequest, RecordStore, Unsealed};

use crate::api::views::CertificateView;
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;
use crate::service::records;

/// At most this many records are read for one page of matches.
pub const SCAN_BUDGET: usize = 5_000;
const DEFAULT_LIMIT: usize = 50;

#[derive(Debug, Default, Clone)]
pub struct InventoryFilter {
    pub status: Option<CertificateStatus>,
    pub issuer: Option<AcmeAccountId>,
    /// Live certificates whose `not_after` is within this many days (expired ones included).
    pub expiring_within_days: Option<u32>,
    /// Live certificates whose `not_after` falls on this UTC day (days since 1970-01-01): a day
    /// of the overview's expiry calendar.
    pub expires_on_day: Option<i64>,
    /// Case-insensitive text in the common name or any SAN.
    pub text: Option<String>,
    /// Certificates with this health (`model::health`; drift from the project's deployments).
    pub health: Option<CertificateHealth>,
}

/// The order of the inventory, named as the query strings spell it (`sort=`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum InventorySort {
    /// By id: creation order, across every project the caller sees.
    #[default]
    Default,
    /// Soonest `not_after` first, ties by id, unissued certificates last; one project at a time.
    Expires,
}

impl InventorySort {
    pub const ALL: [InventorySort; 2] = [InventorySort::Default, InventorySort::Expires];

    pub fn name(self) -> &'static str {
        match self {
            InventorySort::Default => "default",
            InventorySort::Expires => "expires",
        }
    }

    /// The order a `sort` value names; anything else is refused with the field named.
    pub fn parse(text: &str) -> Result<InventorySort, ApiError> {
        InventorySort::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| ApiError::invalid("sort", format!("unknown sort {text:?}: one of default, expires")))
    }
}

impl InventoryFilter {
    /// The part of the filter the store can check in the expiry order (facts it keeps beside each
    /// certificate); `matches` still checks the whole filter on what the store returns.
    fn store_condition(&self, now_millis: i64) -> Condition {
        let live = || Condition::Not(Box::new(Condition::StatusIn(vec![CertificateStatus::Revoked])));
        let mut parts = Vec::new();
        if let Some(status) = self.status {
            parts.push(Condition::StatusIn(vec![status]));
        }
        if let Some(days) = self.expiring_within_days {
            let limit = Timestamp::from_unix_millis(now_millis + i64::from(days) * DAY_MILLIS);
            parts.extend([Condition::NotAfterAtOrBefore(limit), live()]);
        }
        if let Some(day) = self.expires_on_day {
            let at = |d: i64| Timestamp::from_unix_millis(d.saturating_mul(DAY_MILLIS));
            parts.extend([Condition::NotAfterIn(at(day), at(day.saturating_add(1))), live()]);
        }
        if let Some(health) = self.health {
            let rules = OverviewRules::at(Timestamp::from_unix_millis(now_millis));
            parts.push(match health {
                // Drift is no fact of the certificate: any health it can replace, narrowed after.
                CertificateHealth::Drifted => Condition::Any(
                    CertificateHealth::PRECEDENCE
                        .into_iter()
                        .filter(|h| h.yields_to_drift())
                        .map(|h| rules.health_condition(h))
                        .collect(),
                ),
                health => rules.health_condition(health),
            });
        }
        Condition::All(parts)
    }

    /// Whether `cert` (`drifted`: a deployment of it drifted) passes the whole filter.
    fn matches(&self, cert: &Certificate, rules: &HealthRules, drifted: bool) -> bool {
        let now_millis = rules.now().as_unix_millis();
        if let Some(health) = self.health
            && rules.health(&CertificateFacts::of(cert), drifted) != health
        {
            return false;
        }
        if self.status.is_some_and(|s| s != cert.status) || self.issuer.is_some_and(|a| Some(a) != cert.acme_account_id)
        {
            return false;
        }
        if let Some(days) = self.expiring_within_days {
            let limit = now_millis + i64::from(days) * 86_400_000;
            let live = !matches!(cert.status, CertificateStatus::Revoked);
            if !live || cert.not_after.is_none_or(|t| t.as_unix_millis() > limit) {
                return false;
            }
        }
        if let Some(day) = self.expires_on_day {
            let on_day = cert.not_after.is_some_and(|t| t.as_unix_millis().div_euclid(86_400_000) == day);
            if cert.status == CertificateStatus::Revoked || !on_day {
                return false;
            }
        }
        match self.text.as_deref().map(str::to_ascii_lowercase) {
            Some(text) if !text.is_empty() => {
                cert.common_name.to_ascii_lowercase().contains(&text)
                    || cert.sans.iter().any(|s| s.to_ascii_lowercase().contains(&text))
            }
            _ => true,
        }
    }
}

/// One page of matches.
#[derive(Debug)]
pub struct InventoryPage {
    pub items: Vec<CertificateView>,
    pub next_cursor: Option<String>,
    /// Records read for this page; `SCAN_BUDGET` or more when the budget cut the search short.
    pub scanned: usize,
}

/// Where a search stands: the project it is in and the store's cursor within it. Written
/// `<project id>:<store cursor>` (the store's cursor is hex, a project id a UUID).
struct Position {
    project: ProjectId,
    within: Option<String>,
}

impl Position {
    fn parse(text: &str) -> Result<Position, ApiError> {
        let bad = || ApiError::invalid("cursor", "invalid pagination cursor");
        let (project, within) = text.split_once(':').ok_or_else(bad)?;
        let project = project.parse().map_err(|_| bad())?;
        Ok(Position { project, within: (!within.is_empty()).then(|| within.to_owned()) })
    }

    fn text(&self) -> String {
        format!("{}:{}", self.project, self.within.as_deref().unwrap_or(""))
    }
}

/// The certificates matching `filter` in `project`, or in every project the caller sees (in the
/// order they are listed), from `page.cursor`, at most `page.limit`, in the `sort` order (which for
/// `Expires` needs a project: refused on `sort` without one).
pub async fn search(
    auth: &Authorized,
    project: Option<ProjectId>,
    filter: &InventoryFilter,
    sort: InventorySort,
    page: PageRequest,
) -> Result<InventoryPage, ApiError> {
    let page = records::page(page)?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    let projects = match (project, sort) {
        (Some(p), _) => vec![p],
        (None, InventorySort::Default) => crate::service::overview::visible_projects(auth).await?,
        (None, InventorySort::Expires) => {
            return Err(ApiError::invalid("sort", "sorting by expiry needs a project: choose one"));
        }
    };
    let mut position = match page.cursor.as_deref() {
        Some(text) => Position::parse(text)?,
        None => match projects.first() {
            Some(&project) => Position { project, within: None },
            None => return Ok(InventoryPage { items: Vec::new(), next_cursor: None, scanned: 0 }),
        },
    };
    // A cursor naming a project outside this search is not found, like another project's id.
    let mut index =
        projects.iter().position(|p| *p == position.project).ok_or_else(|| ApiError::not_found("project"))?;
    let rules = HealthRules::at(auth.state().now());
    let condition = filter.store_condition(rules.now().as_unix_millis());
    let store = auth.state().store()?;
    let mut items = Vec::new();
    let mut scanned = 0;
    loop {
        let scope = auth.project_scope(position.project).await?;
        let drifted: HashSet<_> = store.drifted_certificates(&scope).await?.into_iter().collect();
        // Each read asks for exactly the matches still missing, so no match read is ever skipped:
        // the cursor after a read is always right after the last record examined.
        while items.len() < limit && scanned < SCAN_BUDGET {
            let want = (limit - items.len()).min(SCAN_BUDGET - scanned);
            let request = PageRequest { limit: Some(want), cursor: position.within.clone() };
            let batch: Page<Certificate> = match sort {
                InventorySort::Default => {
                    store.list_unsealed::<Certificate>(&scope, &request).await?.map(Unsealed::into_shown)
                }
                InventorySort::Expires => store.certificates_by_expiry(&scope, &condition, &request).await?,
            };
            scanned += batch.items.len();
            let mut found: Vec<CertificateView> = batch
                .items
                .into_iter()
                .filter(|c| filter.matches(c, &rules, drifted.contains(&c.id)))
                .map(|c| CertificateView::by(&rules, c))
                .collect();
            crate::service::health::annotate(auth.state(), &scope, &mut found).await?;
            items.extend(found);
            position.within = batch.next_cursor;
            if position.within.is_none() {
                break;
            }
        }
        if position.within.is_some() {
            return Ok(InventoryPage { items, next_cursor: Some(position.text()), scanned });
        }
        index += 1;
        let Some(&next) = projects.get(index) else {
            return Ok(InventoryPage { items, next_cursor: None, scanned });
        };
        position = Position { project: next, within: None };
        if items.len() >= limit || scanned >= SCAN_BUDGET {
            return Ok(InventoryPage { items, next_cursor: Some(position.text()), scanned });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certautopilot_core::Timestamp;
    use certautopilot_core::model::KeyType;

    /// Every filter field narrows on its own, and an empty filter lets everything through.
    #[test]
    fn each_filter_field_narrows() {
        let now = 1_800_000_000_000;
        let mut cert = Certificate::new(
            ProjectId::new(),
            "www.Example.test".to_owned(),
            vec!["www.example.test".into(), "api.example.test".into()],
            KeyType::EcdsaP256,
            AcmeAccountId::new(),
            Timestamp::from_unix_millis(now),
        );
        cert.status = CertificateStatus::Issued;
        cert.not_after = Some(Timestamp::from_unix_millis(now + 10 * 86_400_000));
        let rules = HealthRules::at(Timestamp::from_unix_millis(now));
        let f = |filter: InventoryFilter| filter.matches(&cert, &rules, false);
        assert!(f(InventoryFilter::default()));
        assert!(f(InventoryFilter { text: Some("API.".into()), ..Default::default() }));
        assert!(!f(InventoryFilter { text: Some("mail".into()), ..Default::default() }));
        assert!(f(InventoryFilter { status: Some(CertificateStatus::Issued), ..Default::default() }));
        assert!(!f(InventoryFilter { status: Some(CertificateStatus::Failed), ..Default::default() }));
        assert!(f(InventoryFilter { expiring_within_days: Some(10), ..Default::default() }));
        assert!(!f(InventoryFilter { expiring_within_days: Some(9), ..Default::default() }));
        assert!(f(InventoryFilter { issuer: cert.acme_account_id, ..Default::default() }));
        assert!(!f(InventoryFilter { issuer: Some(AcmeAccountId::new()), ..Default::default() }));
        let day = (now + 10 * 86_400_000) / 86_400_000;
        assert!(f(InventoryFilter { expires_on_day: Some(day), ..Default::default() }));
        assert!(!f(InventoryFilter { expires_on_day: Some(day - 1), ..Default::default() }));
    }

    /// The store's part of a filter never drops a certificate the whole filter keeps, and keeps
    /// none that the fact filters alone (status, expiring within, expires on) would drop: it is
    /// exactly those, so the expiry order's pages are filtered in the store, not after it.
    #[test]
    fn store_condition_is_the_fact_part_of_the_filter() {
        use certautopilot_core::model::CertificateFacts;
        let now = 1_800_000_000_000;
        let day = now / 86_400_000;
        let filters = [
            InventoryFilter::default(),
            InventoryFilter { status: Some(CertificateStatus::Issued), ..Default::default() },
            InventoryFilter { expiring_within_days: Some(10), ..Default::default() },
            InventoryFilter { expires_on_day: Some(day + 10), ..Default::default() },
            InventoryFilter {
                status: Some(CertificateStatus::Revoked),
                expiring_within_days: Some(3),
                ..Default::default()
            },
        ];
        for filter in &filters {
            let condition = filter.store_condition(now);
            for status in [CertificateStatus::Requested, CertificateStatus::Issued, CertificateStatus::Revoked] {
                for offset in
                    [None, Some(-1), Some(0), Some(3 * 86_400_000), Some(10 * 86_400_000), Some(11 * 86_400_000)]
                {
                    let mut cert = Certificate::new(
                        ProjectId::new(),
                        "a.example".to_owned(),
                        vec![],
                        KeyType::EcdsaP256,
                        AcmeAccountId::new(),
                        Timestamp::from_unix_millis(now),
                    );
                    cert.status = status;
                    cert.not_after = offset.map(|o| Timestamp::from_unix_millis(now + o));
                    let holds = condition.holds(&CertificateFacts::of(&cert));
                    assert_eq!(
                        holds,
                        filter.matches(&cert, &HealthRules::at(Timestamp::from_unix_millis(now)), false),
                        "{filter:?} on {status:?} {offset:?}"
                    );
                }
            }
        }
    }

    /// `sort` takes the two names it offers and refuses anything else naming the field.
    #[test]
    fn sort_names_parse_and_others_are_refused() {
        for sort in InventorySort::ALL {
            assert_eq!(InventorySort::parse(sort.name()).unwrap(), sort);
        }
        for bad in ["", "Expires", "not_after", "expires "] {
            let e = InventorySort::parse(bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("sort"), "{bad:?}");
        }
    }
}
