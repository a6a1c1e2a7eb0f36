//! `cluster certs`: a private CA and one certificate per node for the cluster port's mutual TLS, for
//! a test or a small install (larger ones bring certificates from their own PKI). Running it again
//! in the same directory reuses the CA, so a node added later chains to the same root.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::ClusterError;

/// The files written for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFiles {
    pub node_id: u64,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Issued {
    pub ca_cert: PathBuf,
    pub ca_created: bool,
    pub nodes: Vec<NodeFiles>,
}

const CA_DAYS: i64 = 3650;
const NODE_DAYS: i64 = 825;

/// Writes `ca.pem`/`ca.key` (unless they exist) and `node-<id>.pem`/`node-<id>.key` for each id,
/// valid for `hosts` (IP addresses or DNS names peers use to reach the nodes) and `node-<id>`.
pub fn issue(dir: &Path, node_ids: &[u64], hosts: &[String]) -> Result<Issued, ClusterError> {
    let err = |what: &str, e: &dyn std::fmt::Display| ClusterError::Tls(format!("{what}: {e}"));
    if node_ids.is_empty() {
        return Err(ClusterError::Invalid("name at least one node id".into()));
    }
    let valid = |h: &String| {
        h.parse::<std::net::IpAddr>().is_ok()
            || (!h.is_empty() && h.len() <= 253 && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
    };
    if let Some(bad) = hosts.iter().find(|h| !valid(h)) {
        return Err(ClusterError::Invalid(format!("{bad:?} is not a host name or IP address")));
    }
    std::fs::create_dir_all(dir)?;
    let (ca_cert, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let now = OffsetDateTime::now_utc();
    let ca_created = !(ca_cert.exists() && ca_key.exists());
    let issuer = if ca_created {
        let key = KeyPair::generate().map_err(|e| err("generating the CA key", &e))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA parameters", &e))?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "CertAutoPilot cluster CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(CA_DAYS);
        let cert = params.self_signed(&key).map_err(|e| err("signing the CA", &e))?;
        write_private(&ca_key, &key.serialize_pem())?;
        std::fs::write(&ca_cert, cert.pem())?;
        Issuer::new(params, key)
    } else {
        let key = KeyPair::from_pem(&std::fs::read_to_string(&ca_key)?).map_err(|e| err("reading ca.key", &e))?;
        Issuer::from_ca_cert_pem(&std::fs::read_to_string(&ca_cert)?, key).map_err(|e| err("reading ca.pem", &e))?
    };
    let mut nodes = Vec::new();
    for &id in node_ids {
        let mut names: Vec<String> = hosts.to_vec();
        names.push(format!("node-{id}"));
        let key = KeyPair::generate().map_err(|e| err("generating a node key", &e))?;
        let mut params = CertificateParams::new(names).map_err(|e| err("node parameters", &e))?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, format!("certautopilot node {id}"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // Every node is both: it serves the cluster port and calls its peers'.
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(NODE_DAYS);
        let cert = params.signed_by(&key, &issuer).map_err(|e| err("signing a node certificate", &e))?;
        let files = NodeFiles {
            node_id: id,
            cert: dir.join(format!("node-{id}.pem")),
            key: dir.join(format!("node-{id}.key")),
        };
        write_private(&files.key, &key.serialize_pem())?;
        std::fs::write(&files.cert, cert.pem())?;
        nodes.push(files);
    }
    Ok(Issued { ca_cert, ca_created, nodes })
}

/// Keys are readable by their owner only, from the moment they exist.
fn write_private(path: &Path, pem: &str) -> Result<(), ClusterError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bad hosts and an empty node list are refused before anything is written.
    #[test]
    fn bad_input_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("certs");
        for (ids, hosts) in [
            (vec![], vec!["127.0.0.1".to_owned()]),
            (vec![1], vec!["bad host".to_owned()]),
            (vec![1], vec![String::new()]),
            (vec![1], vec!["a/b".to_owned()]),
        ] {
            let err = issue(&out, &ids, &hosts).unwrap_err();
            assert!(matches!(err, ClusterError::Invalid(_)), "{err}");
            assert!(!out.exists(), "{ids:?} {hosts:?} wrote files");
        }
    }

    /// A second run reuses the CA, so a node added later chains to the same root; keys are 0600.
    #[test]
    fn a_second_run_reuses_the_ca() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = issue(dir.path(), &[1, 2], &["127.0.0.1".into()]).unwrap();
        let ca = std::fs::read(&first.ca_cert).unwrap();
        let second = issue(dir.path(), &[3], &["::1".into(), "node.example".into()]).unwrap();
        assert!(first.ca_created && !second.ca_created);
        assert_eq!(std::fs::read(&second.ca_cert).unwrap(), ca);
        for key in [dir.path().join("ca.key"), second.nodes[0].key.clone()] {
            assert_eq!(std::fs::metadata(key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        crate::TlsIdentity::load(&second.ca_cert, &second.nodes[0].cert, &second.nodes[0].key).unwrap();
    }
}
