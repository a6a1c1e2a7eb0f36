//! The PKCS#11 KEK provider against a real SoftHSM2 token: key generation inside the token, wrap and
//! unwrap through envelopes, persistence across sessions, rotation, tamper detection, and the clear
//! errors for a wrong PIN, a missing token and a missing module. One test in phases, because the
//! module is process-global state.

use std::sync::Arc;

use certautopilot_core::crypto::{CryptoError, Envelope, KekError, KekProvider, Pkcs11Kek, SecretBytes};
use certautopilot_core::softhsm::{SoftHsm, USER_PIN};

#[test]
fn softhsm_generate_wrap_unwrap_rotate_and_fail_clearly() {
    let hsm = SoftHsm::start("cap-test").expect("SoftHSM2 test token");
    let (name, value) = hsm.env();
    // SAFETY: set before anything in this process (a single test) loads the module or spawns threads
    // that read the environment.
    unsafe { std::env::set_var(name, value) };

    // --- first open generates KEK version 1 inside the token, locked in
    let kek = Arc::new(Pkcs11Kek::open(&hsm.module, "cap-test", USER_PIN).expect("open token"));
    assert_eq!(kek.current_version(), 1);
    assert!(kek.key_is_locked_in(1).unwrap(), "the KEK must be sensitive and never extractable");
    assert!(kek.describe().starts_with("pkcs11:"));

    // --- envelopes seal and open through the token; tampering and moving are caught
    let envelope = Envelope::new(kek.clone());
    let secret = SecretBytes::from_text("tsig-secret-in-hsm");
    let sealed = envelope.seal("cred-1", "secret", &secret).unwrap();
    assert_eq!(sealed.kek_version, 1);
    assert_eq!(envelope.open("cred-1", "secret", &sealed).unwrap(), secret);
    assert!(matches!(envelope.open("cred-2", "secret", &sealed), Err(CryptoError::Integrity)));
    let mut tampered = sealed.clone();
    tampered.wrapped_dek = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let mut bytes = engine.decode(&sealed.wrapped_dek).unwrap();
        bytes[20] ^= 1;
        engine.encode(bytes)
    };
    assert!(matches!(envelope.open("cred-1", "secret", &tampered), Err(CryptoError::Integrity)));

    // --- every kind of secret field the product seals round-trips through the token
    for field in ["jwt_signing_key", "eab_hmac_key", "account_key", "secret", "credential", "private_key"] {
        let value = SecretBytes::from_text(&format!("{field}-value"));
        let sealed_field = envelope.seal("record-9", field, &value).unwrap();
        assert_eq!(envelope.open("record-9", field, &sealed_field).unwrap(), value, "{field}");
    }

    // --- rotation: version 2 becomes current; version 1 envelopes still open
    assert_eq!(kek.create_version().unwrap(), 2);
    assert!(kek.key_is_locked_in(2).unwrap());
    let newer = envelope.seal("cred-1", "secret", &secret).unwrap();
    assert_eq!(newer.kek_version, 2);
    assert_eq!(envelope.open("cred-1", "secret", &sealed).unwrap(), secret);
    assert!(matches!(kek.retire_version(2), Err(KekError::RetireCurrent { version: 2 })));
    let calls = kek.token_calls().unwrap();
    assert!(calls >= 6, "token calls are counted: {calls}");
    drop(envelope);
    drop(kek);

    // --- a new session finds both versions (they live in the token, not in memory)
    let reopened = Pkcs11Kek::open(&hsm.module, "cap-test", USER_PIN).unwrap();
    assert_eq!(reopened.current_version(), 2);
    assert_eq!(reopened.versions(), vec![1, 2]);
    let reopened = Arc::new(reopened);
    assert_eq!(Envelope::new(reopened.clone()).open("cred-1", "secret", &sealed).unwrap(), secret);
    // Retiring version 1 destroys its key object in the token: its envelopes no longer open.
    reopened.retire_version(1).unwrap();
    assert_eq!(reopened.versions(), vec![2]);
    assert!(Envelope::new(reopened.clone()).open("cred-1", "secret", &sealed).is_err());
    assert_eq!(Envelope::new(reopened.clone()).open("cred-1", "secret", &newer).unwrap(), secret);
    // A version made above a floor (another provider's highest, issue 15) skips the numbers below.
    assert_eq!(reopened.create_version_above(6).unwrap(), 7);
    assert_eq!(reopened.versions(), vec![2, 7]);
    assert_eq!(Envelope::new(reopened.clone()).seal("cred-1", "secret", &secret).unwrap().kek_version, 7);
    drop(reopened);

    // --- clear errors
    let wrong = Pkcs11Kek::open(&hsm.module, "cap-test", "not-the-pin").unwrap_err();
    assert!(matches!(wrong, KekError::WrongPin { .. }), "{wrong}");
    assert_eq!(wrong.to_string(), "the PIN for PKCS#11 token \"cap-test\" is wrong");
    let missing = Pkcs11Kek::open(&hsm.module, "no-such-token", USER_PIN).unwrap_err();
    assert!(matches!(missing, KekError::TokenMissing { .. }), "{missing}");
    let no_module =
        Pkcs11Kek::open(std::path::Path::new("/nonexistent/libpkcs11.so"), "cap-test", USER_PIN).unwrap_err();
    assert!(matches!(no_module, KekError::ModuleMissing { .. }), "{no_module}");
    hsm.delete_token().unwrap();
    let removed = Pkcs11Kek::open(&hsm.module, "cap-test", USER_PIN).unwrap_err();
    assert!(matches!(removed, KekError::TokenMissing { .. }), "{removed}");
}
