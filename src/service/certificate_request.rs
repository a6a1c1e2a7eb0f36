//! What a certificate request asks for: its names and key type, typed by the operator or taken
//! from the CSR they bring (CSR-based issuance: they keep the key, and every order finalizes with
//! their CSR as it is).
//! Invariant: the names stored are the checked, normalized names; with a CSR they are exactly the
//! names the CSR asks for (the CA compares the two), its key type is the CSR's, and nothing typed
//! beside the CSR can disagree with it.

use certautopilot_connectors::csr::read_csr;
use certautopilot_core::model::{Certificate, KeyType};

use crate::api::views::CreateCertificate;
use crate::service::error::ApiError;
use crate::service::validate;

/// The names of a new certificate, checked and normalized.
pub struct CertificateNames {
    pub common_name: String,
    /// Every name without repeats, the common name first.
    pub names: Vec<String>,
    /// Each name under the field it was given in (`sans[3]`), so a later refusal can point at it.
    pub given: Vec<(String, String)>,
}

/// A request's names, key type and CSR, checked.
pub struct Requested {
    pub names: CertificateNames,
    pub key_type: KeyType,
    pub csr_pem: Option<String>,
}

pub fn requested(input: &CreateCertificate) -> Result<Requested, ApiError> {
    let Some(pem) = &input.csr_pem else {
        let key_type =
            input.key_type.ok_or_else(|| ApiError::invalid("key_type", "choose a key type, or give csr_pem"))?;
        return Ok(Requested { names: certificate_names(&input.common_name, &input.sans)?, key_type, csr_pem: None });
    };
    let csr = read_csr(pem).map_err(|e| ApiError::invalid("csr_pem", format!("the CSR {e}")))?;
    if !input.common_name.is_empty() || !input.sans.is_empty() {
        return Err(ApiError::invalid("common_name", "comes from the CSR: leave common_name and sans out"));
    }
    if let Some(asked) = input.key_type
        && asked != csr.key_type
    {
        return Err(ApiError::invalid(
            "key_type",
            format!("the CSR's key is {}; leave key_type out", validate::serde_names(&[csr.key_type]).concat()),
        ));
    }
    let asked = csr.names();
    let names = certificate_names(&asked[0], &asked[1..])
        .map_err(|e| ApiError::invalid("csr_pem", format!("the CSR asks for a name refused here: {}", e.detail)))?;
    if names.names != asked {
        return Err(ApiError::invalid(
            "csr_pem",
            format!(
                "the CSR writes its names as {asked:?}, the CA sees them as {:?}: make the CSR with these (lower case, A-labels)",
                names.names
            ),
        ));
    }
    Ok(Requested { names, key_type: csr.key_type, csr_pem: Some(pem.clone()) })
}

/// A CSR replacing the one a certificate was issued from (a new key, the same names): its key
/// type, and the SHA-256 of its public key for the audit entry. Refused for a certificate whose
/// key is held here, and for a CSR naming anything else.
pub fn replacement_csr(cert: &Certificate, pem: &str) -> Result<(KeyType, String), ApiError> {
    if cert.csr_pem.is_none() {
        return Err(ApiError::invalid(
            "csr_pem",
            "this certificate's key is generated and held here; only a certificate issued from a CSR takes a new one",
        ));
    }
    let csr = read_csr(pem).map_err(|e| ApiError::invalid("csr_pem", format!("the CSR {e}")))?;
    let (mut asked, mut held) = (csr.names(), cert.sans.clone());
    asked.sort();
    held.sort();
    if asked != held {
        return Err(ApiError::invalid(
            "csr_pem",
            format!(
                "the CSR asks for {asked:?}, the certificate is for {held:?}: other names make another certificate"
            ),
        ));
    }
    Ok((csr.key_type, key_digest(&csr.spki)))
}

/// SHA-256 of a CSR's public key, lower-case hex: what the audit entry names (never the CSR).
pub fn key_digest(spki: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(spki).iter().map(|b| format!("{b:02x}")).collect()
}

fn certificate_names(common_name: &str, sans: &[String]) -> Result<CertificateNames, ApiError> {
    let common_name = validate::certificate_name("common_name", common_name)?;
    if common_name.len() > validate::MAX_COMMON_NAME {
        return Err(ApiError::invalid(
            "common_name",
            format!(
                "must be at most {} characters (RFC 5280's upper bound for a common name); choose a shorter common name and list the long name in sans",
                validate::MAX_COMMON_NAME
            ),
        ));
    }
    let mut names = vec![common_name.clone()];
    let mut given = vec![("common_name".to_owned(), common_name.clone())];
    for (i, san) in sans.iter().enumerate() {
        let name = validate::certificate_name(&format!("sans[{i}]"), san)?;
        given.push((format!("sans[{i}]"), name.clone()));
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.len() > validate::MAX_SANS {
        return Err(ApiError::invalid("sans", format!("at most {} names per certificate", validate::MAX_SANS)));
    }
    Ok(CertificateNames { common_name, names, given })
}
