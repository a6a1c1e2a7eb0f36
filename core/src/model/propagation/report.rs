//! What a propagation wait has seen: each server's latest answer for the challenge name, whether
//! it ever answered at all, and how long the wait has run. Pure: the issuance flow feeds it the
//! answers of each poll and writes a job log line only when `PropagationWatch::observe` says so.
//! Invariant: a server is `unreachable` only while it has never answered during this wait.

use std::collections::HashSet;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Other values a server answers are shown, bounded: the first few, each cut short.
const SHOWN_VALUES: usize = 3;
const SHOWN_VALUE_CHARS: usize = 64;
/// Without a change, the picture is written again this often, so "how long so far" stays current.
pub const REPEAT_UNCHANGED_MS: u64 = 30_000;

/// One server's answer to the TXT query for the challenge name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum ServerAnswer {
    /// The TXT set holds the value.
    HasValue,
    /// The name does not exist there (yet).
    Nxdomain,
    /// The name exists with no TXT record.
    NoTxt,
    /// TXT values, none of them this one (an old challenge's, or another order's).
    OtherValues { values: Vec<String> },
    /// The server answered with an error code (`REFUSED`, `SERVFAIL`, `NOTAUTH`).
    Refused { code: String },
    /// No answer: timeout, connection refused, unreachable.
    NoAnswer { reason: String },
}

impl ServerAnswer {
    /// Other values as shown: at most a few, each bounded and escaped.
    pub fn other_values(values: impl IntoIterator<Item = String>) -> ServerAnswer {
        let values = values
            .into_iter()
            .take(SHOWN_VALUES)
            .map(|v| v.chars().take(SHOWN_VALUE_CHARS).collect::<String>().escape_debug().to_string())
            .collect();
        ServerAnswer::OtherValues { values }
    }

    /// The answer's kind, as its serialized tag: `has_value`, `nxdomain`, `no_txt`,
    /// `other_values`, `refused` or `no_answer`.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerAnswer::HasValue => "has_value",
            ServerAnswer::Nxdomain => "nxdomain",
            ServerAnswer::NoTxt => "no_txt",
            ServerAnswer::OtherValues { .. } => "other_values",
            ServerAnswer::Refused { .. } => "refused",
            ServerAnswer::NoAnswer { .. } => "no_answer",
        }
    }

    fn describe(&self) -> String {
        match self {
            ServerAnswer::HasValue => "has the value".into(),
            ServerAnswer::Nxdomain => "NXDOMAIN".into(),
            ServerAnswer::NoTxt => "no TXT record".into(),
            ServerAnswer::OtherValues { values } => format!("other values: {}", values.join(", ")),
            ServerAnswer::Refused { code } => format!("answered {code}"),
            ServerAnswer::NoAnswer { reason } => format!("no answer ({reason})"),
        }
    }
}

/// One server in the picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub server: SocketAddr,
    #[serde(flatten)]
    pub answer: ServerAnswer,
    /// It has not answered once during this wait (refused connection, ICMP unreachable, timeout on
    /// every try): most often a firewall between this host and its port 53.
    pub unreachable: bool,
}

impl ServerStatus {
    pub fn ready(&self) -> bool {
        self.answer == ServerAnswer::HasValue
    }

    /// What it answered, in words: `NXDOMAIN`, `other values: …`, `unreachable (timeout)`.
    pub fn describe(&self) -> String {
        if self.unreachable {
            let ServerAnswer::NoAnswer { reason } = &self.answer else { return self.answer.describe() };
            format!("unreachable ({reason})")
        } else {
            self.answer.describe()
        }
    }
}

/// What the wait for one record has seen so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitPicture {
    /// The name the TXT record is at.
    pub name: String,
    pub strategy: String,
    pub servers: Vec<ServerStatus>,
    pub waited_ms: u64,
}

/// The advice when a server never answers (issue 20): checking it from here is what fails.
pub const UNREACHABLE_ADVICE: &str = "this host cannot reach it (a firewalled port 53?); \
check the zone's nameservers, or set the zone's propagation strategy to `resolvers` with resolvers this host can reach";

impl WaitPicture {
    pub fn ready(&self) -> bool {
        self.servers.iter().all(ServerStatus::ready)
    }

    pub fn missing(&self) -> impl Iterator<Item = &ServerStatus> {
        self.servers.iter().filter(|s| !s.ready())
    }

    pub fn unreachable(&self) -> impl Iterator<Item = &ServerStatus> {
        self.servers.iter().filter(|s| s.unreachable)
    }

    /// The servers still missing and what they answered: `127.0.0.1:53 (NXDOMAIN), …`.
    pub fn missing_text(&self) -> String {
        self.missing().map(|s| format!("{} ({})", s.server, s.describe())).collect::<Vec<_>>().join(", ")
    }

    /// One line for the job log and the certificate's live step.
    pub fn summary(&self) -> String {
        let ready = self.servers.iter().filter(|s| s.ready()).count();
        let secs = self.waited_ms as f64 / 1_000.0;
        if self.ready() {
            return format!("{} visible at all {} servers after {secs:.1} s", self.name, self.servers.len());
        }
        let mut line = format!(
            "waiting for {} at {}: {ready} of {} servers answer the value, {secs:.1} s so far",
            self.name,
            self.missing_text(),
            self.servers.len()
        );
        if self.unreachable().next().is_some() {
            line.push_str("; ");
            line.push_str(UNREACHABLE_ADVICE);
        }
        line
    }
}

/// Whether two pictures differ in anything but the time waited.
pub fn picture_changed(before: &WaitPicture, now: &WaitPicture) -> bool {
    before.name != now.name || before.servers != now.servers
}

/// Follows one wait: which servers have answered at all, and the picture last written.
#[derive(Debug, Default)]
pub struct PropagationWatch {
    answered: HashSet<SocketAddr>,
    written: Option<WaitPicture>,
}

impl PropagationWatch {
    /// The picture after one poll, and whether to write it (it changed, or the last one written
    /// is `REPEAT_UNCHANGED_MS` old).
    pub fn observe(
        &mut self,
        name: &str,
        strategy: &str,
        answers: Vec<(SocketAddr, ServerAnswer)>,
        waited_ms: u64,
    ) -> (WaitPicture, bool) {
        let servers = answers
            .into_iter()
            .map(|(server, answer)| {
                if !matches!(answer, ServerAnswer::NoAnswer { .. }) {
                    self.answered.insert(server);
                }
                let unreachable = !self.answered.contains(&server);
                ServerStatus { server, answer, unreachable }
            })
            .collect();
        let picture = WaitPicture { name: name.to_owned(), strategy: strategy.to_owned(), servers, waited_ms };
        let write = match &self.written {
            None => true,
            Some(before) => {
                picture_changed(before, &picture) || picture.waited_ms >= before.waited_ms + REPEAT_UNCHANGED_MS
            }
        };
        if write {
            self.written = Some(picture.clone());
        }
        (picture, write)
    }

    /// The last picture written, if any.
    pub fn last_written(&self) -> Option<&WaitPicture> {
        self.written.as_ref()
    }
}
