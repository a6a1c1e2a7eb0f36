//! `certautopilot credential list|create`: a project's DNS credentials (RFC 2136 with TSIG).
//! Invariant: the TSIG secret comes from a file (or standard input), never argv.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::input;
use crate::client::listing::{ListArgs, list_in_project};
use crate::client::lookup::ProjectArg;
use crate::client::output::{Column, col, show_object};

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// A project's DNS credentials (secrets are never shown).
    List(ListArgs),
    /// Add an RFC 2136 (dynamic update with TSIG) credential (admin).
    Create(CreateCredential),
}

#[derive(Debug, Args)]
pub struct CreateCredential {
    #[command(flatten)]
    project: ProjectArg,
    #[arg(long)]
    name: String,
    /// The primary server taking updates, `host:port`.
    #[arg(long = "dns-server", value_name = "HOST:PORT")]
    dns_server: String,
    /// The TSIG key's name.
    #[arg(long)]
    key_name: String,
    /// The TSIG algorithm.
    #[arg(long, default_value = "hmac-sha256")]
    algorithm: String,
    /// A file holding the TSIG secret, base64 (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    secret_file: PathBuf,
    /// Check that records are visible at this server (`host:port`; repeat) instead of the zone's NS.
    #[arg(long, value_name = "HOST:PORT")]
    nameserver: Vec<String>,
}

const COLUMNS: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("PROVIDER", "/provider"),
    col("SERVER", "/config/server"),
    col("KEY NAME", "/config/key_name"),
];

pub async fn run(ctx: &Context, command: CredentialCommand) -> Result<(), ClientError> {
    match command {
        CredentialCommand::List(args) => list_in_project(ctx, "/api/v1/dns-credentials", &args, COLUMNS).await,
        CredentialCommand::Create(args) => {
            let secret = input::secret(&args.secret_file, "TSIG secret")?;
            let project_id = args.project.resolve(&ctx.api).await?;
            let body = json!({ "project_id": project_id, "name": args.name, "provider": "rfc2136",
                "config": { "server": args.dns_server, "key_name": args.key_name, "algorithm": args.algorithm,
                    "secret": secret.as_str(), "nameservers": args.nameserver } });
            show_object(ctx.output, &ctx.api.post("/api/v1/dns-credentials", Some(&body)).await?);
            Ok(())
        }
    }
}
