//! What proves who a caller is: session JWTs (`jwt`), passwords and their bounded hashing
//! (`password`, `password_hashing`), and the random secrets of API tokens and CSRF tokens, kept
//! only as SHA-256 digests. Invariant: a secret shown to a client is stored only as its digest, and
//! digests are compared in constant time.

mod argon2_memory;
pub mod jwt;
pub mod password;
pub mod password_hashing;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sha2::{Digest, Sha256};

/// API tokens look like `cap_<token id>.<secret>`; JWTs never start with this.
pub const API_TOKEN_PREFIX: &str = "cap_";

/// A fresh random secret, URL-safe, for tokens shown to a client once.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    B64URL.encode(bytes)
}

/// The SHA-256 of a secret, in hex: what the store keeps of it.
pub fn secret_digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison of two hex digests.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
