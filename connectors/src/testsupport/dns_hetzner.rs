//! A stand-in for the Hetzner DNS API, written from its published reference: the token in the
//! `Auth-API-Token` header (wrong or none: the gateway's 401 `{"message":…}`), `GET /zones` (filter
//! `name`) and `GET /records?zone_id=` paged by `page`/`per_page` with `meta.pagination`,
//! `POST /records` (`zone_id`, `type`, relative `name`, `value`, `ttl`), `DELETE /records/{id}`;
//! API errors as `{"error":{"message","code"}}`; 429 from the gateway with `Retry-After` and
//! `RateLimit-Reset` (seconds).
//! Invariant: answers only what the reference documents; anything else is 404.

use serde_json::{Value, json};

use super::dns_standin::{DnsAccount, DnsStandIn, Fault, StandInRecord, number, path_and_query};
use super::{Bind, StandInAnswer, StandInRequest};

/// Starts a stand-in accepting `token` for an account with `zones` (`(id, name)`), applying records
/// to `bind` when given. Its `url()` is the `api_url` setting.
pub fn hetzner_standin(token: &str, zones: &[(&str, &str)], bind: Option<&Bind>) -> DnsStandIn {
    let zones: Vec<(&str, &str, &str)> = zones.iter().map(|(id, name)| (*id, *name, "verified")).collect();
    DnsStandIn::start("/api/v1", token, &zones, bind, handle)
}

fn error(status: u16, message: &str) -> StandInAnswer {
    StandInAnswer::json(status, json!({ "error": { "message": message, "code": status } }))
}

fn listed<T: Clone>(
    account: &DnsAccount,
    key: &str,
    items: &[T],
    q: &std::collections::HashMap<String, String>,
    show: &dyn Fn(&T) -> Value,
) -> StandInAnswer {
    let page = number(q, "page", 1);
    let (shown, pages, per_page) = account.page(items, page, number(q, "per_page", 100).min(100));
    let list: Vec<Value> = shown.iter().map(show).collect();
    let pagination = json!({
        "page": page,
        "per_page": per_page,
        "previous_page": page.saturating_sub(1).max(1),
        "next_page": (page + 1).min(pages),
        "last_page": pages,
        "total_entries": items.len(),
    });
    StandInAnswer::json(200, json!({ key: list, "meta": { "pagination": pagination } }))
}

fn record_json(r: &StandInRecord, zone: &str) -> Value {
    let name = if r.name == zone { "@".to_owned() } else { r.name.trim_end_matches(&format!(".{zone}")).to_owned() };
    json!({ "id": r.id, "zone_id": r.zone_id, "type": "TXT", "name": name, "value": r.value, "ttl": r.ttl })
}

fn handle(account: &mut DnsAccount, request: &StandInRequest) -> StandInAnswer {
    match request.header("auth-api-token") {
        None => return StandInAnswer::json(401, json!({ "message": "No API key found in request" })),
        Some(token) if token != account.token => {
            return StandInAnswer::json(401, json!({ "message": "Invalid authentication credentials" }));
        }
        Some(_) => {}
    }
    match account.take_fault() {
        Some(Fault::RateLimited(seconds)) => {
            return StandInAnswer::json(429, json!({ "message": "API rate limit exceeded" }))
                .header("retry-after", &seconds.to_string())
                .header("ratelimit-reset", &seconds.to_string());
        }
        Some(Fault::ServerError) => return error(500, "internal server error"),
        None => {}
    }
    let (path, q) = path_and_query(request);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["zones"]) => {
            let name = q.get("name").map(|n| n.to_ascii_lowercase());
            let zones: Vec<_> =
                account.zones.iter().filter(|z| name.as_ref().is_none_or(|n| *n == z.name)).cloned().collect();
            if zones.is_empty() && name.is_some() {
                return error(404, "zone not found");
            }
            listed(
                account,
                "zones",
                &zones,
                &q,
                &|z| json!({ "id": z.id, "name": z.name, "status": z.status, "ttl": 86400 }),
            )
        }
        ("GET", ["records"]) => {
            let Some(zone) = q.get("zone_id").and_then(|id| account.zone(id)).cloned() else {
                return error(404, "zone not found");
            };
            let records: Vec<_> = account.records.iter().filter(|r| r.zone_id == zone.id).cloned().collect();
            listed(account, "records", &records, &q, &|r| record_json(r, &zone.name))
        }
        ("POST", ["records"]) => {
            let body = &request.body;
            let Some(zone) = body["zone_id"].as_str().and_then(|id| account.zone(id)).cloned() else {
                return error(422, "422 Unprocessable Entity: zone not found");
            };
            if body["type"].as_str() != Some("TXT") {
                return error(422, "422 Unprocessable Entity: type not supported by this stand-in");
            }
            let (Some(name), Some(value)) = (body["name"].as_str(), body["value"].as_str()) else {
                return error(422, "422 Unprocessable Entity: name and value are required");
            };
            let fqdn =
                if name == "@" { zone.name.clone() } else { format!("{}.{}", name.to_ascii_lowercase(), zone.name) };
            let ttl = body["ttl"].as_u64().unwrap_or(86400) as u32;
            match account.add(&zone.id, &fqdn, value, ttl) {
                Ok(record) => StandInAnswer::json(200, json!({ "record": record_json(&record, &zone.name) })),
                Err(_) => error(500, "internal server error"),
            }
        }
        ("DELETE", ["records", id]) => match account.delete(id) {
            Ok(Some(_)) => StandInAnswer::json(200, json!({})),
            Ok(None) => error(404, "record not found"),
            Err(_) => error(500, "internal server error"),
        },
        _ => error(404, "not found"),
    }
}
