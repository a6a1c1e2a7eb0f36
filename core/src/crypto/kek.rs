//! Key-encryption keys: versioned AES-256 keys that wrap data keys. Only wrapping goes through here,
//! so rotating a KEK re-wraps data keys and never touches data.
//! `LocalKek` keeps the versions in a 0600 file (the `file` provider, made by `kek init`; the `dev`
//! provider makes one under the data directory on first start). PKCS#11 arrives with M1.3.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::SecretBytes;

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("no KEK version {version} is available")]
    UnknownVersion { version: u32 },
    #[error("data key failed its integrity check")]
    Integrity,
    #[error("KEK file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("KEK file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`")]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("KEK file {path} is malformed: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("KEK file {path} already exists; refusing to overwrite it")]
    AlreadyExists { path: PathBuf },
    #[error("KEK file {path} does not exist; create it with `certautopilot kek init`")]
    Missing { path: PathBuf },
    #[error("PKCS#11 module {path} does not exist")]
    ModuleMissing { path: PathBuf },
    #[error("PKCS#11 module {path} cannot be used: {reason}")]
    ModuleUnusable { path: PathBuf, reason: String },
    #[error("no PKCS#11 token labelled {token:?} is present")]
    TokenMissing { token: String },
    #[error("the PIN for PKCS#11 token {token:?} is wrong")]
    WrongPin { token: String },
    #[error("PKCS#11 token error: {reason}")]
    Token { reason: String },
    #[error("this KEK provider cannot create new versions")]
    RotationUnsupported,
    #[error("the KEK actor is not running (it is restarting); try again")]
    Unavailable,
    #[error("a data key's AAD must be 32 bytes, got {len}")]
    BadAad { len: usize },
    #[error("KEK version {version} is the current one and cannot be retired")]
    RetireCurrent { version: u32 },
    #[error("no previous KEK provider is configured ([kek.previous])")]
    NoPrevious,
    #[error(
        "KEK version {version} is the last one of the previous provider {provider}; retire that provider with `certautopilot kek retire --previous`"
    )]
    RetirePreviousLast { version: u32, provider: String },
}

pub trait KekProvider: Send + Sync + 'static {
    /// The version new data keys are wrapped with.
    fn current_version(&self) -> u32;
    /// Wraps a data key under the current version; returns that version and the wrapped bytes.
    fn wrap(&self, dek: &[u8], aad: &[u8]) -> Result<(u32, Vec<u8>), KekError>;
    fn unwrap(&self, version: u32, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError>;
    /// A short, secret-free description for logs and status (`file:/etc/…`, `dev:./data/…`).
    fn describe(&self) -> String;
    /// Creates KEK version `current + 1` and makes it current; returns it.
    fn create_version(&self) -> Result<u32, KekError> {
        self.create_version_above(0)
    }
    /// Creates a new KEK version numbered above both every version this provider holds and `floor`
    /// (the highest version the store or another provider already uses), makes it current and
    /// returns it. Version numbers name one key across every provider a store has used: the store
    /// records only the number, so a second "version 2" would be ambiguous (issue 15).
    fn create_version_above(&self, floor: u32) -> Result<u32, KekError>;
    /// Calls made into a hardware token so far, for providers that have one.
    fn token_calls(&self) -> Option<u64> {
        None
    }
    /// The versions the provider holds, oldest first.
    fn versions(&self) -> Vec<u32>;
    /// Destroys an old version's key. The caller must have checked that nothing references it.
    fn retire_version(&self, version: u32) -> Result<(), KekError>;
    /// Re-wraps many data keys under the current version, one result per item. Providers reached
    /// through a channel answer a whole batch in one round trip.
    fn rewrap_many(&self, items: Vec<WrappedDek>) -> Vec<Result<(u32, Vec<u8>), KekError>> {
        items
            .into_iter()
            .map(|item| {
                let dek = self.unwrap(item.version, &item.wrapped, &item.aad)?;
                self.wrap(dek.expose(), &item.aad)
            })
            .collect()
    }
    /// Checks that each data key opens under the current provider alone (not through a previous
    /// provider a `KekRing` falls back to): how a migration proves it is complete.
    fn verify_many(&self, items: Vec<WrappedDek>) -> Vec<Result<(), KekError>> {
        items.into_iter().map(|item| self.unwrap(item.version, &item.wrapped, &item.aad).map(|_| ())).collect()
    }
    /// The previous provider a migration moves away from, described, with the versions it holds.
    fn previous(&self) -> Option<(String, Vec<u32>)> {
        None
    }
    /// Destroys every key of the previous provider (`kek retire --previous`). The caller must have
    /// checked that no data key needs it.
    fn retire_previous(&self) -> Result<Vec<u32>, KekError> {
        Err(KekError::NoPrevious)
    }
    /// Destroys every version this provider holds (it is a retired previous provider); returns them.
    fn destroy_all(&self) -> Result<Vec<u32>, KekError> {
        Err(KekError::RotationUnsupported)
    }
}

/// One wrapped data key with what binds it: the KEK version and the field's AAD.
#[derive(Debug, Clone)]
pub struct WrappedDek {
    pub version: u32,
    pub wrapped: Vec<u8>,
    pub aad: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalKekKind {
    Dev,
    File,
    Ephemeral,
}

fn read_file(path: &Path) -> Result<Keys, KekError> {
    let io = |source| KekError::Io { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound { KekError::Missing { path: path.to_path_buf() } } else { io(e) }
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KekError::InsecurePermissions { path: path.to_path_buf(), mode });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    let malformed = |reason: String| KekError::Malformed { path: path.to_path_buf(), reason };
    let file: KekFile = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    if file.format != FORMAT {
        return Err(malformed(format!("unknown format {:?}", file.format)));
    }
    let mut keys = BTreeMap::new();
    for (version, encoded) in &file.keys {
        let key = Zeroizing::new(B64.decode(encoded).map_err(|_| malformed(format!("key {version} is not base64")))?);
        if key.len() != 32 {
            return Err(malformed(format!("key {version} is not 32 bytes")));
        }
        keys.insert(*version, key);
    }
    if !keys.contains_key(&file.current) {
        return Err(malformed(format!("current version {} has no key", file.current)));
    }
    Ok(Keys::new(file.current, keys, file_stamp(path)))
}

fn serialize(keys: &Keys) -> Zeroizing<String> {
    let file = KekFile {
        format: FORMAT.into(),
        current: keys.current,
        keys: keys.by_version.iter().map(|(v, k)| (*v, B64.encode(k.as_slice()))).collect(),
    };
    Zeroizing::new(serde_json::to_string_pretty(&file).expect("KEK file serializes"))
}

/// Holds an exclusive lock on `<path>.lock` while alive: every read-modify-write of the key file
/// (a new version, a retirement) happens under it, so two processes cannot both make "version n+1"
/// or drop each other's version.
struct FileLock(std::fs::File);

impl FileLock {
    fn take(path: &Path) -> Result<FileLock, KekError> {
        let lock_path = path.with_extension("lock");
        let io = |source| KekError::Io { path: lock_path.clone(), source };
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(FileLock(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Replaces the file atomically: a new 0600 file beside it (named for this process, so a concurrent
/// writer cannot remove it), fsynced, renamed over, directory fsynced. Call under `FileLock`.
fn replace_file(path: &Path, keys: &Keys) -> Result<(), KekError> {
    let io = |source| KekError::Io { path: path.to_path_buf(), source };
    let mut suffix = [0u8; 8];
    rand::fill(&mut suffix);
    let staged = path.with_extension(format!(
        "{}-{}.tmp",
        std::process::id(),
        suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&staged).map_err(io)?;
    out.write_all(serialize(keys).as_bytes()).map_err(io)?;
    out.sync_all().map_err(io)?;
    std::fs::rename(&staged, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

fn random_key() -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(vec![0u8; 32]);
    rand::fill(&mut key[..]);
    key
}

const FORMAT: &str = "certautopilot-kek-v1";
const NONCE_LEN: usize = 12;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KekFile {
    format: String,
    current: u32,
    keys: BTreeMap<u32, String>,
}

pub struct LocalKek {
    kind: LocalKekKind,
    path: Option<PathBuf>,
    /// Behind a lock because a rotation (here or in another process, seen on reload) adds versions.
    keys: std::sync::RwLock<Keys>,
}

struct Keys {
    current: u32,
    by_version: BTreeMap<u32, Zeroizing<Vec<u8>>>,
    /// Ciphers built once per version: key expansion is a measurable part of a re-wrap.
    ciphers: BTreeMap<u32, Aes256Gcm>,
    /// The file as last read, to notice a rotation by another process before wrapping.
    stamp: Option<(std::time::SystemTime, u64, u64)>,
}

impl Keys {
    fn new(
        current: u32,
        by_version: BTreeMap<u32, Zeroizing<Vec<u8>>>,
        stamp: Option<(std::time::SystemTime, u64, u64)>,
    ) -> Self {
        let ciphers =
            by_version.iter().filter_map(|(v, k)| Aes256Gcm::new_from_slice(k).ok().map(|c| (*v, c))).collect();
        Keys { current, by_version, ciphers, stamp }
    }
}

/// What identifies the file's current contents cheaply: a rename over it changes the inode even when
/// the size and the modification time (coarse on some filesystems) stay the same.
fn file_stamp(path: &Path) -> Option<(std::time::SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())))
}

impl std::fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("LocalKek")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("current", &keys.current)
            .field("versions", &keys.by_version.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl LocalKek {
    /// A key that lives only in memory: for tests and benches.
    pub fn ephemeral() -> Self {
        let by_version = BTreeMap::from([(1, random_key())]);
        LocalKek {
            kind: LocalKekKind::Ephemeral,
            path: None,
            keys: std::sync::RwLock::new(Keys::new(1, by_version, None)),
        }
    }

    /// Creates a new KEK file with version 1; refuses to overwrite an existing one.
    pub fn init(path: &Path) -> Result<Self, KekError> {
        let key = random_key();
        let file =
            KekFile { format: FORMAT.into(), current: 1, keys: BTreeMap::from([(1, B64.encode(key.as_slice()))]) };
        let text = Zeroizing::new(serde_json::to_string_pretty(&file).expect("KEK file serializes"));
        let io = |source| KekError::Io { path: path.to_path_buf(), source };
        let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KekError::AlreadyExists { path: path.to_path_buf() }
            } else {
                io(e)
            }
        })?;
        out.write_all(text.as_bytes()).map_err(io)?;
        out.sync_all().map_err(io)?;
        Self::load(path, LocalKekKind::File)
    }

    /// Opens the KEK file at `path`, refusing one that group or others can read.
    pub fn load(path: &Path, kind: LocalKekKind) -> Result<Self, KekError> {
        let keys = read_file(path)?;
        Ok(LocalKek { kind, path: Some(path.to_path_buf()), keys: std::sync::RwLock::new(keys) })
    }

    /// Re-reads the file (another process may have rotated); an ephemeral key has nothing to re-read.
    fn reload(&self) -> Result<(), KekError> {
        if let Some(path) = &self.path {
            *self.keys.write().unwrap_or_else(|p| p.into_inner()) = read_file(path)?;
        }
        Ok(())
    }

    /// The `dev` provider: loads `<data_dir>/dev-kek.json`, creating it on first start.
    pub fn dev(data_dir: &Path) -> Result<Self, KekError> {
        let path = data_dir.join("dev-kek.json");
        let kek = if path.exists() { Self::load(&path, LocalKekKind::Dev)? } else { Self::init(&path)? };
        Ok(LocalKek { kind: LocalKekKind::Dev, ..kek })
    }

    pub fn kind(&self) -> LocalKekKind {
        self.kind
    }

    /// Destroys the whole key file (a retired previous provider): removed under the lock, the
    /// directory synced, the keys dropped from memory. Every version it held is returned.
    fn destroy(&self) -> Result<Vec<u32>, KekError> {
        let _lock = self.path.as_deref().map(FileLock::take).transpose()?;
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let versions = keys.by_version.keys().copied().collect();
        if let Some(path) = &self.path {
            let io = |source| KekError::Io { path: path.to_path_buf(), source };
            std::fs::remove_file(path).map_err(io)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        *keys = Keys::new(keys.current, BTreeMap::new(), None);
        Ok(versions)
    }

    fn cipher(&self, version: u32) -> Result<Aes256Gcm, KekError> {
        if let Some(cipher) = self.keys.read().unwrap_or_else(|p| p.into_inner()).ciphers.get(&version) {
            return Ok(cipher.clone());
        }
        // A version we do not know may have been added by a rotation in another process.
        self.reload()?;
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .ciphers
            .get(&version)
            .cloned()
            .ok_or(KekError::UnknownVersion { version })
    }

    /// Re-reads the file if it changed since it was read, so new values are wrapped with the version
    /// a rotation (in any process) made current, never with one it is about to retire.
    fn follow_rotation(&self) -> Result<(), KekError> {
        let Some(path) = &self.path else { return Ok(()) };
        let seen = self.keys.read().unwrap_or_else(|p| p.into_inner()).stamp;
        if file_stamp(path) != seen { self.reload() } else { Ok(()) }
    }
}

impl KekProvider for LocalKek {
    fn current_version(&self) -> u32 {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).current
    }

    fn wrap(&self, dek: &[u8], aad: &[u8]) -> Result<(u32, Vec<u8>), KekError> {
        self.follow_rotation()?;
        let version = self.current_version();
        let nonce = Nonce::generate();
        let sealed =
            self.cipher(version)?.encrypt(&nonce, Payload { msg: dek, aad }).map_err(|_| KekError::Integrity)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&sealed);
        Ok((version, out))
    }

    fn unwrap(&self, version: u32, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
        if wrapped.len() <= NONCE_LEN {
            return Err(KekError::Integrity);
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| KekError::Integrity)?;
        let dek =
            self.cipher(version)?.decrypt(&nonce, Payload { msg: sealed, aad }).map_err(|_| KekError::Integrity)?;
        Ok(SecretBytes::new(dek))
    }

    fn describe(&self) -> String {
        match (&self.kind, &self.path) {
            (LocalKekKind::Dev, Some(p)) => format!("dev:{}", p.display()),
            (LocalKekKind::File, Some(p)) => format!("file:{}", p.display()),
            _ => "ephemeral".into(),
        }
    }

    fn versions(&self) -> Vec<u32> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).by_version.keys().copied().collect()
    }

    fn retire_version(&self, version: u32) -> Result<(), KekError> {
        let _lock = self.path.as_deref().map(FileLock::take).transpose()?;
        self.reload()?;
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if version == keys.current {
            return Err(KekError::RetireCurrent { version });
        }
        if !keys.by_version.contains_key(&version) {
            return Err(KekError::UnknownVersion { version });
        }
        let mut by_version = keys.by_version.clone();
        by_version.remove(&version);
        let mut updated = Keys::new(keys.current, by_version, None);
        if let Some(path) = &self.path {
            replace_file(path, &updated)?;
            updated.stamp = file_stamp(path);
        }
        *keys = updated;
        Ok(())
    }

    fn destroy_all(&self) -> Result<Vec<u32>, KekError> {
        self.destroy()
    }

    fn create_version_above(&self, floor: u32) -> Result<u32, KekError> {
        let _lock = self.path.as_deref().map(FileLock::take).transpose()?;
        self.reload()?;
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let next = keys.by_version.keys().next_back().copied().unwrap_or(0).max(floor) + 1;
        let mut by_version = keys.by_version.clone();
        by_version.insert(next, random_key());
        let mut updated = Keys::new(next, by_version, None);
        if let Some(path) = &self.path {
            replace_file(path, &updated)?;
            updated.stamp = file_stamp(path);
        }
        *keys = updated;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kek init` writes a 0600 file that loads back; a second init refuses to overwrite it; a file
    /// others can read is refused with the fix in the message.
    #[test]
    fn key_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        let made = LocalKek::init(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let loaded = LocalKek::load(&path, LocalKekKind::File).unwrap();
        let (version, wrapped) = made.wrap(&[7u8; 32], b"aad").unwrap();
        assert_eq!(loaded.unwrap(version, &wrapped, b"aad").unwrap().expose(), &[7u8; 32]);
        assert!(matches!(LocalKek::init(&path), Err(KekError::AlreadyExists { .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = LocalKek::load(&path, LocalKekKind::File).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(matches!(LocalKek::load(&dir.path().join("none"), LocalKekKind::File), Err(KekError::Missing { .. })));
        let key_text = B64.encode(made.keys.read().unwrap().by_version[&1].as_slice());
        assert!(!key_text.is_empty());
        assert!(!format!("{made:?}").contains(&key_text));
    }

    /// The dev provider creates its key once and finds the same key on the next start.
    #[test]
    fn dev_key_persists_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalKek::dev(dir.path()).unwrap();
        let (v, wrapped) = first.wrap(&[1u8; 32], b"x").unwrap();
        let second = LocalKek::dev(dir.path()).unwrap();
        assert_eq!(second.kind(), LocalKekKind::Dev);
        assert_eq!(second.unwrap(v, &wrapped, b"x").unwrap().expose(), &[1u8; 32]);
        assert!(matches!(second.unwrap(v, &wrapped, b"y"), Err(KekError::Integrity)));
    }
}

#[cfg(test)]
mod rotation_tests {
    use super::*;

    /// A new version becomes current and is written to the file; keys of the old version still
    /// unwrap; another process holding the file open learns of the new version on first use.
    #[test]
    fn new_versions_are_persisted_and_found_by_other_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        let rotating = LocalKek::init(&path).unwrap();
        let other = LocalKek::load(&path, LocalKekKind::File).unwrap();
        let (v1, old) = rotating.wrap(&[1u8; 32], b"a").unwrap();
        assert_eq!(rotating.create_version().unwrap(), 2);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (v2, new) = rotating.wrap(&[2u8; 32], b"a").unwrap();
        assert_eq!((v1, v2), (1, 2));
        assert_eq!(other.unwrap(v2, &new, b"a").unwrap().expose(), &[2u8; 32]);
        assert_eq!(other.current_version(), 2);
        assert_eq!(
            LocalKek::load(&path, LocalKekKind::File).unwrap().unwrap(v1, &old, b"a").unwrap().expose(),
            &[1u8; 32]
        );
        assert!(matches!(other.unwrap(7, &new, b"a"), Err(KekError::UnknownVersion { version: 7 })));
        // Retiring: never the current version; an old one disappears from the file for everyone.
        assert!(matches!(rotating.retire_version(2), Err(KekError::RetireCurrent { version: 2 })));
        rotating.retire_version(1).unwrap();
        assert_eq!(LocalKek::load(&path, LocalKekKind::File).unwrap().versions(), vec![2]);
        // Another holder drops the retired version once it notices the file changed (it does on wrap).
        other.wrap(&[3u8; 32], b"a").unwrap();
        assert_eq!(other.versions(), vec![2]);
    }
}

#[cfg(test)]
mod concurrency_tests {
    use super::*;

    /// Many holders of one key file adding versions at once: every version made is in the file
    /// afterwards and each got a distinct number (no two "version n+1"s, no lost key).
    #[test]
    fn concurrent_new_versions_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        LocalKek::init(&path).unwrap();
        let made: Vec<u32> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let path = path.clone();
                    scope.spawn(move || LocalKek::load(&path, LocalKekKind::File).unwrap().create_version().unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = made.clone();
        sorted.sort();
        assert_eq!(sorted, (2..=9).collect::<Vec<_>>());
        assert_eq!(LocalKek::load(&path, LocalKekKind::File).unwrap().versions(), (1..=9).collect::<Vec<_>>());
    }
}
