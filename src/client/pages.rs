//! Lists, page by page: `--limit` is the page size, `--cursor` continues from a page, `--all`
//! follows `next_cursor` to the end and answers one page holding every item.
//! Invariant: following stops at the last page, or with an error if the server repeats a cursor,
//! so a broken server cannot make the client loop forever.

use clap::Args;
use serde_json::{Value, json};

use crate::client::error::ClientError;
use crate::client::http::{ApiClient, with_query};

/// The paging flags of every list command.
#[derive(Debug, Args)]
pub struct PageArgs {
    /// Items per page (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Follow every page and print all items.
    #[arg(long, conflicts_with = "cursor")]
    pub all: bool,
    /// Start at this page (the `next_cursor` of the previous one).
    #[arg(long)]
    pub cursor: Option<String>,
}

/// The page asked for (`{items, next_cursor}` as the server answered), or with `--all` every item
/// in one such page whose `next_cursor` is null.
pub async fn fetch(
    api: &ApiClient,
    path: &str,
    filters: &[(&str, Option<String>)],
    args: &PageArgs,
) -> Result<Value, ClientError> {
    if !args.all {
        return api.get(&page_path(path, filters, args.limit, args.cursor.clone())).await;
    }
    let items = every_item(api, path, filters, args.limit).await?;
    Ok(json!({ "items": items, "next_cursor": null }))
}

/// Every item of a list, following its pages.
pub async fn every_item(
    api: &ApiClient,
    path: &str,
    filters: &[(&str, Option<String>)],
    page_size: u32,
) -> Result<Vec<Value>, ClientError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = api.get(&page_path(path, filters, page_size, cursor.clone())).await?;
        let Some(batch) = page.get("items").and_then(Value::as_array) else {
            return Err(ClientError::BadResponse(format!("{path} answered no `items` list")));
        };
        items.extend(batch.iter().cloned());
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) if cursor.as_deref() == Some(next) => {
                return Err(ClientError::BadResponse(format!("{path} gave the same cursor twice")));
            }
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
}

fn page_path(path: &str, filters: &[(&str, Option<String>)], limit: u32, cursor: Option<String>) -> String {
    let mut query: Vec<(&str, Option<String>)> = filters.to_vec();
    query.push(("limit", Some(limit.to_string())));
    query.push(("cursor", cursor));
    with_query(path, &query)
}
