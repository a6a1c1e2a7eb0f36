//! Imports of chains made here (a CA and its leaf, by rcgen) and PKCS#12 files written by the real
//! `openssl pkcs12` (its default PBES2/AES suite and the legacy 3DES one): accepted with their names,
//! key type and key; each kind of bad input refused with its own reason.

use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::*;

pub(crate) struct Made {
    ca_pem: String,
    leaf_pem: String,
    key_pem: String,
}

fn made(alg: &'static rcgen::SignatureAlgorithm) -> Made {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Import Test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate_for(alg).unwrap();
    let mut params = CertificateParams::new(vec!["www.example.test".into(), "api.example.test".into()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "WWW.example.test");
    let leaf = params.signed_by(&key, &Issuer::new(ca_params, ca_key)).unwrap();
    Made { ca_pem: ca.pem(), leaf_pem: leaf.pem(), key_pem: key.serialize_pem() }
}

#[test]
fn a_pem_chain_with_or_without_its_key_is_read() {
    let m = made(&rcgen::PKCS_ECDSA_P384_SHA384);
    let chain = format!("{}{}", m.leaf_pem, m.ca_pem);
    let imported = from_pem(&chain, Some(&m.key_pem)).unwrap();
    assert_eq!(imported.names(), ["www.example.test", "api.example.test"]);
    assert_eq!(imported.key_type, KeyType::EcdsaP384);
    assert_eq!(imported.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(chain_der_count(&imported.chain_pem), 2);
    let key = imported.key_pem.as_ref().unwrap().expose_str().unwrap().to_owned();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "stored as PKCS#8 PEM");
    let bare = from_pem(&chain, None).unwrap();
    assert!(bare.key_pem.is_none());
    assert_eq!(bare.leaf.fingerprint_sha256, imported.leaf.fingerprint_sha256);
}

fn chain_der_count(pem: &str) -> usize {
    crate::x509::chain_der(pem).unwrap().len()
}

/// What a leaf calls itself reaches the record only as well-formed DNS names: a common name with a
/// space is left out, and a leaf with no DNS name at all is refused.
#[test]
fn only_well_formed_dns_names_are_taken() {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |cn: &str, sans: Vec<String>| {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.signed_by(&key, &issuer).unwrap().pem()
    };
    let spaced = from_pem(&leaf("Shop Front \u{202e}", vec!["shop.example.test".into()]), None).unwrap();
    assert_eq!(spaced.names(), ["shop.example.test"]);
    let wildcard = from_pem(&leaf("*.Example.test", vec![]), None).unwrap();
    assert_eq!(wildcard.names(), ["*.example.test"]);
    assert_eq!(from_pem(&leaf("not a name", vec![]), None).unwrap_err(), ImportError::NoNames);
}

#[test]
fn bad_pem_imports_are_refused_with_their_reason() {
    let m = made(&rcgen::PKCS_ECDSA_P256_SHA256);
    let other = made(&rcgen::PKCS_ECDSA_P256_SHA256);
    let chain = format!("{}{}", m.leaf_pem, m.ca_pem);
    assert_eq!(from_pem("hello", None).unwrap_err(), ImportError::Empty);
    assert_eq!(from_pem(&"x".repeat(MAX_IMPORT_BYTES + 1), None).unwrap_err(), ImportError::NotPem);
    assert_eq!(from_pem(&format!("{}{}", m.ca_pem, m.leaf_pem), None).unwrap_err(), ImportError::OutOfOrder);
    assert_eq!(from_pem(&format!("{}{}", m.leaf_pem, other.ca_pem), None).unwrap_err(), ImportError::OutOfOrder);
    assert_eq!(from_pem(&m.ca_pem, None).unwrap_err(), ImportError::LeafIsCa);
    assert_eq!(from_pem(&chain, Some(&other.key_pem)).unwrap_err(), ImportError::KeyMismatch);
    assert_eq!(from_pem(&chain, Some("not a key")).unwrap_err(), ImportError::KeyNotPkcs8);
    let sec1 = openssl(&["ec", "-outform", "PEM"], Some(m.key_pem.as_bytes()));
    assert!(String::from_utf8_lossy(&sec1).contains("BEGIN EC PRIVATE KEY"));
    assert_eq!(from_pem(&chain, Some(&String::from_utf8(sec1).unwrap())).unwrap_err(), ImportError::KeyNotPkcs8);
    let error = from_pem(&chain, Some(&other.key_pem)).unwrap_err().to_string();
    assert!(!error.contains("PRIVATE"), "no key material in the reason: {error}");
}

/// Runs the real `openssl` with `args`, feeding `input`; its standard output.
fn openssl(args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A PKCS#12 file as `openssl pkcs12 -export` writes it, with `extra` options.
pub(crate) fn pkcs12(dir: &std::path::Path, m: &Made, password: &str, with_key: bool, extra: &[&str]) -> Vec<u8> {
    std::fs::write(dir.join("leaf.pem"), &m.leaf_pem).unwrap();
    std::fs::write(dir.join("ca.pem"), &m.ca_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &m.key_pem).unwrap();
    let (leaf, ca, key) = (dir.join("leaf.pem"), dir.join("ca.pem"), dir.join("key.pem"));
    let mut args = vec!["pkcs12", "-export", "-in", leaf.to_str().unwrap(), "-certfile", ca.to_str().unwrap()];
    let pass = format!("pass:{password}");
    args.extend(["-passout", pass.as_str()]);
    if with_key {
        args.extend(["-inkey", key.to_str().unwrap()]);
    } else {
        args.push("-nokeys");
    }
    args.extend(extra);
    openssl(&args, None)
}

#[test]
fn pkcs12_files_from_openssl_are_read_with_their_password() {
    let dir = tempfile::tempdir().unwrap();
    let m = made(&rcgen::PKCS_ECDSA_P256_SHA256);
    let modern = pkcs12(dir.path(), &m, "s3cret pass", true, &[]);
    let imported = from_pkcs12(&modern, "s3cret pass").unwrap();
    assert_eq!(imported.names(), ["www.example.test", "api.example.test"]);
    assert_eq!(chain_der_count(&imported.chain_pem), 2);
    let key = imported.key_pem.as_ref().unwrap().expose_str().unwrap().to_owned();
    let expected = from_pem(&m.leaf_pem, Some(&m.key_pem)).unwrap();
    assert_eq!(key, expected.key_pem.unwrap().expose_str().unwrap(), "the same key, as PKCS#8 PEM");
    let legacy = pkcs12(
        dir.path(),
        &m,
        "old",
        true,
        &["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"],
    );
    assert_eq!(from_pkcs12(&legacy, "old").unwrap().leaf.fingerprint_sha256, imported.leaf.fingerprint_sha256);
    let certs_only = pkcs12(dir.path(), &m, "pw", false, &[]);
    let bare = from_pkcs12(&certs_only, "pw").unwrap();
    assert!(bare.key_pem.is_none());
    assert_eq!(bare.names(), imported.names(), "the leaf found first among loose certificates");
    assert_eq!(from_pkcs12(&modern, "wrong").unwrap_err(), ImportError::Pkcs12);
    assert_eq!(from_pkcs12(b"not a pkcs12 file", "pw").unwrap_err(), ImportError::Pkcs12);
}
