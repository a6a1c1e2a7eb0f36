//! Relay cursor connections over the store's keyset pages. A cursor is opaque to clients (base64 of
//! the list it belongs to and the store's position in it) and bound to that list: a project's
//! certificates, the organization's users, one audit search. A cursor of another list (another
//! project's, another filter's) is refused as invalid and reads nothing.
//! Invariant: the store still filters every page by the caller's scope, so even a forged cursor only
//! moves within what the caller may see.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use certautopilot_core::store::{DEFAULT_PAGE_SIZE, Page, PageRequest};

use crate::api::error::ApiError;

/// The list a cursor belongs to, e.g. `certificates:<project id>`.
pub struct Binding(pub String);

impl Binding {
    pub fn new(list: &str, owner: impl std::fmt::Display) -> Self {
        Binding(format!("{list}:{owner}"))
    }

    /// A cursor at `position` (the store's own cursor text) in this list.
    pub fn cursor(&self, position: &str) -> String {
        B64URL.encode(format!("{}|{position}", self.0))
    }

    /// The store position of a cursor of this list; any other text is an invalid `after`.
    pub fn position(&self, cursor: &str) -> Result<String, ApiError> {
        let invalid = || ApiError::invalid("after", "invalid cursor");
        let text = B64URL.decode(cursor.as_bytes()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
        let (binding, position) = text.rsplit_once('|').ok_or_else(invalid)?;
        if binding != self.0 || position.is_empty() {
            return Err(invalid());
        }
        Ok(position.to_owned())
    }
}

/// `first` and `after` of a list field, checked: `first` from 1 to the configured maximum
/// (default: REST's default page, within that maximum), `after` a cursor of this list.
pub struct PageArgs {
    pub limit: usize,
    pub after: Option<String>,
}

impl PageArgs {
    pub fn new(binding: &Binding, first: Option<i32>, after: Option<String>, max: usize) -> Result<Self, ApiError> {
        let limit = match first {
            None => DEFAULT_PAGE_SIZE.min(max),
            Some(n) if n >= 1 && (n as usize) <= max => n as usize,
            Some(_) => return Err(ApiError::invalid("first", format!("must be 1 to {max}"))),
        };
        let after = after.map(|c| binding.position(&c)).transpose()?;
        Ok(PageArgs { limit, after })
    }

    pub fn request(&self) -> PageRequest {
        PageRequest { limit: Some(self.limit), cursor: self.after.clone() }
    }
}

/// A page as the service layer answers it (a REST page view: items and the store's next cursor).
pub fn page_of<T>(items: Vec<T>, next_cursor: Option<String>) -> Page<T> {
    Page { items, next_cursor }
}

/// What a list field costs for the complexity bound: its `first` (or the default page) times what
/// each item selects, plus itself. Used in `#[graphql(complexity = …)]`.
pub fn list_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let n = first.map(|n| n.max(1) as usize).unwrap_or(DEFAULT_PAGE_SIZE);
    n.saturating_mul(child_complexity).saturating_add(1)
}

/// A store page as a connection: each item's cursor is its store position (`position_of`) bound to
/// the list; `hasNextPage` is the store's own answer, `hasPreviousPage` whether the page started
/// after a cursor.
pub fn connection<T, N: OutputType>(
    binding: &Binding,
    args: &PageArgs,
    page: Page<T>,
    position_of: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let mut connection = Connection::new(args.after.is_some(), page.next_cursor.is_some());
    connection
        .edges
        .extend(page.items.into_iter().map(|item| Edge::new(binding.cursor(&position_of(&item)), node(item))));
    connection
}
