//! The `CertificateStats` concern in MongoDB: the overview's rules (`model::OverviewRules`) translated
//! into plain query filters over the facts each certificate and deployment document carries in the
//! clear (`cert_*`, `dep_*`, set by `records::doc` on every write, back-filled by schema v2 and,
//! with `cert_overdue_at`, v4). One
//! counted query per figure, one `$group` by calendar day, and two short sorted finds; filters stay
//! simple (`$in`, ranges, `$nor`) for servers whose planners are weak on `$or` (docs/store.md).
//! The inventory's expiry order is segments of the `stats` / `status_expiry` indexes (schema v3).
//! Invariant: every query starts from the caller's scope filter (`records::scope_filter`).

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use crate::ids::CertificateId;
use crate::model::{
    Certificate, CertificateFacts, Condition, DAY_MILLIS, Deployment, DeploymentCondition, DeploymentFacts,
    OverviewRules, ProjectCertificateStats, StatsRequest, StatusCounter, StatusCounts, stored_name,
};
use crate::scope::ProjectScope;
use crate::store::expiry_order::{ExpirySegment, cut_expiry_page, expiry_segments};
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{self, Reader};
use crate::store::mongodb::records::scope_filter;
use crate::store::{CertificateStats, Page, PageRequest, Record, RecordKind, ScopeArg, StoreError};

#[async_trait]
impl CertificateStats for MongoStore {
    async fn certificate_stats(
        &self,
        scope: &ProjectScope,
        request: &StatsRequest,
    ) -> Result<ProjectCertificateStats, StoreError> {
        let owner = scope_filter(&scope.record_scope(), RecordKind::Certificate)?;
        let rules = request.rules();
        let certificates = self.collection(RecordKind::Certificate.table());
        let mut counts = StatusCounts::default();
        for counter in StatusCounter::ALL {
            let n = certificates.count_documents(within(&owner, filter(&rules.counter(counter)))).await?;
            counts.add(counter, usize::try_from(n).unwrap_or_default());
        }
        let drifted = self.drifted_ids(scope).await?;
        counts.add_drift(&rules, &self.facts_of(&owner, &drifted).await?);

        let on_calendar = OverviewRules::on_calendar(request.calendar_start, request.calendar_days);
        let start = request.calendar_start.as_unix_millis();
        let day = doc! { "$floor": { "$divide": [{ "$subtract": ["$cert_not_after", start] }, DAY_MILLIS] } };
        let pipeline = vec![
            doc! { "$match": within(&owner, filter(&on_calendar)) },
            doc! { "$group": { "_id": day, "n": { "$sum": 1 } } },
        ];
        let mut calendar = vec![0; request.calendar_days];
        let groups: Vec<Document> = certificates.aggregate(pipeline).await?.try_collect().await?;
        for group in &groups {
            let (day, n) = (number(group.get("_id")), number(group.get("n")).unwrap_or_default());
            if let Some(slot) = day.and_then(|d| usize::try_from(d).ok()).and_then(|d| calendar.get_mut(d)) {
                *slot = usize::try_from(n).unwrap_or_default();
            }
        }

        // Those with an expiry first, in expiry order, then those without, by id.
        let needs = filter(&rules.needs_attention());
        let mut attention = Vec::new();
        let expiry_orders = [
            (Bson::from(doc! { "$ne": Bson::Null }), doc! { "cert_not_after": 1, "_id": 1 }),
            (Bson::Null, doc! { "_id": 1 }),
        ];
        for (has_expiry, sort) in expiry_orders {
            let left = request.attention_limit - attention.len();
            if left == 0 {
                break;
            }
            let mut with_expiry = within(&owner, needs.clone());
            with_expiry.insert("cert_not_after", has_expiry);
            attention.extend(self.find_records(RecordKind::Certificate, with_expiry, sort, Some(left)).await?);
        }
        let attention = attention.into_iter().map(Certificate::from_raw).collect::<Result<_, _>>()?;

        let flagged: Vec<Document> = DeploymentCondition::attention()
            .into_iter()
            .map(|(_, condition)| match condition {
                DeploymentCondition::Drifted => doc! { "dep_drifted": true },
                DeploymentCondition::StatusIs(status) => doc! { "dep_status": stored_name(status) },
            })
            .collect();
        let deployments = self
            .find_records(
                RecordKind::Deployment,
                within(&owner, doc! { "$or": flagged }),
                doc! { "lookup_key": 1, "_id": 1 },
                Some(request.attention_limit),
            )
            .await?
            .into_iter()
            .map(Deployment::from_raw)
            .collect::<Result<_, _>>()?;
        Ok(ProjectCertificateStats { counts, calendar, attention, deployments, drifted })
    }

    async fn drifted_certificates(&self, scope: &ProjectScope) -> Result<Vec<CertificateId>, StoreError> {
        self.drifted_ids(scope).await
    }

    /// The segments of the expiry order from the cursor, each a plain range of the `stats` index
    /// (or `status_expiry` when the condition fixes the status), until one more than the limit is found.
    async fn certificates_by_expiry(
        &self,
        scope: &ProjectScope,
        condition: &Condition,
        page: &PageRequest,
    ) -> Result<Page<Certificate>, StoreError> {
        let owner = scope_filter(&scope.record_scope(), RecordKind::Certificate)?;
        let limit = page.effective_limit()?;
        let matching = filter(condition);
        let mut found = Vec::new();
        for segment in expiry_segments(page)? {
            let left = limit + 1 - found.len();
            if left == 0 {
                break;
            }
            let (range, sort) = match segment {
                ExpirySegment::SameExpiry { at, after } => {
                    (doc! { "cert_not_after": at, "_id": { "$gt": after } }, doc! { "_id": 1 })
                }
                ExpirySegment::LaterExpiry { after } => {
                    let after = after.map_or(doc! { "$ne": Bson::Null }, |t| doc! { "$gt": t });
                    (doc! { "cert_not_after": after }, doc! { "cert_not_after": 1, "_id": 1 })
                }
                ExpirySegment::Unissued { after } => {
                    let mut range = doc! { "cert_not_after": Bson::Null };
                    if let Some(after) = after {
                        range.insert("_id", doc! { "$gt": after });
                    }
                    (range, doc! { "_id": 1 })
                }
            };
            let mut query = within(&owner, matching.clone());
            query.extend(range);
            for record in self.find_records(RecordKind::Certificate, query, sort, Some(left)).await? {
                found.push(Certificate::from_raw(record)?);
            }
        }
        let next_cursor = cut_expiry_page(&mut found, limit);
        Ok(Page { items: found, next_cursor })
    }
}

impl MongoStore {
    /// The scope's certificates with a drifted deployment, each once, by id (the `drifted` index).
    async fn drifted_ids(&self, scope: &ProjectScope) -> Result<Vec<CertificateId>, StoreError> {
        let mut filter = scope_filter(&scope.record_scope(), RecordKind::Deployment)?;
        filter.insert("dep_drifted", true);
        let keys = self.collection(RecordKind::Deployment.table()).distinct("lookup_key", filter).await?;
        let mut ids = Vec::with_capacity(keys.len());
        for key in keys {
            let text = key.as_str().unwrap_or_default();
            ids.push(text.parse::<CertificateId>().map_err(|_| StoreError::Corrupt {
                kind: "deployment",
                id: "(a document of the project)".into(),
                reason: format!("lookup key {text:?} is no certificate id"),
            })?);
        }
        ids.sort_by_key(|id| id.to_string());
        ids.dedup();
        Ok(ids)
    }

    /// The facts of the certificates `ids` within `owner`, from their fact fields.
    async fn facts_of(&self, owner: &Document, ids: &[CertificateId]) -> Result<Vec<CertificateFacts>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut filter = owner.clone();
        filter.insert("_id", doc! { "$in": ids.iter().map(|id| id.to_string()).collect::<Vec<_>>() });
        let projection =
            doc! { "cert_status": 1, "cert_not_after": 1, "cert_renew_at": 1, "cert_paused": 1, "cert_has_error": 1 };
        let documents: Vec<Document> = self
            .collection(RecordKind::Certificate.table())
            .find(filter)
            .projection(projection)
            .await?
            .try_collect()
            .await?;
        let mut facts = Vec::with_capacity(documents.len());
        for document in &documents {
            let r = Reader::new(document, "certificate");
            let status = r.str("cert_status")?;
            let status = serde_json::from_value(serde_json::Value::String(status.to_owned())).map_err(|_| {
                StoreError::Corrupt {
                    kind: "certificate",
                    id: r.str("_id").unwrap_or_default().to_owned(),
                    reason: format!("unknown status {status:?} in cert_status"),
                }
            })?;
            let flag = |field: &str| document.get_bool(field).unwrap_or(false);
            facts.push(CertificateFacts::from_columns(
                status,
                r.opt_ts("cert_not_after")?,
                r.opt_ts("cert_renew_at")?,
                flag("cert_paused"),
                flag("cert_has_error"),
            ));
        }
        Ok(facts)
    }
}

fn within(owner: &Document, condition: Document) -> Document {
    let mut all = owner.clone();
    if !condition.is_empty() {
        all.insert("$and", vec![condition]);
    }
    all
}

fn number(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(n) => Some(*n as i64),
        _ => None,
    }
}

/// `condition` as a query filter over the `cert_*` fields. A time comparison with an absent
/// (null) time does not match, and `$nor` negates, as `Condition::holds` means.
fn filter(condition: &Condition) -> Document {
    match condition {
        Condition::Always => doc! {},
        Condition::StatusIn(statuses) => {
            doc! { "cert_status": { "$in": statuses.iter().map(|s| stored_name(*s)).collect::<Vec<_>>() } }
        }
        Condition::NotAfterAtOrBefore(at) => doc! { "cert_not_after": { "$lte": codec::ts(*at) } },
        Condition::NotAfterIn(from, until) => {
            doc! { "cert_not_after": { "$gte": codec::ts(*from), "$lt": codec::ts(*until) } }
        }
        Condition::RenewAtAtOrBefore(at) => doc! { "cert_renew_at": { "$lte": codec::ts(*at) } },
        Condition::RenewAtBefore(at) => doc! { "cert_renew_at": { "$lt": codec::ts(*at) } },
        Condition::OverdueAtAtOrBefore(at) => doc! { "cert_overdue_at": { "$lte": codec::ts(*at) } },
        Condition::Paused => doc! { "cert_paused": true },
        Condition::HasError => doc! { "cert_has_error": true },
        Condition::Not(inner) => doc! { "$nor": [filter(inner)] },
        Condition::All(parts) if parts.is_empty() => doc! {},
        Condition::All(parts) => doc! { "$and": parts.iter().map(filter).collect::<Vec<_>>() },
        Condition::Any(parts) if parts.is_empty() => doc! { "_id": { "$exists": false } },
        Condition::Any(parts) => doc! { "$or": parts.iter().map(filter).collect::<Vec<_>>() },
    }
}

/// The fact fields of a certificate or deployment document (other kinds have none), from its JSON.
pub(super) fn fact_fields(kind: RecordKind, id: &str, json: &str) -> Result<Document, StoreError> {
    let corrupt =
        |e: serde_json::Error| StoreError::Corrupt { kind: kind.name(), id: id.into(), reason: e.to_string() };
    Ok(match kind {
        RecordKind::Certificate => {
            let f = CertificateFacts::from_document(json).map_err(corrupt)?;
            doc! {
                "cert_status": stored_name(f.status),
                "cert_not_after": codec::opt_ts(f.not_after),
                "cert_renew_at": codec::opt_ts(f.renew_at),
                "cert_paused": f.paused,
                "cert_has_error": f.has_error,
                "cert_overdue_at": codec::opt_ts(f.overdue_at),
            }
        }
        RecordKind::Deployment => {
            let f = DeploymentFacts::from_document(json).map_err(corrupt)?;
            doc! { "dep_status": stored_name(f.status), "dep_drifted": f.drifted }
        }
        _ => Document::new(),
    })
}

/// Schema v2's back-fill: the fact fields of every certificate and deployment written before them.
pub(super) async fn backfill_facts(db: &mongodb::Database) -> Result<(), StoreError> {
    for kind in [RecordKind::Certificate, RecordKind::Deployment] {
        let collection = db.collection::<Document>(kind.table());
        let documents: Vec<Document> =
            collection.find(doc! {}).projection(doc! { "doc": 1 }).await?.try_collect().await?;
        for document in documents {
            let r = Reader::new(&document, kind.name());
            let id = r.str("_id")?;
            let fields = fact_fields(kind, id, r.str("doc")?)?;
            collection.update_one(doc! { "_id": id }, doc! { "$set": fields }).await?;
        }
    }
    Ok(())
}
