//! `certautopilot credential list|create|test`: a project's DNS credentials (creation for RFC 2136
//! with TSIG; every provider's credential can be tested).
//! Invariant: the TSIG secret comes from a file (or standard input), never argv.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::http::encode;
use crate::client::input;
use crate::client::listing::{ListArgs, list_in_project};
use crate::client::lookup::ProjectArg;
use crate::client::lookup::{record_id, record_id_by};
use crate::client::output::{Column, col, show_object, show_page};

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// A project's DNS credentials (secrets are never shown).
    List(ListArgs),
    /// Add an RFC 2136 (dynamic update with TSIG) credential (admin).
    Create(CreateCredential),
    /// Write and remove a probe TXT record with a credential, step by step (admin); exits 1 when a
    /// step fails.
    Test(TestCredential),
}

#[derive(Debug, Args)]
pub struct TestCredential {
    #[command(flatten)]
    project: ProjectArg,
    /// The credential: its id or name.
    credential: String,
    /// A zone the credential serves (id or apex); default: the first one.
    #[arg(long)]
    zone: Option<String>,
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

const STEP_COLUMNS: &[Column] = &[col("STEP", "/step"), col("OK", "/ok"), col("MS", "/ms"), col("DETAIL", "/detail")];
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
        CredentialCommand::Test(args) => test(ctx, args).await,
    }
}

async fn test(ctx: &Context, args: TestCredential) -> Result<(), ClientError> {
    let project_id = args.project.resolve(&ctx.api).await?;
    let id = record_id(&ctx.api, "/api/v1/dns-credentials", &project_id, "DNS credential", &args.credential).await?;
    let zone_id = match &args.zone {
        Some(zone) => Some(record_id_by(&ctx.api, "/api/v1/zones", &project_id, "zone", "apex", zone).await?),
        None => None,
    };
    let path = format!("/api/v1/dns-credentials/{}/test", encode(&id));
    let result = ctx.api.post(&path, Some(&json!({ "zone_id": zone_id }))).await?;
    let steps = result["steps"].as_array().map(Vec::as_slice).unwrap_or_default();
    show_page(ctx.output, &json!({ "items": steps }), STEP_COLUMNS);
    if result["ok"] == json!(true) {
        return Ok(());
    }
    let failed = steps.iter().find(|s| s["ok"] == json!(false));
    let step = failed.and_then(|s| s["step"].as_str()).unwrap_or("a step");
    let detail = failed.and_then(|s| s["detail"].as_str()).unwrap_or("no detail");
    Err(ClientError::Refused(format!(
        "the credential test in {} failed at {step}: {detail}",
        result["zone"].as_str().unwrap_or("the zone")
    )))
}
