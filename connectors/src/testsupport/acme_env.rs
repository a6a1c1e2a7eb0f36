//! The issuance environment: BIND authoritative for `example.test` (and `delegated.test`, the target
//! of a CNAME-delegated `_acme-challenge`), and Pebble validating DNS-01 through that BIND.

use std::path::Path;
use std::time::Duration;

use base64::Engine;

use super::{Bind, Pebble, PebbleOptions, TestZone, TsigKey};

pub const ZONE: &str = "example.test";
pub const DELEGATED_ZONE: &str = "delegated.test";
/// A name whose challenge record is delegated by CNAME into `DELEGATED_ZONE`.
pub const CNAME_NAME: &str = "cname.example.test";
pub const EAB_KID: &str = "certautopilot-test-kid";

#[derive(Debug, Clone, Default)]
pub struct AcmeEnvOptions {
    pub require_eab: bool,
    pub validity: Option<Duration>,
    pub nonce_reject_percent: u8,
    /// Pebble looks challenges up in a second BIND that serves the zones but never sees updates,
    /// so every DNS-01 challenge fails validation.
    pub pebble_sees_stale_dns: bool,
    /// More zones BIND serves (updatable with its key), e.g. an acme-dns domain.
    pub extra_zones: Vec<TestZone>,
    /// More records in `ZONE`, in zone-file syntax (a CNAME delegating a challenge elsewhere).
    pub zone_records: Vec<String>,
}

pub struct AcmeEnv {
    pub bind: Bind,
    pub pebble: Pebble,
    /// The stale server Pebble asks when `pebble_sees_stale_dns` is set.
    pub stale_bind: Option<Bind>,
    eab_hmac_key: String,
}

impl AcmeEnv {
    pub fn start(dir: &Path, options: AcmeEnvOptions) -> AcmeEnv {
        let mut zone = TestZone::new(ZONE)
            .record(&format!("_acme-challenge.{CNAME_NAME}. IN CNAME _acme-challenge.cname.{DELEGATED_ZONE}."));
        for record in &options.zone_records {
            zone = zone.record(record);
        }
        let mut zones = vec![zone, TestZone::new(DELEGATED_ZONE)];
        zones.extend(options.extra_zones.iter().cloned());
        let bind = Bind::start(&dir.join("bind"), TsigKey::random("certautopilot-test"), zones.clone());
        let stale_bind = options.pebble_sees_stale_dns.then(|| {
            let read_only = zones.into_iter().map(TestZone::read_only).collect();
            Bind::start(&dir.join("stale-bind"), TsigKey::random("unused"), read_only)
        });
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        let eab_hmac_key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
        let mut pebble_options = PebbleOptions::new(stale_bind.as_ref().unwrap_or(&bind).addr());
        pebble_options.validity = options.validity;
        pebble_options.nonce_reject_percent = options.nonce_reject_percent;
        if options.require_eab {
            pebble_options.eab_keys.push((EAB_KID.to_owned(), eab_hmac_key.clone()));
        }
        let pebble = Pebble::start(&dir.join("pebble"), pebble_options);
        AcmeEnv { bind, pebble, stale_bind, eab_hmac_key }
    }

    /// The HMAC key Pebble accepts for `EAB_KID` (base64url), when EAB is required.
    pub fn eab_hmac_key(&self) -> &str {
        &self.eab_hmac_key
    }
}
