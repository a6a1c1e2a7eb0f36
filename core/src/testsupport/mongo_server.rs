//! A real MongoDB wire-protocol server (SecantusDB, `secantusd-py`, a one-node replica set on
//! WiredTiger; ../shared/notes/mongodb.md) on a loopback port, started like Pebble and BIND.
//! `scripts/test` installs it into `target/test-tools/venv` and starts one shared server for the
//! whole run (`CAP_TEST_MONGODB_URI`); each test then works in a database of its own.
//! Invariant: a missing server is a failure with the reason, never a skipped test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The variable `scripts/test` sets to the shared server's URI. Test-support variables start with
/// `CAP_TEST_`, never `CERTAUTOPILOT_`: the binary reads that prefix as configuration and refuses
/// keys it does not know, so a bench run from the test shell would stop at start-up.
pub const SHARED_URI_VAR: &str = "CAP_TEST_MONGODB_URI";
/// Where to find `secantusd-py` if not in the tools venv or on `PATH`.
pub const SERVER_VAR: &str = "CAP_TEST_SECANTUSD";

#[derive(Debug, Clone, Default)]
pub struct MongoServerOptions {
    /// Present as a standalone server (no replica set): what the store must refuse.
    pub standalone: bool,
    /// Serve TLS with these PEM files (certificate chain, key).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Allow `configureFailPoint` (fault injection for retry tests).
    pub test_commands: bool,
    /// Fsync the journal at every commit (`--sync-on-commit`). Without it the server acknowledges a
    /// `w: "majority"` commit before its journal record is on disk, and a SIGKILL loses the last
    /// acknowledged writes (seen in the chaos tests); mongod journals majority writes before it
    /// acknowledges them (`writeConcernMajorityJournalDefault`), so tests that kill the server need this.
    pub sync_on_commit: bool,
}

/// One server process; killed when dropped. Its data lives in `dir/data` and survives `restart`.
pub struct MongoServer {
    dir: PathBuf,
    options: MongoServerOptions,
    port: u16,
    child: Option<Child>,
}

impl MongoServer {
    pub fn start(dir: &Path, options: MongoServerOptions) -> MongoServer {
        std::fs::create_dir_all(dir).expect("mongo server directory");
        let mut server = MongoServer { dir: dir.to_path_buf(), options, port: 0, child: None };
        server.launch(0);
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mongodb://127.0.0.1:PORT/` (with `tls=true` when serving TLS).
    pub fn uri(&self) -> String {
        if self.options.tls.is_some() {
            format!("mongodb://127.0.0.1:{}/?tls=true", self.port)
        } else {
            format!("mongodb://127.0.0.1:{}/", self.port)
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the server (no shutdown of its own), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port;
        self.launch(port);
    }

    fn launch(&mut self, port: u16) {
        let program = server_program();
        let mut command = Command::new(&program);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--log-level", "INFO", "--storage-path"])
            .arg(self.dir.join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if self.options.standalone {
            command.arg("--standalone");
        }
        if self.options.test_commands {
            command.arg("--enable-test-commands");
        }
        if self.options.sync_on_commit {
            command.arg("--sync-on-commit");
        }
        if let Some((cert, key)) = &self.options.tls {
            command.arg("--tls-cert-file").arg(cert).arg("--tls-key-file").arg(key);
        }
        die_with_parent(&mut command);
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start {} (run ./scripts/test, which installs it): {e}", program.display())
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let log_path = self.dir.join("server.log");
        let (tx, rx) = mpsc::channel();
        // Reads the log for the bound port, then keeps draining it into server.log.
        std::thread::spawn(move || {
            use std::io::Write;
            let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line.rsplit_once("listening on 127.0.0.1:").and_then(|(_, p)| p.trim().parse().ok())
                {
                    let _ = tx.send(port);
                }
                if let Some(log) = log.as_mut() {
                    let _ = writeln!(log, "{line}");
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(bound) => {
                    self.port = bound;
                    self.child = Some(child);
                    return;
                }
                Err(_) if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!(
                        "{} did not start listening in 30 s; see {}",
                        program.display(),
                        self.dir.join("server.log").display()
                    )
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "{} exited at start ({status}); see {}",
                            program.display(),
                            self.dir.join("server.log").display()
                        )
                    }
                }
            }
        }
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The server program: `$CAP_TEST_SECANTUSD`, the tools venv of this checkout, or `PATH`'s.
fn server_program() -> PathBuf {
    if let Some(path) = std::env::var_os(SERVER_VAR) {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-tools/venv/bin/secantusd-py");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("secantusd-py")
}

/// The server dies with the test process, even on a panic that skips destructors.
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches nothing of the parent's.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// The URI of a server every test of this run may use (each in a database of its own):
/// `$CAP_TEST_MONGODB_URI` when `scripts/test` started one, else one started for this
/// process on first use and kept until it exits.
pub fn shared_mongodb_uri() -> String {
    if let Ok(uri) = std::env::var(SHARED_URI_VAR) {
        return uri;
    }
    static URI: OnceLock<String> = OnceLock::new();
    URI.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        // A thread that outlives every test: the server's parent-death signal follows the thread
        // that started it, so that thread must live as long as the process.
        std::thread::spawn(move || {
            let dir = tempfile::tempdir().expect("temporary directory");
            let server = MongoServer::start(dir.path(), MongoServerOptions::default());
            tx.send(server.uri()).expect("uri receiver");
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("the shared mongo server started")
    })
    .clone()
}
