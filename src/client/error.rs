//! What can go wrong in the API client, and the exit code each failure gives scripts.
//! Invariant: every failure maps to exactly one documented exit code (docs/api.md, "Command-line
//! client"), and no variant carries the API token: requests put it in a header only, and errors are
//! built from the server's problem document, the URL and socket errors.

use std::process::ExitCode;
use std::time::Duration;

/// The exit codes scripts can rely on. 2 is also what clap exits with on a usage error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// A server error, a conflict, a local file that cannot be read or written.
    General = 1,
    Usage = 2,
    /// Not logged in, or the token is unknown, revoked or expired (HTTP 401).
    Unauthenticated = 3,
    /// HTTP 403: the caller's role does not allow it.
    Forbidden = 4,
    /// HTTP 404, or a project or record name that matches nothing the caller can see.
    NotFound = 5,
    /// HTTP 400 or 422: the request was refused as invalid; the field is named.
    Validation = 6,
    /// No connection, no answer in time, or `--wait` / `--follow` reached `--timeout`.
    Unreachable = 7,
    /// The followed job ended dead, or the certificate failed.
    JobFailed = 8,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    /// No token at all for the server asked for.
    #[error("not logged in{}; run `certautopilot login --server URL` or set CERTAUTOPILOT_TOKEN", server_suffix(.server))]
    NotLoggedIn { server: Option<String> },
    /// The server answered with a problem document (or at least an error status).
    #[error("{}{detail} [{code}, HTTP {status}]{}", field_prefix(.field), hint(*.status))]
    Api { status: u16, code: String, detail: String, field: Option<String> },
    /// A name given on the command line that matches nothing the caller can see.
    #[error("{0}")]
    NotFound(String),
    #[error("cannot reach {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("no answer from {server} within {} s", .after.as_secs())]
    Timeout { server: String, after: Duration },
    #[error("{what} did not finish within {} s (it goes on on the server)", .after.as_secs())]
    WaitTimedOut { what: String, after: Duration },
    #[error("{what} failed: {reason}")]
    JobFailed { what: String, reason: String },
    /// The server answered something that is not what the API documents.
    #[error("unexpected answer from the server: {0}")]
    BadResponse(String),
    #[error("{what}: {source}")]
    Local { what: String, source: std::io::Error },
    /// Refused locally for another reason (an unsafe credentials file, a broken chain result).
    #[error("{0}")]
    Refused(String),
}

fn server_suffix(server: &Option<String>) -> String {
    server.as_ref().map(|s| format!(" to {s}")).unwrap_or_default()
}

fn field_prefix(field: &Option<String>) -> String {
    field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default()
}

fn hint(status: u16) -> &'static str {
    if status == 401 { "; log in again with `certautopilot login`" } else { "" }
}

impl ClientError {
    pub fn exit(&self) -> Exit {
        match self {
            ClientError::Usage(_) => Exit::Usage,
            ClientError::NotLoggedIn { .. } => Exit::Unauthenticated,
            ClientError::Api { status, .. } => match status {
                401 => Exit::Unauthenticated,
                403 => Exit::Forbidden,
                404 => Exit::NotFound,
                400 | 422 => Exit::Validation,
                _ => Exit::General,
            },
            ClientError::NotFound(_) => Exit::NotFound,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. } | ClientError::WaitTimedOut { .. } => {
                Exit::Unreachable
            }
            ClientError::JobFailed { .. } => Exit::JobFailed,
            ClientError::BadResponse(_) | ClientError::Local { .. } | ClientError::Refused(_) => Exit::General,
        }
    }

    pub fn local(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClientError {
        let what = what.into();
        move |source| ClientError::Local { what, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str, field: Option<&str>) -> ClientError {
        ClientError::Api {
            status,
            code: code.into(),
            detail: "what the server said".into(),
            field: field.map(str::to_owned),
        }
    }

    /// Each HTTP status class lands on its documented exit code, and the message carries the
    /// server's detail, code and field, as scripts and people read them.
    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        let cases = [
            (401, Exit::Unauthenticated),
            (403, Exit::Forbidden),
            (404, Exit::NotFound),
            (422, Exit::Validation),
            (400, Exit::Validation),
            (409, Exit::General),
            (500, Exit::General),
            (507, Exit::General),
        ];
        for (status, exit) in cases {
            assert_eq!(api(status, "x", None).exit(), exit, "HTTP {status}");
        }
        assert_eq!(
            api(422, "validation_failed", Some("sans[1]")).to_string(),
            "sans[1]: what the server said [validation_failed, HTTP 422]"
        );
        assert!(api(401, "unauthenticated", None).to_string().contains("certautopilot login"));
        let codes: Vec<u8> = [
            Exit::Ok,
            Exit::General,
            Exit::Usage,
            Exit::Unauthenticated,
            Exit::Forbidden,
            Exit::NotFound,
            Exit::Validation,
            Exit::Unreachable,
            Exit::JobFailed,
        ]
        .iter()
        .map(|e| *e as u8)
        .collect();
        assert_eq!(codes, (0..=8).collect::<Vec<u8>>());
    }
}
