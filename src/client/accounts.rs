//! `certautopilot account list|create|catalogue`: a project's ACME accounts, and the CAs known by name.
//! Invariant: the EAB key and the CA bundle come from files (or standard input), never argv.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::input;
use crate::client::listing::{ListArgs, list_in_project};
use crate::client::lookup::ProjectArg;
use crate::client::output::{Column, col, show_object, show_page};

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// A project's ACME accounts.
    List(ListArgs),
    /// Add an ACME account (admin); the server fetches the CA's directory first.
    Create(CreateAccount),
    /// The ACME CAs known by name (for `create --ca`).
    Catalogue,
}

#[derive(Debug, Args)]
pub struct CreateAccount {
    #[command(flatten)]
    project: ProjectArg,
    #[arg(long)]
    name: String,
    /// The CA's ACME directory URL.
    #[arg(long, value_name = "URL", required_unless_present = "ca", conflicts_with = "ca")]
    directory_url: Option<String>,
    /// A CA of the catalogue instead of a URL (`account catalogue` lists them), e.g. letsencrypt.
    #[arg(long, value_name = "ID")]
    ca: Option<String>,
    /// With --ca: the CA's staging endpoint.
    #[arg(long, requires = "ca")]
    staging: bool,
    /// A contact URL (`mailto:ops@example.com`; repeat for more).
    #[arg(long, value_name = "URL")]
    contact: Vec<String>,
    /// Agree to the CA's terms of service (most CAs require it).
    #[arg(long)]
    agree_tos: bool,
    /// External account binding: the key id the CA gave you.
    #[arg(long, requires = "eab_hmac_key_file")]
    eab_kid: Option<String>,
    /// External account binding: a file holding the HMAC key (`-` for standard input).
    #[arg(long, value_name = "FILE", requires = "eab_kid")]
    eab_hmac_key_file: Option<PathBuf>,
    /// PEM roots to trust for the CA's HTTPS endpoint (private and test CAs).
    #[arg(long, value_name = "PEM")]
    ca_bundle: Option<PathBuf>,
}

const CATALOGUE_COLUMNS: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("EAB", "/eab_required"),
    col("DIRECTORY", "/directory_url"),
    col("STAGING", "/staging_directory_url"),
];
const COLUMNS: &[Column] =
    &[col("ID", "/id"), col("NAME", "/name"), col("STATUS", "/status"), col("DIRECTORY", "/directory_url")];

pub async fn run(ctx: &Context, command: AccountCommand) -> Result<(), ClientError> {
    match command {
        AccountCommand::List(args) => list_in_project(ctx, "/api/v1/acme-accounts", &args, COLUMNS).await,
        AccountCommand::Create(args) => {
            let eab_key = args.eab_hmac_key_file.as_deref().map(|f| input::secret(f, "EAB HMAC key")).transpose()?;
            let bundle = args.ca_bundle.as_deref().map(|f| input::text(f, "CA bundle")).transpose()?;
            let project_id = args.project.resolve(&ctx.api).await?;
            let body = json!({ "project_id": project_id, "name": args.name, "directory_url": args.directory_url,
                "ca": args.ca, "staging": args.staging,
                "contact": args.contact, "tos_agreed": args.agree_tos, "eab_kid": args.eab_kid,
                "eab_hmac_key": eab_key.as_ref().map(|k| k.as_str()), "ca_bundle_pem": bundle });
            show_object(ctx.output, &ctx.api.post("/api/v1/acme-accounts", Some(&body)).await?);
            Ok(())
        }
        AccountCommand::Catalogue => {
            let page = ctx.api.get("/api/v1/acme-catalogue").await?;
            show_page(ctx.output, &page, CATALOGUE_COLUMNS);
            Ok(())
        }
    }
}
