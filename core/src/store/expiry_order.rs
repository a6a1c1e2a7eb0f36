//! The expiry order of a project's certificates (`CertificateStats::certificates_by_expiry`): soonest
//! `not_after` first, ties by id, certificates without a `not_after` (not issued yet) last, by id.
//! A position in it is a keyset cursor naming both keys; every backend walks the same segments from
//! it, each a plain range of its expiry index, so a page costs O(page) at any depth and no backend
//! needs an `OR` of ranges (weak on some MongoDB-protocol servers, docs/store.md).
//! Invariant: the segments from a position hold exactly the certificates after it, in order, and a
//! cursor is only ever read back into a position that a page could have ended on (else `InvalidCursor`).

use crate::ids::CertificateId;
use crate::model::Certificate;
use crate::store::StoreError;
use crate::store::page::{PageRequest, encode_cursor};

/// Where a page of the expiry order ended: after a certificate with an expiry, or after one without.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ExpiryPosition {
    Expiring { not_after: i64, id: CertificateId },
    Unissued { id: CertificateId },
}

/// One range of the expiry order, read in order (`not_after`, then id). Reading the segments of a
/// position one after the other continues the order right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpirySegment {
    /// `not_after` equals `at` and the id is above `after`: the rest of a tie.
    SameExpiry { at: i64, after: String },
    /// `not_after` is set and above `after` (any, when `None`).
    LaterExpiry { after: Option<i64> },
    /// `not_after` is unset and the id above `after` (any, when `None`).
    Unissued { after: Option<String> },
}

/// The segments to read, in order, to continue from the page request's cursor.
pub fn expiry_segments(page: &PageRequest) -> Result<Vec<ExpirySegment>, StoreError> {
    Ok(match position(page)? {
        None => vec![ExpirySegment::LaterExpiry { after: None }, ExpirySegment::Unissued { after: None }],
        Some(ExpiryPosition::Expiring { not_after, id }) => vec![
            ExpirySegment::SameExpiry { at: not_after, after: id.to_string() },
            ExpirySegment::LaterExpiry { after: Some(not_after) },
            ExpirySegment::Unissued { after: None },
        ],
        Some(ExpiryPosition::Unissued { id }) => vec![ExpirySegment::Unissued { after: Some(id.to_string()) }],
    })
}

/// Keeps the first `limit` of `found` (read with one more than the limit, to know whether more
/// follow) and gives the cursor after the last one kept, or `None` when nothing follows.
pub fn cut_expiry_page(found: &mut Vec<Certificate>, limit: usize) -> Option<String> {
    if found.len() <= limit {
        return None;
    }
    found.truncate(limit);
    found.last().map(|cert| {
        encode_cursor(&match cert.not_after {
            Some(t) => format!("e:{}:{}", t.as_unix_millis(), cert.id),
            None => format!("u:{}", cert.id),
        })
    })
}

/// The position a cursor names. Anything `cut_expiry_page` cannot have written (another order's
/// cursor, an edited one) is `InvalidCursor`, so a forged cursor never silently restarts the walk.
fn position(page: &PageRequest) -> Result<Option<ExpiryPosition>, StoreError> {
    let Some(text) = page.decoded_cursor()? else { return Ok(None) };
    let id = |s: &str| s.parse::<CertificateId>().map_err(|_| StoreError::InvalidCursor);
    match text.split_once(':') {
        Some(("u", rest)) => Ok(Some(ExpiryPosition::Unissued { id: id(rest)? })),
        Some(("e", rest)) => {
            let (millis, rest) = rest.split_once(':').ok_or(StoreError::InvalidCursor)?;
            let not_after = millis.parse::<i64>().map_err(|_| StoreError::InvalidCursor)?;
            Ok(Some(ExpiryPosition::Expiring { not_after, id: id(rest)? }))
        }
        _ => Err(StoreError::InvalidCursor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cursor from the default (id) order, a truncated one, a non-number expiry and a non-UUID id
    /// are all refused; the two shapes `cut_expiry_page` writes read back into their segments.
    #[test]
    fn expiry_cursors_round_trip_and_refuse_forgeries() {
        let id = CertificateId::new();
        for forged in [
            id.to_string(),
            "e:12".to_owned(),
            format!("e:soon:{id}"),
            "e:12:not-a-uuid".to_owned(),
            "u:".to_owned(),
            format!("x:{id}"),
        ] {
            let page = PageRequest::after(10, encode_cursor(&forged));
            assert!(matches!(expiry_segments(&page), Err(StoreError::InvalidCursor)), "{forged}");
        }
        let page = PageRequest::after(10, encode_cursor(&format!("e:-5:{id}")));
        assert_eq!(
            expiry_segments(&page).unwrap(),
            vec![
                ExpirySegment::SameExpiry { at: -5, after: id.to_string() },
                ExpirySegment::LaterExpiry { after: Some(-5) },
                ExpirySegment::Unissued { after: None },
            ]
        );
        let page = PageRequest::after(10, encode_cursor(&format!("u:{id}")));
        assert_eq!(expiry_segments(&page).unwrap(), vec![ExpirySegment::Unissued { after: Some(id.to_string()) }]);
    }
}
