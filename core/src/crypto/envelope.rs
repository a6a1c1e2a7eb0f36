//! Sealing and opening one secret field value.
//!
//! Layout (all binary fields base64 in `SealedSecret`):
//!   aad         = SHA-256( u32be(len(record_id)) ‖ record_id ‖ field_name )
//!   dek         = 32 random bytes, fresh for every value sealed
//!   nonce       = 12 random bytes
//!   ciphertext  = AES-256-GCM(dek, nonce, plaintext, aad)          (tag appended)
//!   wrapped_dek = KEK_v.wrap(dek, aad) = wnonce ‖ AES-256-GCM(KEK_v, wnonce, dek, aad)
//! The length prefix keeps ("ab", "c") and ("a", "bc") apart. Binding both layers to the AAD means a
//! ciphertext or a wrapped key pasted into another record or field fails to open.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, KekError, KekProvider, SecretBytes, WrappedDek};
use crate::model::SealedSecret;

pub fn field_aad(record_id: &str, field: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((record_id.len() as u32).to_be_bytes());
    hash.update(record_id.as_bytes());
    hash.update(field.as_bytes());
    hash.finalize().into()
}

/// Seals and opens secret fields with one KEK provider.
#[derive(Clone)]
pub struct Envelope {
    kek: std::sync::Arc<dyn KekProvider>,
}

impl Envelope {
    pub fn new(kek: std::sync::Arc<dyn KekProvider>) -> Self {
        Envelope { kek }
    }

    pub fn kek(&self) -> &std::sync::Arc<dyn KekProvider> {
        &self.kek
    }

    pub fn seal(&self, record_id: &str, field: &str, plaintext: &SecretBytes) -> Result<SealedSecret, CryptoError> {
        let aad = field_aad(record_id, field);
        let mut dek = Zeroizing::new([0u8; 32]);
        rand::fill(&mut dek[..]);
        let nonce = Nonce::generate();
        let ciphertext = Aes256Gcm::new_from_slice(&dek[..])
            .map_err(|_| CryptoError::Malformed("data key has the wrong length"))?
            .encrypt(&nonce, Payload { msg: plaintext.expose(), aad: &aad })
            .map_err(|_| CryptoError::Malformed("encryption failed"))?;
        let (kek_version, wrapped) = self.kek.wrap(&dek[..], &aad)?;
        Ok(SealedSecret {
            kek_version,
            wrapped_dek: B64.encode(wrapped),
            nonce: B64.encode(nonce.as_slice()),
            ciphertext: B64.encode(ciphertext),
        })
    }

    /// Re-wraps the data key under the current KEK version; nonce and ciphertext stay as they are.
    pub fn rewrap(&self, record_id: &str, field: &str, sealed: &SealedSecret) -> Result<SealedSecret, CryptoError> {
        self.rewrap_many(&[(record_id, field, sealed)]).pop().unwrap_or(Err(CryptoError::Malformed("no result")))
    }

    /// Re-wraps a batch of (record id, field, sealed value), one result per item, in one call to the
    /// KEK provider.
    pub fn rewrap_many(&self, items: &[(&str, &str, &SealedSecret)]) -> Vec<Result<SealedSecret, CryptoError>> {
        let mut results: Vec<Option<Result<SealedSecret, CryptoError>>> = Vec::with_capacity(items.len());
        let mut batch = Vec::with_capacity(items.len());
        for (record_id, field, sealed) in items {
            match B64.decode(&sealed.wrapped_dek) {
                Ok(wrapped) => {
                    batch.push(WrappedDek { version: sealed.kek_version, wrapped, aad: field_aad(record_id, field) });
                    results.push(None);
                }
                Err(_) => results.push(Some(Err(CryptoError::Malformed("wrapped_dek is not base64")))),
            }
        }
        let mut rewrapped = self.kek.rewrap_many(batch).into_iter();
        results
            .into_iter()
            .zip(items)
            .map(|(done, (_, _, sealed))| match done {
                Some(err) => err,
                None => match rewrapped.next() {
                    Some(Ok((kek_version, wrapped))) => {
                        Ok(SealedSecret { kek_version, wrapped_dek: B64.encode(wrapped), ..(*sealed).clone() })
                    }
                    Some(Err(e)) => Err(kek_failure(e)),
                    None => Err(CryptoError::Malformed("the KEK provider answered fewer items than asked")),
                },
            })
            .collect()
    }

    pub fn open(&self, record_id: &str, field: &str, sealed: &SealedSecret) -> Result<SecretBytes, CryptoError> {
        let aad = field_aad(record_id, field);
        let wrapped =
            B64.decode(&sealed.wrapped_dek).map_err(|_| CryptoError::Malformed("wrapped_dek is not base64"))?;
        let nonce = B64.decode(&sealed.nonce).map_err(|_| CryptoError::Malformed("nonce is not base64"))?;
        let ciphertext =
            B64.decode(&sealed.ciphertext).map_err(|_| CryptoError::Malformed("ciphertext is not base64"))?;
        let nonce =
            Nonce::try_from(nonce.as_slice()).map_err(|_| CryptoError::Malformed("nonce has the wrong length"))?;
        let dek = self.kek.unwrap(sealed.kek_version, &wrapped, &aad).map_err(kek_failure)?;
        let plaintext = Aes256Gcm::new_from_slice(dek.expose())
            .map_err(|_| CryptoError::Integrity)?
            .decrypt(&nonce, Payload { msg: &ciphertext, aad: &aad })
            .map_err(|_| CryptoError::Integrity)?;
        Ok(SecretBytes::new(plaintext))
    }
}

fn kek_failure(e: KekError) -> CryptoError {
    match e {
        KekError::Integrity => CryptoError::Integrity,
        KekError::UnknownVersion { version } => CryptoError::MissingKekVersion { version },
        other => CryptoError::Kek(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::LocalKek;
    use std::sync::Arc;

    fn envelope() -> Envelope {
        Envelope::new(Arc::new(LocalKek::ephemeral()))
    }

    /// A sealed value opens to itself, and sealing twice never gives the same bytes.
    #[test]
    fn round_trip_with_fresh_keys_each_time() {
        let env = envelope();
        let secret = SecretBytes::from_text("tsig-secret-value");
        let a = env.seal("rec-1", "secret", &secret).unwrap();
        let b = env.seal("rec-1", "secret", &secret).unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.wrapped_dek, b.wrapped_dek);
        assert_eq!(env.open("rec-1", "secret", &a).unwrap(), secret);
        assert!(!format!("{a:?}").contains("tsig"));
    }

    /// Flipping any byte of any part, or opening under another record or field, is an integrity error.
    #[test]
    fn tampered_or_moved_envelopes_fail_closed() {
        let env = envelope();
        let sealed = env.seal("rec-1", "secret", &SecretBytes::from_text("value")).unwrap();
        assert!(matches!(env.open("rec-2", "secret", &sealed), Err(CryptoError::Integrity)));
        assert!(matches!(env.open("rec-1", "other", &sealed), Err(CryptoError::Integrity)));
        assert!(matches!(env.open("rec-", "1secret", &sealed), Err(CryptoError::Integrity)));
        let flip = |text: &str, i: usize| {
            let mut bytes = B64.decode(text).unwrap();
            bytes[i] ^= 0x01;
            B64.encode(bytes)
        };
        for part in 0..3 {
            let len = [&sealed.wrapped_dek, &sealed.nonce, &sealed.ciphertext][part].len() * 3 / 4 - 2;
            for i in 0..len {
                let mut bad = sealed.clone();
                match part {
                    0 => bad.wrapped_dek = flip(&sealed.wrapped_dek, i),
                    1 => bad.nonce = flip(&sealed.nonce, i),
                    _ => bad.ciphertext = flip(&sealed.ciphertext, i),
                }
                assert!(
                    matches!(env.open("rec-1", "secret", &bad), Err(CryptoError::Integrity)),
                    "part {part} byte {i}"
                );
            }
        }
        let mut other_version = sealed.clone();
        other_version.kek_version = 9;
        let missing = env.open("rec-1", "secret", &other_version).unwrap_err();
        assert!(matches!(missing, CryptoError::MissingKekVersion { version: 9 }));
        assert_eq!(missing.to_string(), "secret is sealed under KEK version 9, which this node does not have");
        // A different KEK cannot open it either.
        assert!(matches!(envelope().open("rec-1", "secret", &sealed), Err(CryptoError::Integrity)));
    }

    /// A re-wrap under a new KEK version keeps the ciphertext, opens to the same value, and still
    /// refuses to open under another record.
    #[test]
    fn rewrap_changes_only_the_wrapped_key() {
        let env = envelope();
        let secret = SecretBytes::from_text("value");
        let sealed = env.seal("rec-1", "secret", &secret).unwrap();
        env.kek().create_version().unwrap();
        let rewrapped = env.rewrap("rec-1", "secret", &sealed).unwrap();
        assert_eq!(
            (rewrapped.kek_version, &rewrapped.ciphertext, &rewrapped.nonce),
            (2, &sealed.ciphertext, &sealed.nonce)
        );
        assert_ne!(rewrapped.wrapped_dek, sealed.wrapped_dek);
        assert_eq!(env.open("rec-1", "secret", &rewrapped).unwrap(), secret);
        assert!(matches!(env.rewrap("rec-2", "secret", &sealed), Err(CryptoError::Integrity)));
    }
}
