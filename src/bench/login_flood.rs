//! A flood of bad logins against this binary serving in a child process (issue 14, item 3): the
//! service's resident memory before, at its peak during, and 1 s / 5 s / 10 s after the flood;
//! /healthz latency while it lasts; and how the logins were answered (401 / 429 / 503).
//! Goals from the issue: peak under 300 MB, back under 80 MB within 10 s, /healthz p99 under 50 ms.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use super::health_probe::HealthProbe;
use super::issue::rss_kib;
use super::service::{call, start_service};

const OWNER: &str = "owner@bench.test";
const PASSWORD: &str = "bench password, long enough";

pub fn run(dir: &Path, logins: usize, same_account: bool) -> anyhow::Result<()> {
    println!(
        "bench login-flood: {logins} concurrent bad logins, each from its own X-Forwarded-For address, {}",
        if same_account { "all for the owner's account" } else { "each for its own unknown e-mail" }
    );
    let (mut child, addr) = start_service(dir, &[])?;
    let pid = child.pid().context("no child pid")?;
    let setup = json!({ "org_name": "Bench", "email": OWNER, "password": PASSWORD });
    expect(call(addr, "POST", "/api/v1/setup", &[], Some(&setup.to_string()))?, 201, "setup")?;
    let login = json!({ "email": OWNER, "password": PASSWORD }).to_string();
    expect(call(addr, "POST", "/api/v1/auth/login", &[("X-Forwarded-For", "192.0.2.1")], Some(&login))?, 200, "login")?;
    let before = rss_kib(pid).unwrap_or_default();

    let flooding = AtomicBool::new(true);
    let peak = AtomicU64::new(before);
    let health = HealthProbe::default();
    let answers = Mutex::new(BTreeMap::<String, usize>::new());
    let barrier = Barrier::new(logins + 1);
    let started = Instant::now();
    let elapsed = std::thread::scope(|s| {
        s.spawn(|| {
            while flooding.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid).unwrap_or_default(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        s.spawn(|| health.run(addr, &flooding));
        let flood: Vec<_> = (0..logins)
            .map(|i| {
                let (barrier, answers) = (&barrier, &answers);
                s.spawn(move || {
                    let email = if same_account { OWNER.to_owned() } else { format!("nobody{i}@bench.test") };
                    let body = json!({ "email": email, "password": "not the password at all" }).to_string();
                    let from = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
                    barrier.wait();
                    let answer =
                        match call(addr, "POST", "/api/v1/auth/login", &[("X-Forwarded-For", &from)], Some(&body)) {
                            Ok((status, _)) => status.to_string(),
                            Err(_) => "connection error".to_owned(),
                        };
                    *answers.lock().unwrap_or_else(|e| e.into_inner()).entry(answer).or_default() += 1;
                })
            })
            .collect();
        barrier.wait();
        for login in flood {
            let _ = login.join();
        }
        let elapsed = started.elapsed();
        flooding.store(false, Ordering::Relaxed);
        elapsed
    });
    let ended = Instant::now();
    let mut after = Vec::new();
    for mark in [1, 5, 10] {
        std::thread::sleep((ended + Duration::from_secs(mark)).saturating_duration_since(Instant::now()));
        after.push((mark, rss_kib(pid).unwrap_or_default()));
    }
    let mb = |kib: u64| kib as f64 / 1024.0;
    println!("  flood answered in {:.2} s: {:?}", elapsed.as_secs_f64(), answers.into_inner().unwrap_or_default());
    println!(
        "  service resident memory: before {:.1} MiB, peak during {:.1} MiB, after 1 s {:.1} MiB, 5 s {:.1} MiB, 10 s {:.1} MiB",
        mb(before),
        mb(peak.load(Ordering::Relaxed)),
        mb(after[0].1),
        mb(after[1].1),
        mb(after[2].1)
    );
    println!("{}", health.summary("during the flood"));
    let owner = call(addr, "POST", "/api/v1/auth/login", &[("X-Forwarded-For", "192.0.2.2")], Some(&login))?.0;
    println!("  the owner logging in from a fresh address afterwards: {owner}");
    child.stop();
    Ok(())
}

fn expect((status, body): (u16, String), want: u16, what: &str) -> anyhow::Result<()> {
    if status != want {
        bail!("{what}: expected {want}, got {status}: {body}");
    }
    Ok(())
}
