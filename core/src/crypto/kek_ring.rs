//! The KEK ring: the configured provider plus, while a move away from it is pending (`kek migrate`),
//! the previous provider (`[kek.previous]`). New data keys are wrapped under the current provider
//! only; an unwrap goes to the provider that holds the version.
//! Invariant: every version the ring creates is numbered above every version either provider holds,
//! so from then on a version number names one key (issue 15: two "version 2"s could not be told apart).

use std::sync::{Arc, RwLock};

use crate::crypto::{KekError, KekProvider, SecretBytes, WrappedDek};

pub struct KekRing {
    current: Arc<dyn KekProvider>,
    /// `None` once `kek retire --previous` destroyed it (or when none is configured).
    previous: RwLock<Option<Arc<dyn KekProvider>>>,
}

impl std::fmt::Debug for KekRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KekRing").field("kek", &self.describe()).finish()
    }
}

impl KekRing {
    pub fn new(current: Arc<dyn KekProvider>, previous: Option<Arc<dyn KekProvider>>) -> Self {
        KekRing { current, previous: RwLock::new(previous) }
    }

    fn previous_provider(&self) -> Option<Arc<dyn KekProvider>> {
        self.previous.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn highest_previous(&self) -> u32 {
        self.previous_provider().and_then(|p| p.versions().into_iter().max()).unwrap_or(0)
    }
}

impl KekProvider for KekRing {
    fn current_version(&self) -> u32 {
        self.current.current_version()
    }

    fn wrap(&self, dek: &[u8], aad: &[u8]) -> Result<(u32, Vec<u8>), KekError> {
        self.current.wrap(dek, aad)
    }

    fn unwrap(&self, version: u32, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
        let Some(previous) = self.previous_provider() else { return self.current.unwrap(version, wrapped, aad) };
        let in_previous = previous.versions().contains(&version);
        if in_previous && !self.current.versions().contains(&version) {
            return previous.unwrap(version, wrapped, aad);
        }
        match self.current.unwrap(version, wrapped, aad) {
            // Both hold this number: versions made before numbering was shared across providers (a
            // `kek init` file's version 1 beside the dev KEK's). The GCM tag tells which key sealed it.
            Err(KekError::Integrity | KekError::UnknownVersion { .. }) if in_previous => {
                previous.unwrap(version, wrapped, aad)
            }
            other => other,
        }
    }

    fn describe(&self) -> String {
        match self.previous_provider() {
            Some(previous) => format!("{} (previous: {})", self.current.describe(), previous.describe()),
            None => self.current.describe(),
        }
    }

    fn create_version_above(&self, floor: u32) -> Result<u32, KekError> {
        self.current.create_version_above(floor.max(self.highest_previous()))
    }

    fn token_calls(&self) -> Option<u64> {
        let previous = self.previous_provider().and_then(|p| p.token_calls());
        match (self.current.token_calls(), previous) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        }
    }

    fn versions(&self) -> Vec<u32> {
        let mut versions = self.current.versions();
        if let Some(previous) = self.previous_provider() {
            versions.extend(previous.versions());
        }
        versions.sort_unstable();
        versions.dedup();
        versions
    }

    fn retire_version(&self, version: u32) -> Result<(), KekError> {
        if self.current.versions().contains(&version) {
            return self.current.retire_version(version);
        }
        match self.previous_provider() {
            Some(previous) if previous.versions().contains(&version) => {
                if previous.current_version() == version {
                    return Err(KekError::RetirePreviousLast { version, provider: previous.describe() });
                }
                previous.retire_version(version)
            }
            _ => Err(KekError::UnknownVersion { version }),
        }
    }

    fn verify_many(&self, items: Vec<WrappedDek>) -> Vec<Result<(), KekError>> {
        self.current.verify_many(items)
    }

    fn previous(&self) -> Option<(String, Vec<u32>)> {
        self.previous_provider().map(|p| (p.describe(), p.versions()))
    }

    fn retire_previous(&self) -> Result<Vec<u32>, KekError> {
        let previous = self.previous_provider().ok_or(KekError::NoPrevious)?;
        let destroyed = previous.destroy_all()?;
        *self.previous.write().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(destroyed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Envelope, LocalKek, LocalKekKind};

    /// The issue-15 layout: a dev KEK with versions 1 and 2, and a fresh `kek init` file that also
    /// has a version 1. Values of either open through the ring (the tag picks the key), the first
    /// version the ring creates is 3, not a second 2, and new values are wrapped under it.
    #[test]
    fn ring_opens_both_and_numbers_new_versions_above_both() {
        let dir = tempfile::tempdir().unwrap();
        let dev = Arc::new(LocalKek::dev(dir.path()).unwrap());
        let dev_env = Envelope::new(dev.clone());
        let under_dev_1 = dev_env.seal("r1", "f", &SecretBytes::from_text("one")).unwrap();
        dev.create_version().unwrap();
        let under_dev_2 = dev_env.seal("r2", "f", &SecretBytes::from_text("two")).unwrap();
        let file = Arc::new(LocalKek::init(&dir.path().join("kek.json")).unwrap());
        let under_file_1 = Envelope::new(file.clone()).seal("r3", "f", &SecretBytes::from_text("three")).unwrap();
        assert_eq!((under_dev_1.kek_version, under_dev_2.kek_version, under_file_1.kek_version), (1, 2, 1));

        let ring = Arc::new(KekRing::new(file.clone(), Some(dev.clone())));
        let env = Envelope::new(ring.clone());
        assert_eq!(env.open("r1", "f", &under_dev_1).unwrap().expose_str(), Some("one"));
        assert_eq!(env.open("r2", "f", &under_dev_2).unwrap().expose_str(), Some("two"));
        assert_eq!(env.open("r3", "f", &under_file_1).unwrap().expose_str(), Some("three"));
        assert_eq!(ring.create_version().unwrap(), 3);
        assert_eq!(file.versions(), vec![1, 3]);
        let rewrapped = env.rewrap("r2", "f", &under_dev_2).unwrap();
        assert_eq!(rewrapped.kek_version, 3);
        // Verification uses the current provider alone: the re-wrapped value passes, the old does not.
        let item = |s: &crate::model::SealedSecret, id: &str| {
            use base64::Engine;
            WrappedDek {
                version: s.kek_version,
                wrapped: base64::engine::general_purpose::STANDARD.decode(&s.wrapped_dek).unwrap(),
                aad: crate::crypto::field_aad(id, "f"),
            }
        };
        let verified = ring.verify_many(vec![item(&rewrapped, "r2"), item(&under_dev_2, "r2")]);
        assert!(verified[0].is_ok());
        assert!(verified[1].is_err());
        assert_eq!(ring.previous().unwrap().1, vec![1, 2]);
        assert!(matches!(ring.retire_version(2), Err(KekError::RetirePreviousLast { version: 2, .. })));
    }

    /// Retiring the previous provider destroys its key file and leaves the ring with the current
    /// provider only; values still under the old key then report the missing version.
    #[test]
    fn retiring_the_previous_provider_destroys_it() {
        let dir = tempfile::tempdir().unwrap();
        let dev = Arc::new(LocalKek::dev(dir.path()).unwrap());
        dev.create_version_above(4).unwrap();
        let old = Envelope::new(dev.clone()).seal("r", "f", &SecretBytes::from_text("x")).unwrap();
        let file = Arc::new(LocalKek::init(&dir.path().join("kek.json")).unwrap());
        let ring = KekRing::new(file, Some(dev));
        assert_eq!(ring.retire_previous().unwrap(), vec![1, 5]);
        assert!(!dir.path().join("dev-kek.json").exists());
        assert!(ring.previous().is_none());
        assert!(matches!(ring.retire_previous(), Err(KekError::NoPrevious)));
        assert!(LocalKek::load(&dir.path().join("dev-kek.json"), LocalKekKind::Dev).is_err());
        let err = Envelope::new(Arc::new(ring)).open("r", "f", &old).unwrap_err();
        assert!(err.to_string().contains("sealed under KEK version 5, which this node does not have"), "{err}");
    }
}
