//! Keyset pagination with opaque cursors: stable under concurrent inserts, O(page) at any depth.

use serde::Serialize;

use crate::store::StoreError;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn first(limit: usize) -> Self {
        PageRequest { limit: Some(limit), cursor: None }
    }

    pub fn after(limit: usize, cursor: impl Into<String>) -> Self {
        PageRequest { limit: Some(limit), cursor: Some(cursor.into()) }
    }

    pub fn effective_limit(&self) -> Result<usize, StoreError> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            Some(n) => Err(StoreError::InvalidRequest(format!("page limit must be 1 to {MAX_PAGE_SIZE}, got {n}"))),
        }
    }

    /// The position the cursor encodes (as written by `encode_cursor`).
    pub(crate) fn decoded_cursor(&self) -> Result<Option<String>, StoreError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }

    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page { items: self.items.into_iter().map(f).collect::<Result<_, _>>()?, next_cursor: self.next_cursor })
    }
}

/// Cursors are hex so they survive query strings untouched and do not invite hand-editing.
pub(crate) fn encode_cursor(position: &str) -> String {
    position.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The cursor of a record-id-ordered page (records, jobs) that ends with the record `id`: what a
/// client passes back to read on from there, as the page's own `next_cursor` would.
pub fn cursor_after(id: &str) -> String {
    encode_cursor(id)
}

fn decode_cursor(cursor: &str) -> Result<String, StoreError> {
    // Hex is ASCII; checking first also keeps the byte slicing below on character boundaries.
    if !cursor.is_ascii() || !cursor.len().is_multiple_of(2) || cursor.len() > 512 {
        return Err(StoreError::InvalidCursor);
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16).map_err(|_| StoreError::InvalidCursor))
        .collect::<Result<Vec<u8>, _>>()?;
    String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)
}

/// The renewal scan's position, `(due_at millis, id)`, from a page request's cursor: both backends
/// walk certificates in that order and encode their cursor the same way.
pub(crate) fn due_position(page: &PageRequest) -> Result<Option<(i64, String)>, StoreError> {
    page.decoded_cursor()?
        .map(|c| {
            let (due, id) = c.split_once(':').ok_or(StoreError::InvalidCursor)?;
            Ok((due.parse::<i64>().map_err(|_| StoreError::InvalidCursor)?, id.to_owned()))
        })
        .transpose()
}

/// Cuts the one record read ahead (`limit + 1` were asked for) and gives the cursor after the last
/// one kept, in the renewal scan's `(due_at, id)` order.
pub(crate) fn cut_due_page(items: &mut Vec<crate::store::RawRecord>, limit: usize) -> Option<String> {
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    items.last().map(|r| {
        encode_cursor(&format!("{}:{}", r.due_at.map(crate::timestamp::Timestamp::as_unix_millis).unwrap_or(0), r.id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor("0193-abc:12");
        assert_eq!(PageRequest::after(10, c).decoded_cursor().unwrap().as_deref(), Some("0193-abc:12"));
        for bad in ["zz", "abc", "ff", "iÔ", "\u{88d38}\u{8d}\ro", "+-"] {
            assert!(matches!(PageRequest::after(10, bad).decoded_cursor(), Err(StoreError::InvalidCursor)), "{bad}");
        }
        assert!(PageRequest::first(0).effective_limit().is_err());
        assert!(PageRequest::first(MAX_PAGE_SIZE + 1).effective_limit().is_err());
        assert_eq!(PageRequest::default().effective_limit().unwrap(), DEFAULT_PAGE_SIZE);
    }
}
