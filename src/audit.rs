//! `certautopilot audit verify`: verifies each organization's chain from its verified-up-to mark
//! (the scheduler's verifier keeps it near the head; `--full`, or no mark yet: from the first
//! entry) with a progress line, and exits 0 with `chain intact: N entries, head <hmac>`, or 1
//! naming the first broken link and why. Also the chaining step of commands that write audited
//! changes without a service running.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use certautopilot_actors::audit::{AuditError, open_writer};
use certautopilot_config::Config;
use certautopilot_core::OrgScope;
use certautopilot_core::audit::{
    Checkpoint, FromMark, VerifyError, pending_count, verify_archives, verify_chain, verify_from_mark,
};
use certautopilot_core::crypto::Envelope;
use certautopilot_core::store::Store;

use crate::service::state::AUDIT_SECRET_FIELD;
use crate::wiring::{open_envelope, open_store};

/// How `audit verify` walks: from the mark (default) or the whole live chain, and the archives too.
pub struct VerifyMode {
    pub full: bool,
    pub archives: Option<std::path::PathBuf>,
}

pub async fn verify(config: &Config, org_filter: Option<String>, mode: VerifyMode) -> anyhow::Result<ExitCode> {
    let kek = open_envelope(config, &certautopilot_actors::ActorRegistry::new())?;
    let envelope = kek.envelope.clone();
    let store = open_store(config).await?;
    crate::kek_check::require_kek_opens_store(config, store.as_ref(), &envelope).await?;
    let orgs: Vec<_> = store
        .list_organizations()
        .await?
        .into_iter()
        .filter(|o| org_filter.as_deref().is_none_or(|f| f == o.id.to_string() || f == o.name))
        .collect();
    if orgs.is_empty() {
        bail!(
            "no organization {}",
            org_filter.map(|f| format!("matching {f:?}")).unwrap_or_else(|| "set up yet".into())
        );
    }
    let terminal = std::io::stderr().is_terminal();
    let mut intact = true;
    for org in orgs {
        let sealed = org.audit_secret.as_ref().context("the organization has no audit secret")?;
        let secret =
            envelope.open(&org.id.to_string(), AUDIT_SECRET_FIELD, sealed).context("cannot open the audit secret")?;
        let scope = OrgScope::for_system("audit-verify", &org);
        if let Some(dir) = &mode.archives {
            match verify_org_archives(store.as_ref(), dir, &org, &secret).await? {
                Ok(line) => println!("{}: {line}", org.name),
                Err(broken) => {
                    intact = false;
                    eprintln!("{}: archives broken: {broken}", org.name);
                    continue;
                }
            }
        }
        let full = mode.full || mode.archives.is_some();
        let total = store.audit_head(org.id).await?.map(|h| h.seq).unwrap_or(0);
        let started = Instant::now();
        let mut last = Instant::now();
        let progress = |done: u64| {
            if terminal && last.elapsed() > Duration::from_millis(200) {
                last = Instant::now();
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                eprint!("\rverified {done}/{total} ({rate:.0}/s)   ");
            }
        };
        let result = if full {
            verify_chain(store.as_ref(), &scope, &secret, progress).await.map(FromMark::from)
        } else {
            verify_from_mark(store.as_ref(), &scope, &secret, progress).await
        };
        if terminal {
            eprint!("\r");
        }
        // Read after the walk, so an event chained meanwhile is not counted twice.
        let waiting = pending_count(store.as_ref(), org.id).await?;
        match result {
            Ok(found) => println!(
                "{}: chain intact: {} entries, head {} ({}; {:.2} s){}",
                org.name,
                found.entries,
                found.head.as_ref().map(|(_, h)| h.as_str()).unwrap_or("-"),
                match found.from_seq {
                    0 => "walked from the first entry".to_owned(),
                    seq => format!("from the verified mark at entry {seq}, {} entries read", found.checked),
                },
                started.elapsed().as_secs_f64(),
                if waiting > 0 {
                    format!("; {waiting} more committed and waiting in the outbox for the audit actor")
                } else {
                    String::new()
                }
            ),
            Err(VerifyError::Broken(link)) => {
                intact = false;
                eprintln!("{}: chain broken at seq {}: {}", org.name, link.seq, link.fault);
            }
            Err(VerifyError::Store(e)) => {
                intact = false;
                eprintln!("{}: chain unreadable: {e}", org.name);
            }
        }
    }
    Ok(if intact { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Verifies `org`'s archive segments in `dir` against its checkpoint: the line to print, or where
/// they break.
async fn verify_org_archives(
    store: &dyn Store,
    dir: &std::path::Path,
    org: &certautopilot_core::model::Organization,
    secret: &certautopilot_core::crypto::SecretBytes,
) -> anyhow::Result<Result<String, String>> {
    let doc = store.audit_checkpoint(org.id).await?;
    let checkpoint = match doc.as_deref().map(Checkpoint::from_json) {
        Some(Some(c)) if c.is_genuine(secret, org.id) => Some(c),
        Some(_) => {
            return Ok(Err(
                "the archive checkpoint is not genuine (not made with this organization's audit secret)".into()
            ));
        }
        None => None,
    };
    let started = Instant::now();
    let dir = dir.to_owned();
    let (org_id, secret) = (org.id, secret.clone());
    let verified =
        tokio::task::spawn_blocking(move || verify_archives(&dir, org_id, &secret, checkpoint.as_ref(), |_| {}))
            .await
            .context("the archive check stopped")?;
    Ok(match verified {
        Ok(summary) => {
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            let pending = match summary.pending {
                0 => String::new(),
                n => format!(
                    "; {n} segments past the checkpoint (a step cut off before its store transaction: their entries are still live, the next step writes them again)"
                ),
            };
            Ok(format!(
                "archives intact: {} segments, {} entries ({:.2} s, {:.0} entries/s){pending}",
                summary.segments,
                summary.entries,
                seconds,
                summary.entries as f64 / seconds
            ))
        }
        Err(broken) => Err(broken.to_string()),
    })
}

/// Chains what a command run without a service left in the outbox (`setup`, `kek rotate`, `kek
/// retire`), with the AuditActor's own writer; a service running beside it would otherwise chain
/// the rows on its next sweep. The store's head check keeps the two from forking the chain.
pub async fn chain_outbox(store: &dyn Store, envelope: &Envelope) -> anyhow::Result<u64> {
    let mut chained = 0;
    for (org, _) in store.pending_audit_orgs().await? {
        let mut writer = match open_writer(store, envelope, org).await {
            Ok(writer) => writer,
            Err(AuditError::NoSecret(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        chained += writer.drain(store).await?;
    }
    Ok(chained)
}
