//! The stored form of a secret field: an envelope (ARCHITECTURE.md §5). The plaintext never sits in a
//! record; M1.3 fills these from the KEK provider. `Debug` shows only the KEK version.

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedSecret {
    pub kek_version: u32,
    /// The per-value data key, encrypted under KEK `kek_version` (base64).
    pub wrapped_dek: String,
    /// Nonce and ciphertext of the value under the data key (base64).
    pub nonce: String,
    pub ciphertext: String,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedSecret(kek_version={}, <redacted>)", self.kek_version)
    }
}
