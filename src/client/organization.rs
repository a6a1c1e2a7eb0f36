//! `certautopilot org show|transfer-owner|set-retention`: the organization, who owns it, and how
//! long its audit entries stay live.
//! Invariant: the password a transfer re-enters is read as `login` reads it (the terminal without
//! echo, or standard input), never from argv; an API token alone never hands an organization over.

use clap::Subcommand;
use serde_json::json;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::lookup::user_id;
use crate::client::output::show_object;

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// The organization and its owner.
    Show,
    /// Hand the organization to another active user (owner only): you become an ordinary user,
    /// keeping your project memberships. Asks for your password.
    TransferOwner {
        /// The next owner: their e-mail or user id.
        #[arg(long = "to", value_name = "USER")]
        to: String,
    },
    /// How many days audit entries stay in the live chain before they are archived (owner only).
    SetRetention {
        /// Days (0 to 36500).
        #[arg(long, required_unless_present = "forever", conflicts_with = "forever")]
        days: Option<u32>,
        /// Keep every entry live (no archiving).
        #[arg(long)]
        forever: bool,
    },
}

pub async fn run(ctx: &Context, command: OrgCommand) -> Result<(), ClientError> {
    match command {
        OrgCommand::Show => {
            show_object(ctx.output, &ctx.api.get("/api/v1/organization").await?);
            Ok(())
        }
        OrgCommand::TransferOwner { to } => {
            let next_owner = user_id(&ctx.api, &to).await?;
            let password =
                crate::setup::read_password("your password: ").map_err(|e| ClientError::Usage(format!("{e:#}")))?;
            let body = json!({ "user_id": next_owner, "password": password.as_str() });
            show_object(ctx.output, &ctx.api.post("/api/v1/organization/owner", Some(&body)).await?);
            Ok(())
        }
        OrgCommand::SetRetention { days, .. } => {
            let body = json!({ "days": days });
            show_object(ctx.output, &ctx.api.put("/api/v1/organization/audit-retention", Some(&body)).await?);
            Ok(())
        }
    }
}
