//! The binary as an API client, run as an operator runs it against a real `serve` over TCP: log in
//! with the password on standard input, create what issuance needs, `cert create --wait` against
//! Pebble and BIND 9, fetch the chain, revoke, read the timeline; and every way a script can get
//! it wrong, each with its documented exit code. Every command's output is kept, to prove the
//! token never appears in any of it.

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE, verify_chain};
use serde_json::{Value, json};

use crate::process::{ApiClient, Server, command, wait_for_status};

const OWNER_PASSWORD: &str = "correct horse battery staple";

/// One person at a shell: their own config directory (so their own stored token), and every
/// byte the client printed for them.
struct Shell {
    dir: PathBuf,
    home: tempfile::TempDir,
    /// `HOME` only (no `XDG_CONFIG_HOME`): the credentials go to `~/.config/certautopilot`.
    home_only: bool,
    printed: RefCell<String>,
}

impl Shell {
    fn new(dir: &Path, home_only: bool) -> Shell {
        Shell { dir: dir.to_owned(), home: tempfile::tempdir().unwrap(), home_only, printed: RefCell::default() }
    }

    fn config_home(&self) -> PathBuf {
        if self.home_only { self.home.path().join(".config") } else { self.home.path().join("xdg") }
    }

    fn credentials(&self) -> PathBuf {
        self.config_home().join("certautopilot/credentials.json")
    }

    /// The stored token, read from the file as another program on the host could.
    fn token(&self) -> String {
        let file: Value = serde_json::from_str(&std::fs::read_to_string(self.credentials()).unwrap()).unwrap();
        file["token"].as_str().unwrap().to_owned()
    }

    /// Runs the client with `stdin` as its standard input (never a terminal here).
    fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = command(&self.dir);
        cmd.env("HOME", self.home.path());
        if self.home_only {
            cmd.env_remove("XDG_CONFIG_HOME");
        } else {
            cmd.env("XDG_CONFIG_HOME", self.config_home());
        }
        let mut child = cmd
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let mut printed = self.printed.borrow_mut();
        printed.push_str(&String::from_utf8_lossy(&out.stdout));
        printed.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, "", &[])
    }

    /// Runs and expects success; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, "")
    }

    fn ok_with(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run_with(args, stdin, &[]);
        assert!(out.status.success(), "{args:?}: {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--output", "json"]).collect();
        let text = self.ok(&args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {text}"))
    }

    /// Runs and expects exit `code`; its standard error.
    fn fails(&self, args: &[&str], env: &[(&str, &str)], code: i32) -> String {
        self.fails_with(args, "", env, code)
    }

    fn fails_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)], code: i32) -> String {
        let out = self.run_with(args, stdin, env);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        stderr
    }

    fn login(&self, server: &str, email: &str, password: &str) -> String {
        self.ok_with(&["login", "--server", server, "--email", email], &format!("{password}\n"))
    }

    /// Runs `args` until `done` holds for its JSON output; panics after `deadline`.
    fn wait_for_json(&self, args: &[&str], deadline: Duration, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let value = self.json(args);
            if done(&value) {
                return value;
            }
            assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}; last output {value}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn assert_never_printed(&self, secret: &str) {
        assert!(secret.len() > 20, "a real token");
        assert!(!self.printed.borrow().contains(secret), "the token was printed");
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `certautopilot setup` before the service starts, the password on standard input.
fn setup_owner(dir: &Path) {
    let mut child = command(dir)
        .args(["setup", "--org", "Acme", "--email", "owner@acme.test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{OWNER_PASSWORD}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The operator's whole path on the command line: setup → login (password on stdin) → project,
/// ACME account, DNS credential and zone → `cert create --wait`, which prints the job's steps and
/// ends issued (Pebble validated the DNS-01 record in BIND) → the chain verifies against Pebble's
/// root → `cert revoke --wait` → the timeline holds the revocation → the audit chain verifies over
/// the API → with BIND gone, `--wait` on a certificate whose job dies exits 8 → logout revokes the
/// token server-side. The stored file is 0600 in a 0700 directory, and the token is never printed,
/// by the client or in the service's log.
#[test]
fn an_operator_drives_the_lifecycle_from_the_command_line() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    setup_owner(dir.path());
    let mut server = crate::issuance::start(dir.path(), &[("CERTAUTOPILOT_JOBS__MAX_ATTEMPTS", "2")]);
    let url = format!("http://{}", server.addr);
    let sh = Shell::new(dir.path(), false);

    // --- login: the password on standard input, an API token stored privately.
    let said = sh.login(&url, "owner@acme.test", OWNER_PASSWORD);
    assert!(said.contains(&format!("logged in to {url} as owner@acme.test")), "{said}");
    assert_eq!(mode(&sh.credentials()), 0o600);
    assert_eq!(mode(sh.credentials().parent().unwrap()), 0o700);
    let token = sh.token();
    assert!(token.starts_with("cap_"), "an API token, not the one-hour session");

    // --- what issuance needs, names instead of ids where a person would use them.
    let project = sh.json(&["project", "create", "--name", "web"]);
    assert_eq!(project["name"], json!("web"));
    let bundle = dir.path().join("pebble-https.pem");
    std::fs::write(&bundle, env.pebble.https_ca_pem()).unwrap();
    let directory = env.pebble.directory_url();
    let account = sh.json(&[
        "account",
        "create",
        "--project",
        "web",
        "--name",
        "pebble",
        "--directory-url",
        &directory,
        "--contact",
        "mailto:ops@acme.test",
        "--agree-tos",
        "--ca-bundle",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!((account["name"].clone(), account["has_ca_bundle"].clone()), (json!("pebble"), json!(true)));
    let key = env.bind.key();
    let dns_server = env.bind.addr().to_string();
    let create_credential = |name: &str, secret: &str| {
        let args = ["credential", "create", "--project", "web", "--name", name, "--dns-server", &dns_server];
        let key_args = ["--key-name", &key.name, "--algorithm", key.algorithm, "--secret-file", "-"];
        sh.ok_with(&[&args[..], &key_args[..]].concat(), &format!("{secret}\n"))
    };
    let credential = create_credential("bind", &key.secret);
    assert!(credential.contains("has_secret") && !credential.contains(&key.secret), "{credential}");
    sh.ok(&["zone", "create", "--project", "web", "--apex", ZONE, "--credential", "bind"]);
    let zones = sh.ok(&["zone", "list", "--project", "web"]);
    assert!(zones.starts_with("ID") && zones.contains(ZONE), "{zones}");
    let catalogue = sh.ok(&["account", "catalogue"]);
    assert!(
        catalogue.starts_with("ID") && catalogue.contains("letsencrypt") && catalogue.contains("EAB"),
        "{catalogue}"
    );
    // The credential's test writes and removes a probe record at the real BIND, step by step.
    let tested = sh.ok(&["credential", "test", "--project", "web", "bind", "--zone", ZONE]);
    for step in ["connect", "find zone", "add record", "remove record"] {
        assert!(tested.contains(step), "{tested}");
    }
    assert!(tested.starts_with("STEP") && !tested.contains("false"), "{tested}");
    // A credential BIND refuses (another secret) fails its test at the update, exit code 1.
    create_credential("wrong", "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw==");
    sh.ok(&["zone", "create", "--project", "web", "--apex", &format!("w.{ZONE}"), "--credential", "wrong"]);
    let out = sh.run_with(&["credential", "test", "--project", "web", "wrong"], "", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("failed at add record"), "{err}");

    // --- issue and wait: each step on standard error, the issued certificate on standard output.
    let name = format!("www.{ZONE}");
    let out = sh.run_with(
        &[
            "cert",
            "create",
            "--project",
            "web",
            "--account",
            "pebble",
            "--name",
            &name,
            "--wait",
            "--timeout",
            "90s",
            "--output",
            "json",
        ],
        "",
        &[],
    );
    let progress = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{progress}");
    let issued: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = issued["id"].as_str().unwrap().to_owned();
    assert_eq!(issued["status"], json!("issued"), "{issued}");
    assert!(progress.contains("order placed"), "the job's steps as they happened: {progress}");
    assert!(progress.contains(&format!("certificate {id} issued (serial ")), "{progress}");

    let chain = sh.ok(&["cert", "chain", &id]);
    verify_chain(&chain, &env.pebble.issuing_root_pem(), &name).unwrap();
    let listed = sh.json(&["cert", "list", "--project", "web"]);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let table = sh.ok(&["cert", "list"]);
    assert!(table.lines().nth(1).is_some_and(|l| l.starts_with(&id) && l.contains("issued")), "{table}");

    // --- revoke and wait; the timeline then holds the request and the revocation.
    let revoked = sh.ok(&["cert", "revoke", &id, "--reason", "superseded", "--wait", "--timeout", "90s"]);
    assert!(revoked.lines().any(|l| l.starts_with("status") && l.ends_with("revoked")), "{revoked}");
    let timeline = sh.wait_for_json(&["cert", "timeline", &id], Duration::from_secs(10), "revocation chained", |t| {
        t["items"].as_array().unwrap().iter().any(|e| e["event"] == json!("cert.revoked"))
    });
    assert!(timeline["items"].as_array().unwrap().iter().any(|e| e["event"] == json!("cert.issued")));
    let table = sh.ok(&["cert", "timeline", &id]);
    assert!(table.starts_with("AT") && table.contains("cert.revoke_requested"), "{table}");
    let jobs = sh.json(&["job", "list", "--all"]);
    let kinds: Vec<&str> = jobs["items"].as_array().unwrap().iter().filter_map(|j| j["kind"].as_str()).collect();
    assert!(kinds.contains(&"issue") && kinds.contains(&"revoke"), "{kinds:?}");
    let issue_job = jobs["items"].as_array().unwrap().iter().find(|j| j["kind"] == json!("issue")).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = sh.run(&["job", "show", &issue_job, "--follow", "--output", "json"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stderr).contains("order placed"));
    let detail: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(detail["job"]["status"], json!("succeeded"), "{detail}");
    let events = ["audit", "events", "--project", "web", "--action", "cert.issued"];
    sh.wait_for_json(&events, Duration::from_secs(10), "issuance chained", |e| {
        e["items"].as_array().unwrap().len() == 1
    });
    let verified = sh.json(&["audit", "verify", "--remote"]);
    assert_eq!(verified["intact"], json!(true), "{verified}");

    // --- the DNS server gone: the job fails its two attempts, and --wait says so with exit 8.
    env.bind.stop();
    let down = format!("down.{ZONE}");
    let out = sh.run(&["cert", "create", "--account", "pebble", "--name", &down, "--wait", "--timeout", "90s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("error: certificate ") && stderr.contains(" failed: "), "{stderr}");
    assert!(stderr.contains(&env.bind.addr().to_string()), "the reason names the DNS server: {stderr}");
    let job = stderr.lines().find_map(|l| l.split_once("; issue job ")).expect("the job is named").1.to_owned();
    let err = sh.fails(&["job", "show", &job, "--follow", "--timeout", "90s"], &[], 8);
    assert!(err.contains(&format!("error: job {job} failed: ")), "{err}");

    // --- logout revokes the token on the server and deletes the file.
    let said = sh.ok(&["logout"]);
    assert!(said.contains("token revoked"), "{said}");
    assert!(!sh.credentials().exists());
    let err = sh.fails(&["cert", "list"], &[], 3);
    assert!(err.contains("not logged in"), "{err}");
    let err = sh.fails(
        &["cert", "list", "--server", &url],
        &[("CERTAUTOPILOT_TOKEN", &token), ("CERTAUTOPILOT_PROJECT", "web")],
        3,
    );
    assert!(err.contains("invalid or expired credentials"), "revoked on the server: {err}");
    sh.assert_never_printed(&token);
    // Nor did the service log it, at any point of all this.
    server.signal(libc::SIGTERM);
    server.wait_exit(Duration::from_secs(20));
    assert!(server.log.len() > 10, "the service's log was read");
    assert!(!server.log.iter().any(|line| line.contains(&token)), "the token is in the service's log");
}

/// Each kind of failure a script must tell apart, with its exit code and the server's detail:
/// unknown project (5), a viewer creating a certificate (4), a bad token (3), no login (3),
/// validation (6, naming the field), usage (2), plain http off this host (2, refused before any
/// socket: a listener sees no connection), the server gone (7); `--output json` parses; the stored
/// token goes only to its own server; and no token is ever printed.
#[test]
fn bad_input_gives_the_documented_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let url = format!("http://{}", server.addr);
    let owner_api = ApiClient::setup_and_login(server.addr);
    let pid = owner_api.ok("POST", "/api/v1/projects", Some(json!({ "name": "web" })), 201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let viewer = owner_api.ok(
        "POST",
        "/api/v1/users",
        Some(json!({ "email": "viewer@acme.test", "password": "a viewer's long password" })),
        201,
    );
    owner_api.ok(
        "POST",
        &format!("/api/v1/projects/{pid}/members"),
        Some(json!({ "user_id": viewer["id"], "role": "viewer" })),
        201,
    );
    let owner = Shell::new(dir.path(), false);
    owner.login(&url, "owner@acme.test", OWNER_PASSWORD);
    // The viewer keeps the credentials under ~/.config (no XDG_CONFIG_HOME), through `localhost`.
    let viewer = Shell::new(dir.path(), true);
    let said = viewer.login(
        &format!("http://localhost:{}", server.addr.port()),
        "viewer@acme.test",
        "a viewer's long password",
    );
    assert!(said.contains("as viewer@acme.test"), "{said}");
    assert_eq!(mode(&viewer.credentials()), 0o600);
    let absent_account = "0190b0e0-0000-7000-8000-00000000000a";

    // --- JSON for scripts is the server's JSON.
    let projects = owner.json(&["project", "list"]);
    assert_eq!(projects["items"][0]["id"], json!(pid));
    let table = owner.ok(&["project", "list"]);
    assert!(table.starts_with("ID") && table.contains("web"), "{table}");

    // --- 5: a project name nobody has, an id nobody can see, a job that does not exist.
    let err = owner.fails(&["cert", "list", "--project", "nope"], &[], 5);
    assert!(err.contains("no project named \"nope\"") && err.contains("there are: web"), "{err}");
    let err = owner.fails(&["cert", "list", "--project", absent_account], &[], 5);
    assert!(err.contains("[not_found, HTTP 404]"), "{err}");
    owner.fails(&["job", "show", absent_account], &[], 5);

    // --- 6: validation names the field and the server's detail.
    let err = owner.fails(&["cert", "create", "--account", absent_account, "--name", "not a name!"], &[], 6);
    assert!(err.contains("common_name: ") && err.contains("[validation_failed, HTTP 422]"), "{err}");

    // --- 4: a viewer may read but not request a certificate.
    viewer.ok(&["cert", "list", "--project", "web"]);
    let err = viewer.fails(&["cert", "create", "--account", absent_account, "--name", "www.acme.test"], &[], 4);
    assert!(err.contains("operator role") && err.contains("[forbidden, HTTP 403]"), "{err}");

    // --- 3: a token the server does not know; no login at all; the stored token is not sent to
    // another server (refused before any connection).
    let stranger = Shell::new(dir.path(), false);
    let bogus = format!("cap_{absent_account}.not-the-secret-at-all");
    let err = stranger.fails(&["cert", "list", "--server", &url], &[("CERTAUTOPILOT_TOKEN", &bogus)], 3);
    assert!(err.contains("invalid or expired credentials") && err.contains("certautopilot login"), "{err}");
    let err = stranger.fails(&["cert", "list", "--server", &url], &[], 3);
    assert!(err.contains(&format!("not logged in to {url}")), "{err}");
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let elsewhere = format!("http://{}", other.local_addr().unwrap());
    owner.fails(&["cert", "list", "--server", &elsewhere], &[], 3);

    // --- 2: usage errors (clap's, and plain http to an address that is not loopback: 0.0.0.0
    // reaches this host, yet it is refused before a socket exists, so the listener sees nothing).
    owner.fails(&["cert", "show"], &[], 2);
    owner.fails(&["cert", "list", "--limit", "0"], &[], 2);
    let unspecified = format!("http://0.0.0.0:{}", other.local_addr().unwrap().port());
    let err = owner.fails(&["cert", "list", "--server", &unspecified], &[("CERTAUTOPILOT_TOKEN", &bogus)], 2);
    assert!(err.contains("plain http is allowed only to this host"), "{err}");
    let err = owner.fails(&["login", "--server", "http://192.0.2.1:8080", "--email", "x@acme.test"], &[], 2);
    assert!(err.contains("use https://"), "{err}");
    assert_eq!(
        other.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "no connection was opened"
    );

    // --- 7: the server gone; logging out then keeps the file, so the token can still be revoked.
    drop(server);
    let err = owner.fails(&["cert", "list", "--project", &pid], &[], 7);
    assert!(err.contains(&format!("cannot reach {url}")), "{err}");
    owner.fails(&["logout"], &[], 7);
    assert!(owner.credentials().exists());

    owner.assert_never_printed(&owner.token());
    viewer.assert_never_printed(&viewer.token());
}

/// HTTPS with a certificate from a private CA: without `--ca-file` the client refuses it (exit 7,
/// saying to give `--ca-file`) and sends nothing; with it the login works, and later commands
/// trust the same roots without the flag, because the login stored them beside the token.
#[test]
fn https_with_a_private_ca_needs_ca_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = crate::tls::make_certificate(dir.path(), "api");
    setup_owner(dir.path());
    let tls = [
        ("CERTAUTOPILOT_API__TLS__CERT_PATH", cert.to_str().unwrap()),
        ("CERTAUTOPILOT_API__TLS__KEY_PATH", key.to_str().unwrap()),
    ];
    let server = Server::start(dir.path(), &[], &tls);
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let sh = Shell::new(dir.path(), false);
    let password = format!("{OWNER_PASSWORD}\n");

    let err = sh.fails_with(&["login", "--server", &url, "--email", "owner@acme.test"], &password, &[], 7);
    assert!(err.contains(&format!("cannot reach {url}")) && err.contains("--ca-file"), "{err}");
    assert!(!sh.credentials().exists());

    let login = ["login", "--server", &url, "--ca-file", cert.to_str().unwrap(), "--email", "owner@acme.test"];
    sh.ok_with(&login, &password);
    sh.ok(&["project", "create", "--name", "web"]);
    let projects = sh.json(&["project", "list"]);
    assert_eq!(projects["items"][0]["name"], json!("web"));
    let said = sh.ok(&["logout"]);
    assert!(said.contains("token revoked"), "{said}");
    sh.assert_never_printed(&password);
}
