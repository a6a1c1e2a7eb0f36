//! Running the binary built by this test run and reading its JSON logs. HTTP comes from the chaos
//! tests' library, shared by both suites.

pub use certautopilot_chaos_tests::http::{
    ApiClient, http_get, http_request, post_json, try_http_request, wait_for_status,
};

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_certautopilot");

/// The binary with a clean `CERTAUTOPILOT_` environment, run in `dir`.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    clean_env(&mut cmd);
    cmd
}

/// Removes this test run's `CERTAUTOPILOT_…`, `RUST_LOG` and `FAILPOINTS` from what `cmd` inherits.
pub fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("CERTAUTOPILOT_") || key == "RUST_LOG" || key == "FAILPOINTS" {
            cmd.env_remove(key);
        }
    }
}

/// A running `serve`, its address, and every log line it printed so far.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Server {
    /// Starts `serve` with JSON logs on an ephemeral port and waits until it says where it listens.
    pub fn start(dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_with(command(dir), extra_args, env)
    }

    /// Like `start`, with `cmd` as the program (e.g. the installed binary run as another user);
    /// its arguments so far come before `serve`.
    pub fn start_with(mut cmd: Command, extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        cmd.args(["serve", "--log-format", "json"])
            .args(extra_args)
            .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
            .env("CERTAUTOPILOT_METRICS__LISTEN", "127.0.0.1:0")
            .env("CERTAUTOPILOT_API__SHUTDOWN_GRACE_SECS", "5")
            // Pebble, BIND, sshd and the receivers run on loopback, which `[egress]` refuses unless
            // told; a test about the policy overrides this through `env`.
            .env("CERTAUTOPILOT_EGRESS__ALLOW_LOOPBACK", "true")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start certautopilot serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, addr: "0.0.0.0:0".parse().unwrap(), lines, log: Vec::new() };
        let line = server.wait_for_log(Duration::from_secs(30), "api listening");
        let event: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        server.addr = event["addr"].as_str().expect("addr field").parse().expect("socket address");
        server
    }

    /// Waits for a log line whose message is `message` and returns it.
    pub fn wait_for_log(&mut self, deadline: Duration, message: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.log.iter().find(|l| log_message(l) == Some(message)) {
                return line.clone();
            }
            let left = deadline
                .checked_sub(start.elapsed())
                .unwrap_or_else(|| panic!("no {message:?} log within {deadline:?}; log: {:#?}", self.log));
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!("no {message:?} log within {deadline:?}; log: {:#?}", self.log),
            }
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with the pid of a child this test started and has not reaped.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit and returns its exit code, collecting the rest of its log.
    pub fn wait_exit(&mut self, deadline: Duration) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.log.push(line);
                }
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                panic!("server did not exit within {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn log_message(line: &str) -> Option<&str> {
    let start = line.find("\"message\":\"")? + "\"message\":\"".len();
    let end = line[start..].find('"')?;
    Some(&line[start..start + end])
}
