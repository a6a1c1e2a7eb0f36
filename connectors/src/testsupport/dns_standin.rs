//! What the DNS provider stand-ins (`dns_cloudflare`, `dns_digitalocean`, `dns_hetzner`) share: the
//! account's zones and TXT records in memory, faults on demand (one 429 with a wait, server errors
//! for the next requests), a page size the test can force small, and, when given a BIND, every
//! record added or deleted there too by RFC 2136 (`nsupdate`) so Pebble can validate for real.
//! Invariant: a record is in memory exactly when the API answered its creation with success; with a
//! BIND, the update there succeeded first (a failed update is a 500 and changes nothing).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use super::{Bind, StandIn, StandInAnswer, StandInRequest, TsigKey};

/// One zone of the stand-in's account.
#[derive(Debug, Clone)]
pub struct StandInZone {
    pub id: String,
    pub name: String,
    /// Cloudflare's zone status (`active`, `pending`); the others ignore it.
    pub status: String,
}

/// One TXT record as the API stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInRecord {
    pub id: String,
    pub zone_id: String,
    /// Fully qualified, lower case, without the trailing dot.
    pub name: String,
    pub value: String,
    pub ttl: u32,
}

/// A fault the next request gets instead of its answer.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// 429 asking to wait this many seconds.
    RateLimited(u64),
    /// 500.
    ServerError,
}

/// Where records are applied besides memory.
struct BindTarget {
    addr: SocketAddr,
    key: TsigKey,
}

/// The account behind a stand-in.
pub struct DnsAccount {
    pub token: String,
    pub zones: Vec<StandInZone>,
    pub records: Vec<StandInRecord>,
    /// The largest page the stand-in serves, whatever the client asks for.
    pub max_page: usize,
    faults: Vec<Fault>,
    next_id: u64,
    bind: Option<BindTarget>,
}

impl DnsAccount {
    /// The next fault queued, if any.
    pub fn take_fault(&mut self) -> Option<Fault> {
        (!self.faults.is_empty()).then(|| self.faults.remove(0))
    }

    pub fn zone(&self, id: &str) -> Option<&StandInZone> {
        self.zones.iter().find(|z| z.id == id)
    }

    pub fn zone_named(&self, name: &str) -> Option<&StandInZone> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// Stores a record (and applies it to BIND first when there is one); `Err` when BIND refused.
    pub fn add(&mut self, zone_id: &str, name: &str, value: &str, ttl: u32) -> Result<StandInRecord, String> {
        let zone = self.zone(zone_id).ok_or("no such zone")?.name.clone();
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        // Stored as sent (Cloudflare keeps quotes if given); served as one character string.
        self.apply(&zone, &format!("update add {name}. {ttl} TXT \"{}\"", value.trim_matches('"')))?;
        self.next_id += 1;
        let record = StandInRecord {
            id: self.next_id.to_string(),
            zone_id: zone_id.to_owned(),
            name,
            value: value.to_owned(),
            ttl,
        };
        self.records.push(record.clone());
        Ok(record)
    }

    /// Removes a record by id (and from BIND); `Ok(None)` when there is none.
    pub fn delete(&mut self, id: &str) -> Result<Option<StandInRecord>, String> {
        let Some(at) = self.records.iter().position(|r| r.id == id) else { return Ok(None) };
        let record = self.records[at].clone();
        let zone = self.zone(&record.zone_id).map(|z| z.name.clone()).unwrap_or_default();
        self.apply(&zone, &format!("update delete {}. TXT \"{}\"", record.name, record.value.trim_matches('"')))?;
        self.records.remove(at);
        Ok(Some(record))
    }

    /// Sends one update to BIND with `nsupdate`, signed with its key.
    fn apply(&self, zone: &str, update: &str) -> Result<(), String> {
        let Some(bind) = &self.bind else { return Ok(()) };
        let key = format!("{}:{}:{}", bind.key.algorithm, bind.key.name, bind.key.secret);
        let script = format!("server {} {}\nzone {zone}.\n{update}\nsend\n", bind.addr.ip(), bind.addr.port());
        let mut child = Command::new("nsupdate")
            .args(["-y", &key, "-t", "5"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("nsupdate: {e}"))?;
        child.stdin.take().ok_or("nsupdate stdin")?.write_all(script.as_bytes()).map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    }

    /// Page `page` (from 1) of `items` at `per_page` (bounded by `max_page`), and the page count.
    pub fn page<T: Clone>(&self, items: &[T], page: usize, per_page: usize) -> (Vec<T>, usize, usize) {
        let per_page = per_page.clamp(1, self.max_page);
        let pages = items.len().div_ceil(per_page).max(1);
        let start = (page.max(1) - 1) * per_page;
        (items.iter().skip(start).take(per_page).cloned().collect(), pages, per_page)
    }
}

/// A provider's stand-in: the HTTP server and the account it serves.
pub struct DnsStandIn {
    server: StandIn,
    /// The API's path prefix (`/client/v4`, `/v2`, `/api/v1`).
    prefix: &'static str,
    account: Arc<Mutex<DnsAccount>>,
}

impl DnsStandIn {
    /// Serves `handler` over an account with `token` and `zones` (`(id, name, status)`), applying
    /// records to `bind` when given.
    pub(crate) fn start(
        prefix: &'static str,
        token: &str,
        zones: &[(&str, &str, &str)],
        bind: Option<&Bind>,
        handler: fn(&mut DnsAccount, &StandInRequest) -> StandInAnswer,
    ) -> DnsStandIn {
        let account = Arc::new(Mutex::new(DnsAccount {
            token: token.to_owned(),
            zones: zones
                .iter()
                .map(|(id, name, status)| StandInZone {
                    id: (*id).to_owned(),
                    name: (*name).to_owned(),
                    status: (*status).to_owned(),
                })
                .collect(),
            records: Vec::new(),
            max_page: 1000,
            faults: Vec::new(),
            next_id: 0,
            bind: bind.map(|b| BindTarget { addr: b.addr(), key: b.key().clone() }),
        }));
        let served = account.clone();
        let server = StandIn::start_answering(move |request| {
            let mut request = request.clone();
            match request.path.strip_prefix(prefix) {
                Some(rest) => request.path = rest.to_owned(),
                None => return StandInAnswer::json(404, serde_json::json!({ "message": "no route" })),
            }
            handler(&mut served.lock().unwrap(), &request)
        });
        DnsStandIn { server, prefix, account }
    }

    /// The API's base URL (the provider's path prefix included), as the `api_url` setting.
    pub fn url(&self) -> String {
        format!("{}{}", self.server.url(), self.prefix)
    }

    pub fn requests(&self) -> Vec<StandInRequest> {
        self.server.requests()
    }

    /// The account's token (the one the stand-in accepts).
    pub fn token(&self) -> String {
        self.account.lock().unwrap().token.clone()
    }

    /// Queues faults for the next requests, in order.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.account.lock().unwrap().faults.extend_from_slice(faults);
    }

    /// Serves pages of at most `n` items, whatever the client asks for.
    pub fn max_page(&self, n: usize) {
        self.account.lock().unwrap().max_page = n.max(1);
    }

    /// The stored TXT values at `name`, sorted.
    pub fn values_at(&self, name: &str) -> Vec<String> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut values: Vec<String> =
            self.account.lock().unwrap().records.iter().filter(|r| r.name == name).map(|r| r.value.clone()).collect();
        values.sort();
        values
    }

    pub fn records(&self) -> Vec<StandInRecord> {
        self.account.lock().unwrap().records.clone()
    }
}

/// A request's path without the query, and the query's parameters (percent-decoded).
pub fn path_and_query(request: &StandInRequest) -> (String, HashMap<String, String>) {
    let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    (path.to_owned(), params)
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query parameter as a number, with a default.
pub fn number(params: &HashMap<String, String>, name: &str, default: usize) -> usize {
    params.get(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}
