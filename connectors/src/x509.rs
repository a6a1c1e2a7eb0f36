//! Reading issued certificates: split a PEM chain, and summarize the leaf (serial, validity, SHA-256
//! fingerprint, names) for the certificate record, checking that it carries the key we hold.

use certautopilot_core::Timestamp;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

#[derive(Debug, thiserror::Error)]
pub enum X509Error {
    #[error("the chain holds no certificate")]
    Empty,
    #[error("unreadable certificate: {0}")]
    Unreadable(String),
    #[error("the certificate does not carry the key it was ordered with")]
    KeyMismatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSummary {
    /// Lower-case hex, no separators (as Pebble's management interface and `openssl -serial` print it).
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// SHA-256 of the leaf's DER, lower-case hex.
    pub fingerprint_sha256: String,
    pub dns_names: Vec<String>,
}

/// The certificates of a PEM chain, leaf first.
pub fn chain_der(chain_pem: &str) -> Result<Vec<CertificateDer<'static>>, X509Error> {
    let certs = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| X509Error::Unreadable(e.to_string()))?;
    if certs.is_empty() {
        return Err(X509Error::Empty);
    }
    Ok(certs)
}

/// Summarizes the leaf of `chain_pem`; with `key_spki`, refuses a leaf whose public key differs.
pub fn leaf_summary(chain_pem: &str, key_spki: Option<&[u8]>) -> Result<LeafSummary, X509Error> {
    let certs = chain_der(chain_pem)?;
    let leaf = &certs[0];
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|e| X509Error::Unreadable(e.to_string()))?;
    if let Some(spki) = key_spki
        && cert.public_key().raw != spki
    {
        return Err(X509Error::KeyMismatch);
    }
    let millis = |t: x509_parser::time::ASN1Time| Timestamp::from_unix_millis(t.timestamp() * 1_000);
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(n) = name {
                dns_names.push(n.to_ascii_lowercase());
            }
        }
    }
    Ok(LeafSummary {
        serial: cert
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .trim_start_matches("00")
            .to_owned(),
        not_before: millis(cert.validity().not_before),
        not_after: millis(cert.validity().not_after),
        fingerprint_sha256: Sha256::digest(leaf.as_ref()).iter().map(|b| format!("{b:02x}")).collect(),
        dns_names,
    })
}
