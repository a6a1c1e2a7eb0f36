//! An Azure DNS stand-in written from the published references: Microsoft Entra ID's v2.0 token
//! endpoint (client credentials: tenant, client id, client secret and the ARM `.default` scope are
//! checked; AADSTS errors as `{"error", "error_description"}`) and Azure Resource Manager's DNS
//! zones and TXT record sets (api-version 2018-05-01: zone list with `nextLink` pages, record set
//! GET/PUT/DELETE with ETags and `If-Match`/`If-None-Match`). ARM errors are
//! `{"error": {"code", "message"}}`.
//! Invariant: every ARM request without a token this stand-in issued is refused with 401.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::api_faults::{Faults, IssuedTokens, form_fields, split_query};
use super::{StandIn, StandInAnswer, StandInRequest};

pub const AZURE_API_VERSION: &str = "2018-05-01";

/// Who the stand-in accepts.
#[derive(Debug, Clone)]
pub struct AzurePrincipal {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_id: String,
    pub resource_group: String,
}

#[derive(Default)]
struct State {
    base: String,
    principal: Option<AzurePrincipal>,
    zones: Vec<String>,
    page_size: usize,
    /// The principal's role is on single zones: listing the resource group is refused.
    zone_scoped: bool,
    tokens: IssuedTokens,
    /// (zone, relative name) → (etag, ttl, values).
    sets: BTreeMap<(String, String), (String, u64, Vec<String>)>,
    etags: usize,
}

/// The running stand-in: `url()` is both the API and the login URL of `AzureConfig`.
pub struct AzureApi {
    standin: StandIn,
    state: Arc<Mutex<State>>,
    pub faults: Faults,
    pub tokens: IssuedTokens,
}

impl AzureApi {
    pub fn start(principal: AzurePrincipal, zones: &[&str], page_size: usize) -> Self {
        let state = Arc::new(Mutex::new(State {
            principal: Some(principal),
            zones: zones.iter().map(|z| (*z).to_owned()).collect(),
            page_size: page_size.max(1),
            ..State::default()
        }));
        let faults = Faults::default();
        let (shared, injected) = (state.clone(), faults.clone());
        let standin = StandIn::start_answering(move |r| {
            let mut state = shared.lock().unwrap();
            if r.path.contains("/oauth2/v2.0/token") {
                return token(&mut state, r);
            }
            if let Some(fault) = injected.take(|status| arm_error("InjectedFault", &format!("injected {status}"))) {
                return fault;
            }
            arm(&mut state, r)
        });
        state.lock().unwrap().base = standin.url();
        let tokens = state.lock().unwrap().tokens.clone();
        AzureApi { standin, state, faults, tokens }
    }

    /// From now on the principal may read its zones but not list the resource group (a role
    /// assigned on each zone, as docs/dns/azure.md advises).
    pub fn scope_role_to_zones(&self) {
        self.state.lock().unwrap().zone_scoped = true;
    }

    pub fn url(&self) -> String {
        self.standin.url()
    }

    /// The values of the TXT set `relative` in `zone`, sorted.
    pub fn txt(&self, zone: &str, relative: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut values =
            state.sets.get(&(zone.to_owned(), relative.to_owned())).map(|s| s.2.clone()).unwrap_or_default();
        values.sort();
        values
    }

    pub fn requests(&self) -> Vec<StandInRequest> {
        self.standin.requests()
    }
}

fn arm_error(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

fn reply(status: u16, body: Value) -> StandInAnswer {
    (status, body).into()
}

fn aad(status: u16, error: &str, description: &str) -> StandInAnswer {
    reply(status, json!({ "error": error, "error_description": description, "error_codes": [0], "trace_id": "t" }))
}

fn token(state: &mut State, r: &StandInRequest) -> StandInAnswer {
    let principal = state.principal.clone().unwrap();
    let form = form_fields(r.text.as_bytes());
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if r.path != format!("/{}/oauth2/v2.0/token", principal.tenant_id) {
        return aad(400, "invalid_tenant", "AADSTS90002: Tenant not found.");
    }
    if field("grant_type") != "client_credentials" {
        return aad(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
    }
    if field("client_id") != principal.client_id {
        return aad(400, "unauthorized_client", "AADSTS700016: Application was not found in the directory.");
    }
    if field("client_secret") != principal.client_secret {
        return aad(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
    }
    if field("scope") != "https://management.azure.com/.default" {
        return aad(
            400,
            "invalid_scope",
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
        );
    }
    let token = state.tokens.issue("eyJ0eXAi.");
    reply(200, json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token }))
}

fn arm(state: &mut State, r: &StandInRequest) -> StandInAnswer {
    if r.header("authorization").is_none() {
        return reply(
            401,
            arm_error("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."),
        );
    }
    if !state.tokens.accepts(r.header("authorization")) {
        return reply(401, arm_error("InvalidAuthenticationToken", "The access token is invalid."));
    }
    let (path, query) = split_query(&r.path);
    if query.get("api-version").map(String::as_str) != Some(AZURE_API_VERSION) {
        return reply(400, arm_error("MissingApiVersionParameter", "The api-version query parameter is required."));
    }
    let principal = state.principal.clone().unwrap();
    let group = format!("/subscriptions/{}/resourceGroups/", principal.subscription_id);
    let Some(rest) = path.strip_prefix(&group) else {
        return reply(
            403,
            arm_error("AuthorizationFailed", "The client does not have authorization to perform action."),
        );
    };
    let Some((rg, rest)) = rest.split_once("/providers/Microsoft.Network/dnsZones") else {
        return reply(404, arm_error("NotFound", "Not found"));
    };
    if rg != principal.resource_group {
        return reply(404, arm_error("ResourceGroupNotFound", &format!("Resource group '{rg}' could not be found.")));
    }
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (r.method.as_str(), &segments[..]) {
        ("GET", []) if state.zone_scoped => reply(
            403,
            arm_error(
                "AuthorizationFailed",
                "The client does not have authorization to perform action 'Microsoft.Network/dnsZones/read' over scope.",
            ),
        ),
        ("GET", [zone]) => match state.zones.iter().find(|z| z == zone) {
            Some(z) => reply(200, json!({ "name": z, "type": "Microsoft.Network/dnszones", "location": "global" })),
            None => reply(404, arm_error("ResourceNotFound", &format!("The Resource '{zone}' was not found."))),
        },
        ("GET", []) => {
            let start: usize = query.get("$skipToken").and_then(|t| t.parse().ok()).unwrap_or(0);
            let page: Vec<Value> = state
                .zones
                .iter()
                .skip(start)
                .take(state.page_size)
                .map(|z| json!({ "id": format!("{path}/{z}"), "name": z, "type": "Microsoft.Network/dnszones", "location": "global" }))
                .collect();
            let mut body = json!({ "value": page });
            if start + state.page_size < state.zones.len() {
                body["nextLink"] = json!(format!(
                    "{}{path}?api-version={AZURE_API_VERSION}&$skipToken={}",
                    state.base,
                    start + state.page_size
                ));
            }
            reply(200, body)
        }
        (method, [zone, "TXT", name]) => {
            let (zone, name) = (zone.to_string(), name.to_string());
            if !state.zones.contains(&zone) {
                return reply(
                    404,
                    arm_error(
                        "ParentResourceNotFound",
                        &format!(
                            "Can not perform requested operation on nested resource. Parent resource '{zone}' not found."
                        ),
                    ),
                );
            }
            record(state, r, method, zone, name)
        }
        _ => reply(404, arm_error("NotFound", "Not found")),
    }
}

fn set_json(zone: &str, name: &str, (etag, ttl, values): &(String, u64, Vec<String>)) -> Value {
    json!({
        "id": format!("/.../dnszones/{zone}/TXT/{name}"),
        "name": name,
        "type": "Microsoft.Network/dnszones/TXT",
        "etag": etag,
        "properties": { "TTL": ttl, "fqdn": format!("{name}.{zone}."), "TXTRecords": values.iter().map(|v| json!({ "value": [v] })).collect::<Vec<_>>() },
    })
}

/// A TXT record set: ETag preconditions as ARM documents them.
fn record(state: &mut State, r: &StandInRequest, method: &str, zone: String, name: String) -> StandInAnswer {
    let key = (zone.clone(), name.clone());
    let current_etag = state.sets.get(&key).map(|s| s.0.clone());
    let precondition_failed = match (r.header("if-match"), r.header("if-none-match")) {
        (Some(tag), _) => current_etag.as_deref() != Some(tag),
        (None, Some("*")) => current_etag.is_some(),
        _ => false,
    };
    let conflict = || {
        reply(
            412,
            arm_error("PreconditionFailed", &format!("The Record set {name} has been modified (etag mismatch).")),
        )
    };
    match method {
        "GET" => match state.sets.get(&key) {
            Some(set) => reply(200, set_json(&zone, &name, set)),
            None => reply(
                404,
                arm_error("NotFound", &format!("The resource record '{name}' does not exist in resource group.")),
            ),
        },
        "PUT" => {
            if precondition_failed {
                return conflict();
            }
            let values: Vec<String> = r.body["properties"]["TXTRecords"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|rec| rec["value"].as_array().into_iter().flatten().filter_map(Value::as_str).collect())
                .collect();
            let Some(ttl) = r.body["properties"]["TTL"].as_u64().filter(|_| !values.is_empty()) else {
                return reply(400, arm_error("BadRequest", "The record set must have a TTL and at least one record."));
            };
            state.etags += 1;
            let set = (format!("etag-{}", state.etags), ttl, values);
            let status = if current_etag.is_some() { 200 } else { 201 };
            let body = set_json(&zone, &name, &set);
            state.sets.insert(key, set);
            reply(status, body)
        }
        "DELETE" => {
            if precondition_failed && current_etag.is_some() {
                return conflict();
            }
            state.sets.remove(&key);
            reply(200, Value::Null)
        }
        _ => reply(405, arm_error("MethodNotAllowed", "Method not allowed")),
    }
}
