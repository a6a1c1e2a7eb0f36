//! Two writers racing on one record through the store: not a stale version handed in by a test, but
//! two writers that both read version n and then write at the same moment.

use std::sync::Arc;
use std::time::Duration;

use certautopilot_core::model::{DistributionTarget, OrgRole, Organization, Project, TargetConfig, TargetKind, User};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore};
use certautopilot_core::store::{RecordStore, StoreError, prelude::*};
use certautopilot_core::{OrgScope, ProjectScope, SystemClock, Timestamp};
use tokio::sync::Barrier;

async fn open(path: &std::path::Path) -> Arc<SqliteStore> {
    let options = SqliteOptions { busy_timeout: Duration::from_secs(30), ..Default::default() };
    Arc::new(SqliteStore::open(path, options, Arc::new(SystemClock)).await.expect("open store"))
}

/// One writer's turn: read the record, wait for the other writer at the barrier, then write its own
/// key's setting into the config on top of what it read.
async fn read_then_write(
    store: Arc<SqliteStore>,
    scope: ProjectScope,
    id: certautopilot_core::TargetId,
    barrier: Arc<Barrier>,
    key: &'static str,
    round: u64,
) -> (u64, Result<DistributionTarget, StoreError>) {
    let mut target: DistributionTarget = store.get(&scope, &id).await.unwrap();
    let read = target.version;
    *field(&mut target, key) = round.to_string();
    barrier.wait().await;
    (read, store.update(&scope, &target).await)
}

/// Two writers, in alternate rounds sharing one store instance and each with its own (its own
/// connection and writer thread on the same file), both read the record at version n and, released
/// together by a barrier, both write it: exactly one wins (version n + 1, its change stored), the
/// other gets a version conflict naming n and n + 1 and nothing of its change is stored; the loser
/// reads again and writes again, and then both changes are there: nothing lost, nothing overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_record_one_wins_and_the_other_gets_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let stores = [open(&path).await, open(&path).await];
    let now = Timestamp::now();
    let org = Organization::new("race", now);
    stores[0].create_organization(&org).await.unwrap();
    let owner = User::new(org.id, "owner@race.example", OrgRole::Owner, now);
    let org_scope = OrgScope::for_user(&owner).unwrap();
    stores[0].insert(&org_scope, &owner).await.unwrap();
    let project = Project::new(org.id, "race", now);
    stores[0].insert(&org_scope, &project).await.unwrap();
    let scope = ProjectScope::for_owner(&owner, &project).unwrap();
    let target = DistributionTarget::new(project.id, "contended", TargetKind::File, now);
    stores[0].insert(&scope, &target).await.unwrap();

    for round in 0..40u64 {
        let (store_a, store_b) = if round % 2 == 0 {
            (stores[0].clone(), stores[0].clone())
        } else {
            (stores[0].clone(), stores[1].clone())
        };
        let before: DistributionTarget = stores[0].get(&scope, &target.id).await.unwrap();
        let n = before.version;
        let barrier = Arc::new(Barrier::new(2));
        let a = tokio::spawn(read_then_write(store_a, scope.clone(), target.id, barrier.clone(), "a", round));
        let b = tokio::spawn(read_then_write(store_b, scope.clone(), target.id, barrier, "b", round));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!((a.0, b.0), (n, n), "round {round}: both writers read version {n}");

        let (winner, loser, loser_key) = match (&a.1, &b.1) {
            (Ok(won), Err(lost)) => (won, lost, "b"),
            (Err(lost), Ok(won)) => (won, lost, "a"),
            other => panic!("round {round}: not exactly one winner: {other:?}"),
        };
        assert_eq!(winner.version, n + 1, "round {round}");
        assert!(
            matches!(lost_conflict(loser), Some((expected, actual)) if expected == n && actual == n + 1),
            "round {round}: the loser got {loser:?}, not a conflict at version {n} vs {}",
            n + 1
        );
        let stored: DistributionTarget = stores[1].get(&scope, &target.id).await.unwrap();
        assert_eq!(stored.version, n + 1, "round {round}: one write, not two");
        assert_eq!(stored.config, winner.config, "round {round}: the winner's change is what is stored");
        let mut stored = stored;
        assert_ne!(*field(&mut stored, loser_key), round.to_string(), "round {round}: the loser's change leaked in");

        // The loser does what a client must: read again, apply its change, write.
        let mut again: DistributionTarget = stores[0].get(&scope, &target.id).await.unwrap();
        *field(&mut again, loser_key) = round.to_string();
        let saved = stores[0].update(&scope, &again).await.unwrap();
        assert_eq!(saved.version, n + 2);
        let mut stored: DistributionTarget = stores[1].get(&scope, &target.id).await.unwrap();
        assert_eq!(
            (field(&mut stored, "a").clone(), field(&mut stored, "b").clone()),
            (round.to_string(), round.to_string()),
            "round {round}: both changes are kept"
        );
    }
}

/// The setting writer `key` changes: `a` the file target's cert path, `b` its key path.
fn field<'a>(target: &'a mut DistributionTarget, key: &str) -> &'a mut String {
    let TargetConfig::File(file) = &mut target.config else { panic!("a file target") };
    if key == "a" { &mut file.cert_path } else { &mut file.key_path }
}

fn lost_conflict(error: &StoreError) -> Option<(u64, u64)> {
    match error {
        StoreError::Conflict { expected, actual, .. } => Some((*expected, *actual)),
        _ => None,
    }
}
