//! The PKCS#11 KEK provider: every KEK version is a non-extractable AES-256 secret-key object in the
//! token, labelled `certautopilot-kek-v<n>`; data keys are wrapped and unwrapped inside the token with
//! `CKM_AES_GCM` (random 12-byte IV, the envelope AAD, 128-bit tag). The key bytes never leave it.
//! SoftHSM2 refuses `CKM_AES_GCM` for `C_WrapKey` (../shared/notes/crates.md), so wrapping is
//! `C_Encrypt` of the data key, which works on every token that offers AES-GCM at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::crypto::{KekError, KekProvider, SecretBytes};

const LABEL_PREFIX: &str = "certautopilot-kek-v";
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;
/// How stale the list of KEK versions may get before a wrap re-reads it from the token.
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Pkcs11Kek {
    module: PathBuf,
    token_label: String,
    // Declared before `_context` so the session closes before the library is finalized.
    session: Mutex<Session>,
    keys: Mutex<BTreeMap<u32, ObjectHandle>>,
    /// When the token's key list was last read; re-read now and then so a rotation made by another
    /// process becomes this one's current version too.
    refreshed: Mutex<std::time::Instant>,
    /// Calls into the token (wraps, unwraps, key generation), for rotation reports.
    calls: AtomicU64,
    _context: Pkcs11,
}

impl std::fmt::Debug for Pkcs11Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Kek")
            .field("module", &self.module)
            .field("token", &self.token_label)
            .finish_non_exhaustive()
    }
}

fn token_error(e: CkError) -> KekError {
    KekError::Token { reason: e.to_string() }
}

impl Pkcs11Kek {
    /// Loads the module, finds the token by label, logs in, checks AES-GCM is offered, and finds the
    /// KEK versions (generating version 1 in a token that has none).
    pub fn open(module: &Path, token_label: &str, pin: &str) -> Result<Self, KekError> {
        if !module.is_file() {
            return Err(KekError::ModuleMissing { path: module.to_path_buf() });
        }
        let context = Pkcs11::new(module)
            .map_err(|e| KekError::ModuleUnusable { path: module.to_path_buf(), reason: e.to_string() })?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(KekError::ModuleUnusable { path: module.to_path_buf(), reason: e.to_string() }),
        }
        let slot = find_slot(&context, token_label)?;
        let mechanisms = context.get_mechanism_list(slot).map_err(token_error)?;
        if !mechanisms.contains(&MechanismType::AES_GCM) || !mechanisms.contains(&MechanismType::AES_KEY_GEN) {
            return Err(KekError::Token {
                reason: format!("token {token_label:?} does not offer CKM_AES_GCM and CKM_AES_KEY_GEN"),
            });
        }
        let session = context.open_rw_session(slot).map_err(token_error)?;
        match session.login(UserType::User, Some(&AuthPin::from(pin.to_owned()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _)) => {
                return Err(KekError::WrongPin { token: token_label.to_owned() });
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(KekError::Token { reason: format!("the user PIN of token {token_label:?} is locked") });
            }
            Err(e) => return Err(token_error(e)),
        }
        let kek = Pkcs11Kek {
            module: module.to_path_buf(),
            token_label: token_label.to_owned(),
            session: Mutex::new(session),
            keys: Mutex::new(BTreeMap::new()),
            refreshed: Mutex::new(std::time::Instant::now()),
            calls: AtomicU64::new(0),
            _context: context,
        };
        kek.refresh()?;
        if kek.keys.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            kek.generate(1)?;
        }
        Ok(kek)
    }

    /// Re-reads which KEK versions the token holds (another process may have rotated).
    pub fn refresh(&self) -> Result<(), KekError> {
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let handles = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(true),
            ])
            .map_err(token_error)?;
        let mut found = BTreeMap::new();
        for handle in handles {
            let attributes = session.get_attributes(handle, &[AttributeType::Label]).map_err(token_error)?;
            for attribute in attributes {
                if let Attribute::Label(label) = attribute
                    && let Some(version) =
                        String::from_utf8_lossy(&label).strip_prefix(LABEL_PREFIX).and_then(|v| v.parse::<u32>().ok())
                {
                    found.insert(version, handle);
                }
            }
        }
        *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = found;
        *self.refreshed.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
        Ok(())
    }

    fn generate(&self, version: u32) -> Result<(), KekError> {
        let template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::ValueLen(32.into()),
            Attribute::Label(format!("{LABEL_PREFIX}{version}").into_bytes()),
        ];
        let handle = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(token_error)?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).insert(version, handle);
        Ok(())
    }

    /// Destroys every KEK version in the token (a retired previous provider); returns them.
    fn destroy(&self) -> Result<Vec<u32>, KekError> {
        self.refresh()?;
        let keys = std::mem::take(&mut *self.keys.lock().unwrap_or_else(|p| p.into_inner()));
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        for handle in keys.values() {
            session.destroy_object(*handle).map_err(token_error)?;
            self.calls.fetch_add(1, Ordering::Relaxed);
        }
        Ok(keys.into_keys().collect())
    }

    /// Whether the token reports the KEK as sensitive and never extractable (a self-check).
    pub fn key_is_locked_in(&self, version: u32) -> Result<bool, KekError> {
        let handle = self.handle(version)?;
        let attributes = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_attributes(handle, &[AttributeType::Sensitive, AttributeType::Extractable])
            .map_err(token_error)?;
        Ok(attributes.contains(&Attribute::Sensitive(true)) && attributes.contains(&Attribute::Extractable(false)))
    }

    fn handle(&self, version: u32) -> Result<ObjectHandle, KekError> {
        if let Some(handle) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(&version) {
            return Ok(*handle);
        }
        // Possibly rotated by another process since we looked.
        self.refresh()?;
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&version)
            .copied()
            .ok_or(KekError::UnknownVersion { version })
    }
}

fn find_slot(context: &Pkcs11, token_label: &str) -> Result<Slot, KekError> {
    for slot in context.get_slots_with_token().map_err(token_error)? {
        let info = context.get_token_info(slot).map_err(token_error)?;
        if info.label().trim_end() == token_label {
            return Ok(slot);
        }
    }
    Err(KekError::TokenMissing { token: token_label.to_owned() })
}

impl KekProvider for Pkcs11Kek {
    fn current_version(&self) -> u32 {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).keys().next_back().copied().unwrap_or(1)
    }

    fn wrap(&self, dek: &[u8], aad: &[u8]) -> Result<(u32, Vec<u8>), KekError> {
        if self.refreshed.lock().unwrap_or_else(|p| p.into_inner()).elapsed() > REFRESH_EVERY {
            self.refresh()?;
        }
        let version = self.current_version();
        let handle = self.handle(version)?;
        let mut iv = [0u8; IV_LEN];
        rand::fill(&mut iv);
        let sealed = {
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(token_error)?;
            self.session
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .encrypt(&Mechanism::AesGcm(params), handle, dek)
                .map_err(token_error)?
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        // Tokens in FIPS mode generate the IV themselves and write it back into the parameter:
        // store the IV as it is after the call, not as it was before.
        let mut out = Vec::with_capacity(IV_LEN + sealed.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&sealed);
        Ok((version, out))
    }

    fn unwrap(&self, version: u32, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
        if wrapped.len() <= IV_LEN {
            return Err(KekError::Integrity);
        }
        let handle = self.handle(version)?;
        let (iv, sealed) = wrapped.split_at(IV_LEN);
        let mut iv = iv.to_vec();
        let params = GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(token_error)?;
        let result =
            self.session.lock().unwrap_or_else(|p| p.into_inner()).decrypt(&Mechanism::AesGcm(params), handle, sealed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        // Tokens report a failed tag check with various codes (SoftHSM2: CKR_GENERAL_ERROR): any
        // decrypt failure is an integrity failure.
        result.map(SecretBytes::new).map_err(|_| KekError::Integrity)
    }

    fn describe(&self) -> String {
        format!("pkcs11:{}:{}", self.module.display(), self.token_label)
    }

    fn versions(&self) -> Vec<u32> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect()
    }

    fn retire_version(&self, version: u32) -> Result<(), KekError> {
        self.refresh()?;
        if version == self.current_version() {
            return Err(KekError::RetireCurrent { version });
        }
        let handle = self.handle(version)?;
        self.session.lock().unwrap_or_else(|p| p.into_inner()).destroy_object(handle).map_err(token_error)?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).remove(&version);
        Ok(())
    }

    fn token_calls(&self) -> Option<u64> {
        Some(self.calls.load(Ordering::Relaxed))
    }

    fn destroy_all(&self) -> Result<Vec<u32>, KekError> {
        self.destroy()
    }

    fn create_version_above(&self, floor: u32) -> Result<u32, KekError> {
        self.refresh()?;
        let next = self.current_version().max(floor) + 1;
        self.generate(next)?;
        Ok(next)
    }
}
