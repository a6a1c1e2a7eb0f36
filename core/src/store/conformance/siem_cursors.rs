//! Conformance of the `SiemCursors` concern: one cursor per (destination, organization).
//! Invariant: a cursor never moves back, so a forwarder never skips what it has not delivered.

use super::*;

/// A cursor starts at 0, moves forward, ignores an older `seq` (a slower forwarder racing a faster
/// one), and is kept apart per destination and per organization.
pub async fn siem_cursors_start_at_zero_and_never_move_back<S: SiemCursors>(f: &Fixture<S>) {
    let (org, other_org) = (OrgId::new(), OrgId::new());
    assert_eq!(f.store.siem_cursor("splunk", org).await.unwrap(), 0);
    f.store.advance_siem_cursor("splunk", org, 7).await.unwrap();
    assert_eq!(f.store.siem_cursor("splunk", org).await.unwrap(), 7);
    f.store.advance_siem_cursor("splunk", org, 3).await.unwrap();
    assert_eq!(f.store.siem_cursor("splunk", org).await.unwrap(), 7, "a cursor never moves back");
    f.store.advance_siem_cursor("splunk", org, 9).await.unwrap();
    assert_eq!(f.store.siem_cursor("splunk", org).await.unwrap(), 9);
    assert_eq!(f.store.siem_cursor("elastic", org).await.unwrap(), 0, "per destination");
    assert_eq!(f.store.siem_cursor("splunk", other_org).await.unwrap(), 0, "per organization");
}
