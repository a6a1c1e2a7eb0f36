//! Which server a client command talks to, with which token, and how it prints: the flags every
//! client command shares (`--server`, `--ca-file`, `--output`) resolved against the environment
//! and the stored credentials. Invariants: a flag beats `CERTAUTOPILOT_…`, which beats the file;
//! the stored token is sent only to the server it was stored for, never to another `--server`,
//! and the roots stored with it (`--ca-file` at login) are trusted for that server only.

use std::path::PathBuf;

use clap::Args;

use crate::client::error::ClientError;
use crate::client::http::ApiClient;
use crate::client::output::Output;
use crate::client::server_url::ServerUrl;
use crate::client::token_store::{self, ApiToken, Credentials};

pub const SERVER_VARIABLE: &str = "CERTAUTOPILOT_SERVER";
pub const TOKEN_VARIABLE: &str = "CERTAUTOPILOT_TOKEN";

/// The connection flags of every client command.
#[derive(Debug, Args)]
pub struct Remote {
    /// The service's base URL: https://…, or http:// to this host only. Default: $CERTAUTOPILOT_SERVER,
    /// then the server of `certautopilot login`.
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// PEM file of CA certificates to trust for the server's HTTPS, besides the system's (a private CA).
    #[arg(long, global = true, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// `table` for people, `json` (the server's JSON) for scripts.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// A signed-in client and the output format: what every command but `login` works with.
pub struct Context {
    pub api: ApiClient,
    pub output: Output,
}

impl Remote {
    /// The server from the flag or the environment, if either names one.
    pub fn explicit_server(&self) -> Result<Option<ServerUrl>, ClientError> {
        match (&self.server, non_empty_env(SERVER_VARIABLE)) {
            (Some(flag), _) => ServerUrl::parse(flag).map(Some),
            (None, Some(env)) => ServerUrl::parse(&env).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The contents of `--ca-file`.
    pub fn ca_pem(&self) -> Result<Option<String>, ClientError> {
        self.ca_file
            .as_ref()
            .map(|path| {
                std::fs::read_to_string(path).map_err(ClientError::local(format!("cannot read {}", path.display())))
            })
            .transpose()
    }

    /// A client for the resolved server, carrying the resolved token.
    pub fn connect(&self) -> Result<Context, ClientError> {
        let resolved = self.resolve()?;
        let ca_pem = self.ca_pem()?.or(resolved.stored_ca_pem);
        let api = ApiClient::new(resolved.server, ca_pem.as_deref(), Some(resolved.token))?;
        Ok(Context { api, output: self.output })
    }

    fn resolve(&self) -> Result<Resolved, ClientError> {
        let explicit = self.explicit_server()?;
        let env_token = non_empty_env(TOKEN_VARIABLE).map(ApiToken::new);
        if let (Some(server), Some(token)) = (&explicit, &env_token) {
            return Ok(Resolved { server: server.clone(), token: token.clone(), stored_ca_pem: None });
        }
        let stored = token_store::load(&token_store::default_path()?)?;
        let server = match (explicit, &stored) {
            (Some(server), _) => server,
            (None, Some(stored)) => stored.server.clone(),
            (None, None) if env_token.is_some() => {
                return Err(ClientError::Usage(format!("which server? give --server URL or set {SERVER_VARIABLE}")));
            }
            (None, None) => return Err(ClientError::NotLoggedIn { server: None }),
        };
        // What was stored for another server is neither sent nor trusted here.
        let stored = stored.filter(|s| s.server == server);
        let stored_ca_pem = stored.as_ref().and_then(|s| s.ca_pem.clone());
        let token = match (env_token, stored) {
            (Some(token), _) => token,
            (None, Some(Credentials { token, .. })) => token,
            (None, None) => return Err(ClientError::NotLoggedIn { server: Some(server.to_string()) }),
        };
        Ok(Resolved { server, token, stored_ca_pem })
    }
}

/// The server, the token and the roots stored with them.
struct Resolved {
    server: ServerUrl,
    token: ApiToken,
    stored_ca_pem: Option<String>,
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
