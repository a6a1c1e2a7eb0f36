//! The ACME CAs CertAutoPilot knows by name: each public CA's production (and, where it has one,
//! staging) directory, whether it demands External Account Binding, and where its ACME
//! documentation lives. An account may be created from an entry instead of a typed URL; the entry
//! decides the directory URL and whether EAB must come with it.
//! Invariant: ids are unique slugs, every URL is https, and an entry that needs EAB is never used
//! without it (`CatalogueEntry::check_eab`).

use serde::Serialize;

/// Whether a CA demands External Account Binding (RFC 8555 §7.3.4) at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EabRule {
    /// Registration is refused without a key id and HMAC key from the CA's own account.
    Required,
    /// Anyone may register.
    NotRequired,
}

/// One known CA endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CatalogueEntry {
    /// The slug accounts name it by (`ca` when creating one), e.g. `letsencrypt`.
    pub id: &'static str,
    pub name: &'static str,
    pub directory_url: &'static str,
    /// Its test endpoint (certificates not publicly trusted, generous limits), if it has one.
    pub staging_directory_url: Option<&'static str>,
    pub eab: EabRule,
    /// The CA's own page on using it with ACME.
    pub docs_url: &'static str,
}

/// Why an entry cannot be used as asked, as a user may read it; `field` names the input at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CatalogueError {
    pub field: &'static str,
    pub message: String,
}

const fn entry(
    id: &'static str,
    name: &'static str,
    directory_url: &'static str,
    staging_directory_url: Option<&'static str>,
    eab: EabRule,
    docs_url: &'static str,
) -> CatalogueEntry {
    CatalogueEntry { id, name, directory_url, staging_directory_url, eab, docs_url }
}

use EabRule::{NotRequired, Required};

/// The catalogue, in the order the console offers it.
pub const CATALOGUE: &[CatalogueEntry] = &[
    entry(
        "letsencrypt",
        "Let's Encrypt",
        "https://acme-v02.api.letsencrypt.org/directory",
        Some("https://acme-staging-v02.api.letsencrypt.org/directory"),
        NotRequired,
        "https://letsencrypt.org/docs/",
    ),
    entry(
        "zerossl",
        "ZeroSSL",
        "https://acme.zerossl.com/v2/DV90",
        None,
        Required,
        "https://zerossl.com/documentation/acme/",
    ),
    entry(
        "google",
        "Google Trust Services",
        "https://dv.acme-v02.api.pki.goog/directory",
        Some("https://dv.acme-v02.test-api.pki.goog/directory"),
        Required,
        "https://cloud.google.com/certificate-manager/docs/public-ca-tutorial",
    ),
    entry(
        "sslcom-rsa",
        "SSL.com (RSA)",
        "https://acme.ssl.com/sslcom-dv-rsa",
        None,
        Required,
        "https://www.ssl.com/how-to/order-free-90-day-ssl-tls-certificates-with-acme/",
    ),
    entry(
        "sslcom-ecc",
        "SSL.com (ECC)",
        "https://acme.ssl.com/sslcom-dv-ecc",
        None,
        Required,
        "https://www.ssl.com/how-to/order-free-90-day-ssl-tls-certificates-with-acme/",
    ),
    entry(
        "sectigo-dv",
        "Sectigo (DV)",
        "https://acme.sectigo.com/v2/DV",
        None,
        Required,
        "https://www.sectigo.com/knowledge-base/detail/Sectigo-ACME-Service",
    ),
    entry(
        "sectigo-ov",
        "Sectigo (OV)",
        "https://acme.sectigo.com/v2/OV",
        None,
        Required,
        "https://www.sectigo.com/knowledge-base/detail/Sectigo-ACME-Service",
    ),
    entry(
        "sectigo-ev",
        "Sectigo (EV)",
        "https://acme.sectigo.com/v2/EV",
        None,
        Required,
        "https://www.sectigo.com/knowledge-base/detail/Sectigo-ACME-Service",
    ),
    entry(
        "actalis",
        "Actalis",
        "https://acme-api.actalis.com/acme/directory",
        None,
        Required,
        "https://www.actalis.com/acme",
    ),
    entry(
        "globalsign",
        "GlobalSign Atlas",
        "https://emea.acme.atlas.globalsign.com/directory",
        None,
        Required,
        "https://www.globalsign.com/en/acme-automated-certificate-management",
    ),
    entry(
        "digicert",
        "DigiCert",
        "https://acme.digicert.com/v2/acme/directory/",
        None,
        Required,
        "https://docs.digicert.com/en/certcentral/certificate-tools/certificate-lifecycle-automation-guides/third-party-acme-integration.html",
    ),
    entry(
        "buypass",
        "Buypass Go SSL",
        "https://api.buypass.com/acme/directory",
        Some("https://api.test4.buypass.no/acme/directory"),
        NotRequired,
        "https://www.buypass.com/products/tls-ssl-certificates/go-ssl",
    ),
];

/// The entry called `id`, or an error listing the ids there are.
pub fn catalogue_entry(id: &str) -> Result<&'static CatalogueEntry, CatalogueError> {
    CATALOGUE.iter().find(|e| e.id == id).ok_or_else(|| CatalogueError {
        field: "ca",
        message: format!(
            "not a CA of the catalogue (GET /api/v1/acme-catalogue); known: {}",
            CATALOGUE.iter().map(|e| e.id).collect::<Vec<_>>().join(", ")
        ),
    })
}

impl CatalogueEntry {
    /// The directory to use: production, or staging when asked and the CA has one.
    pub fn directory(&self, staging: bool) -> Result<&'static str, CatalogueError> {
        match (staging, self.staging_directory_url) {
            (false, _) => Ok(self.directory_url),
            (true, Some(url)) => Ok(url),
            (true, None) => Err(CatalogueError {
                field: "staging",
                message: format!("{} has no staging endpoint in the catalogue", self.name),
            }),
        }
    }

    /// Refuses an account for a CA that demands EAB when none comes with it, naming where the
    /// CA hands the key out, so the mistake is caught before the CA is asked.
    pub fn check_eab(&self, has_eab: bool) -> Result<(), CatalogueError> {
        if self.eab == Required && !has_eab {
            return Err(CatalogueError {
                field: "eab_kid",
                message: format!(
                    "{} requires External Account Binding: give eab_kid and eab_hmac_key from your account at the CA ({})",
                    self.name, self.docs_url
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_slugs_and_every_url_is_https() {
        let mut ids: Vec<&str> = CATALOGUE.iter().map(|e| e.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len(), "duplicate ids");
        for e in CATALOGUE {
            assert!(e.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{}", e.id);
            for url in [Some(e.directory_url), e.staging_directory_url, Some(e.docs_url)].into_iter().flatten() {
                assert!(url.starts_with("https://") && !url.contains(' '), "{}: {url}", e.id);
            }
        }
    }

    /// The CAs the issue names are all there; the commercial ones and ZeroSSL and Google demand
    /// EAB, Let's Encrypt and Buypass do not.
    #[test]
    fn the_known_cas_and_their_eab_rules() {
        for id in ["letsencrypt", "zerossl", "google", "sslcom-rsa", "sslcom-ecc", "sectigo-dv", "sectigo-ov"] {
            assert!(catalogue_entry(id).is_ok(), "{id}");
        }
        for id in ["sectigo-ev", "actalis", "globalsign", "digicert", "buypass"] {
            assert!(catalogue_entry(id).is_ok(), "{id}");
        }
        let le = catalogue_entry("letsencrypt").unwrap();
        assert_eq!(le.check_eab(false), Ok(()));
        assert_eq!(le.directory(true), Ok("https://acme-staging-v02.api.letsencrypt.org/directory"));
        let zerossl = catalogue_entry("zerossl").unwrap();
        let refused = zerossl.check_eab(false).unwrap_err();
        assert_eq!(refused.field, "eab_kid");
        assert!(refused.message.contains("ZeroSSL requires External Account Binding"), "{refused}");
        assert_eq!(zerossl.check_eab(true), Ok(()));
        assert_eq!(zerossl.directory(true).unwrap_err().field, "staging");
        let unknown = catalogue_entry("lets-encrypt").unwrap_err();
        assert!(unknown.field == "ca" && unknown.message.contains("known: letsencrypt, zerossl"), "{unknown}");
    }
}
