use std::sync::Arc;

use certautopilot_core::crypto::{CryptoError, Envelope, KekProvider, LocalKek, SecretBytes};

use super::*;

fn service(registry: &ActorRegistry, cache: usize) -> (KekService, Envelope) {
    let service = KekService::start(registry, "node-1", Arc::new(LocalKek::ephemeral()), cache);
    let envelope = Envelope::new(Arc::new(service.client()));
    (service, envelope)
}

/// Sealing and opening through the actor round-trips, a second open is served from the cache, and
/// the registry shows the actor with its figures (and no key material).
#[actix_rt::test]
async fn round_trip_through_the_actor_uses_the_cache_and_reports() {
    let registry = ActorRegistry::new();
    let (service, envelope) = service(&registry, 16);
    let secret = SecretBytes::from_text("acme-account-key-material");
    let sealed = envelope.seal("rec-1", "private_key", &secret).expect("seal");
    assert_eq!(envelope.open("rec-1", "private_key", &sealed).expect("open"), secret);
    assert_eq!(envelope.open("rec-1", "private_key", &sealed).expect("open again"), secret);

    let detail = service.client().detail().expect("detail");
    assert_eq!((detail.wraps, detail.unwraps, detail.cache_hits, detail.cache_entries), (1, 1, 1, 1));
    assert_eq!(detail.current_version, 1);

    let snap = registry.get(KIND, "node-1").expect("registered");
    assert!(snap.alive);
    assert!(snap.messages_handled >= 4, "{snap:?}");
    let shown = serde_json::to_string(&snap).expect("json");
    assert!(!shown.contains("acme-account-key-material"));
    service.stop().await;
    assert!(registry.get(KIND, "node-1").is_none(), "a stopped actor leaves the registry");
}

/// A tampered value or one moved to another field fails with the integrity error, cache or not.
#[actix_rt::test]
async fn tampering_is_an_integrity_error_through_the_actor() {
    let registry = ActorRegistry::new();
    let (service, envelope) = service(&registry, 16);
    let sealed = envelope.seal("rec-1", "hmac_key", &SecretBytes::from_text("eab")).expect("seal");
    envelope.open("rec-1", "hmac_key", &sealed).expect("warm the cache");
    assert!(matches!(envelope.open("rec-2", "hmac_key", &sealed), Err(CryptoError::Integrity)));
    assert!(matches!(envelope.open("rec-1", "other", &sealed), Err(CryptoError::Integrity)));
    let mut flipped = sealed.clone();
    let mut wrapped = flipped.wrapped_dek.into_bytes();
    wrapped[4] = if wrapped[4] == b'A' { b'B' } else { b'A' };
    flipped.wrapped_dek = String::from_utf8(wrapped).expect("ascii");
    assert!(matches!(envelope.open("rec-1", "hmac_key", &flipped), Err(CryptoError::Integrity)));
    service.stop().await;
}

/// The cache holds at most its capacity, evicting the least recently used key.
#[actix_rt::test]
async fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
    let registry = ActorRegistry::new();
    let (service, envelope) = service(&registry, 2);
    let sealed: Vec<_> = (0..3)
        .map(|i| envelope.seal(&format!("rec-{i}"), "f", &SecretBytes::from_text(&format!("s{i}"))).expect("seal"))
        .collect();
    envelope.open("rec-0", "f", &sealed[0]).expect("open 0");
    envelope.open("rec-1", "f", &sealed[1]).expect("open 1");
    envelope.open("rec-0", "f", &sealed[0]).expect("touch 0");
    envelope.open("rec-2", "f", &sealed[2]).expect("open 2, evicting 1");
    envelope.open("rec-0", "f", &sealed[0]).expect("0 is still cached");
    let detail = service.client().detail().expect("detail");
    assert_eq!(detail.cache_entries, 2);
    assert_eq!((detail.cache_hits, detail.cache_misses), (2, 3));
    envelope.open("rec-1", "f", &sealed[1]).expect("1 was evicted");
    assert_eq!(service.client().detail().expect("detail").cache_misses, 4);
    service.stop().await;
}

/// Rotation through the actor: a new version, a batch re-wrap in one message, the old version
/// retired, and its cached keys forgotten with it.
#[actix_rt::test]
async fn rotate_rewrap_and_retire_through_the_actor() {
    let registry = ActorRegistry::new();
    let (service, envelope) = service(&registry, 16);
    let client = service.client();
    let sealed: Vec<_> = (0..5)
        .map(|i| envelope.seal(&format!("rec-{i}"), "f", &SecretBytes::from_text(&format!("s{i}"))).expect("seal"))
        .collect();
    envelope.open("rec-0", "f", &sealed[0]).expect("cache one key under v1");
    assert_eq!(client.create_version().expect("new version"), 2);
    assert_eq!(client.current_version(), 2, "the client sees the new version at once");
    let ids: Vec<String> = (0..5).map(|i| format!("rec-{i}")).collect();
    let items: Vec<_> = sealed.iter().zip(&ids).map(|(s, id)| (id.as_str(), "f", s)).collect();
    let handled_before = registry.get(KIND, "node-1").expect("registered").messages_handled;
    let rewrapped: Vec<_> = envelope.rewrap_many(&items).into_iter().collect::<Result<_, _>>().expect("rewrap all");
    assert_eq!(registry.get(KIND, "node-1").expect("registered").messages_handled, handled_before + 1);
    assert!(rewrapped.iter().all(|s| s.kek_version == 2));
    client.retire_version(1).expect("retire v1");
    assert_eq!(client.detail().expect("detail").cache_entries, 0, "v1 keys left the cache");
    assert!(matches!(envelope.open("rec-0", "f", &sealed[0]), Err(CryptoError::MissingKekVersion { version: 1 })));
    for (i, s) in rewrapped.iter().enumerate() {
        assert_eq!(envelope.open(&ids[i], "f", s).expect("open v2"), SecretBytes::from_text(&format!("s{i}")));
    }
    client.report_rotation(Some(RotationStatus { target_version: 2, done: 1, total: 5 }));
    let snap = crate::testing::wait_for(&registry, KIND, "node-1", "rotation shown", |s| s.state == "rotating").await;
    assert_eq!(snap.detail["rotation"]["total"], 5);
    service.stop().await;
}
