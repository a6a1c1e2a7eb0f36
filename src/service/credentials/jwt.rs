//! Session tokens: compact JWS with HS256 only. Verification accepts exactly the header we issue
//! (no `alg: none`, no algorithm switching), checks the MAC in constant time, then the expiry.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use certautopilot_core::crypto::SecretBytes;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// `{"alg":"HS256","typ":"JWT"}`, the only header issued or accepted.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The user.
    pub sub: String,
    pub org: String,
    /// The session; logout revokes it, which ends this token at once.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
}

fn mac(key: &SecretBytes) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose()).expect("HMAC takes keys of any length")
}

pub fn sign(key: &SecretBytes, claims: &Claims) -> String {
    let payload = B64URL.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{HEADER}.{payload}");
    let mut m = mac(key);
    m.update(signing_input.as_bytes());
    let signature = B64URL.encode(m.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

pub fn verify(key: &SecretBytes, token: &str, now_unix: i64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if header != HEADER {
        return Err(TokenError::Malformed);
    }
    let signature = B64URL.decode(signature).map_err(|_| TokenError::Malformed)?;
    let mut m = mac(key);
    m.update(header.as_bytes());
    m.update(b".");
    m.update(payload.as_bytes());
    m.verify_slice(&signature).map_err(|_| TokenError::BadSignature)?;
    let claims: Claims = serde_json::from_slice(&B64URL.decode(payload).map_err(|_| TokenError::Malformed)?)
        .map_err(|_| TokenError::Malformed)?;
    if claims.exp <= now_unix {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: "u".into(), org: "o".into(), sid: "s".into(), iat: 0, exp }
    }

    /// A token verifies with its key until it expires; any change to any part, another key, or
    /// another algorithm in the header is refused.
    #[test]
    fn tokens_verify_only_untouched_and_unexpired() {
        let key = SecretBytes::new(vec![7; 32]);
        let token = sign(&key, &claims(100));
        assert_eq!(verify(&key, &token, 99).unwrap(), claims(100));
        assert_eq!(verify(&key, &token, 100), Err(TokenError::Expired));
        assert_eq!(verify(&SecretBytes::new(vec![8; 32]), &token, 0), Err(TokenError::BadSignature));
        let (head, rest) = token.split_once('.').unwrap();
        let none_alg = format!("{}.{rest}", B64URL.encode(br#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(verify(&key, &none_alg, 0), Err(TokenError::Malformed));
        let forged_payload = B64URL.encode(serde_json::to_vec(&claims(10_000)).unwrap());
        let sig = token.rsplit('.').next().unwrap();
        assert_eq!(verify(&key, &format!("{head}.{forged_payload}.{sig}"), 0), Err(TokenError::BadSignature));
        assert_eq!(verify(&key, &format!("{token}.x"), 0), Err(TokenError::Malformed));
        assert_eq!(verify(&key, "garbage", 0), Err(TokenError::Malformed));
    }
}
