//! Reading certificates issued elsewhere, for import: a PEM chain (with or without its key) or a
//! PKCS#12 file with its password. What comes out is what the certificate record holds: the chain
//! as PEM, the key as PKCS#8 PEM (to be sealed), the leaf's summary, names and key type.
//! Invariant: an import is accepted only when the chain is leaf first with each certificate issued
//! by the one after it, the leaf is not a CA and names at least one DNS name, its key type is one
//! issuance supports (so it can later be put under management), and a key, when there is one, is
//! the leaf's. No error carries the key, the password or the file's bytes.

use base64::Engine;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::KeyType;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::x509::{LeafSummary, leaf_summary};

/// The largest file read (PEM text or PKCS#12 bytes): a long chain with an RSA 4096 key is under 16 KiB.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024;
/// The most certificates a chain may hold.
const MAX_CHAIN: usize = 10;
/// The most names a leaf may carry (as many as a certificate requested here may).
pub const MAX_NAMES: usize = 100;

/// A certificate to import, checked.
#[derive(Debug)]
pub struct ImportedCertificate {
    /// The chain as PEM, leaf first, exactly the certificates given.
    pub chain_pem: String,
    /// The leaf's private key as PKCS#8 PEM, when one came with it.
    pub key_pem: Option<SecretBytes>,
    pub leaf: LeafSummary,
    /// Every DNS name of the leaf, the common name first (when it is one), each once, each a
    /// well-formed DNS name: what the sender wrote in the certificate reaches records only so.
    names: Vec<String>,
    pub key_type: KeyType,
}

impl ImportedCertificate {
    /// What the certificate record keeps of it.
    pub fn issued_elsewhere(&self) -> certautopilot_core::model::IssuedElsewhere {
        certautopilot_core::model::IssuedElsewhere {
            names: self.names(),
            key_type: self.key_type,
            serial: self.leaf.serial.clone(),
            not_before: self.leaf.not_before,
            not_after: self.leaf.not_after,
            fingerprint_sha256: self.leaf.fingerprint_sha256.clone(),
            chain_pem: self.chain_pem.clone(),
        }
    }

    /// Every DNS name, the common name first, without repeats.
    pub fn names(&self) -> Vec<String> {
        self.names.clone()
    }
}

/// Why an import is refused, as a user may read it (the field is the caller's to name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("must be PEM certificates (BEGIN CERTIFICATE), the leaf first, at most 64 KiB")]
    NotPem,
    #[error("holds no certificate")]
    Empty,
    #[error("holds more than {MAX_CHAIN} certificates")]
    TooLong,
    #[error("holds a certificate that cannot be read")]
    Unreadable,
    #[error("is not in order: the leaf first, then each certificate's issuer")]
    OutOfOrder,
    #[error("starts with a CA certificate: the server's own certificate (the leaf) comes first")]
    LeafIsCa,
    #[error("its leaf names no DNS name")]
    NoNames,
    #[error("its leaf names more than {MAX_NAMES} names")]
    TooManyNames,
    #[error("its leaf's key is not one issuance supports (ECDSA P-256 or P-384, RSA 2048, 3072 or 4096 bits)")]
    UnsupportedKey,
    #[error(
        "must be one unencrypted PKCS#8 private key (BEGIN PRIVATE KEY); convert one with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    KeyNotPkcs8,
    #[error("is not the key of the leaf certificate")]
    KeyMismatch,
    #[error("cannot be opened: the password is wrong, or it is not a PKCS#12 file")]
    Pkcs12,
    #[error("holds more than one private key; export one certificate with its key")]
    ManyKeys,
}

/// A PEM chain, leaf first, and optionally the leaf's PKCS#8 key in PEM.
pub fn from_pem(chain_pem: &str, key_pem: Option<&str>) -> Result<ImportedCertificate, ImportError> {
    if chain_pem.len() > MAX_IMPORT_BYTES || key_pem.is_some_and(|k| k.len() > MAX_IMPORT_BYTES) {
        return Err(ImportError::NotPem);
    }
    let certs = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ImportError::NotPem)?;
    let key = key_pem
        .map(|pem| match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs8(der)) => Ok(der.secret_pkcs8_der().to_vec()),
            _ => Err(ImportError::KeyNotPkcs8),
        })
        .transpose()?;
    checked(certs.iter().map(|c| c.as_ref().to_vec()).collect(), key)
}

/// A PKCS#12 file opened with `password`: its one key with its chain, or its certificates alone.
pub fn from_pkcs12(bytes: &[u8], password: &str) -> Result<ImportedCertificate, ImportError> {
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::Pkcs12);
    }
    // Raw: every bag as it is, no linking by the file's key ids; the key is matched to the leaf here.
    let store = KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Raw).map_err(|_| ImportError::Pkcs12)?;
    let mut keys = Vec::new();
    let mut certs: Vec<Vec<u8>> = Vec::new();
    for (_, entry) in store.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => {
                keys.push(chain.key().as_der().to_vec());
                certs.extend(chain.certs().iter().map(|c| c.as_der().to_vec()));
            }
            KeyStoreEntry::Certificate(cert) => certs.push(cert.as_der().to_vec()),
            KeyStoreEntry::Secret(_) => {}
        }
    }
    certs.dedup();
    if keys.len() > 1 {
        return Err(ImportError::ManyKeys);
    }
    checked(in_order(certs), keys.pop())
}

/// A chain as a TLS server presented it (found by a discovery scan), put in order, without a key.
pub fn served(ders: Vec<Vec<u8>>) -> Result<ImportedCertificate, ImportError> {
    checked(in_order(ders), None)
}

/// Certificates that came in no particular order (a PKCS#12 bag): the one that issued none of the
/// others first, then each one's issuer.
fn in_order(mut certs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    fn parsed(der: &[u8]) -> Option<X509Certificate<'_>> {
        X509Certificate::from_der(der).ok().map(|(_, c)| c)
    }
    let issued_another = |der: &Vec<u8>, all: &[Vec<u8>]| {
        let Some(me) = parsed(der) else { return false };
        all.iter()
            .any(|other| other != der && parsed(other).is_some_and(|o| o.issuer().as_raw() == me.subject().as_raw()))
    };
    let Some(leaf) = certs.iter().position(|c| !issued_another(c, &certs)) else { return certs };
    let mut ordered = vec![certs.remove(leaf)];
    while let Some(next) = ordered.last().and_then(|last| parsed(last)).and_then(|last| {
        certs.iter().position(|c| parsed(c).is_some_and(|c| c.subject().as_raw() == last.issuer().as_raw()))
    }) {
        ordered.push(certs.remove(next));
    }
    ordered.extend(certs);
    ordered
}

/// The common checks, from the chain's DER (leaf first) and the key's PKCS#8 DER.
fn checked(ders: Vec<Vec<u8>>, key_der: Option<Vec<u8>>) -> Result<ImportedCertificate, ImportError> {
    if ders.is_empty() {
        return Err(ImportError::Empty);
    }
    if ders.len() > MAX_CHAIN {
        return Err(ImportError::TooLong);
    }
    let parsed = ders
        .iter()
        .map(|der| X509Certificate::from_der(der).map(|(_, c)| c).map_err(|_| ImportError::Unreadable))
        .collect::<Result<Vec<_>, _>>()?;
    // Each certificate names the next as its issuer and carries its signature (a name alone can repeat).
    let issued_by_next = |pair: &[X509Certificate<'_>]| {
        pair[0].issuer().as_raw() == pair[1].subject().as_raw()
            && pair[0].verify_signature(Some(pair[1].public_key())).is_ok()
    };
    if !parsed.windows(2).all(issued_by_next) {
        return Err(ImportError::OutOfOrder);
    }
    let leaf = &parsed[0];
    if leaf.basic_constraints().ok().flatten().is_some_and(|bc| bc.value.ca) {
        return Err(ImportError::LeafIsCa);
    }
    let key_type = crate::csr::key_type_of(leaf.public_key()).ok_or(ImportError::UnsupportedKey)?;
    let common_name = leaf.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).and_then(dns_name);
    let key_pem = key_der.map(|der| key_matching(&der, leaf.public_key().raw)).transpose()?;
    let chain_pem: String = ders.iter().map(|der| pem_block("CERTIFICATE", der)).collect();
    let summary = leaf_summary(&chain_pem, None).map_err(|_| ImportError::Unreadable)?;
    let mut names: Vec<String> = common_name.into_iter().collect();
    for name in summary.dns_names.iter().filter_map(|n| dns_name(n)) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(ImportError::NoNames);
    }
    if names.len() > MAX_NAMES {
        return Err(ImportError::TooManyNames);
    }
    Ok(ImportedCertificate { chain_pem, key_pem, leaf: summary, names, key_type })
}

/// `text` lower-cased when it is a well-formed DNS name (a wildcard's `*.` allowed): labels of
/// letters, digits and inner hyphens, 1 to 63 characters, 253 in all. Anything else a certificate
/// carries as a name (spaces, control characters, Unicode) is not one.
pub fn dns_name(text: &str) -> Option<String> {
    let name = text.to_ascii_lowercase();
    let bare = name.strip_prefix("*.").unwrap_or(&name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (name.len() <= 253 && bare.split('.').all(label_ok)).then_some(name)
}

/// The key as PKCS#8 PEM, when it is the leaf's (`spki`: the leaf's SubjectPublicKeyInfo).
fn key_matching(pkcs8: &[u8], spki: &[u8]) -> Result<SecretBytes, ImportError> {
    let pem = SecretBytes::new(pem_block("PRIVATE KEY", pkcs8).into_bytes());
    let text = pem.expose_str().ok_or(ImportError::KeyNotPkcs8)?;
    let key = rcgen::KeyPair::from_pem(text).map_err(|_| ImportError::KeyNotPkcs8)?;
    if rcgen::PublicKeyData::subject_public_key_info(&key) != spki {
        return Err(ImportError::KeyMismatch);
    }
    Ok(pem)
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> =
        b64.as_bytes().chunks(64).map(|chunk| std::str::from_utf8(chunk).unwrap_or_default()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
