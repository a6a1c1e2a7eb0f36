//! Envelope encryption of secret fields (ARCHITECTURE.md §5; format in docs/envelope.md).
//! Invariant: a plaintext secret or a data key only ever lives in a zeroize-on-drop type whose `Debug`
//! is redacted; what reaches the store is a `SealedSecret`, useless without the KEK.

mod envelope;
mod kek;
mod pkcs11;
mod secret;

pub use envelope::{Envelope, field_aad};
pub use kek::{KekError, KekProvider, LocalKek, LocalKekKind, WrappedDek};
pub use pkcs11::Pkcs11Kek;
pub use secret::SecretBytes;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The envelope was altered, moved to another record or field, or wrapped by another KEK.
    #[error("secret failed its integrity check (tampered, moved, or sealed under another key)")]
    Integrity,
    #[error("secret envelope is malformed: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Kek(#[from] KekError),
}
