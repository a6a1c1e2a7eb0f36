//! `serve` with the PKCS#11 KEK on a real SoftHSM2 token: secrets written through the API are sealed
//! by the token and still open after a restart; a wrong PIN stops start-up with a clear message.

use std::time::Duration;

use certautopilot_core::softhsm::{SoftHsm, USER_PIN};
use serde_json::json;

use crate::process::{Server, post_json, wait_for_status};

fn env<'a>(hsm: &'a SoftHsm, pin: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SOFTHSM2_CONF", hsm.conf.to_str().unwrap()),
        ("CERTAUTOPILOT_KEK__PROVIDER", "pkcs11"),
        ("CERTAUTOPILOT_KEK__PKCS11__MODULE", hsm.module.to_str().unwrap()),
        ("CERTAUTOPILOT_KEK__PKCS11__TOKEN_LABEL", "cap-serve"),
        ("CERTAUTOPILOT_KEK__PKCS11__PIN_ENV", "CAP_TEST_HSM_PIN"),
        ("CAP_TEST_HSM_PIN", pin),
    ]
}

#[test]
fn serve_with_a_pkcs11_kek_keeps_secrets_across_restarts() {
    let hsm = SoftHsm::start("cap-serve").expect("SoftHSM2 test token");
    let dir = tempfile::tempdir().unwrap();
    let login = json!({ "email": "owner@hsm.test", "password": "correct horse battery staple" });
    {
        let mut server = Server::start(dir.path(), &[], &env(&hsm, USER_PIN));
        wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
        let (status, _) = post_json(
            server.addr,
            "/api/v1/setup",
            None,
            json!({ "org_name": "Hsm", "email": "owner@hsm.test", "password": "correct horse battery staple" }),
        );
        assert_eq!(status, 201);
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait_exit(Duration::from_secs(30)), 0);
        assert!(server.log.iter().any(|l| l.contains("pkcs11:")), "the log names the provider");
    }
    {
        // The token-signing key was sealed by the token: logging in after a restart proves it opens.
        let server = Server::start(dir.path(), &[], &env(&hsm, USER_PIN));
        wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
        let (status, body) = post_json(server.addr, "/api/v1/auth/login", None, login);
        assert_eq!(status, 200, "{body}");
    }
    let output = crate::process::command(dir.path())
        .args(["serve"])
        .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
        .env("CERTAUTOPILOT_METRICS__LISTEN", "127.0.0.1:0")
        .envs(env(&hsm, "wrong-pin"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the PIN for PKCS#11 token \"cap-serve\" is wrong"), "{stderr}");
    assert!(!stderr.contains("wrong-pin"), "the PIN itself is never printed: {stderr}");
}
