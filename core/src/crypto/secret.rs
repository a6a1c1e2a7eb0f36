//! Plaintext secret bytes: wiped from memory on drop, never printed.

use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    pub fn from_text(text: &str) -> Self {
        SecretBytes::new(text.as_bytes().to_vec())
    }

    /// The only way to the plaintext; grep for it when auditing where secrets go.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The plaintext as text, for secrets that are text (tokens, PEM keys).
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}
