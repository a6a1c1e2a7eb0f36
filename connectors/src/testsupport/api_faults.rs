//! What the DNS provider stand-ins share: faults injected on demand (a 429 with `Retry-After`, a
//! 5xx), query and form parsing, and fresh random tokens.
//! Invariant: an injected fault answers exactly one API request, in the order pushed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::StandInReply;

/// Statuses the next API requests answer with instead of their real answer.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<VecDeque<u16>>>);

impl Faults {
    /// The next API request answers `status` (429 carries `Retry-After: 1`).
    pub fn push(&self, status: u16) {
        self.0.lock().unwrap().push_back(status);
    }

    /// The reply for the next pushed fault, with `body(status)` as its provider's error body.
    pub fn take(&self, body: impl Fn(u16) -> serde_json::Value) -> Option<StandInReply> {
        let status = self.0.lock().unwrap().pop_front()?;
        let headers = if status == 429 { vec![("Retry-After".to_owned(), "1".to_owned())] } else { Vec::new() };
        Some(StandInReply { status, headers, body: body(status) })
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

/// A random token as a provider would issue one.
pub fn random_token(prefix: &str) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}
