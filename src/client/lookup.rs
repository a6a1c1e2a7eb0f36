//! Names on the command line to ids: `--project web` or a project id, `--account pebble` or an
//! account id, and so on. Invariant: an id is passed to the server as given (the server answers 404
//! for ids the caller cannot see); a name must match exactly one record the caller can list, else
//! the command stops (not found: exit 5; ambiguous: exit 2) before changing anything.

use clap::Args;
use serde_json::Value;

use crate::client::error::ClientError;
use crate::client::http::ApiClient;
use crate::client::pages::every_item;

/// `--project`, on every command that works in one project.
#[derive(Debug, Args)]
pub struct ProjectArg {
    /// The project: its id or its name. Default: $CERTAUTOPILOT_PROJECT, else the only project you can see.
    #[arg(long, env = "CERTAUTOPILOT_PROJECT")]
    pub project: Option<String>,
}

impl ProjectArg {
    pub async fn resolve(&self, api: &ApiClient) -> Result<String, ClientError> {
        project_id(api, self.project.as_deref()).await
    }
}

/// The page size for lookups: few requests for the lists names are looked up in.
const LOOKUP_PAGE: u32 = 1000;

/// The project's id: the id given, the one project named so, or, with no `--project`, the only
/// project the caller can see.
pub async fn project_id(api: &ApiClient, given: Option<&str>) -> Result<String, ClientError> {
    if let Some(id) = given.filter(|g| looks_like_uuid(g)) {
        return Ok(id.to_owned());
    }
    let projects = every_item(api, "/api/v1/projects", &[], LOOKUP_PAGE).await?;
    match given {
        Some(name) => pick_by_name(&projects, "name", name, "project"),
        None => match projects.as_slice() {
            [only] => id_of(only),
            [] => Err(ClientError::NotFound("you can see no project; an owner creates one and adds you to it".into())),
            several => Err(ClientError::Usage(format!(
                "give --project (or set CERTAUTOPILOT_PROJECT): you can see {} projects ({})",
                several.len(),
                names(several, "name")
            ))),
        },
    }
}

/// A user's id: the id given, or the one user with this e-mail (owners list users).
pub async fn user_id(api: &ApiClient, given: &str) -> Result<String, ClientError> {
    if looks_like_uuid(given) {
        return Ok(given.to_owned());
    }
    let users = every_item(api, "/api/v1/users", &[], LOOKUP_PAGE).await?;
    pick_by_name(&users, "email", &given.trim().to_ascii_lowercase(), "user")
}

/// The id of a record of `collection` (`/api/v1/acme-accounts`, …) in the project, by id or name.
pub async fn record_id(
    api: &ApiClient,
    collection: &str,
    project_id: &str,
    what: &str,
    given: &str,
) -> Result<String, ClientError> {
    record_id_by(api, collection, project_id, what, "name", given).await
}

/// As `record_id`, naming records by `key` (a zone by its `apex`).
pub async fn record_id_by(
    api: &ApiClient,
    collection: &str,
    project_id: &str,
    what: &str,
    key: &str,
    given: &str,
) -> Result<String, ClientError> {
    if looks_like_uuid(given) {
        return Ok(given.to_owned());
    }
    let filters = [("project_id", Some(project_id.to_owned()))];
    let records = every_item(api, collection, &filters, LOOKUP_PAGE).await?;
    pick_by_name(&records, key, given, what)
}

/// The id of the one record whose `key` is `name`.
fn pick_by_name(records: &[Value], key: &str, name: &str, what: &str) -> Result<String, ClientError> {
    let matching: Vec<&Value> = records.iter().filter(|r| r.get(key).and_then(Value::as_str) == Some(name)).collect();
    match matching.as_slice() {
        [one] => id_of(one),
        [] => Err(ClientError::NotFound(format!(
            "no {what} named {:?} that you can see{}",
            name.escape_debug().to_string(),
            if records.is_empty() { String::new() } else { format!(" (there are: {})", names(records, key)) }
        ))),
        several => Err(ClientError::Usage(format!(
            "{} {what}s are named {:?}: give the id ({})",
            several.len(),
            name.escape_debug().to_string(),
            several.iter().filter_map(|r| r.get("id").and_then(Value::as_str)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn id_of(record: &Value) -> Result<String, ClientError> {
    record
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::BadResponse("a listed record has no id".into()))
}

/// Up to ten names of `records`, for a message.
fn names(records: &[Value], key: &str) -> String {
    let mut list: Vec<&str> = records.iter().filter_map(|r| r.get(key).and_then(Value::as_str)).take(10).collect();
    if records.len() > 10 {
        list.push("…");
    }
    list.join(", ")
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex: every id the API hands out.
pub fn looks_like_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A name picks its one record; an unknown name is not found (exit 5) and lists what exists;
    /// two records of one name are ambiguous (exit 2) and name their ids.
    #[test]
    fn names_resolve_to_exactly_one_record() {
        let records = [
            json!({ "id": "id-web", "name": "web" }),
            json!({ "id": "id-mail-1", "name": "mail" }),
            json!({ "id": "id-mail-2", "name": "mail" }),
        ];
        assert_eq!(pick_by_name(&records, "name", "web", "project").unwrap(), "id-web");
        let missing = pick_by_name(&records, "name", "Web", "project").unwrap_err();
        assert_eq!(missing.exit(), crate::client::error::Exit::NotFound);
        assert!(missing.to_string().contains("there are: web, mail, mail"), "{missing}");
        let twice = pick_by_name(&records, "name", "mail", "project").unwrap_err();
        assert_eq!(twice.exit(), crate::client::error::Exit::Usage);
        assert!(twice.to_string().contains("id-mail-1, id-mail-2"), "{twice}");
    }

    #[test]
    fn ids_are_told_from_names() {
        assert!(looks_like_uuid("0190b0e0-0000-7000-8000-00000000000a"));
        for name in ["web", "0190b0e0-0000-7000-8000-00000000000", "0190b0e0x0000-7000-8000-00000000000a"] {
            assert!(!looks_like_uuid(name), "{name}");
        }
    }
}
