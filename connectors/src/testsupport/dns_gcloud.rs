//! A Google Cloud DNS stand-in written from the published references: the OAuth 2.0 token endpoint
//! for service accounts (JWT bearer grant: the assertion's RS256 signature is verified with the
//! test key's public half, and its `iss`, `scope`, `aud`, `iat`, `exp` checked), and Cloud DNS v1
//! (`managedZones.list` with `dnsName` and `pageToken`, `resourceRecordSets.list` by name and type,
//! `changes.create` whose deletions must match the current set exactly, `changes.get`). Errors are
//! Google's `{"error": {"code", "message", "status"}}`; OAuth errors `{"error", "error_description"}`.
//! Invariant: every API request without a token this stand-in issued is refused with 401.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Value, json};

use super::api_faults::{Faults, IssuedTokens, form_fields, split_query};
use super::{StandIn, StandInAnswer, StandInRequest};

pub const GCLOUD_SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";

/// A throw-away service account: its JSON key file and its public key (PKCS#1 DER).
pub struct TestServiceAccount {
    pub key_json: String,
    pub client_email: String,
    pub public_key: Vec<u8>,
}

impl TestServiceAccount {
    pub fn generate(client_email: &str) -> TestServiceAccount {
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let public_key = key.to_public_key().to_pkcs1_der().unwrap().as_bytes().to_vec();
        let key_json = json!({
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": "0123456789abcdef",
            "private_key": pem.as_str(),
            "client_email": client_email,
            "client_id": "100000000000000000001",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string();
        TestServiceAccount { key_json, client_email: client_email.to_owned(), public_key }
    }
}

/// One managed zone: its resource name, DNS name (with the dot) and visibility.
#[derive(Debug, Clone)]
pub struct GcloudZone {
    pub name: String,
    pub dns_name: String,
    pub visibility: &'static str,
}

#[derive(Default)]
struct State {
    base: String,
    project: String,
    client_email: String,
    public_key: Vec<u8>,
    zones: Vec<GcloudZone>,
    page_size: usize,
    tokens: IssuedTokens,
    /// (managed zone, name with dot) → (ttl, rrdatas as stored, quoted).
    sets: BTreeMap<(String, String), (u64, Vec<String>)>,
    changes: usize,
}

/// The running stand-in; `api_url()` and `token_url()` go into `GcloudConfig`.
pub struct GcloudApi {
    standin: StandIn,
    state: Arc<Mutex<State>>,
    pub faults: Faults,
    pub tokens: IssuedTokens,
}

impl GcloudApi {
    /// Serves `project` to `account`, listing `zones` `page_size` to a page.
    pub fn start(project: &str, account: &TestServiceAccount, zones: Vec<GcloudZone>, page_size: usize) -> Self {
        let state = Arc::new(Mutex::new(State {
            project: project.to_owned(),
            client_email: account.client_email.clone(),
            public_key: account.public_key.clone(),
            zones,
            page_size: page_size.max(1),
            ..State::default()
        }));
        let faults = Faults::default();
        let (shared, injected) = (state.clone(), faults.clone());
        let standin = StandIn::start_answering(move |r| {
            let mut state = shared.lock().unwrap();
            if r.path.starts_with("/token") {
                return token(&mut state, r);
            }
            if let Some(fault) = injected.take(|status| google_error(status, "injected fault")) {
                return fault;
            }
            api(&mut state, r)
        });
        state.lock().unwrap().base = standin.url();
        let tokens = state.lock().unwrap().tokens.clone();
        GcloudApi { standin, state, faults, tokens }
    }

    pub fn api_url(&self) -> String {
        format!("{}/dns/v1", self.standin.url())
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.standin.url())
    }

    /// The values at `name` (no trailing dot) in any zone, unquoted and sorted.
    pub fn txt(&self, name: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let mut values: Vec<String> = state
            .sets
            .iter()
            .filter(|((_, n), _)| *n == fqdn)
            .flat_map(|(_, (_, data))| data.iter().map(|d| d.trim_matches('"').to_owned()))
            .collect();
        values.sort();
        values
    }

    pub fn requests(&self) -> Vec<StandInRequest> {
        self.standin.requests()
    }
}

fn google_error(code: u16, message: &str) -> Value {
    let status = match code {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        400 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    };
    json!({ "error": { "code": code, "message": message, "status": status, "errors": [{ "message": message }] } })
}

fn reply(status: u16, body: Value) -> StandInAnswer {
    (status, body).into()
}

fn error(status: u16, message: &str) -> StandInAnswer {
    reply(status, google_error(status, message))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The JWT bearer grant: verifies the assertion as Google documents it.
fn token(state: &mut State, r: &StandInRequest) -> StandInAnswer {
    let grant = |description: &str| reply(400, json!({ "error": "invalid_grant", "error_description": description }));
    let form = form_fields(r.text.as_bytes());
    if r.method != "POST"
        || form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return reply(400, json!({ "error": "unsupported_grant_type", "error_description": "Invalid grant_type" }));
    }
    let Some(assertion) = form.get("assertion") else { return grant("Missing assertion") };
    let parts: Vec<&str> = assertion.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decoded: Vec<Option<Vec<u8>>> = parts.iter().map(|p| b64.decode(p).ok()).collect();
    let [Some(header), Some(claims), Some(signature)] = &decoded[..] else { return grant("Invalid JWT") };
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &state.public_key);
    let signed = format!("{}.{}", parts[0], parts[1]);
    if key.verify(signed.as_bytes(), signature).is_err() {
        return grant("Invalid JWT Signature.");
    }
    let header: Value = serde_json::from_slice(header).unwrap_or_default();
    let claims: Value = serde_json::from_slice(claims).unwrap_or_default();
    if header["alg"] != "RS256" {
        return grant("Invalid JWT: unsupported algorithm");
    }
    if claims["iss"].as_str() != Some(state.client_email.as_str()) {
        return reply(
            401,
            json!({ "error": "invalid_client", "error_description": "The OAuth client was not found." }),
        );
    }
    if claims["aud"].as_str() != Some(format!("{}/token", state.base).as_str()) {
        return grant("Invalid JWT: Failed audience check.");
    }
    if claims["scope"].as_str() != Some(GCLOUD_SCOPE) {
        return reply(400, json!({ "error": "invalid_scope", "error_description": "Invalid OAuth scope" }));
    }
    let (iat, exp) = (claims["iat"].as_u64().unwrap_or(0), claims["exp"].as_u64().unwrap_or(0));
    if iat > now() + 60 || exp <= now() || exp.saturating_sub(iat) > 3600 {
        return grant("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
    }
    let token = state.tokens.issue("ya29.");
    reply(200, json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }))
}

/// Cloud DNS v1 under `/dns/v1/projects/{project}`.
fn api(state: &mut State, r: &StandInRequest) -> StandInAnswer {
    if !state.tokens.accepts(r.header("authorization")) {
        return error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token.");
    }
    let (path, query) = split_query(&r.path);
    let Some(rest) = path.strip_prefix(&format!("/dns/v1/projects/{}/managedZones", state.project)) else {
        return error(403, "The caller does not have permission");
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (r.method.as_str(), &segments[..]) {
        ("GET", []) => {
            let wanted = query.get("dnsName");
            let matching: Vec<&GcloudZone> =
                state.zones.iter().filter(|z| wanted.is_none_or(|w| *w == z.dns_name)).collect();
            let start: usize = query.get("pageToken").and_then(|t| t.strip_prefix("p")?.parse().ok()).unwrap_or(0);
            let page: Vec<Value> = matching
                .iter()
                .skip(start)
                .take(state.page_size)
                .map(|z| json!({ "kind": "dns#managedZone", "name": z.name, "dnsName": z.dns_name, "visibility": z.visibility }))
                .collect();
            let mut body = json!({ "kind": "dns#managedZonesListResponse", "managedZones": page });
            if start + state.page_size < matching.len() {
                body["nextPageToken"] = json!(format!("p{}", start + state.page_size));
            }
            reply(200, body)
        }
        (method, [zone, kind, more @ ..]) => {
            let zone = zone.to_string();
            if !state.zones.iter().any(|z| z.name == zone) {
                return error(404, &format!("The 'parameters.managedZone' resource named '{zone}' does not exist."));
            }
            match (method, *kind, more) {
                ("GET", "rrsets", []) => rrsets(state, &zone, &query),
                ("POST", "changes", []) => change(state, &zone, &r.body),
                ("GET", "changes", [id]) => reply(200, json!({ "kind": "dns#change", "id": id, "status": "done" })),
                _ => error(404, "Not Found"),
            }
        }
        _ => error(404, "Not Found"),
    }
}

fn set_json(name: &str, ttl: u64, data: &[String]) -> Value {
    json!({ "kind": "dns#resourceRecordSet", "name": name, "type": "TXT", "ttl": ttl, "rrdatas": data })
}

fn rrsets(state: &State, zone: &str, query: &std::collections::HashMap<String, String>) -> StandInAnswer {
    let sets: Vec<Value> = state
        .sets
        .iter()
        .filter(|((z, name), _)| z == zone && query.get("name").is_none_or(|n| n == name))
        .filter(|_| query.get("type").is_none_or(|t| t == "TXT"))
        .map(|((_, name), (ttl, data))| set_json(name, *ttl, data))
        .collect();
    reply(200, json!({ "kind": "dns#resourceRecordSetsListResponse", "rrsets": sets }))
}

/// `changes.create`: every deletion must match the current set exactly, and an addition may not
/// land on a set that exists and is not deleted by the same change.
fn change(state: &mut State, zone: &str, body: &Value) -> StandInAnswer {
    let key = |set: &Value| (zone.to_owned(), set["name"].as_str().unwrap_or_default().to_owned());
    let data = |set: &Value| -> Vec<String> {
        set["rrdatas"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    };
    let (deletions, additions) = (body["deletions"].as_array().cloned(), body["additions"].as_array().cloned());
    let (deletions, additions) = (deletions.unwrap_or_default(), additions.unwrap_or_default());
    if deletions.is_empty() && additions.is_empty() {
        return error(400, "The 'entity.change' parameter is required but was missing.");
    }
    for (i, set) in deletions.iter().enumerate() {
        let current = state.sets.get(&key(set));
        if set["type"] != "TXT" || current.is_none_or(|(ttl, d)| *d != data(set) || Some(*ttl) != set["ttl"].as_u64()) {
            return error(412, &format!("Precondition not met for 'entity.change.deletions[{i}]'"));
        }
    }
    for (i, set) in additions.iter().enumerate() {
        let deleted = deletions.iter().any(|d| key(d) == key(set));
        if state.sets.contains_key(&key(set)) && !deleted {
            return error(
                409,
                &format!("The resource 'entity.change.additions[{i}]' named '{}' already exists", key(set).1),
            );
        }
        if set["type"] != "TXT" || data(set).is_empty() || set["ttl"].as_u64().is_none() {
            return error(400, &format!("Invalid value for 'entity.change.additions[{i}]'"));
        }
    }
    for set in &deletions {
        state.sets.remove(&key(set));
    }
    for set in &additions {
        state.sets.insert(key(set), (set["ttl"].as_u64().unwrap_or(0), data(set)));
    }
    state.changes += 1;
    let mut answer = body.clone();
    answer["kind"] = json!("dns#change");
    answer["id"] = json!(state.changes.to_string());
    answer["status"] = json!("pending");
    reply(200, answer)
}
