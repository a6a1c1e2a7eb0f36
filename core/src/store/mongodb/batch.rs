//! The `BatchReads` concern in MongoDB: one command per read, whatever the number of keys. The
//! newest N per key come from one aggregation (sort newest first, group by key, keep the first N),
//! so one busy certificate cannot crowd out the others.
//! Invariant: every command's first stage filters by the caller's organization and project.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use crate::ids::ProjectId;
use crate::model::{AuditEvent, Job, Membership};
use crate::scope::{OrgScope, ProjectScope};
use crate::store::mongodb::codec::Reader;
use crate::store::mongodb::records::scope_filter;
use crate::store::mongodb::{MongoStore, audit, jobs};
use crate::store::{BatchReads, RawRecord, Record, RecordKind, RecordScope, StoreError, SubjectLogLine};

#[async_trait]
impl BatchReads for MongoStore {
    async fn list_by_lookups_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        keys: &[String],
        limit: usize,
    ) -> Result<Vec<RawRecord>, StoreError> {
        if keys.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut filter = scope_filter(scope, kind)?;
        filter.insert("lookup_key", doc! { "$in": keys });
        self.find_records(kind, filter, doc! { "lookup_key": 1, "_id": 1 }, Some(limit)).await
    }

    async fn members_of_projects(
        &self,
        scope: &OrgScope,
        projects: &[ProjectId],
    ) -> Result<Vec<Membership>, StoreError> {
        if projects.is_empty() {
            return Ok(Vec::new());
        }
        let projects: Vec<String> = projects.iter().map(ToString::to_string).collect();
        let filter = doc! { "org_id": scope.org_id().to_string(), "project_id": { "$in": projects } };
        let raws = self.find_records(RecordKind::Membership, filter, doc! { "_id": 1 }, None).await?;
        raws.into_iter().map(Membership::from_raw).collect()
    }

    async fn subject_jobs(
        &self,
        scope: &ProjectScope,
        subjects: &[String],
        per_subject: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let matched = doc! { "project_id": scope.project_id().to_string(), "subject": { "$in": subjects } };
        let groups =
            self.newest_per_key(jobs::JOBS, matched, doc! { "_id": -1 }, "$subject", subjects, per_subject).await?;
        let mut found = Vec::new();
        for (_, docs) in groups {
            for d in &docs {
                found.push(jobs::job_from(d)?);
            }
        }
        Ok(found)
    }

    async fn subject_log_tails(
        &self,
        scope: &ProjectScope,
        subjects: &[String],
        per_subject: usize,
    ) -> Result<Vec<SubjectLogLine>, StoreError> {
        let matched = doc! { "project_id": scope.project_id().to_string(), "subject": { "$in": subjects } };
        let newest = doc! { "at": -1, "job_id": -1, "seq": -1 };
        let groups = self.newest_per_key(jobs::JOB_LOGS, matched, newest, "$subject", subjects, per_subject).await?;
        let mut found = Vec::new();
        for (subject, docs) in groups {
            // Oldest first within each subject, as `subject_job_logs` orders them.
            for d in docs.iter().rev() {
                let (job_id, kind, line) = jobs::subject_log_line(d)?;
                found.push(SubjectLogLine { subject: subject.clone(), job_id, kind, line });
            }
        }
        Ok(found)
    }

    async fn object_audit_tails(
        &self,
        scope: &OrgScope,
        project: ProjectId,
        objects: &[String],
        per_object: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let org = scope.org_id();
        let matched =
            doc! { "org_id": org.to_string(), "project_id": project.to_string(), "object_id": { "$in": objects } };
        let groups =
            self.newest_per_key(audit::EVENTS, matched, doc! { "seq": -1 }, "$object_id", objects, per_object).await?;
        let mut found = Vec::new();
        for (_, docs) in groups {
            for d in &docs {
                found.push(audit::decode(org, d)?);
            }
        }
        found.sort_by_key(|e| e.seq);
        Ok(found)
    }
}

impl MongoStore {
    /// The documents of `collection` matching `matched`, grouped by the field `key` (a `$field`
    /// path), the first `per_key` of each group in `newest` order: one aggregation. Groups come
    /// back in key order.
    async fn newest_per_key(
        &self,
        collection: &str,
        matched: Document,
        newest: Document,
        key: &str,
        keys: &[String],
        per_key: usize,
    ) -> Result<Vec<(String, Vec<Document>)>, StoreError> {
        if keys.is_empty() || per_key == 0 {
            return Ok(Vec::new());
        }
        let per_key = i64::try_from(per_key).unwrap_or(i64::MAX);
        let pipeline = [
            doc! { "$match": matched },
            doc! { "$sort": newest },
            doc! { "$group": { "_id": key, "docs": { "$push": "$$ROOT" } } },
            doc! { "$project": { "docs": { "$slice": ["$docs", per_key] } } },
            doc! { "$sort": { "_id": 1 } },
        ];
        let groups: Vec<Document> = self.collection(collection).aggregate(pipeline).await?.try_collect().await?;
        groups
            .iter()
            .map(|group| {
                let reader = Reader::new(group, "batch group");
                let key = reader.str("_id")?.to_owned();
                let docs = match group.get("docs") {
                    Some(Bson::Array(items)) => items
                        .iter()
                        .map(|item| match item {
                            Bson::Document(d) => Ok(d.clone()),
                            _ => Err(StoreError::Corrupt {
                                kind: "batch group",
                                id: key.clone(),
                                reason: "an entry is not a document".into(),
                            }),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    _ => Vec::new(),
                };
                Ok((key, docs))
            })
            .collect()
    }
}
