//! Reading a certificate signing request an operator brings (CSR-based issuance): its names, its
//! key type and public key, checked before anything is stored. The operator keeps the private key;
//! CertAutoPilot sends the CSR to the CA as it is, so what the CSR says is what the CA will see.
//! Invariant: a CSR is accepted only when it is one PEM `CERTIFICATE REQUEST` whose signature
//! verifies with its own key, of a key type issuance supports, naming at least one DNS name and
//! nothing else.

use certautopilot_core::model::KeyType;
use rustls::pki_types::CertificateSigningRequestDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// The largest CSR read: real ones are under 2 KiB, RSA 4096 with many names under 8.
pub const MAX_CSR_PEM: usize = 16 * 1024;

/// What a CSR asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrSummary {
    /// The CSR itself, as sent to the CA when the order is finalized.
    pub der: Vec<u8>,
    /// The subject's common name, lower-cased, if it has one.
    pub common_name: Option<String>,
    /// Its subjectAltName DNS names, lower-cased, in order.
    pub dns_names: Vec<String>,
    pub key_type: KeyType,
    /// The public key (SubjectPublicKeyInfo, DER): the issued certificate must carry it.
    pub spki: Vec<u8>,
}

impl CsrSummary {
    /// Every name, the common name first, without repeats.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.common_name.iter().cloned().collect();
        for name in &self.dns_names {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }
}

/// Why a CSR is refused, as a user may read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    #[error("must be one PEM CERTIFICATE REQUEST of at most 16 KiB")]
    NotPem,
    #[error("is not a readable certificate signing request")]
    Unreadable,
    #[error("its signature does not verify with its own key (changed after signing, or signed by another key)")]
    BadSignature,
    #[error("its key is not one issuance supports (ECDSA P-256 or P-384, RSA 2048, 3072 or 4096 bits)")]
    UnsupportedKey,
    #[error("names no DNS name (neither a common name nor a subjectAltName)")]
    NoNames,
    #[error(
        "asks for a name that is not a DNS name (an IP address, e-mail address or URI); DNS-01 issues DNS names only"
    )]
    NotDns,
}

/// The key type of a public key, when issuance supports it.
pub(crate) fn key_type_of(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Option<KeyType> {
    match spki.parsed().ok()? {
        PublicKey::EC(point) => match point.key_size() {
            256 => Some(KeyType::EcdsaP256),
            384 => Some(KeyType::EcdsaP384),
            _ => None,
        },
        PublicKey::RSA(rsa) => match rsa.key_size() {
            2048 => Some(KeyType::Rsa2048),
            3072 => Some(KeyType::Rsa3072),
            4096 => Some(KeyType::Rsa4096),
            _ => None,
        },
        _ => None,
    }
}

/// Reads and checks `pem`.
pub fn read_csr(pem: &str) -> Result<CsrSummary, CsrError> {
    if pem.len() > MAX_CSR_PEM {
        return Err(CsrError::NotPem);
    }
    let der = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes()).map_err(|_| CsrError::NotPem)?;
    let (rest, csr) = X509CertificationRequest::from_der(der.as_ref()).map_err(|_| CsrError::Unreadable)?;
    if !rest.is_empty() {
        return Err(CsrError::Unreadable);
    }
    csr.verify_signature().map_err(|_| CsrError::BadSignature)?;
    let info = &csr.certification_request_info;
    let key_type = key_type_of(&info.subject_pki).ok_or(CsrError::UnsupportedKey)?;
    let common_name = match info.subject.iter_common_name().next() {
        Some(cn) => Some(cn.as_str().map_err(|_| CsrError::Unreadable)?.to_ascii_lowercase()),
        None => None,
    };
    let mut dns_names = Vec::new();
    for extension in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = extension {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(n) => dns_names.push(n.to_ascii_lowercase()),
                    _ => return Err(CsrError::NotDns),
                }
            }
        }
    }
    let summary = CsrSummary {
        der: der.as_ref().to_vec(),
        common_name,
        dns_names,
        key_type,
        spki: info.subject_pki.raw.to_vec(),
    };
    if summary.names().is_empty() {
        return Err(CsrError::NoNames);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    fn csr(key: &KeyPair, cn: Option<&str>, sans: Vec<SanType>) -> String {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        if let Some(cn) = cn {
            dn.push(DnType::CommonName, cn);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.serialize_request(key).unwrap().pem().unwrap()
    }

    fn dns(name: &str) -> SanType {
        SanType::DnsName(name.try_into().unwrap())
    }

    #[test]
    fn a_csr_gives_its_names_key_type_and_public_key() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let pem = csr(&key, Some("WWW.Example.test"), vec![dns("www.example.test"), dns("api.example.test")]);
        let summary = read_csr(&pem).unwrap();
        assert_eq!(summary.names(), ["www.example.test", "api.example.test"]);
        assert_eq!(summary.key_type, KeyType::EcdsaP384);
        assert_eq!(summary.spki, rcgen::PublicKeyData::subject_public_key_info(&key));
        let no_cn = read_csr(&csr(&key, None, vec![dns("only.example.test")])).unwrap();
        assert_eq!(no_cn.names(), ["only.example.test"]);
    }

    /// Garbage, a certificate instead of a request, a changed byte, an IP address name and a CSR
    /// without names are each refused with their own reason.
    #[test]
    fn bad_csrs_are_refused_with_their_reason() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        assert_eq!(read_csr("hello"), Err(CsrError::NotPem));
        let cert = CertificateParams::new(vec!["a.example.test".into()]).unwrap().self_signed(&key).unwrap();
        assert_eq!(read_csr(&cert.pem()), Err(CsrError::NotPem));
        let good = CertificateSigningRequestDer::from_pem_slice(csr(&key, Some("a.example.test"), vec![]).as_bytes())
            .unwrap()
            .as_ref()
            .to_vec();
        // Flip a byte inside the subject's common name: still parses, no longer verifies.
        let at = good.windows(14).position(|w| w == b"a.example.test").unwrap();
        let mut changed = good.clone();
        changed[at] = b'b';
        let pem = |der: &[u8]| {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            format!("-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n")
        };
        assert_eq!(read_csr(&pem(&good)).map(|s| s.key_type), Ok(KeyType::EcdsaP256));
        assert_eq!(read_csr(&pem(&changed)), Err(CsrError::BadSignature));
        let ip = csr(&key, Some("a.example.test"), vec![SanType::IpAddress("127.0.0.1".parse().unwrap())]);
        assert_eq!(read_csr(&ip), Err(CsrError::NotDns));
        assert_eq!(read_csr(&csr(&key, None, vec![])), Err(CsrError::NoNames));
        assert_eq!(read_csr(&"x".repeat(MAX_CSR_PEM + 1)), Err(CsrError::NotPem));
    }
}
