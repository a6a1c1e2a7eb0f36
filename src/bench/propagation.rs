//! Propagation wait per strategy on this machine: a record is added to a test-support BIND 9 by
//! RFC 2136 and waited for as each strategy waits (`authoritative` and `resolvers` poll the server
//! — the same BIND, which answers recursion from loopback — from 10 ms doubling; `delay` is its
//! fixed second; `none` returns at once). It measures the detection side of the wait, not a whole
//! issuance (`bench issue` does that).

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use certautopilot_connectors::dns::{Authoritative, Rfc2136, Rfc2136Config, TsigAlgorithm};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::testsupport::{Bind, TestZone, TsigKey};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::ServerAnswer;

const ZONE: &str = "bench.test";

pub async fn run(dir: &Path, samples: usize) -> anyhow::Result<()> {
    let key = TsigKey::random("bench");
    let bind = Bind::start(dir, key.clone(), vec![TestZone::new(ZONE)]);
    let config = Rfc2136Config {
        server: bind.addr().to_string(),
        key_name: key.name.clone(),
        algorithm: TsigAlgorithm::from_name(key.algorithm).ok_or_else(|| anyhow::anyhow!("algorithm"))?,
        nameservers: Vec::new(),
    };
    let secret = SecretBytes::new(base64::engine::general_purpose::STANDARD.decode(&key.secret)?);
    let dns = Rfc2136::new(&config, bind.addr(), secret, Duration::from_secs(2), EgressPolicy::allowing_loopback())?;
    let check = Authoritative { timeout: Duration::from_secs(2), egress: EgressPolicy::allowing_loopback() };
    println!("propagation wait per strategy ({samples} samples each, BIND 9 on loopback)");
    for strategy in ["authoritative", "resolvers", "delay", "none"] {
        let mut waits = Vec::with_capacity(samples);
        for i in 0..samples {
            let name = format!("_acme-challenge.s{i}.{strategy}.{ZONE}");
            let value = format!("v{i}");
            dns.add_txt(ZONE, &name, &value, 60).await?;
            let started = Instant::now();
            match strategy {
                "delay" => tokio::time::sleep(Duration::from_secs(1)).await,
                "none" => {}
                _ => {
                    let mut pause = Duration::from_millis(10);
                    while check.answer(bind.addr(), &name, &value).await? != ServerAnswer::HasValue {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(500));
                    }
                }
            }
            waits.push(started.elapsed());
            dns.remove_txt(ZONE, &name, &value).await?;
        }
        waits.sort();
        println!(
            "  {strategy:<13} p50 {}  max {}",
            super::millis(super::percentile(&waits, 50.0)),
            super::millis(waits[waits.len() - 1])
        );
    }
    Ok(())
}
