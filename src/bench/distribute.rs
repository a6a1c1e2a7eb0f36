//! Fan-out: one renewal distributed to many `file` targets and `ssh` targets (a real sshd from the
//! test support), through the real service. Reports the time from the renewed certificate to the
//! last target deployed, beside what one target of each kind takes alone and what they would take
//! one after another.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use certautopilot_connectors::targets::{FileTarget, SshTarget};
use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, Sshd, ZONE, current_user, sample_deployable};
use certautopilot_core::Timestamp;
use certautopilot_core::crypto::SecretBytes;
use serde_json::{Value, json};

use super::issue::{prepare, start_service};
use super::millis;

pub async fn run(dir: &Path, files: usize, ssh: usize) -> anyhow::Result<()> {
    println!("bench distribute: one renewal to {files} file targets and {ssh} ssh targets (one real sshd)");
    let sshd = Sshd::start(&dir.join("sshd"));
    let (file_alone, ssh_alone) = alone(dir, &sshd).await?;
    println!("  one target alone: file {}, ssh {}", millis(file_alone), millis(ssh_alone));
    println!(
        "  all of them one after another would take about {}",
        millis(file_alone * files as u32 + ssh_alone * ssh as u32)
    );
    let dir = dir.to_path_buf();
    let (host_key, client_key) = (sshd.host_key_sha256(), sshd.client_key());
    let port = sshd.addr().port();
    tokio::task::spawn_blocking(move || fan_out(&dir, files, ssh, port, &host_key, &client_key)).await??;
    drop(sshd);
    Ok(())
}

/// One deployment of each kind, straight through the connectors (warm).
async fn alone(dir: &Path, sshd: &Sshd) -> anyhow::Result<(Duration, Duration)> {
    let out = dir.join("alone");
    std::fs::create_dir_all(&out)?;
    let d = sample_deployable("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    let file = FileTarget {
        cert_path: out.join("c.pem"),
        key_path: out.join("k.pem"),
        key_mode: 0o600,
        cert_mode: 0o644,
        owner: None,
        reload: None,
        policy: std::sync::Arc::new(certautopilot_connectors::targets::FilePathPolicy::new([out.clone()], [])),
    };
    let ssh = SshTarget {
        host: "127.0.0.1".into(),
        port: sshd.addr().port(),
        user: current_user(),
        host_key_sha256: sshd.host_key_sha256(),
        private_key: SecretBytes::from_text(&sshd.client_key()),
        cert_path: out.join("sc.pem").display().to_string(),
        key_path: out.join("sk.pem").display().to_string(),
        key_mode: 0o600,
        owner: None,
        reload_command: None,
        timeout: Duration::from_secs(10),
        sessions: None,
        // The bench's sshd listens on loopback.
        egress: certautopilot_connectors::egress::EgressPolicy::allowing_loopback(),
    };
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        let t = Instant::now();
        file.deploy(&d).await?;
        best.0 = best.0.min(t.elapsed());
        let t = Instant::now();
        ssh.deploy(&d).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        best.1 = best.1.min(t.elapsed());
    }
    Ok(best)
}

fn fan_out(
    dir: &Path,
    files: usize,
    ssh: usize,
    ssh_port: u16,
    host_key: &str,
    client_key: &str,
) -> anyhow::Result<()> {
    let env = AcmeEnv::start(&dir.join("env"), AcmeEnvOptions::default());
    let (_child, client) = start_service(dir, 4)?;
    let c = prepare(client, &env)?;
    let (pid, account) = c.project.clone().context("not prepared")?;
    let mut targets = Vec::new();
    for i in 0..files {
        let out = dir.join(format!("files/{i}"));
        std::fs::create_dir_all(&out)?;
        let t = c.expect(
            "POST",
            "/api/v1/targets",
            json!({ "project_id": pid, "name": format!("file-{i}"), "type": "file",
            "config": { "cert_path": out.join("cert.pem"), "key_path": out.join("key.pem") } }),
            201,
        )?;
        targets.push(t["id"].clone());
    }
    for i in 0..ssh {
        let out = dir.join(format!("ssh/{i}"));
        std::fs::create_dir_all(&out)?;
        let t = c.expect(
            "POST",
            "/api/v1/targets",
            json!({ "project_id": pid, "name": format!("ssh-{i}"), "type": "ssh",
            "config": { "host": "127.0.0.1", "port": ssh_port, "user": current_user(), "host_key_sha256": host_key,
                "private_key": client_key, "cert_path": out.join("cert.pem"), "key_path": out.join("key.pem") } }),
            201,
        )?;
        targets.push(t["id"].clone());
    }
    let created = c.expect(
        "POST",
        "/api/v1/certificates",
        json!({ "project_id": pid, "common_name": format!("fanout.{ZONE}"),
        "key_type": "ecdsa-p256", "acme_account_id": account, "target_ids": targets }),
        202,
    )?;
    let cid = created["certificate"]["id"].as_str().unwrap_or_default().to_owned();
    let issued = wait_deployed(&c, &cid, targets.len(), None)?;
    println!("  first issuance deployed everywhere ({} targets)", targets.len());

    // The measured run: a renewal, then the fan-out of the new serial.
    c.expect("POST", &format!("/api/v1/certificates/{cid}/renew"), Value::Null, 202)?;
    let renewed_at = loop {
        let (_, cert) = c.call("GET", &format!("/api/v1/certificates/{cid}"), None)?;
        if cert["status"] == json!("issued") && cert["serial"] != issued {
            break serde_json::from_value::<Timestamp>(cert["updated_at"].clone())?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let serial = c.call("GET", &format!("/api/v1/certificates/{cid}"), None)?.1["serial"].clone();
    wait_deployed(&c, &cid, targets.len(), Some(&serial))?;
    let (_, list) = c.call("GET", &format!("/api/v1/certificates/{cid}/deployments"), None)?;
    let file_targets = &targets[..files];
    let (mut file_times, mut ssh_times) = (Vec::new(), Vec::new());
    for d in list["items"].as_array().context("deployments")? {
        let Ok(at) = serde_json::from_value::<Timestamp>(d["deployed_at"].clone()) else { continue };
        let ms = at.as_unix_millis() - renewed_at.as_unix_millis();
        if file_targets.contains(&d["target_id"]) { file_times.push(ms) } else { ssh_times.push(ms) }
    }
    let span = |t: &[i64]| (t.iter().min().copied().unwrap_or(0), t.iter().max().copied().unwrap_or(0));
    let ((f_first, f_last), (s_first, s_last)) = (span(&file_times), span(&ssh_times));
    println!("  renewal stored → all {} deployed: {} ms", file_times.len() + ssh_times.len(), f_last.max(s_last));
    println!("    file targets done between {f_first} and {f_last} ms; ssh targets between {s_first} and {s_last} ms");
    Ok(())
}

/// Waits until `count` deployments are `deployed` (with `serial` when given); returns the serial.
fn wait_deployed(c: &super::issue::Client, cid: &str, count: usize, serial: Option<&Value>) -> anyhow::Result<Value> {
    let started = Instant::now();
    loop {
        let (_, list) = c.call("GET", &format!("/api/v1/certificates/{cid}/deployments"), None)?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let done = items
            .iter()
            .filter(|d| d["status"] == json!("deployed") && serial.is_none_or(|s| d["serial"] == *s))
            .count();
        if done >= count {
            return Ok(items.first().map(|d| d["serial"].clone()).unwrap_or(Value::Null));
        }
        if let Some(failed) = items.iter().find(|d| d["status"] == json!("failed")) {
            bail!("a deployment failed: {failed}");
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("only {done} of {count} deployed after 300 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
