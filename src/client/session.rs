//! `certautopilot login` and `logout`: from e-mail and password to a stored API token, and back.
//! Invariants: the password is read from the terminal without echo or from standard input (as
//! `setup` reads it), never from argv; the one-hour session of the login only mints the API token
//! and is ended at once; the token is stored (token_store) and never printed.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use serde_json::{Value, json};

use crate::client::context::Remote;
use crate::client::error::ClientError;
use crate::client::http::{ApiClient, answer_text, encode};
use crate::client::output::{emit, note};
use crate::client::token_store::{self, ApiToken, Credentials};

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Your e-mail; asked for on the terminal when left out.
    #[arg(long)]
    pub email: Option<String>,
    /// The API token's name, as `GET /auth/tokens` lists it (default: `certautopilot cli on HOST`).
    #[arg(long)]
    pub token_name: Option<String>,
    /// Days until the token expires (default and upper bound: the server's `auth.api_token_max_days`).
    #[arg(long)]
    pub expires_in_days: Option<u32>,
}

pub async fn login(args: LoginArgs) -> Result<(), ClientError> {
    let path = token_store::default_path()?;
    // A damaged or unsafe file is replaced by this login, so it is no reason to stop here.
    let previous = token_store::load(&path).unwrap_or_default();
    let server = match (args.remote.explicit_server()?, &previous) {
        (Some(server), _) => server,
        (None, Some(previous)) => previous.server.clone(),
        (None, None) => return Err(ClientError::Usage("which server? give --server URL".into())),
    };
    let email = match args.email {
        Some(email) => email,
        None => prompt_email()?,
    };
    let password = crate::setup::read_password("password: ").map_err(|e| ClientError::Usage(format!("{e:#}")))?;
    // Logging in again to the same server keeps trusting the roots the first login was given.
    let ca_pem = args.remote.ca_pem()?.or_else(|| previous.as_ref().filter(|p| p.server == server)?.ca_pem.clone());
    let anonymous = ApiClient::new(server.clone(), ca_pem.as_deref(), None)?;
    let session =
        anonymous.post("/api/v1/auth/login", Some(&json!({ "email": email, "password": password.as_str() }))).await?;
    let session = anonymous.with_token(Some(ApiToken::new(answer_text(&session, "/token")?)));
    let name = args.token_name.unwrap_or_else(default_token_name);
    let mut body = json!({ "name": name });
    if let Some(days) = args.expires_in_days {
        body["expires_in_days"] = json!(days);
    }
    let created = session.post("/api/v1/auth/tokens", Some(&body)).await;
    // The session only minted the token; it need not live its hour.
    if let Err(e) = session.post("/api/v1/auth/logout", None).await {
        note(&format!("warning: the login session was not ended ({e}); it expires by itself"));
    }
    let created = created?;
    let token = ApiToken::new(answer_text(&created, "/token")?);
    token_store::save(&path, &Credentials { server: server.clone(), token, ca_pem })?;
    if let Some(old) = previous.filter(|p| p.server == server) {
        revoke_replaced(&anonymous, old.token).await;
    }
    emit(&format!(
        "logged in to {server} as {email}; API token {:?} ({}) expires {}; stored in {}\n",
        answer_text(&created, "/name")?,
        answer_text(&created, "/id")?,
        created.get("expires_at").and_then(Value::as_str).unwrap_or("never"),
        path.display()
    ));
    Ok(())
}

/// Revokes the token this login replaced, so logging in again leaves no live token behind.
async fn revoke_replaced(api: &ApiClient, old: ApiToken) {
    let Some(id) = old.api_token_id().map(str::to_owned) else { return };
    match api.with_token(Some(old)).delete(&format!("/api/v1/auth/tokens/{}", encode(&id))).await {
        Ok(()) | Err(ClientError::Api { status: 401 | 404, .. }) => {}
        Err(e) => note(&format!("warning: the replaced API token {id} was not revoked: {e}")),
    }
}

pub async fn logout(remote: Remote) -> Result<(), ClientError> {
    let path = token_store::default_path()?;
    let Some(stored) = token_store::load(&path)? else {
        note(&format!("not logged in ({} does not exist); nothing to do", path.display()));
        return Ok(());
    };
    if let Some(server) = remote.explicit_server()?.filter(|s| *s != stored.server) {
        return Err(ClientError::Usage(format!("you are logged in to {}, not {server}", stored.server)));
    }
    let ca_pem = remote.ca_pem()?.or_else(|| stored.ca_pem.clone());
    let api = ApiClient::new(stored.server.clone(), ca_pem.as_deref(), Some(stored.token.clone()))?;
    let revoked = match stored.token.api_token_id() {
        Some(id) => match api.delete(&format!("/api/v1/auth/tokens/{}", encode(id))).await {
            Ok(()) => "token revoked",
            // Already revoked, expired or its user disabled: nothing is left to revoke.
            Err(ClientError::Api { status: 401 | 404, .. }) => "token was no longer valid",
            // Unreachable or refused: keep the file, so logging out again can still revoke it.
            Err(e) => return Err(e),
        },
        None => "no API token to revoke",
    };
    token_store::remove(&path)?;
    emit(&format!("logged out of {}: {revoked}; {} deleted\n", stored.server, path.display()));
    Ok(())
}

fn prompt_email() -> Result<String, ClientError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(ClientError::Usage("give --email: standard input carries the password".into()));
    }
    eprint!("e-mail: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(ClientError::local("cannot read the e-mail"))?;
    let email = line.trim().to_owned();
    if email.is_empty() {
        return Err(ClientError::Usage("no e-mail given".into()));
    }
    Ok(email)
}

/// `certautopilot cli on HOST`, in the characters a name may hold, at most 64 of them.
fn default_token_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let host = if unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0 {
        let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    } else {
        String::new()
    };
    let host: String = host.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect();
    let name = if host.is_empty() { "certautopilot cli".to_owned() } else { format!("certautopilot cli on {host}") };
    name.chars().take(64).collect()
}
