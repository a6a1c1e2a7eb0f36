//! A configuration value that must never be printed: `Debug`, `Display` and `Serialize` all redact it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const REDACTED: &str = "<redacted>";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The only way to the plaintext; grep for it when auditing where secrets go.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way a secret can be turned into text prints the placeholder, never the value.
    #[test]
    fn secret_is_redacted_in_debug_display_and_serialize() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{secret}"), REDACTED);
        #[derive(Serialize)]
        struct Holder {
            password: Secret,
        }
        let text = toml::to_string(&Holder { password: secret.clone() }).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }
}
