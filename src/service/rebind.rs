//! The rule that keeps a stored secret bound to the destination it was given for. An update may
//! leave a secret out to keep it, but not while it changes a field that decides where that secret is
//! sent (an address, URL, host, port, pinned key, trusted CA, mount): then the secret must come again
//! in the same request. Invariant: a kept secret is never sent to a destination its giver did not
//! name together with it. Every update of an object holding a secret goes through `check`.

use serde_json::{Map, Value};

use crate::service::error::ApiError;

/// Which fields of an object's public settings decide where its secrets go, and which fields are
/// the secrets.
pub struct SecretBinding {
    pub destination: &'static [&'static str],
    pub secrets: &'static [&'static str],
}

impl SecretBinding {
    /// Refuses an update that moves a destination while keeping a stored secret. `stored` and
    /// `updated` are the public settings before and after (normalized the same way); `given` is
    /// what the request itself carried, before any stored secret was filled in.
    pub fn check(
        &self,
        prefix: &str,
        stored: &Value,
        updated: &Value,
        given: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let Some(moved) = self.destination.iter().find(|f| stored.get(**f) != updated.get(**f)) else {
            return Ok(());
        };
        match self.secrets.iter().find(|s| given.get(**s).is_none_or(Value::is_null)) {
            Some(missing) => Err(ApiError::invalid(
                format!("{prefix}{missing}"),
                format!(
                    "changing {prefix}{moved} changes where the stored secret is sent: give {prefix}{missing} again in the same request"
                ),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const VAULT: SecretBinding = SecretBinding { destination: &["address", "mount"], secrets: &["token"] };

    /// Moving a destination without the secret is refused and names both fields; moving it with the
    /// secret, or changing anything else without it, passes.
    #[test]
    fn a_kept_secret_never_follows_a_moved_destination() {
        let stored = json!({ "address": "https://vault.example:8200", "mount": "secret", "path": "a" });
        let moved = json!({ "address": "https://evil.example:8200", "mount": "secret", "path": "a" });
        let err = VAULT.check("config.", &stored, &moved, &Map::new()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("config.token"));
        assert!(err.detail.contains("config.address"), "{}", err.detail);
        let given = json!({ "token": "t" });
        assert!(VAULT.check("config.", &stored, &moved, given.as_object().unwrap()).is_ok());
        let renamed = json!({ "address": "https://vault.example:8200", "mount": "secret", "path": "b" });
        assert!(VAULT.check("config.", &stored, &renamed, &Map::new()).is_ok());
        let remounted = json!({ "address": "https://vault.example:8200", "mount": "other", "path": "a" });
        assert!(VAULT.check("config.", &stored, &remounted, json!({ "token": null }).as_object().unwrap()).is_err());
    }
}
