//! A stand-in for DigitalOcean's v2 domains API, written from its published reference: personal
//! access tokens as `Authorization: Bearer` (wrong or none: 401 `{"id":"unauthorized",…}`),
//! `GET /domains` and `GET /domains/{d}/records?type=&name=` (the name fully qualified) paged by
//! `page`/`per_page` with `links.pages.next`, `POST /domains/{d}/records` (the name relative, `@` at
//! the apex; TTL at least 30), `DELETE /domains/{d}/records/{id}` (204); errors as
//! `{"id","message"}`; 429 with the `ratelimit-*` headers (`ratelimit-reset` a Unix time).
//! Invariant: answers only what the reference documents; anything else is 404 `not_found`.

use serde_json::{Value, json};

use super::dns_standin::{DnsAccount, DnsStandIn, Fault, StandInRecord, number, path_and_query};
use super::{Bind, StandInAnswer, StandInRequest};

/// Starts a stand-in accepting `token` for an account with the domains `zones` (`(id, name, _)`; a
/// domain's id is its name), applying records to `bind` when given. Its `url()` is the `api_url`
/// setting.
pub fn digitalocean_standin(token: &str, zones: &[&str], bind: Option<&Bind>) -> DnsStandIn {
    let zones: Vec<(&str, &str, &str)> = zones.iter().map(|z| (*z, *z, "")).collect();
    DnsStandIn::start("/v2", token, &zones, bind, handle)
}

fn error(status: u16, id: &str, message: &str) -> StandInAnswer {
    StandInAnswer::json(status, json!({ "id": id, "message": message }))
}

fn not_found() -> StandInAnswer {
    error(404, "not_found", "The resource you were accessing could not be found.")
}

/// A page of `items` under `key`, with `links.pages` and `meta.total` as DigitalOcean writes them.
fn listed<T: Clone>(
    account: &DnsAccount,
    key: &str,
    items: &[T],
    q: &std::collections::HashMap<String, String>,
    show: &dyn Fn(&T) -> Value,
) -> StandInAnswer {
    let page = number(q, "page", 1);
    let (shown, pages, per_page) = account.page(items, page, number(q, "per_page", 20).min(200));
    let mut links = serde_json::Map::new();
    if page < pages {
        links.insert(
            "next".into(),
            json!(format!("https://api.digitalocean.com/v2/?page={}&per_page={per_page}", page + 1)),
        );
        links
            .insert("last".into(), json!(format!("https://api.digitalocean.com/v2/?page={pages}&per_page={per_page}")));
    }
    let list: Vec<Value> = shown.iter().map(show).collect();
    StandInAnswer::json(200, json!({ key: list, "links": { "pages": links }, "meta": { "total": items.len() } }))
}

fn record_json(r: &StandInRecord, domain: &str) -> Value {
    let name =
        if r.name == domain { "@".to_owned() } else { r.name.trim_end_matches(&format!(".{domain}")).to_owned() };
    let id: u64 = r.id.parse().unwrap_or_default();
    json!({ "id": id, "type": "TXT", "name": name, "data": r.value, "priority": null, "port": null, "ttl": r.ttl, "weight": null, "flags": null, "tag": null })
}

fn handle(account: &mut DnsAccount, request: &StandInRequest) -> StandInAnswer {
    if request.header("authorization") != Some(format!("Bearer {}", account.token).as_str()) {
        return error(401, "unauthorized", "Unable to authenticate you");
    }
    match account.take_fault() {
        Some(Fault::RateLimited(seconds)) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            return error(429, "too_many_requests", "API Rate limit exceeded.")
                .header("ratelimit-limit", "5000")
                .header("ratelimit-remaining", "0")
                .header("ratelimit-reset", &(now + seconds).to_string());
        }
        Some(Fault::ServerError) => return error(500, "server_error", "Unexpected server-side error"),
        None => {}
    }
    let (path, q) = path_and_query(request);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["domains"]) => {
            let zones = account.zones.clone();
            listed(account, "domains", &zones, &q, &|z| json!({ "name": z.name, "ttl": 1800, "zone_file": "" }))
        }
        (method, ["domains", domain, "records", rest @ ..]) => {
            let Some(zone) = account.zone_named(domain).cloned() else { return not_found() };
            match (method, rest) {
                ("GET", []) => {
                    let wanted_name = q.get("name").map(|n| n.to_ascii_lowercase());
                    let records: Vec<_> = account
                        .records
                        .iter()
                        .filter(|r| r.zone_id == zone.id && q.get("type").is_none_or(|t| t == "TXT"))
                        .filter(|r| wanted_name.as_ref().is_none_or(|n| *n == r.name))
                        .cloned()
                        .collect();
                    listed(account, "domain_records", &records, &q, &|r| record_json(r, &zone.name))
                }
                ("POST", []) => {
                    let body = &request.body;
                    if body["type"].as_str() != Some("TXT") {
                        return error(422, "unprocessable_entity", "Type is not supported by this stand-in");
                    }
                    let (Some(name), Some(data)) = (body["name"].as_str(), body["data"].as_str()) else {
                        return error(422, "unprocessable_entity", "Name and data are required");
                    };
                    let ttl = body["ttl"].as_u64().unwrap_or(1800) as u32;
                    if ttl < 30 {
                        return error(422, "unprocessable_entity", "TTL must be at least 30 seconds");
                    }
                    // The name is relative: a fully qualified one would end up doubled.
                    let fqdn = if name == "@" {
                        zone.name.clone()
                    } else {
                        format!("{}.{}", name.to_ascii_lowercase(), zone.name)
                    };
                    match account.add(&zone.id, &fqdn, data, ttl) {
                        Ok(record) => {
                            StandInAnswer::json(201, json!({ "domain_record": record_json(&record, &zone.name) }))
                        }
                        Err(_) => error(500, "server_error", "Unexpected server-side error"),
                    }
                }
                ("DELETE", [id]) => {
                    if !account.records.iter().any(|r| r.id == *id && r.zone_id == zone.id) {
                        return not_found();
                    }
                    match account.delete(id) {
                        Ok(_) => StandInAnswer::json(204, Value::Null),
                        Err(_) => error(500, "server_error", "Unexpected server-side error"),
                    }
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}
