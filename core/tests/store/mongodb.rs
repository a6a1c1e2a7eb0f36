//! The store conformance suite against the MongoDB backend, on a real wire-protocol server
//! (`testsupport::MongoServer`), plus what only this backend has: the refusal of a standalone
//! server, schema migration by several nodes at once, transaction retries.

// The concerns are listed here as the backend implements them (M2.3, in progress).
mod conformance {
    use certautopilot_core::store::mongodb::MongoStore;
    certautopilot_core::store_conformance_tests!(MongoStore::for_test);
}

use std::sync::Arc;

use certautopilot_core::clock::SystemClock;
use certautopilot_core::store::mongodb::{MongoOptions, MongoStore, SCHEMA_VERSION};
use certautopilot_core::testsupport::shared_mongodb_uri;

/// Several nodes starting together on an empty database: every one connects, the schema arrives at
/// the latest version once, and a later start finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_the_schema_once() {
    let database = format!("t{}", uuid::Uuid::new_v4().simple());
    let uri = shared_mongodb_uri();
    let starts = (0..4).map(|_| {
        let options = MongoOptions::new(uri.clone(), database.clone());
        tokio::spawn(async move { MongoStore::connect(options, Arc::new(SystemClock)).await })
    });
    for start in starts {
        start.await.expect("task").expect("every node connects");
    }
    let store = MongoStore::connect(MongoOptions::new(uri, database), Arc::new(SystemClock)).await.expect("connect");
    assert_eq!(store.schema_version().await.expect("version"), SCHEMA_VERSION);
    store.drop_database().await.expect("drop");
}

/// A database migrated to schema v1 before the overview's fact fields existed: certificates and
/// deployments without `cert_*`/`dep_*` facts. The next start runs v2, which back-fills them from
/// each document, and the figures then equal the rules applied record by record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_v2_backfills_the_overview_facts_of_existing_documents() {
    use certautopilot_core::model::{
        Deployment, DistributionTarget, ProjectCertificateStats, StatsRequest, TargetKind,
    };
    use certautopilot_core::store::conformance::certificate_stats::{every_combination, stored_records};
    use certautopilot_core::store::conformance::world;
    use certautopilot_core::store::{CertificateStats, RecordStore};
    use mongodb::bson::doc;

    let f = MongoStore::for_test().await;
    let w = world(&f).await;
    let now = certautopilot_core::Clock::now(&*f.clock);
    let certificates = every_combination(&w.a, now, now);
    f.store.insert_many(&w.a, &certificates).await.unwrap();
    let target = DistributionTarget::new(w.a.project_id(), "t", TargetKind::File, now);
    f.store.insert(&w.a, &target).await.unwrap();
    let mut drifted = Deployment::new(w.a.project_id(), certificates[0].id, target.id, now);
    drifted.drift = Some("missing".into());
    f.store.insert(&w.a, &drifted).await.unwrap();

    let database = f.store.database_name().to_owned();
    let client = mongodb::Client::with_uri_str(shared_mongodb_uri()).await.unwrap();
    let db = client.database(&database);
    let facts =
        doc! { "cert_status": "", "cert_renew_at": "", "cert_paused": "", "cert_has_error": "", "cert_overdue_at": "" };
    db.collection::<mongodb::bson::Document>("certificates")
        .update_many(doc! {}, doc! { "$unset": facts })
        .await
        .unwrap();
    let facts = doc! { "dep_status": "", "dep_drifted": "" };
    db.collection::<mongodb::bson::Document>("deployments")
        .update_many(doc! {}, doc! { "$unset": facts })
        .await
        .unwrap();
    db.collection::<mongodb::bson::Document>("schema")
        .update_one(doc! { "_id": "version" }, doc! { "$set": { "version": 1_i64 } })
        .await
        .unwrap();

    let options = MongoOptions::new(shared_mongodb_uri(), database);
    let restarted = MongoStore::connect(options, Arc::new(SystemClock)).await.expect("migrates to v2");
    assert_eq!(restarted.schema_version().await.unwrap(), SCHEMA_VERSION);
    let request = StatsRequest { now, calendar_start: now, calendar_days: 90, attention_limit: 1_000 };
    let (certificates, deployments) = stored_records(&restarted, &w.a).await;
    let expected = ProjectCertificateStats::reference(&request, &certificates, &deployments);
    assert!(expected.counts.overdue > 0 && !expected.deployments.is_empty());
    assert_eq!(restarted.certificate_stats(&w.a, &request).await.unwrap(), expected);
    restarted.drop_database().await.unwrap();
}
