//! An OVHcloud API stand-in written from the published reference (api.ovh.com, "first steps" and
//! `/domain/zone`): `GET /auth/time` on the API's own clock (set apart from this host's, so a
//! client that signs with local time fails), every other call signed (`X-Ovh-Application`,
//! `X-Ovh-Consumer`, `X-Ovh-Timestamp`, `X-Ovh-Signature` recomputed over the full URL and the raw
//! body), zone list, TXT records by id, and `refresh`, which is what makes records served. OVH's
//! list calls are not paginated. Errors are `{"message", "errorCode", "httpCode"}`.
//! Invariant: records created or deleted are served (`txt`) only after a refresh of their zone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::api_faults::{Faults, split_query};
use super::{StandIn, StandInAnswer, StandInRequest};

/// How far the stand-in's clock is ahead of this host's.
pub const OVH_CLOCK_SKEW_S: i64 = 1_000;
/// How far a request's timestamp may be from the API's clock.
const TIME_WINDOW_S: i64 = 180;
// A client signing with this host's clock must fail.
const _: () = assert!(OVH_CLOCK_SKEW_S > TIME_WINDOW_S);

/// Who the stand-in accepts.
#[derive(Debug, Clone)]
pub struct OvhKeys {
    pub application_key: String,
    pub application_secret: String,
    pub consumer_key: String,
}

#[derive(Debug, Clone)]
struct Record {
    zone: String,
    sub: String,
    target: String,
    ttl: u64,
}

#[derive(Default)]
struct State {
    base: String,
    keys: Option<OvhKeys>,
    zones: Vec<String>,
    /// Records as edited, by id.
    records: BTreeMap<u64, Record>,
    /// Records as served, per zone, as of its last refresh.
    served: BTreeMap<String, Vec<Record>>,
    next_id: u64,
}

/// The running stand-in; `endpoint()` goes into `OvhConfig`.
pub struct OvhApi {
    standin: StandIn,
    state: Arc<Mutex<State>>,
    pub faults: Faults,
}

impl OvhApi {
    pub fn start(keys: OvhKeys, zones: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(State {
            keys: Some(keys),
            zones: zones.iter().map(|z| (*z).to_owned()).collect(),
            next_id: 1_000_001,
            ..State::default()
        }));
        let faults = Faults::default();
        let (shared, injected) = (state.clone(), faults.clone());
        let standin = StandIn::start_answering(move |r| {
            let mut state = shared.lock().unwrap();
            if r.method == "GET" && r.path == "/1.0/auth/time" {
                return (200, json!(api_now())).into();
            }
            if let Some(fault) = injected.take(|status| ovh_error(status, "INJECTED", "injected fault")) {
                return fault;
            }
            if let Err(refused) = authenticate(&state, r) {
                return refused;
            }
            api(&mut state, r)
        });
        state.lock().unwrap().base = standin.url();
        OvhApi { standin, state, faults }
    }

    pub fn endpoint(&self) -> String {
        format!("{}/1.0", self.standin.url())
    }

    /// The TXT values served at `sub` in `zone` (as of the last refresh), sorted.
    pub fn served_txt(&self, zone: &str, sub: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut values: Vec<String> =
            state.served.get(zone).into_iter().flatten().filter(|r| r.sub == sub).map(|r| r.target.clone()).collect();
        values.sort();
        values
    }

    /// How many TXT records exist at `sub` in `zone`, refreshed or not.
    pub fn record_count(&self, zone: &str, sub: &str) -> usize {
        self.state.lock().unwrap().records.values().filter(|r| r.zone == zone && r.sub == sub).count()
    }

    pub fn requests(&self) -> Vec<StandInRequest> {
        self.standin.requests()
    }
}

fn api_now() -> i64 {
    let local = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    local + OVH_CLOCK_SKEW_S
}

fn ovh_error(status: u16, code: &str, message: &str) -> Value {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    json!({ "class": format!("Client::{reason}"), "message": message, "errorCode": code, "httpCode": format!("{status} {reason}") })
}

fn refuse(status: u16, code: &str, message: &str) -> StandInAnswer {
    (status, ovh_error(status, code, message)).into()
}

/// Checks the application, the consumer key, the time and the signature, as OVH does.
fn authenticate(state: &State, r: &StandInRequest) -> Result<(), StandInAnswer> {
    let keys = state.keys.as_ref().unwrap();
    if r.header("x-ovh-application") != Some(keys.application_key.as_str()) {
        return Err(refuse(403, "INVALID_KEY", "This application key is invalid"));
    }
    if r.header("x-ovh-consumer") != Some(keys.consumer_key.as_str()) {
        return Err(refuse(403, "INVALID_CREDENTIAL", "This credential does not exist"));
    }
    let Some(timestamp) = r.header("x-ovh-timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(refuse(400, "QUERY_TIME_OUT", "Query out of time"));
    };
    if (timestamp - api_now()).abs() > TIME_WINDOW_S {
        return Err(refuse(400, "QUERY_TIME_OUT", "Query out of time"));
    }
    let body = r.text.as_str();
    let url = format!("{}{}", state.base, r.path);
    // Computed here from the published recipe, not with the client's function, so a client bug shows.
    let signed = format!("{}+{}+{}+{url}+{body}+{timestamp}", keys.application_secret, keys.consumer_key, r.method);
    let digest = <sha1::Sha1 as sha1::Digest>::digest(signed.as_bytes());
    let expected = format!("$1${}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>());
    if r.header("x-ovh-signature") != Some(expected.as_str()) {
        return Err(refuse(400, "INVALID_SIGNATURE", "Invalid signature"));
    }
    Ok(())
}

fn record_json(id: u64, r: &Record) -> Value {
    json!({ "id": id, "zone": r.zone, "subDomain": r.sub, "fieldType": "TXT", "target": r.target, "ttl": r.ttl })
}

fn api(state: &mut State, r: &StandInRequest) -> StandInAnswer {
    let (path, query) = split_query(&r.path);
    let segments: Vec<&str> = path.trim_start_matches("/1.0/").split('/').collect();
    let missing = || refuse(404, "NOT_FOUND", "This service does not exist");
    match (r.method.as_str(), &segments[..]) {
        ("GET", ["domain", "zone"]) => (200, json!(state.zones)).into(),
        (method, ["domain", "zone", zone, rest @ ..]) => {
            let zone = zone.to_string();
            if !state.zones.contains(&zone) {
                return missing();
            }
            match (method, rest) {
                ("GET", ["record"]) => {
                    let ids: Vec<u64> = state
                        .records
                        .iter()
                        .filter(|(_, rec)| rec.zone == zone)
                        .filter(|_| query.get("fieldType").is_none_or(|t| t == "TXT"))
                        .filter(|(_, rec)| query.get("subDomain").is_none_or(|s| *s == rec.sub))
                        .map(|(id, _)| *id)
                        .collect();
                    (200, json!(ids)).into()
                }
                ("POST", ["record"]) => {
                    let b = &r.body;
                    let (Some("TXT"), Some(sub), Some(target)) =
                        (b["fieldType"].as_str(), b["subDomain"].as_str(), b["target"].as_str())
                    else {
                        return refuse(
                            400,
                            "INVALID_ARGUMENT",
                            "Invalid body: fieldType, subDomain and target are required",
                        );
                    };
                    let record = Record {
                        zone: zone.clone(),
                        sub: sub.to_owned(),
                        target: target.to_owned(),
                        ttl: b["ttl"].as_u64().unwrap_or(0),
                    };
                    let id = state.next_id;
                    state.next_id += 1;
                    let body = record_json(id, &record);
                    state.records.insert(id, record);
                    (200, body).into()
                }
                (method, ["record", id]) => {
                    let Some(id) =
                        id.parse::<u64>().ok().filter(|id| state.records.get(id).is_some_and(|r| r.zone == zone))
                    else {
                        return missing();
                    };
                    match method {
                        "GET" => (200, record_json(id, &state.records[&id])).into(),
                        "DELETE" => {
                            state.records.remove(&id);
                            (200, Value::Null).into()
                        }
                        _ => missing(),
                    }
                }
                ("POST", ["refresh"]) => {
                    let served = state.records.values().filter(|rec| rec.zone == zone).cloned().collect();
                    state.served.insert(zone, served);
                    (200, Value::Null).into()
                }
                _ => missing(),
            }
        }
        _ => missing(),
    }
}
