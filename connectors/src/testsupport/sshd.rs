//! A real OpenSSH server (Debian `openssh-server`) on a free loopback port, with its own host key, one
//! authorized client key, and SFTP; it logs in the user running the tests. The port is held for it
//! until it listens (sshd takes no port 0: see `ports`), and it is started again on another port if
//! it cannot get that one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::ChildGuard;
use super::ports::{PortReservation, START_ATTEMPTS, wait_until_bound};

pub struct Sshd {
    dir: PathBuf,
    port: u16,
    child: ChildGuard,
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "certautopilot-test", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ssh-keygen is installed (openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

/// The user the tests run as: the one sshd lets in with the test key.
pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Sshd {
    pub fn start(dir: &Path) -> Sshd {
        std::fs::create_dir_all(dir).unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        // Run as root, sshd wants its privilege-separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let reservation = PortReservation::tcp();
            let mut sshd = Sshd { dir: dir.to_path_buf(), port: reservation.port(), child: ChildGuard::default() };
            match sshd.launch(reservation) {
                Ok(()) => return sshd,
                Err(e) => failures.push(e),
            }
        }
        panic!("sshd did not start on any of {START_ATTEMPTS} ports: {failures:#?}");
    }

    /// Another sshd with a host key of its own, letting in the same client key, on this one's
    /// address: an impostor of this server, which must be stopped first.
    pub fn impostor(&self, dir: &Path) -> Sshd {
        std::fs::create_dir_all(dir).unwrap();
        keygen(&dir.join("host_key"));
        for file in ["client_key", "client_key.pub", "authorized_keys"] {
            std::fs::copy(self.dir.join(file), dir.join(file)).unwrap();
        }
        let mut impostor = Sshd { dir: dir.to_path_buf(), port: self.port, child: ChildGuard::default() };
        impostor.launch_on_its_port();
        impostor
    }

    /// Starts sshd on `reservation`'s port; on failure it is stopped and the reason returned.
    fn launch(&mut self, reservation: PortReservation) -> Result<(), String> {
        let d = self.dir.display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n\
             Subsystem sftp internal-sftp\nLogLevel VERBOSE\nMaxStartups 200\nMaxSessions 100\n",
            port = self.port
        );
        std::fs::write(self.dir.join("sshd_config"), config).unwrap();
        let log = std::fs::File::create(self.dir.join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(self.dir.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd is installed (./scripts/test installs openssh-server)");
        self.child = ChildGuard::new(child);
        let bound = wait_until_bound(&mut self.child, &[self.port], &[], Duration::from_secs(20));
        drop(reservation);
        bound.map_err(|e| {
            self.child.stop();
            format!("port {}: {e:?}: {}", self.port, self.log())
        })
    }

    /// Starts sshd on the port it had (clients have it configured): waits out another process that
    /// holds it meanwhile, up to a deadline.
    fn launch_on_its_port(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match self.launch(PortReservation::again(self.port)) {
                Ok(()) => return,
                Err(e) if std::time::Instant::now() >= deadline => panic!("sshd did not start again: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The client's private key (OpenSSH format) the server accepts.
    pub fn client_key(&self) -> String {
        std::fs::read_to_string(self.dir.join("client_key")).unwrap()
    }

    /// The host key's fingerprint as OpenSSH prints it (`SHA256:…`).
    pub fn host_key_sha256(&self) -> String {
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(self.dir.join("host_key.pub"))
            .output()
            .expect("ssh-keygen");
        String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).unwrap_or_default().to_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        self.child.stop();
    }

    /// Starts again on the same port with the same keys.
    pub fn restart(&mut self) {
        self.stop();
        self.launch_on_its_port();
    }
}
