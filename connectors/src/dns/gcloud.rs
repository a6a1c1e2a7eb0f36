//! Google Cloud DNS: a service account's key signs a JWT (RS256) that the token endpoint exchanges
//! for an access token (OAuth 2.0 JWT bearer grant, RFC 7523); TXT sets change through
//! `changes.create`, which replaces a record set atomically (the old set as a deletion, the new one
//! as an addition) and refuses with 412 when the set changed since it was read.
//! Invariants: other values at the name are kept (the set is read, then replaced with a
//! precondition, and read again when it moved); the private key stays in `RsaKeyPair` and the
//! token in `TokenCache`, neither printed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use certautopilot_core::model::{DnsProvider, GcloudConfig};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::DnsError;
use super::api::{Answer, Api, Reach};
use super::oauth::{Authorized, TokenCache, bare, form_body, oauth_message, query_value, with_value, without_value};
use super::provider::TxtRecords;
use super::txt::{quoted, unquoted};

const PROVIDER: &str = "gcloud";
/// The narrowest OAuth scope that can change records (Cloud DNS API reference, "Authorization").
pub const SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The longest an assertion may live (Google's token endpoint refuses longer).
const ASSERTION_LIFETIME_S: u64 = 3600;
/// How many times a change is re-read and re-sent when the set moved under it (412 / 409).
const CONFLICT_RETRIES: usize = 3;
/// How often `wait_applied` asks for a change's status.
const STATUS_POLL: Duration = Duration::from_millis(500);

/// A Cloud DNS client for one project.
pub struct Gcloud {
    config: GcloudConfig,
    client_email: String,
    key_id: Option<String>,
    key: RsaKeyPair,
    reach: Reach,
    token: TokenCache,
    /// Zone apex → managed zone name, found once per client.
    zones: Mutex<HashMap<String, String>>,
    /// Changes not yet reported `done`: (managed zone, change id).
    pending: Mutex<Vec<(String, String)>>,
}

impl std::fmt::Debug for Gcloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gcloud")
            .field("project", &self.config.project)
            .field("client_email", &self.client_email)
            .finish()
    }
}

/// The fields of a service account key file this client uses.
#[derive(serde::Deserialize)]
struct ServiceAccountKey {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
}

impl Gcloud {
    /// A client from the settings and the service account's JSON key file. The key's own
    /// `token_uri` is ignored: the token endpoint is a setting, checked like every URL.
    pub fn new(config: &GcloudConfig, key_json: &str, reach: Reach) -> Result<Self, DnsError> {
        let bad = |what: &str| DnsError::Config(format!("the service account key {what}"));
        let key: ServiceAccountKey =
            serde_json::from_str(key_json).map_err(|_| bad("is not a service account JSON key file"))?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(key.private_key.as_bytes())
            .map_err(|_| bad("has no PEM private_key"))?;
        let pair =
            RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| bad("private_key is not a PKCS#8 RSA key"))?;
        if key.client_email.trim().is_empty() {
            return Err(bad("has no client_email"));
        }
        Ok(Gcloud {
            config: config.clone(),
            client_email: key.client_email.trim().to_owned(),
            key_id: key.private_key_id,
            key: pair,
            reach,
            token: TokenCache::default(),
            zones: Mutex::default(),
            pending: Mutex::default(),
        })
    }

    fn api(&self) -> Api<'_> {
        Api { provider: PROVIDER, reach: &self.reach, message: oauth_message }
    }

    /// A signed assertion for the token endpoint (RFC 7523 §3), issued now.
    fn assertion(&self) -> Result<String, DnsError> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| DnsError::Config("the system clock is before 1970".into()))?
            .as_secs();
        let mut header = json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.config.token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
        });
        let signed = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signed.as_bytes(), &mut signature)
            .map_err(|_| DnsError::Config("the service account key could not sign".into()))?;
        Ok(format!("{signed}.{}", b64(&signature)))
    }

    /// One API call with the current token.
    async fn call(
        &self,
        operation: &'static str,
        method: http::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, DnsError> {
        let form = || Ok(form_body(&[("grant_type", JWT_BEARER), ("assertion", &self.assertion()?)]));
        let api = Authorized { api: self.api(), cache: &self.token, token_url: &self.config.token_url, form: &form };
        api.send(operation, method, url, &[], body).await
    }

    fn project_url(&self) -> String {
        format!("{}/projects/{}", self.config.api_url, self.config.project)
    }

    /// The managed zone serving `zone` (its `dnsName`), public before private, across pages.
    async fn managed_zone(&self, zone: &str) -> Result<String, DnsError> {
        let apex = bare(zone);
        if let Some(found) = self.zones.lock().unwrap_or_else(|e| e.into_inner()).get(&apex) {
            return Ok(found.clone());
        }
        let mut page: Option<String> = None;
        let mut private = None;
        let mut public = None;
        loop {
            let mut url = format!("{}/managedZones?dnsName={}", self.project_url(), query_value(&format!("{apex}.")));
            if let Some(token) = &page {
                url.push_str(&format!("&pageToken={}", query_value(token)));
            }
            let answer = self.call("zone lookup", http::Method::GET, &url, None).await?;
            if answer.status == 404 {
                break;
            }
            let json = answer.json();
            for zone in json["managedZones"].as_array().into_iter().flatten() {
                if zone["dnsName"].as_str().map(bare).as_deref() != Some(apex.as_str()) {
                    continue;
                }
                let Some(name) = zone["name"].as_str() else { continue };
                let slot = if zone["visibility"].as_str() == Some("private") { &mut private } else { &mut public };
                slot.get_or_insert_with(|| name.to_owned());
            }
            match json["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
                Some(next) if public.is_none() => page = Some(next.to_owned()),
                _ => break,
            }
        }
        let found =
            public.or(private).ok_or_else(|| DnsError::ZoneNotFound { provider: PROVIDER, zone: apex.clone() })?;
        self.zones.lock().unwrap_or_else(|e| e.into_inner()).insert(apex, found.clone());
        Ok(found)
    }

    /// The TXT record set at `name` as the API holds it (for a deletion), if there is one.
    async fn txt_set(&self, managed: &str, name: &str) -> Result<Option<Value>, DnsError> {
        let url = format!(
            "{}/managedZones/{managed}/rrsets?name={}&type=TXT",
            self.project_url(),
            query_value(&format!("{}.", bare(name)))
        );
        let answer = self.call("record lookup", http::Method::GET, &url, None).await?;
        if answer.status == 404 {
            return Err(DnsError::ZoneNotFound { provider: PROVIDER, zone: managed.to_owned() });
        }
        let json = answer.json();
        let set = json["rrsets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["type"].as_str() == Some("TXT") && s["name"].as_str().map(bare) == Some(bare(name)));
        Ok(set.cloned())
    }

    /// Replaces the set at `name` by `edit(values)` (no change when it returns `None`), re-reading
    /// when the API says the set moved since it was read.
    async fn change(
        &self,
        zone: &str,
        name: &str,
        ttl: Option<u32>,
        edit: &(dyn Fn(&[String]) -> Option<Vec<String>> + Sync),
    ) -> Result<(), DnsError> {
        let managed = self.managed_zone(zone).await?;
        let mut attempt = 0;
        loop {
            let current = self.txt_set(&managed, name).await?;
            let values: Vec<String> = current
                .as_ref()
                .and_then(|s| s["rrdatas"].as_array())
                .map(|d| d.iter().filter_map(Value::as_str).map(unquoted).collect())
                .unwrap_or_default();
            let Some(next) = edit(&values) else { return Ok(()) };
            let keep_ttl = current.as_ref().and_then(|s| s["ttl"].as_u64()).map(|t| t as u32);
            let mut change = json!({ "kind": "dns#change", "additions": [], "deletions": [] });
            if let Some(current) = current {
                change["deletions"] = json!([current]);
            }
            if !next.is_empty() {
                change["additions"] = json!([{
                    "kind": "dns#resourceRecordSet",
                    "name": format!("{}.", bare(name)),
                    "type": "TXT",
                    "ttl": ttl.or(keep_ttl).unwrap_or(60),
                    "rrdatas": next.iter().map(|v| quoted(v)).collect::<Vec<_>>(),
                }]);
            }
            let url = format!("{}/managedZones/{managed}/changes", self.project_url());
            match self.call("change", http::Method::POST, &url, Some(&change)).await {
                Ok(answer) if answer.status == 404 => {
                    return Err(DnsError::ZoneNotFound { provider: PROVIDER, zone: bare(zone) });
                }
                Ok(answer) => {
                    let json = answer.json();
                    if let Some(id) = json["id"].as_str().filter(|_| json["status"].as_str() != Some("done")) {
                        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push((managed, id.to_owned()));
                    }
                    return Ok(());
                }
                Err(DnsError::Api { status: 409 | 412, .. }) if attempt < CONFLICT_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl TxtRecords for Gcloud {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Gcloud
    }

    async fn find_zone(&self, zone: &str) -> Result<Option<String>, DnsError> {
        Ok(Some(format!("managed zone {}", self.managed_zone(zone).await?)))
    }

    async fn add_txt(&self, zone: &str, name: &str, value: &str, ttl: u32) -> Result<(), DnsError> {
        self.change(zone, name, Some(ttl), &|values| with_value(values, value)).await
    }

    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        self.change(zone, name, None, &|values| without_value(values, value)).await
    }

    /// Waits for every change made so far to be `done` (Cloud DNS applies changes asynchronously).
    async fn wait_applied(&self, wait: Duration) -> Result<(), DnsError> {
        let deadline = Instant::now() + wait;
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (index, (managed, id)) in pending.iter().enumerate() {
            let url = format!("{}/managedZones/{managed}/changes/{}", self.project_url(), query_value(id));
            loop {
                let answer = self.call("change status", http::Method::GET, &url, None).await?;
                if answer.status == 404 || answer.json()["status"].as_str() == Some("done") {
                    break;
                }
                if Instant::now() >= deadline {
                    // What is still pending is asked about again on the next wait.
                    self.pending.lock().unwrap_or_else(|e| e.into_inner()).extend(pending[index..].iter().cloned());
                    return Err(DnsError::NotPropagated {
                        name: format!("change {id}"),
                        missing: "Cloud DNS (the change is still pending)".into(),
                        waited_ms: wait.as_millis() as u64,
                    });
                }
                tokio::time::sleep(STATUS_POLL).await;
            }
        }
        Ok(())
    }
}
