//! A stand-in for Cloudflare's v4 DNS API, written from its published reference: API tokens as
//! `Authorization: Bearer` (none: 400 code 6003; wrong: 403 code 9109 "Invalid access token"),
//! `GET /zones?name=` paged by `page`/`per_page` with `result_info`, `GET/POST
//! /zones/{id}/dns_records` (filters `type`, `name`, `content`; an identical record is refused with
//! code 81058), `DELETE /zones/{id}/dns_records/{id}`; every answer in the
//! `{"success","errors":[{"code","message"}],"messages","result"}` envelope; 429 with `Retry-After`.
//! Invariant: answers only what the reference documents; anything else is Cloudflare's 400 code 7000.

use serde_json::{Value, json};

use super::dns_standin::{DnsAccount, DnsStandIn, Fault, StandInRecord, number, path_and_query};
use super::{Bind, StandInAnswer, StandInRequest};

/// Starts a stand-in accepting `token` for an account with `zones` (`(id, name, status)`), applying
/// records to `bind` when given. Its `url()` is the `api_url` setting.
pub fn cloudflare_standin(token: &str, zones: &[(&str, &str, &str)], bind: Option<&Bind>) -> DnsStandIn {
    DnsStandIn::start("/client/v4", token, zones, bind, handle)
}

fn error(status: u16, code: u32, message: &str) -> StandInAnswer {
    StandInAnswer::json(
        status,
        json!({ "success": false, "errors": [{ "code": code, "message": message }], "messages": [], "result": null }),
    )
}

fn ok(result: Value) -> StandInAnswer {
    StandInAnswer::json(200, json!({ "success": true, "errors": [], "messages": [], "result": result }))
}

fn listed<T: Clone>(
    account: &DnsAccount,
    items: &[T],
    page: usize,
    per_page: usize,
    show: fn(&T) -> Value,
) -> StandInAnswer {
    let (items, pages, per_page) = account.page(items, page, per_page);
    let result: Vec<Value> = items.iter().map(show).collect();
    let mut answer = ok(json!(result));
    answer.body["result_info"] =
        json!({ "page": page, "per_page": per_page, "count": result.len(), "total_pages": pages });
    answer
}

fn record_json(r: &StandInRecord) -> Value {
    json!({ "id": r.id, "zone_id": r.zone_id, "type": "TXT", "name": r.name, "content": r.value, "ttl": r.ttl, "proxied": false })
}

fn handle(account: &mut DnsAccount, request: &StandInRequest) -> StandInAnswer {
    match request.header("authorization") {
        None => return error(400, 6003, "Invalid request headers"),
        Some(auth) if auth != format!("Bearer {}", account.token) => return error(403, 9109, "Invalid access token"),
        Some(_) => {}
    }
    match account.take_fault() {
        Some(Fault::RateLimited(seconds)) => {
            return error(429, 971, "Please wait and consider throttling your request speed")
                .header("retry-after", &seconds.to_string());
        }
        Some(Fault::ServerError) => return error(500, 10000, "Internal server error"),
        None => {}
    }
    let (path, q) = path_and_query(request);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let page = number(&q, "page", 1);
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["zones"]) => {
            let name = q.get("name").map(|n| n.to_ascii_lowercase());
            let zones: Vec<_> =
                account.zones.iter().filter(|z| name.as_ref().is_none_or(|n| *n == z.name)).cloned().collect();
            let per_page = number(&q, "per_page", 20).min(50);
            listed(account, &zones, page, per_page, |z| json!({ "id": z.id, "name": z.name, "status": z.status }))
        }
        (method, ["zones", zone_id, "dns_records", rest @ ..]) => {
            let Some(zone) = account.zone(zone_id).cloned() else {
                return error(404, 7003, "Could not route to /zones, perhaps your object identifier is invalid?");
            };
            match (method, rest) {
                ("GET", []) => {
                    let wanted = |key: &str, value: &str| q.get(key).is_none_or(|w| w.eq_ignore_ascii_case(value));
                    let records: Vec<_> = account
                        .records
                        .iter()
                        .filter(|r| r.zone_id == zone.id && wanted("type", "TXT"))
                        .filter(|r| wanted("name", &r.name) && wanted("content", &r.value))
                        .cloned()
                        .collect();
                    listed(account, &records, page, number(&q, "per_page", 100), record_json)
                }
                ("POST", []) => {
                    let body = &request.body;
                    if body["type"].as_str() != Some("TXT") {
                        return error(400, 9004, "This record type is not supported by this stand-in");
                    }
                    let (Some(name), Some(content)) = (body["name"].as_str(), body["content"].as_str()) else {
                        return error(400, 9000, "DNS name and content are required");
                    };
                    let ttl = body["ttl"].as_u64().unwrap_or(1) as u32;
                    if ttl != 1 && !(60..=86400).contains(&ttl) {
                        return error(
                            400,
                            9021,
                            "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
                        );
                    }
                    let name = name.trim_end_matches('.').to_ascii_lowercase();
                    let fqdn = if name == zone.name || name.ends_with(&format!(".{}", zone.name)) {
                        name
                    } else {
                        format!("{name}.{}", zone.name)
                    };
                    if account.records.iter().any(|r| r.zone_id == zone.id && r.name == fqdn && r.value == content) {
                        return error(400, 81058, "An identical record already exists.");
                    }
                    match account.add(&zone.id, &fqdn, content, if ttl == 1 { 300 } else { ttl }) {
                        Ok(record) => ok(record_json(&record)),
                        Err(_) => error(500, 10000, "Internal server error"),
                    }
                }
                ("DELETE", [record_id]) => match account.delete(record_id) {
                    Ok(Some(record)) => ok(json!({ "id": record.id })),
                    Ok(None) => error(404, 81044, "Record does not exist."),
                    Err(_) => error(500, 10000, "Internal server error"),
                },
                _ => error(400, 7000, "No route for that URI"),
            }
        }
        _ => error(400, 7000, "No route for that URI"),
    }
}
