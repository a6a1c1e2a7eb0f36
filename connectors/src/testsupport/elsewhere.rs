//! Certificates "issued elsewhere", for import and discovery tests: a private CA of the test's own
//! and leaves it signs with the validity the test asks for (in the past, expiring soon, …), and
//! the same as a PKCS#12 file written by the real `openssl pkcs12`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A private CA that signs leaves.
pub struct ElsewhereCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf the CA signed: its chain (leaf, then the CA) and its PKCS#8 key, both PEM.
pub struct ElsewhereCertificate {
    pub chain_pem: String,
    pub leaf_pem: String,
    pub key_pem: String,
}

impl ElsewhereCa {
    pub fn new(name: &str) -> ElsewhereCa {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        ElsewhereCa { pem, issuer: Issuer::new(params, key) }
    }

    /// A leaf for `names` (the first also its common name), valid from `age` ago for `lifetime`.
    pub fn leaf(&self, names: &[&str], age: Duration, lifetime: Duration) -> ElsewhereCertificate {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let from = time::OffsetDateTime::now_utc() - age;
        (params.not_before, params.not_after) = (from, from + lifetime);
        let leaf_pem = params.signed_by(&key, &self.issuer).unwrap().pem();
        ElsewhereCertificate { chain_pem: format!("{leaf_pem}{}", self.pem), leaf_pem, key_pem: key.serialize_pem() }
    }
}

impl ElsewhereCertificate {
    /// The certificate (with its key when `with_key`) as `openssl pkcs12 -export` writes it,
    /// protected by `password`.
    pub fn pkcs12(&self, dir: &Path, password: &str, with_key: bool) -> Vec<u8> {
        std::fs::create_dir_all(dir).unwrap();
        let (chain, key, out) = (dir.join("chain.pem"), dir.join("key.pem"), dir.join("out.p12"));
        std::fs::write(&chain, &self.chain_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        let mut command = Command::new("openssl");
        command.args(["pkcs12", "-export", "-in"]).arg(&chain).arg("-out").arg(&out);
        command.args(["-passout", &format!("pass:{password}")]);
        if with_key {
            command.arg("-inkey").arg(&key);
        } else {
            command.arg("-nokeys");
        }
        let status = command.status().expect("openssl is installed");
        assert!(status.success(), "openssl pkcs12 -export failed");
        std::fs::read(out).unwrap()
    }
}
