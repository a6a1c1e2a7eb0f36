//! `certautopilot cert …`: list, show, create, renew, revoke, chain and timeline of certificates.
//! `create`, `renew` and `revoke` queue a job; with `--wait` they follow it step by step
//! (follow.rs) and end with the certificate, or exit 8 when it failed.
//! Invariant: the server decides and validates everything; names given for the account and the
//! targets are turned into ids (lookup.rs) and the rest is sent as typed.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::follow::{Timeline, WaitArgs, follow_certificate};
use crate::client::http::{answer_text, encode};
use crate::client::listing::{ListArgs, list_in_project};
use crate::client::lookup::{ProjectArg, record_id};
use crate::client::output::{Column, Output, col, emit, note, show_object, show_page};

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// A project's certificates.
    List(ListArgs),
    /// One certificate.
    Show { id: String },
    /// Request a certificate (operator): queues its issue job.
    Create(CreateArgs),
    /// Renew now (operator): queues a renew job.
    Renew {
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Revoke at the CA (admin): queues a revoke job.
    Revoke {
        id: String,
        /// RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, superseded,
        /// cessationOfOperation.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// The issued chain as PEM (leaf first).
    Chain {
        id: String,
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// State changes and job steps, oldest first.
    Timeline { id: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    project: ProjectArg,
    /// The ACME account to order with: its id or name.
    #[arg(long)]
    account: String,
    /// The common name (also the first name of the certificate); required unless --csr.
    #[arg(long = "name", value_name = "DOMAIN", required_unless_present = "csr")]
    common_name: Option<String>,
    /// Another name for the certificate (repeat for more).
    #[arg(long = "san", value_name = "DOMAIN")]
    sans: Vec<String>,
    /// ecdsa-p256, ecdsa-p384, rsa2048, rsa3072 or rsa4096 (default ecdsa-p256; not with --csr).
    #[arg(long, conflicts_with = "csr")]
    key_type: Option<String>,
    /// Your own certificate signing request (PEM file, `-` for standard input): names and key
    /// come from it, and the private key stays with you.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["common_name", "sans"])]
    csr: Option<std::path::PathBuf>,
    /// Renew this many days before expiry (default: a third of the lifetime).
    #[arg(long, conflicts_with = "renew_before_hours")]
    renew_before_days: Option<u32>,
    /// Renew this many hours before expiry instead (short-lived certificates).
    #[arg(long)]
    renew_before_hours: Option<u32>,
    /// An ACME profile the account's CA offers (e.g. shortlived; default: the CA's own).
    #[arg(long)]
    profile: Option<String>,
    /// A target to deploy to (id or name; repeat for more).
    #[arg(long = "target", value_name = "TARGET")]
    targets: Vec<String>,
    #[command(flatten)]
    wait: WaitArgs,
}

const COLUMNS: &[Column] = &[
    col("ID", "/id"),
    col("COMMON NAME", "/common_name"),
    col("STATUS", "/status"),
    col("NOT AFTER", "/not_after"),
    col("RENEW AT", "/renew_at"),
];

const TIMELINE: &[Column] = &[col("AT", "/at"), col("SOURCE", "/source"), col("EVENT", "/event"), col("BY", "/by")];

pub async fn run(ctx: &Context, command: CertCommand) -> Result<(), ClientError> {
    match command {
        CertCommand::List(args) => {
            list_in_project(ctx, "/api/v1/certificates", &args, COLUMNS).await?;
        }
        CertCommand::Show { id } => show_object(ctx.output, &ctx.api.get(&path(&id, "")).await?),
        CertCommand::Create(args) => create(ctx, args).await?,
        CertCommand::Renew { id, wait } => {
            queue(ctx, &id, "renew", None, "issued", &wait).await?;
        }
        CertCommand::Revoke { id, reason, wait } => {
            let body = json!({ "reason": reason });
            queue(ctx, &id, "revoke", Some(&body), "revoked", &wait).await?;
        }
        CertCommand::Chain { id, out } => {
            let pem = ctx.api.get_text(&path(&id, "/chain")).await?;
            match out {
                Some(file) => {
                    std::fs::write(&file, &pem)
                        .map_err(ClientError::local(format!("cannot write {}", file.display())))?;
                    note(&format!("chain written to {}", file.display()));
                }
                None => emit(&pem),
            }
        }
        CertCommand::Timeline { id } => {
            let timeline = ctx.api.get(&path(&id, "/timeline")).await?;
            show_page(ctx.output, &timeline, TIMELINE);
        }
    }
    Ok(())
}

fn path(id: &str, rest: &str) -> String {
    format!("/api/v1/certificates/{}{rest}", encode(id))
}

async fn create(ctx: &Context, args: CreateArgs) -> Result<(), ClientError> {
    let project_id = args.project.resolve(&ctx.api).await?;
    let account = record_id(&ctx.api, "/api/v1/acme-accounts", &project_id, "ACME account", &args.account).await?;
    let mut target_ids = Vec::new();
    for target in &args.targets {
        target_ids.push(record_id(&ctx.api, "/api/v1/targets", &project_id, "target", target).await?);
    }
    let csr_pem = args.csr.as_deref().map(|f| crate::client::input::text(f, "CSR")).transpose()?;
    let key_type = match (&args.key_type, &csr_pem) {
        (None, None) => Some("ecdsa-p256".to_owned()),
        (key_type, _) => key_type.clone(),
    };
    let body = json!({ "project_id": project_id, "common_name": args.common_name.unwrap_or_default(), "sans": args.sans,
        "key_type": key_type, "csr_pem": csr_pem, "acme_account_id": account, "renew_before_days": args.renew_before_days,
        "renew_before_hours": args.renew_before_hours, "profile": args.profile, "target_ids": target_ids });
    let created = ctx.api.post("/api/v1/certificates", Some(&body)).await?;
    let id = answer_text(&created, "/certificate/id")?;
    if let Some(approval) = waiting(&created) {
        note(&format!("certificate {id} requested; it waits for an admin's approval ({approval})"));
        return show(ctx.output, &created, &created["approval"]);
    }
    let job = answer_text(&created, "/job/id")?;
    if !args.wait.wait {
        note(&format!("certificate {id} requested; follow its issue job with `certautopilot job show {job} --follow`"));
        return show(ctx.output, &created, &created["certificate"]);
    }
    note(&format!("certificate {id} requested; issue job {job}"));
    let certificate = follow_certificate(&ctx.api, &id, &job, "issued", Timeline::default(), args.wait.timeout).await?;
    finished(ctx.output, &certificate, "issued");
    Ok(())
}

/// Queues a renew or revoke job; with `--wait` follows it until the certificate is `expect`.
async fn queue(
    ctx: &Context,
    id: &str,
    action: &str,
    body: Option<&Value>,
    expect: &str,
    wait: &WaitArgs,
) -> Result<(), ClientError> {
    // Before the request: only what this job adds to the timeline is printed.
    let timeline = if wait.wait { Timeline::after_now(&ctx.api, id).await? } else { Timeline::default() };
    let queued = ctx.api.post(&path(id, &format!("/{action}")), body).await?;
    if let Some(approval) = waiting(&queued) {
        note(&format!("{action} of certificate {id} waits for an admin's approval ({approval})"));
        return show(ctx.output, &queued, &queued["approval"]);
    }
    let job = answer_text(&queued, "/job/id")?;
    let already = if queued["created"] == json!(false) { " (it was already queued)" } else { "" };
    note(&format!("{action} job {job} queued for certificate {id}{already}"));
    if !wait.wait {
        return show(ctx.output, &queued, &queued["job"]);
    }
    let certificate = follow_certificate(&ctx.api, id, &job, expect, timeline, wait.timeout).await?;
    finished(ctx.output, &certificate, expect);
    Ok(())
}

/// The approval an answer waits for, described (its id and why), if it waits for one.
fn waiting(answer: &Value) -> Option<String> {
    let approval = answer.get("approval").filter(|a| !a.is_null())?;
    let reasons: Vec<&str> =
        approval["reasons"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    Some(format!("request {}: {}", approval["id"].as_str().unwrap_or_default(), reasons.join("; ")))
}

/// The server's whole answer as JSON, or the part that matters as a table.
fn show(output: Output, answer: &Value, part: &Value) -> Result<(), ClientError> {
    show_object(output, if output == Output::Json { answer } else { part });
    Ok(())
}

fn finished(output: Output, certificate: &Value, status: &str) {
    note(&format!(
        "certificate {} {status}{}",
        certificate["id"].as_str().unwrap_or_default(),
        certificate["serial"].as_str().map(|s| format!(" (serial {s})")).unwrap_or_default()
    ));
    show_object(output, certificate);
}
