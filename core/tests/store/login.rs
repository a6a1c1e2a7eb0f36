//! Failed-login counts on SQLite: expired rows are removed as attempts come in, a bounded number at
//! a time, so a flood of made-up accounts leaves nothing behind; `last_at` never moves back.

use std::time::Duration;

use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{LoginKeys, LoginPolicy, LoginVerdict};
use certautopilot_core::store::prelude::*;
use certautopilot_core::store::sqlite::SqliteStore;

const POLICY: LoginPolicy = LoginPolicy {
    slowdown_after: 3,
    slowdown_max: Duration::from_secs(4),
    lockout_after_per_account_address: 5,
    lockout_after_per_address: 8,
    lockout: Duration::from_secs(60),
};

fn rows(db: &rusqlite::Connection) -> i64 {
    db.query_row("SELECT COUNT(*) FROM login_failures", [], |r| r.get(0)).unwrap()
}

/// A flood of made-up accounts leaves no rows behind once the lockout has passed (pruned a bounded
/// number per attempt), and a process whose clock is behind never moves a failure's time back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_accounts_is_forgotten_after_the_lockout() {
    let f = SqliteStore::for_test().await;
    let keys = LoginKeys::new(&SecretBytes::new(vec![3; 32]));
    for i in 0..600 {
        let verdict = f.store.reserve_login_attempt(&keys.attempt(&format!("made-up-{i}"), None), &POLICY).await;
        assert!(matches!(verdict, Ok(LoginVerdict::Proceed { .. })), "{verdict:?}");
    }
    let db = rusqlite::Connection::open(f.store.path()).unwrap();
    assert_eq!(rows(&db), 600);
    f.clock.advance(POLICY.lockout);
    // Each attempt removes up to 500 expired rows and adds its own.
    f.store.reserve_login_attempt(&keys.attempt("late-1", None), &POLICY).await.unwrap();
    assert_eq!(rows(&db), 101);
    f.store.reserve_login_attempt(&keys.attempt("late-2", None), &POLICY).await.unwrap();
    assert_eq!(rows(&db), 2);

    // Another process whose clock is behind does not move a failure's time back.
    let key = keys.account("late-2");
    let ahead: i64 = db.query_row("SELECT last_at FROM login_failures WHERE key = ?1", [&key], |r| r.get(0)).unwrap();
    db.execute("UPDATE login_failures SET last_at = ?1 WHERE key = ?2", rusqlite::params![ahead + 10_000, key])
        .unwrap();
    f.store.reserve_login_attempt(&keys.attempt("late-2", None), &POLICY).await.unwrap();
    let (failures, last_at): (i64, i64) = db
        .query_row("SELECT failures, last_at FROM login_failures WHERE key = ?1", [&key], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((failures, last_at), (2, ahead + 10_000));
}
