//! What the DNS provider stand-ins share: faults injected on demand (a 429 with `Retry-After`, a
//! 5xx), query and form parsing, and the access tokens they issued.
//! Invariant: an injected fault answers exactly one API request, in the order pushed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::StandInAnswer;

/// Statuses the next API requests answer with instead of their real answer.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<VecDeque<u16>>>);

impl Faults {
    /// The next API request answers `status` (429 carries `Retry-After: 1`).
    pub fn push(&self, status: u16) {
        self.0.lock().unwrap().push_back(status);
    }

    /// The reply for the next pushed fault, with `body(status)` as its provider's error body.
    pub fn take(&self, body: impl Fn(u16) -> serde_json::Value) -> Option<StandInAnswer> {
        let status = self.0.lock().unwrap().pop_front()?;
        let headers = if status == 429 { vec![("Retry-After".to_owned(), "1".to_owned())] } else { Vec::new() };
        Some(StandInAnswer { status, headers, body: body(status), raw: None })
    }
}

/// A request target's path and its query parameters.
pub fn split_query(target: &str) -> (String, HashMap<String, String>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (path.to_owned(), form_urlencoded::parse(query.as_bytes()).into_owned().collect())
}

/// A form body's fields.
pub fn form_fields(raw: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// The access tokens a stand-in's token endpoint issued, and which of them still hold.
#[derive(Debug, Clone, Default)]
pub struct IssuedTokens(Arc<Mutex<(Vec<String>, usize)>>);

impl IssuedTokens {
    /// A new random token as a provider would issue one.
    pub fn issue(&self, prefix: &str) -> String {
        use rand::RngCore;
        let mut bytes = [0u8; 18];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("{prefix}{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let mut held = self.0.lock().unwrap();
        held.0.push(token.clone());
        held.1 += 1;
        token
    }

    /// Whether an `Authorization` value carries a token that holds.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        let bearer = authorization.and_then(|v| v.strip_prefix("Bearer "));
        bearer.is_some_and(|b| self.0.lock().unwrap().0.iter().any(|t| t == b))
    }

    /// Revokes every token issued so far: API calls with them get 401.
    pub fn revoke_all(&self) {
        self.0.lock().unwrap().0.clear();
    }

    /// How many tokens were issued (revoked ones included).
    pub fn issued(&self) -> usize {
        self.0.lock().unwrap().1
    }
}
