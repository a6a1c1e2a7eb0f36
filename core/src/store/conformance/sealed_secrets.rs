//! Conformance of the `SealedSecrets` concern: sealed values live apart from their records and are
//! re-wrapped in place. Invariant: a re-wrap lands only on the value it read and never changes the data.

use super::*;

/// Sealed fields live apart from their records: they round-trip, the record's document does not hold
/// them, usage per KEK version is counted, a re-wrap only lands on the value it read, and deleting the
/// record deletes its sealed values.
pub async fn sealed_fields_live_apart_and_rewrap_in_place<S: Organizations + Records + SealedSecrets>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let mut credential = DnsCredential::new(w.a.project_id(), "tsig", Rfc2136Config::default(), now);
    credential.secret = Some(sealed(1, "cred"));
    f.store.insert(&w.a, &credential).await.unwrap();
    let mut account = AcmeAccount::new(w.a.project_id(), "acct", "https://ca.test/d", now);
    account.eab_hmac_key = Some(sealed(1, "eab"));
    account.account_key = Some(sealed(2, "key"));
    f.store.insert(&w.a, &account).await.unwrap();
    assert_eq!(f.store.get::<DnsCredential>(&w.a, &credential.id).await.unwrap(), credential);
    assert_eq!(f.store.get::<AcmeAccount>(&w.a, &account.id).await.unwrap(), account);
    let raw = f.store.get_raw(&(&w.a).into(), RecordKind::DnsCredential, &credential.id.to_string()).await.unwrap();
    assert!(!raw.doc.contains("wrapped-cred"), "the document holds no sealed value: {}", raw.doc);
    assert_eq!(f.store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(1, 2), (2, 1)]));
    // A sample of exactly one version (the start-up check), and every value a page at a time in key
    // order (a migration's final check): nothing missed, nothing twice.
    let v2 = f.store.sealed_with_version(2, 10).await.unwrap();
    assert_eq!(v2.iter().map(|r| Some(&r.secret)).collect::<Vec<_>>(), vec![account.account_key.as_ref()]);
    let first = f.store.sealed_after(None, 2).await.unwrap();
    let rest = f.store.sealed_after(first.last().map(|r| r.key.clone()), 2).await.unwrap();
    assert_eq!((first.len(), rest.len()), (2, 1));
    let mut seen: Vec<_> = first.iter().chain(&rest).map(|r| r.secret.wrapped_dek.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3);
    assert!(f.store.sealed_after(rest.last().map(|r| r.key.clone()), 2).await.unwrap().is_empty());

    let old = f.store.sealed_older_than(2, 10).await.unwrap();
    assert_eq!(old.len(), 2);
    let row = old.iter().find(|r| r.key.field == "secret").unwrap().clone();
    let rewrapped = SealedSecret { kek_version: 2, wrapped_dek: "wrapped-cred-v2".into(), ..row.secret.clone() };
    assert_eq!(f.store.rewrap_sealed(vec![(row.clone(), rewrapped.clone())]).await.unwrap(), 1);
    // The same re-wrap again finds the value changed and leaves it alone.
    let again = SealedSecret { wrapped_dek: "wrapped-cred-v2-again".into(), ..rewrapped.clone() };
    assert_eq!(f.store.rewrap_sealed(vec![(row.clone(), again)]).await.unwrap(), 0);
    // A re-wrap may not change the data itself.
    let forged = SealedSecret { ciphertext: "other".into(), ..rewrapped.clone() };
    assert!(f.store.rewrap_sealed(vec![(row, forged)]).await.is_err());
    let read: DnsCredential = f.store.get(&w.a, &credential.id).await.unwrap();
    assert_eq!(read.secret, Some(rewrapped));
    assert_eq!(f.store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(1, 1), (2, 2)]));

    // A record read before the re-wrap and saved after it keeps the re-wrapped key, not the old one.
    let mut stale_credential = credential.clone();
    stale_credential.version = read.version;
    stale_credential.name = "renamed".into();
    let saved = f.store.update(&w.a, &stale_credential).await.unwrap();
    assert_eq!(saved.secret.as_ref().map(|s| s.kek_version), Some(2), "an unchanged secret keeps its newer wrap");

    f.store.delete::<AcmeAccount>(&w.a, &account.id, None).await.unwrap();
    assert_eq!(f.store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(2, 1)]));
    // Organization keys are sealed values too.
    let mut org = f.store.get_organization(w.org.id).await.unwrap();
    org.jwt_signing_key = Some(sealed(1, "org"));
    let org = f.store.update_organization(&org, None).await.unwrap();
    assert_eq!(f.store.get_organization(w.org.id).await.unwrap().jwt_signing_key, org.jwt_signing_key);
    assert_eq!(f.store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(1, 1), (2, 1)]));
}

/// A page read only to be shown leaves the sealed fields unread and the records otherwise whole,
/// in the same order and with the same cursor as a page read to be written back; the secrets
/// stay stored.
pub async fn a_page_read_to_show_leaves_sealed_fields_unread<S: Organizations + Records + SealedSecrets>(
    f: &Fixture<S>,
) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut cert = certificate(&w.a, &format!("host{i}.example"), now);
        cert.private_key = Some(sealed(1, &format!("key{i}")));
        f.store.insert(&w.a, &cert).await.unwrap();
        ids.push(cert.id);
    }
    let page = PageRequest::first(2);
    let read: Page<Certificate> = f.store.list(&w.a, &page).await.unwrap();
    let shown: Page<Unsealed<Certificate>> = f.store.list_unsealed(&w.a, &page).await.unwrap();
    assert_eq!(shown.next_cursor, read.next_cursor);
    assert_eq!(shown.items.len(), 2);
    for (shown, read) in shown.items.iter().zip(&read.items) {
        assert!(read.private_key.is_some(), "a page read to write back has its sealed fields");
        assert_eq!(shown.private_key, None, "a page read to show has none");
        let mut expected = read.clone();
        expected.private_key = None;
        assert_eq!(**shown, expected, "and is otherwise the same record");
    }
    let rest: Page<Unsealed<Certificate>> =
        f.store.list_unsealed(&w.a, &PageRequest { cursor: read.next_cursor, ..page }).await.unwrap();
    assert_eq!(rest.items.iter().map(|c| c.id).collect::<Vec<_>>(), vec![*ids.iter().max().unwrap()]);
    assert_eq!(f.store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(1, 3)]));
    // Scope holds as for any read: the other project sees none of them.
    assert!(f.store.list_unsealed::<Certificate>(&w.b, &page).await.unwrap().items.is_empty());
}

/// A record read with its sealed values is one version of it: a reader racing a writer that changes
/// a plain field and a sealed value together (a certificate's serial and its key, as an issuance
/// does) never sees one's new value beside the other's old one, whether it reads one record or a
/// page.
pub async fn a_record_and_its_sealed_values_are_read_as_one_version<S: Organizations + Records>(f: &Fixture<S>) {
    let w = world(f).await;
    let mut cert = certificate(&w.a, "torn.example", f.clock.now_ts());
    cert.serial = Some("v0".into());
    cert.private_key = Some(sealed(1, "v0"));
    f.store.insert(&w.a, &cert).await.unwrap();
    let id = cert.id;
    let writing = std::sync::atomic::AtomicBool::new(true);
    let writer = async {
        for n in 1..=40 {
            cert.serial = Some(format!("v{n}"));
            cert.private_key = Some(sealed(1, &format!("v{n}")));
            cert = f.store.update(&w.a, &cert).await.unwrap();
        }
        writing.store(false, std::sync::atomic::Ordering::Release);
    };
    let matches = |read: &Certificate| {
        let serial = read.serial.clone().unwrap_or_default();
        let key = read.private_key.as_ref().map(|k| k.ciphertext.clone()).unwrap_or_default();
        assert_eq!(key, format!("ct-{serial}"), "version {} read with another version's key", read.version);
    };
    let reader = async {
        let mut reads = 0;
        while writing.load(std::sync::atomic::Ordering::Acquire) {
            matches(&f.store.get::<Certificate>(&w.a, &id).await.unwrap());
            let page: Page<Certificate> = f.store.list(&w.a, &PageRequest::default()).await.unwrap();
            page.items.iter().for_each(matches);
            reads += 1;
            tokio::task::yield_now().await;
        }
        reads
    };
    let ((), reads) = tokio::join!(writer, reader);
    assert!(reads > 0, "the reader ran while the writer wrote");
    matches(&f.store.get::<Certificate>(&w.a, &id).await.unwrap());
}
