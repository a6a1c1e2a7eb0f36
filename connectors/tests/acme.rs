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
use certautopilot_connectors::testsupport::{
    AcmeEnv, AcmeEnvOptions, CNAME_NAME, DELEGATED_ZONE, EAB_KID, ZONE, verify_chain,
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
    let ca = env.pebble.https_ca_pem();
    AcmeAccountHandle::register(NewAccountRequest {
        directory_url: &env.pebble.directory_url(),
        extra_roots_pem: Some(&ca),
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
    Rfc2136::new(Rfc2136Config {
        server: env.bind.addr(),
        key_name: key.name.clone(),
        algorithm: TsigAlgorithm::parse(key.algorithm).unwrap(),
        secret: SecretBytes::new(base64::engine::general_purpose::STANDARD.decode(&key.secret).unwrap()),
        timeout: Duration::from_secs(2),
        egress: EgressPolicy::allowing_loopback(),
    })
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
    let account = AcmeAccountHandle::restore(
        &credentials,
        Some(&env.pebble.https_ca_pem()),
        TIMEOUT,
        &EgressPolicy::allowing_loopback(),
    )
    .await
    .unwrap();

    // --- Order two names; publish each DNS-01 value (following the CNAME) and answer the challenges.
    let names = vec![format!("www.{ZONE}"), CNAME_NAME.to_owned()];
    let order = account.new_order(&names).await.unwrap();
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(order.authorizations.len(), 2);
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
    let order = account.new_order(&names).await.unwrap();
    let authz = &order.authorizations[0];
    let qname = challenge_name(&authz.identifier);
    dns(&env).add_txt(ZONE, &qname, authz.dns_value.as_ref().unwrap(), 60).await.unwrap();
    account.challenge_ready(&order.url, &authz.identifier).await.unwrap();
    poll_until(&account, &order.url, "invalid", |s| s == OrderStatus::Invalid).await;
    let order = account.order(&order.url, true).await.unwrap();
    let reason = order.authorizations[0].error.clone().expect("the CA says why");
    assert!(reason.to_lowercase().contains("txt"), "{reason}");

    env.pebble.stop();
    let err = account.new_order(&names).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}
