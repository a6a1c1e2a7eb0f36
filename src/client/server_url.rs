//! The service's base URL as the client is given it (`--server`, `CERTAUTOPILOT_SERVER`, the
//! credentials file). Invariant: a `ServerUrl` is `https://` anywhere, or `http://` to a loopback
//! host only (127.0.0.0/8, ::1, `localhost`); it is checked here, before any socket exists, so a
//! token never travels in clear text off this host.

use std::fmt;
use std::net::IpAddr;

use crate::client::error::ClientError;

/// `scheme://authority[/prefix]`, without a trailing slash; API paths (`/api/v1/…`) are appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    base: String,
    plain_http: bool,
}

impl ServerUrl {
    pub fn parse(text: &str) -> Result<ServerUrl, ClientError> {
        let bad = |why: &str| ClientError::Usage(format!("server URL {:?}: {why}", text.escape_debug().to_string()));
        let uri: http::Uri = text.trim().parse().map_err(|_| bad("not a URL (like https://certs.example.com)"))?;
        let scheme = uri.scheme_str().map(str::to_ascii_lowercase).ok_or_else(|| bad("give the scheme, https://"))?;
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials do not belong in the URL; use `certautopilot login`"));
        }
        if uri.query().is_some() {
            return Err(bad("a base URL takes no query"));
        }
        let host = authority.host().to_ascii_lowercase();
        let plain_http = match scheme.as_str() {
            "https" => false,
            "http" if is_loopback_host(&host) => true,
            "http" => {
                return Err(bad(
                    "plain http is allowed only to this host (127.0.0.1, [::1], localhost), where the token \
                     never crosses a network; use https://",
                ));
            }
            _ => return Err(bad("the scheme must be https:// (or http:// to this host)")),
        };
        let port = authority.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
        let prefix = uri.path().trim_end_matches('/');
        Ok(ServerUrl { base: format!("{scheme}://{host}{port}{prefix}"), plain_http })
    }

    /// The URL of an API path (`/api/v1/…`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Plain http (to loopback, by construction).
    pub fn is_plain_http(&self) -> bool {
        self.plain_http
    }

    pub fn as_str(&self) -> &str {
        &self.base
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// A loopback IP literal (IPv6 in brackets, as URLs write it) or the name `localhost`, whose
/// addresses the connector checks again after resolution (`http::ApiClient`).
fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Ok(ip) => ip.is_loopback(),
        Err(_) => matches!(bare.trim_end_matches('.'), "localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// https goes anywhere; plain http only to loopback literals and `localhost`. Everything else is
    /// refused by this pure check, which runs before any client or socket is made, with an error that
    /// says why: so no token can be sent in clear text off this host.
    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://certs.example.com",
            "https://10.0.0.5:8443/",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:8080",
            "http://localhost:8080/",
            "HTTP://LOCALHOST",
        ] {
            assert!(ServerUrl::parse(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://192.0.2.1:8080",
            "http://10.0.0.5",
            "http://0.0.0.0:8080",
            "http://certs.example.com",
            "http://localhost.example.com",
            "http://[2001:db8::1]:8080",
            "http://127.0.0.1.nip.io",
        ] {
            let err = ServerUrl::parse(refused).unwrap_err();
            assert!(err.to_string().contains("plain http is allowed only to this host"), "{refused}: {err}");
            assert_eq!(err.exit(), crate::client::error::Exit::Usage);
        }
        for nonsense in ["certs.example.com", "ftp://x", "https://", "https://user:pw@x", "https://x/?a=b", ""] {
            assert!(ServerUrl::parse(nonsense).is_err(), "{nonsense}");
        }
    }

    /// The base keeps a path prefix (a proxy's sub-path) and loses trailing slashes, so the same
    /// server typed two ways compares equal (the stored token is sent only to its own server).
    #[test]
    fn bases_are_normalized() {
        let a = ServerUrl::parse("https://Certs.Example.com:8443/cap/").unwrap();
        assert_eq!(a.join("/api/v1/projects"), "https://certs.example.com:8443/cap/api/v1/projects");
        assert_eq!(a, ServerUrl::parse("https://certs.example.com:8443/cap").unwrap());
        assert!(!a.is_plain_http());
        assert!(ServerUrl::parse("http://[::1]:1").unwrap().is_plain_http());
        assert_eq!(ServerUrl::parse("http://[::1]:1").unwrap().as_str(), "http://[::1]:1");
    }
}
