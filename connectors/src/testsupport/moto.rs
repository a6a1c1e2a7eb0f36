//! moto in server mode (PyPI `moto[server]`, installed into the tools venv by scripts/test): the
//! Route 53 REST API on a free loopback port, for the Route 53 client's tests. moto routes a
//! request to a service by its SigV4 credential scope, so even the test setup's own requests
//! (creating hosted zones) are signed, with the maintained signer the client uses.
//! Invariant: one moto per test, killed on drop; it counts as up only once it answers a signed
//! request, waited for with a deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::{ChildGuard, wait_for_own_port};

/// The key moto is asked with; moto does not check signatures, so any pair works.
pub const MOTO_ACCESS_KEY_ID: &str = "AKIDMOTOTEST";
pub const MOTO_SECRET_ACCESS_KEY: &str = "moto-test-secret";

pub struct Moto {
    port: u16,
    child: ChildGuard,
    log: std::path::PathBuf,
}

impl Moto {
    /// Starts `moto_server` (`CAP_TEST_MOTO_SERVER`, else from PATH) on a port the kernel picks, read back from
    /// its own sockets, and waits until it answers a Route 53 request.
    pub fn start(dir: &Path) -> Moto {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join("moto.log");
        let out = std::fs::File::create(&log).unwrap();
        // scripts/test names the venv's program; a PATH with the venv on it works too.
        let program = std::env::var("CAP_TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("moto_server is installed (./scripts/test installs moto[server] into the tools venv)");
        let mut child = ChildGuard::new(child);
        let port = wait_for_own_port(&mut child, Duration::from_secs(30)).unwrap_or_else(|e| {
            panic!("moto did not listen: {e:?}: {}", std::fs::read_to_string(&log).unwrap_or_default())
        });
        let moto = Moto { port, child, log };
        // The first request loads the Route 53 backend; it is up once that answers.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match moto.request("GET", "/2013-04-01/hostedzonecount", "") {
                Ok((200, _)) => return moto,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                other => panic!("moto does not answer Route 53 requests: {other:?}: {}", moto.log()),
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.exited().is_none() && self.child.is_running()
    }

    /// Creates a public hosted zone and returns its bare id (`Z…`, without `/hostedzone/`).
    pub fn create_zone(&self, name: &str) -> String {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CreateHostedZoneRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Name>{name}</Name><CallerReference>{name}-{}</CallerReference></CreateHostedZoneRequest>",
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos()
        );
        let (status, answer) = self.request("POST", "/2013-04-01/hostedzone", &body).expect("moto answers");
        assert_eq!(status, 201, "create hosted zone {name}: {answer}");
        let id = answer.split("<Id>").nth(1).and_then(|rest| rest.split("</Id>").next()).expect("a zone id");
        id.trim_start_matches("/hostedzone/").to_owned()
    }

    /// The TXT values at `name` in the hosted zone `zone_id`, as Route 53 lists them (quoted).
    pub fn txt_values(&self, zone_id: &str, name: &str) -> Vec<String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let path = format!("/2013-04-01/hostedzone/{zone_id}/rrset?name={fqdn}&type=TXT");
        let (status, answer) = self.request("GET", &path, "").expect("moto answers");
        assert_eq!(status, 200, "list record sets: {answer}");
        answer
            .split("<ResourceRecordSet>")
            .skip(1)
            .filter(|set| set.contains(&format!("<Name>{fqdn}</Name>")) && set.contains("<Type>TXT</Type>"))
            .flat_map(|set| {
                set.split("<Value>")
                    .skip(1)
                    .filter_map(|v| v.split("</Value>").next())
                    .map(|v| v.replace("&quot;", "\""))
            })
            .collect()
    }

    /// One request signed for Route 53, over a plain connection; returns the status and body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let url = format!("{}{path}", self.url());
        let identity: Identity =
            Credentials::new(MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("route53")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable =
            SignableRequest::new(method, &url, std::iter::empty(), SignableBody::Bytes(body.as_bytes())).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n", self.port);
        for (name, value) in instructions.headers() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        Ok((status, body))
    }
}
