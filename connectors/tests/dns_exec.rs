//! The exec hook provider against small scripts written into a temporary directory: the
//! environment contract, exit statuses classified, the time limit (the hook and what it started
//! are killed) and bounded output.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use certautopilot_connectors::dns::{DnsError, ProviderContext, TxtRecords, client};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_core::model::{DnsProvider, DnsProviderConfig};
use serde_json::json;

/// Writes an executable `/bin/sh` script.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

async fn hook(command: &Path, timeout_seconds: u32) -> Box<dyn TxtRecords> {
    let request = json!({ "command": command.display().to_string(), "timeout_seconds": timeout_seconds });
    let (config, secret) =
        DnsProviderConfig::decode_request(DnsProvider::Exec, request.as_object().unwrap().clone()).unwrap();
    let context = ProviderContext { timeout: Duration::from_secs(2), egress: EgressPolicy::allowing_loopback() };
    client(&config, secret.as_ref(), &context).await.unwrap()
}

/// `present` and `cleanup` each see exactly ACTION, FQDN (with the final dot), VALUE, ZONE and a
/// fixed PATH: nothing of the service's environment (where its secrets may be), no
/// arguments, no stdin, and `/` as the working directory.
#[tokio::test]
async fn the_hook_sees_the_documented_environment_only() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let command = script(
        dir.path(),
        "hook",
        &format!(
            "{{ echo \"args=$#\"; pwd; env | sort; cat; }} >> {seen}\necho \"--\" >> {seen}",
            seen = seen.display()
        ),
    );
    // This test's own environment (cargo's CARGO_* variables, its PATH) stands for the service's.
    assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO")));
    let dns = hook(&command, 5).await;
    dns.add_txt("example.test", "_acme-challenge.www.example.test", "value-1", 60).await.unwrap();
    dns.remove_txt("example.test", "_acme-challenge.www.example.test", "value-1").await.unwrap();
    let text = std::fs::read_to_string(&seen).unwrap();
    let runs: Vec<&str> = text.split("--\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(runs.len(), 2, "{text}");
    for (run, action) in runs.iter().zip(["present", "cleanup"]) {
        let lines: Vec<&str> = run.lines().collect();
        assert_eq!(lines[0], "args=0");
        assert_eq!(lines[1], "/");
        let env: Vec<&str> = lines[2..]
            .iter()
            .copied()
            .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_="))
            .collect();
        assert_eq!(
            env,
            vec![
                format!("ACTION={action}").as_str(),
                "FQDN=_acme-challenge.www.example.test.",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "VALUE=value-1",
                "ZONE=example.test",
            ],
            "{run}"
        );
    }
    assert!(!text.contains("CARGO"));
}

/// A non-zero exit is a permanent failure naming the status and not the output (which may hold
/// the script's secrets); exit 75 (EX_TEMPFAIL) is transient; a program others may rewrite and a
/// missing program are refused, permanently.
#[tokio::test]
async fn exit_statuses_are_classified_and_output_stays_out_of_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let failing = script(dir.path(), "fail", "echo 'token=hunter2' >&2\nexit 3");
    let err = hook(&failing, 5).await.add_txt("example.test", "a.example.test", "v", 60).await.unwrap_err();
    assert!(matches!(&err, DnsError::Hook { transient: false, .. }), "{err:?}");
    assert!(err.to_string().contains("exited with status 3") && err.to_string().contains("(present)"), "{err}");
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");

    let later = script(dir.path(), "later", "exit 75");
    let err = hook(&later, 5).await.remove_txt("example.test", "a.example.test", "v").await.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("status 75"), "{err}");

    let shared = script(dir.path(), "shared", "exit 0");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = hook(&shared, 5).await.add_txt("example.test", "a.example.test", "v", 60).await.unwrap_err();
    assert!(!err.is_transient() && err.to_string().contains("writable by other users"), "{err}");

    let missing = dir.path().join("missing");
    let err = hook(&missing, 5).await.add_txt("example.test", "a.example.test", "v", 60).await.unwrap_err();
    assert!(!err.is_transient() && err.to_string().contains("does not exist"), "{err}");
}

/// Whether `pid` is gone (or only a zombie awaiting its reaper).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// A hook that outlives its time is killed with everything in its process group (here a `sleep`
/// it started), and the failure is transient (like an API that did not answer).
#[tokio::test]
async fn a_hook_past_its_time_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("sleep.pid");
    let command = script(dir.path(), "slow", &format!("sleep 300 &\necho $! > {}\nwait", pidfile.display()));
    let started = Instant::now();
    let err = hook(&command, 1).await.add_txt("example.test", "a.example.test", "v", 60).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(matches!(&err, DnsError::Hook { transient: true, .. }), "{err:?}");
    assert!(err.to_string().contains("did not finish within 1 s"), "{err}");
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ended(pid) {
        assert!(Instant::now() < deadline, "the hook's sleep {pid} is still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A hook printing far more than the bound still finishes (its pipes are drained, not left full)
/// and succeeds; what it printed is not part of any result.
#[tokio::test]
async fn a_hook_with_large_output_is_drained_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let command = script(dir.path(), "loud", "head -c 1000000 /dev/zero | tr '\\0' x\nhead -c 1000000 /dev/zero >&2");
    hook(&command, 10).await.add_txt("example.test", "a.example.test", "v", 60).await.unwrap();
}
