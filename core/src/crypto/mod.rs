//! Envelope encryption of secret fields (ARCHITECTURE.md §5; format in docs/envelope.md).
//! Invariant: a plaintext secret or a data key only ever lives in a zeroize-on-drop type whose `Debug`
//! is redacted; what reaches the store is a `SealedSecret`, useless without the KEK.

mod envelope;
mod kek;
mod kek_ring;
mod pkcs11;
mod secret;

pub use envelope::{Envelope, field_aad};
pub use kek::{KekError, KekProvider, LocalKek, LocalKekKind, WrappedDek};
pub use kek_ring::KekRing;
pub use pkcs11::Pkcs11Kek;
pub use secret::SecretBytes;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The envelope was altered, moved to another record or field, or wrapped by another KEK.
    #[error("secret failed its integrity check (tampered, moved, or sealed under another key)")]
    Integrity,
    /// The value names a KEK version this process's providers do not hold: another node's newer
    /// version, a retired one, or another provider's (the store was sealed under a different KEK).
    #[error("secret is sealed under KEK version {version}, which this node does not have")]
    MissingKekVersion { version: u32 },
    #[error("secret envelope is malformed: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Kek(#[from] KekError),
}
