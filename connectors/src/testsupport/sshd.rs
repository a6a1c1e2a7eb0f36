//! A real OpenSSH server (Debian `openssh-server`) on a free loopback port, with its own host key, one
//! authorized client key, and SFTP; it logs in the user running the tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{ChildGuard, free_port, wait_for_tcp};

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
        let mut sshd = Sshd { dir: dir.to_path_buf(), port: free_port(), child: ChildGuard::default() };
        sshd.launch();
        sshd
    }

    fn launch(&mut self) {
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
        wait_for_tcp(self.addr(), "sshd", Duration::from_secs(20));
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
        self.launch();
    }
}
