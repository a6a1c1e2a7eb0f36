//! Waiting on the registry in tests: poll a condition on one actor's snapshot until a deadline.

use std::time::{Duration, Instant};

use crate::registry::{ActorRegistry, ActorSnapshot};

/// Waits up to 10 s for (kind, key) to satisfy `condition`; panics naming `what` and the last
/// snapshot seen when it does not.
pub async fn wait_for(
    registry: &ActorRegistry,
    kind: &str,
    key: &str,
    what: &str,
    condition: impl Fn(&ActorSnapshot) -> bool,
) -> ActorSnapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let snap = registry.get(kind, key);
        if let Some(snap) = &snap
            && condition(snap)
        {
            return snap.clone();
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; last snapshot: {snap:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
