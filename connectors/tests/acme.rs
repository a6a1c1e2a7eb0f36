//! The ACME client against a real Pebble validating DNS-01 through a real BIND 9: registration with
//! External Account Binding, an order for two names (one CNAME-delegated), finalize, download,
//! revoke — step by step, as the certificate actor drives it.

use std::time::{Duration, Instant};

use base64::Engine;
use certautopilot_connectors::acme::{
    AcmeAccountHandle, AcmeError, NewAccountRequest, OrderStatus, csr_for_key, generate_key, public_key_der,
};
use certautopilot_connectors::dns::{Authoritative, Rfc2136, Rfc2136Config, TsigAlgorithm, challenge_name};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::failure::Untrusted;
use certautopilot_connectors::testsupport::{
    AcmeEnv, AcmeEnvOptions, CNAME_NAME, DELEGATED_ZONE, EAB_KID, ZONE, make_tls_certificates, verify_chain,
};
use certautopilot_connectors::x509::leaf_summary;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::KeyType;

const TIMEOUT: Duration = Duration::from_secs(10);

fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn register(
    env: &AcmeEnv,
    eab: Option<(&str, &SecretBytes)>,
) -> Result<(AcmeAccountHandle, SecretBytes), AcmeError> {
    register_trusting(env, &env.pebble.https_ca_pem(), eab).await
}

/// Registers at the environment's Pebble with `ca_bundle` as the account's extra trusted roots.
async fn register_trusting(
    env: &AcmeEnv,
    ca_bundle: &str,
    eab: Option<(&str, &SecretBytes)>,
) -> Result<(AcmeAccountHandle, SecretBytes), AcmeError> {
    AcmeAccountHandle::register(NewAccountRequest {
        directory_url: &env.pebble.directory_url(),
        extra_roots_pem: Some(ca_bundle),
        contact: &["mailto:ops@example.test".to_owned()],
        tos_agreed: true,
        eab,
        timeout: TIMEOUT,
        egress: &EgressPolicy::allowing_loopback(),
    })
    .await
}

fn dns(env: &AcmeEnv) -> Rfc2136 {
    let key = env.bind.key();
    Rfc2136::new(
        &Rfc2136Config {
            server: env.bind.addr().to_string(),
            key_name: key.name.clone(),
            algorithm: TsigAlgorithm::from_name(key.algorithm).unwrap(),
            nameservers: Vec::new(),
        },
        env.bind.addr(),
        SecretBytes::new(base64::engine::general_purpose::STANDARD.decode(&key.secret).unwrap()),
        Duration::from_secs(2),
        EgressPolicy::allowing_loopback(),
    )
    .unwrap()
}

/// The account restored from its stored credentials, as a worker does.
async fn restore(env: &AcmeEnv, credentials: &SecretBytes) -> AcmeAccountHandle {
    AcmeAccountHandle::restore(
        credentials,
        Some(&env.pebble.https_ca_pem()),
        TIMEOUT,
        &EgressPolicy::allowing_loopback(),
    )
    .await
    .unwrap()
}

async fn poll_until(
    account: &AcmeAccountHandle,
    url: &str,
    what: &str,
    done: impl Fn(OrderStatus) -> bool,
) -> OrderStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut delay = Duration::from_millis(20);
    loop {
        let order = account.order(url, false).await.unwrap();
        if done(order.status) {
            return order.status;
        }
        assert!(Instant::now() < deadline, "order never became {what}: {order:?}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

#[tokio::test]
async fn issue_two_names_with_eab_then_revoke() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(dir.path(), AcmeEnvOptions { require_eab: true, ..Default::default() });

    // --- EAB is required: none and a wrong key are refused with the CA's reason; the right key works.
    let err = register(&env, None).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().to_lowercase().contains("externalaccount"), "{err}");
    let mut wrong = [0u8; 32];
    rand::fill(&mut wrong);
    let wrong = SecretBytes::from_text(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(wrong));
    let err = register(&env, Some((EAB_KID, &wrong))).await.unwrap_err();
    assert!(matches!(err, AcmeError::Problem { .. }), "{err}");
    let right = SecretBytes::from_text(env.eab_hmac_key());
    let (account, credentials) = register(&env, Some((EAB_KID, &right))).await.unwrap();
    assert!(account.url().starts_with("https://127.0.0.1:"));
    let account = restore(&env, &credentials).await;

    // --- Order two names; publish each DNS-01 value (following the CNAME) and answer the challenges.
    let names = vec![format!("www.{ZONE}"), CNAME_NAME.to_owned()];
    let order = account.new_order(&names, None).await.unwrap();
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(order.authorizations.len(), 2);
    // A second holder of the order (a worker that lost its lease and has not stopped yet), which
    // read it while its challenges were pending.
    let other = restore(&env, &credentials).await;
    assert_eq!(other.order(&order.url, true).await.unwrap().status, OrderStatus::Pending);
    let check = Authoritative { timeout: Duration::from_secs(2), egress: EgressPolicy::allowing_loopback() };
    let dns = dns(&env);
    for authz in &order.authorizations {
        let value = authz.dns_value.clone().expect("pending authz has a value");
        let mut qname = challenge_name(&authz.identifier);
        let mut zone = ZONE;
        if let Some(target) = check.cname(env.bind.addr(), &qname).await.unwrap() {
            qname = target;
            zone = DELEGATED_ZONE;
        }
        dns.add_txt(zone, &qname, &value, 60).await.unwrap();
        let servers = check.servers(zone, env.bind.addr()).await.unwrap();
        check.wait_visible(&qname, &value, &servers, Duration::from_secs(5)).await.unwrap();
        account.challenge_ready(&order.url, &authz.identifier).await.unwrap();
    }
    poll_until(&account, &order.url, "ready", |s| s == OrderStatus::Ready).await;
    // The second holder answers the challenges again from its pending view: the CA refuses those
    // answers ("only status pending"), and that is no failure, since they were answered.
    for authz in &order.authorizations {
        other.challenge_ready(&order.url, &authz.identifier).await.unwrap();
    }
    assert_eq!(other.order(&order.url, false).await.unwrap().status, OrderStatus::Ready);

    // --- Finalize with a fresh key; download; the chain verifies for both names against Pebble's root.
    let key = generate_key(KeyType::EcdsaP256).unwrap();
    account.finalize(&order.url, &csr_for_key(&key, &names).unwrap()).await.unwrap();
    poll_until(&account, &order.url, "valid", |s| s == OrderStatus::Valid).await;
    let chain = account.certificate(&order.url).await.unwrap().expect("valid order has a certificate");
    let root = env.pebble.issuing_root_pem();
    for name in &names {
        verify_chain(&chain, &root, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(verify_chain(&chain, &root, "other.example.test").is_err());
    let leaf = leaf_summary(&chain, Some(&public_key_der(&key).unwrap())).unwrap();
    let mut sans = leaf.dns_names.clone();
    sans.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(sans, expected);
    assert!(leaf.not_after > leaf.not_before);
    let other_key = generate_key(KeyType::EcdsaP256).unwrap();
    assert!(leaf_summary(&chain, Some(&public_key_der(&other_key).unwrap())).is_err(), "a foreign key is refused");
    assert_eq!(env.pebble.orders_placed(), 1);

    // --- Revoke.
    let leaf_der = certautopilot_connectors::x509::chain_der(&chain).unwrap().remove(0);
    account.revoke(&leaf_der, Some(5)).await.unwrap();
    let again = account.revoke(&leaf_der, Some(5)).await.unwrap_err();
    assert!(matches!(again, AcmeError::Problem { .. }), "revoking twice is refused: {again}");
    assert_eq!(account.renewal_window(&leaf_der).await.unwrap(), None, "Pebble 2.4 offers no ARI");
}

/// A challenge the CA cannot see fails the order with the CA's reason; a stopped CA is transient.
#[tokio::test]
async fn invalid_challenge_and_unreachable_ca() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let mut env = AcmeEnv::start(dir.path(), AcmeEnvOptions { pebble_sees_stale_dns: true, ..Default::default() });
    let (account, _) = register(&env, None).await.unwrap();
    let names = vec![format!("bad.{ZONE}")];
    let order = account.new_order(&names, None).await.unwrap();
    let authz = &order.authorizations[0];
    let qname = challenge_name(&authz.identifier);
    dns(&env).add_txt(ZONE, &qname, authz.dns_value.as_ref().unwrap(), 60).await.unwrap();
    account.challenge_ready(&order.url, &authz.identifier).await.unwrap();
    poll_until(&account, &order.url, "invalid", |s| s == OrderStatus::Invalid).await;
    let order = account.order(&order.url, true).await.unwrap();
    let reason = order.authorizations[0].error.clone().expect("the CA says why");
    assert!(reason.to_lowercase().contains("txt"), "{reason}");

    env.pebble.stop();
    let err = account.new_order(&names, None).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}

/// Issue 15 item 3: a CA whose TLS certificate the account's bundle does not trust fails at once,
/// permanently, naming why, instead of reading as "unreachable" and being retried. Real Pebble,
/// four ways: a bundle holding another CA (unknown issuer), one holding a CA of the same name with
/// another key (as after regenerating it: bad signature), a bundle holding Pebble's leaf instead of
/// its CA, and Pebble serving its CA certificate as its own (`CaUsedAsEndEntity`, the cause of the
/// report).
#[tokio::test]
async fn an_untrusted_ca_certificate_is_named_and_permanent() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let mut env = AcmeEnv::start(dir.path(), AcmeEnvOptions::default());
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "another-test-ca");
    let other_ca = params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().pem();
    let err = register_trusting(&env, &other_ca, None).await.unwrap_err();
    assert!(matches!(err, AcmeError::Untrusted(Untrusted::UnknownIssuer)), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().starts_with("the CA's certificate is not trusted: "), "{err}");
    assert!(!err.to_string().contains("unreachable"), "{err}");

    let same_name = dir.path().join("same-name-ca");
    make_tls_certificates(&same_name, "localhost", "IP:127.0.0.1");
    let same_name_ca = std::fs::read_to_string(same_name.join("ca.pem")).unwrap();
    let err = register_trusting(&env, &same_name_ca, None).await.unwrap_err();
    assert!(matches!(err, AcmeError::Untrusted(Untrusted::BadSignature)) && !err.is_transient(), "{err:?}");

    // Pebble's HTTPS files (`AcmeEnv` starts it in `<dir>/pebble`, its certificates in `tls/`).
    let tls = dir.path().join("pebble/tls");
    let leaf = std::fs::read_to_string(tls.join("server.pem")).unwrap();
    let err = register_trusting(&env, &leaf, None).await.unwrap_err();
    assert!(matches!(err, AcmeError::Untrusted(_)) && !err.is_transient(), "a leaf is not a CA: {err:?}");

    // The CA's own certificate served as Pebble's: the bundle holds it, and it still is no server's.
    let ca = env.pebble.https_ca_pem();
    std::fs::copy(tls.join("ca.pem"), tls.join("server.pem")).unwrap();
    std::fs::copy(tls.join("ca.key"), tls.join("server.key")).unwrap();
    env.pebble.restart();
    let err = register_trusting(&env, &ca, None).await.unwrap_err();
    assert!(matches!(err, AcmeError::Untrusted(Untrusted::CaUsedAsEndEntity)), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("CA certificate used as the server's own"), "{err}");
}
