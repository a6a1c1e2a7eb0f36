//! The verified-up-to mark: how far an organization's chain has been verified, so that verifying it
//! again costs only the entries since (`verify_from_mark`), not its whole history.
//! Invariant: a mark is believed only when its tag, an HMAC under the organization's audit secret
//! over the organization, `seq`, that entry's `hmac` and the time, matches; writing the store alone
//! cannot move it forward (nor move it onto entries edited since), and the entry at `seq` must still
//! carry that `hmac` and verify itself.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::crypto::SecretBytes;
use crate::ids::OrgId;
use crate::timestamp::Timestamp;

/// Sets the mark's tag apart from every chain entry's HMAC (and the checkpoint's) under the same secret.
const DOMAIN: &[u8] = b"cap-audit-mark-v1";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifiedMark {
    /// The last entry verified.
    pub seq: u64,
    /// That entry's `hmac`: where the next verification resumes.
    pub hmac: String,
    /// When the chain up to `seq` was verified.
    pub at: Timestamp,
    pub tag: String,
}

impl VerifiedMark {
    pub fn seal(secret: &SecretBytes, org: OrgId, seq: u64, hmac: &str, at: Timestamp) -> Self {
        let tag = tag(secret, DOMAIN, &parts(org, seq, hmac, at, ""));
        VerifiedMark { seq, hmac: hmac.to_owned(), at, tag }
    }

    /// Whether the audit secret vouches for this mark of `org` (compared in constant time).
    pub fn is_genuine(&self, secret: &SecretBytes, org: OrgId) -> bool {
        tag_matches(secret, DOMAIN, &parts(org, self.seq, &self.hmac, self.at, ""), &self.tag)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a mark serializes")
    }

    /// The mark as the store keeps it; `None` when it is not a mark at all (then it is not genuine).
    pub fn from_json(doc: &str) -> Option<Self> {
        serde_json::from_str(doc).ok()
    }
}

/// The fields a mark or checkpoint vouches for, each length-prefixed so no two sets run together.
pub(crate) fn parts(org: OrgId, seq: u64, hmac: &str, at: Timestamp, extra: &str) -> Vec<Vec<u8>> {
    vec![
        org.to_string().into_bytes(),
        seq.to_be_bytes().to_vec(),
        hmac.as_bytes().to_vec(),
        at.as_unix_millis().to_be_bytes().to_vec(),
        extra.as_bytes().to_vec(),
    ]
}

fn mac(secret: &SecretBytes, domain: &[u8], parts: &[Vec<u8>]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose()).expect("HMAC takes keys of any length");
    mac.update(domain);
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// The tag of `parts` under `domain`, hex.
pub(crate) fn tag(secret: &SecretBytes, domain: &[u8], parts: &[Vec<u8>]) -> String {
    mac(secret, domain, parts).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `tag` is the tag of `parts` (compared in constant time).
pub(crate) fn tag_matches(secret: &SecretBytes, domain: &[u8], parts: &[Vec<u8>], tag: &str) -> bool {
    let Ok(expected) = decode_hex(tag) else { return false };
    mac(secret, domain, parts).verify_slice(&expected).is_ok()
}

fn decode_hex(text: &str) -> Result<Vec<u8>, ()> {
    if !text.len().is_multiple_of(2) {
        return Err(());
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2).ok_or(())?, 16).map_err(|_| ())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sealed mark is genuine for its organization and secret only; changing any field, or
    /// forging a tag without the secret, is caught.
    #[test]
    fn only_the_audit_secret_makes_a_mark() {
        let secret = SecretBytes::new(vec![7; 32]);
        let org = OrgId::new();
        let at = Timestamp::from_unix_millis(1_700_000_000_000);
        let mark = VerifiedMark::seal(&secret, org, 42, "ab12", at);
        assert!(mark.is_genuine(&secret, org));
        assert!(!mark.is_genuine(&secret, OrgId::new()), "another organization");
        assert!(!mark.is_genuine(&SecretBytes::new(vec![8; 32]), org), "another secret");
        for forged in [
            VerifiedMark { seq: 43, ..mark.clone() },
            VerifiedMark { hmac: "ab13".into(), ..mark.clone() },
            VerifiedMark { at: Timestamp::from_unix_millis(1), ..mark.clone() },
            VerifiedMark { tag: "zz".into(), ..mark.clone() },
            VerifiedMark::seal(&SecretBytes::new(vec![9; 32]), org, 1_000_000, "ab12", at),
        ] {
            assert!(!forged.is_genuine(&secret, org), "{forged:?}");
        }
        assert_eq!(VerifiedMark::from_json(&mark.to_json()), Some(mark));
        assert_eq!(VerifiedMark::from_json("{}"), None);
    }
}
