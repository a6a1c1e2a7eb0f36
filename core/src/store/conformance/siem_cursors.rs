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

/// A mark is absent until recorded, then read back as written; an older `seq` leaves it, a newer
/// one replaces it; each organization has its own.
pub async fn audit_marks_are_kept_per_organization_and_never_move_back<S: SiemCursors>(f: &Fixture<S>) {
    let (org, other_org) = (OrgId::new(), OrgId::new());
    assert_eq!(f.store.audit_mark(org).await.unwrap(), None);
    f.store.advance_audit_mark(org, 10, "{\"seq\":10}").await.unwrap();
    assert_eq!(f.store.audit_mark(org).await.unwrap().as_deref(), Some("{\"seq\":10}"));
    f.store.advance_audit_mark(org, 4, "{\"seq\":4}").await.unwrap();
    assert_eq!(f.store.audit_mark(org).await.unwrap().as_deref(), Some("{\"seq\":10}"), "never back");
    f.store.advance_audit_mark(org, 12, "{\"seq\":12}").await.unwrap();
    assert_eq!(f.store.audit_mark(org).await.unwrap().as_deref(), Some("{\"seq\":12}"));
    assert_eq!(f.store.audit_mark(other_org).await.unwrap(), None, "per organization");
}
