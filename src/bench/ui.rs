//! The web console at scale: this binary serving in a child process, N issued certificates loaded
//! into one project of its store beside it (SQLite takes writers from several processes), then the
//! overview and the inventory requested as a signed-in owner, timed on loopback (p50, p95), and
//! the overview's page weight with every asset it loads. The inventory is timed in its default
//! order and in the expiry order (`sort=expires`), alone, with a fact filter and a text filter, and
//! halfway down (a cursor after half the certificates).
//! Invariant: the pages are the ones a browser gets (same cookie, same routes); only the load
//! goes around the API, which would take hours for 100,000 issuances.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use certautopilot_core::model::{Certificate, Condition, KeyType};
use certautopilot_core::store::{MAX_PAGE_SIZE, PageRequest, RecordStore, prelude::*};
use certautopilot_core::{AcmeAccountId, Timestamp};

use super::service::{call, start_service};
use super::{millis, percentile};

const DAY: Duration = Duration::from_secs(86_400);
const INSERT_BATCH: usize = 5_000;
const OWNER: (&str, &str) = ("bench@example.com", "bench password 123");

pub async fn run(dir: &Path, certificates: usize, samples: usize) -> anyhow::Result<()> {
    let (_service, addr) = start_service(dir, &[])?;
    let signed_in = sign_in(addr)?;
    let cookie = format!("cap_session={signed_in}");
    let project = json_field(&post(addr, &cookie, "/api/v1/projects", r#"{"name":"bench"}"#)?, "id")?;
    println!("bench ui: loading {certificates} issued certificates into one project …");
    let started = Instant::now();
    let halfway = load(&dir.join("service/data/certautopilot.db"), &project, certificates).await?;
    println!("  loaded in {:.1} s", started.elapsed().as_secs_f64());
    // The console's cursor is `<project>:<store cursor>` (`service::inventory`).
    let deep = halfway.map(|c| format!("&cursor={project}:{c}")).unwrap_or_default();

    let headers = [("Cookie", cookie.as_str())];
    for (name, path) in [
        ("overview", "/".to_owned()),
        ("inventory, first page", format!("/certificates?project={project}")),
        ("inventory, all projects", "/certificates".to_owned()),
        ("inventory, text filter", format!("/certificates?project={project}&q=host99999")),
        ("inventory, expires soonest", format!("/certificates?project={project}&sort=expires")),
        ("expires, status issued", format!("/certificates?project={project}&sort=expires&status=issued")),
        ("expires, within 7 days", format!("/certificates?project={project}&sort=expires&expiring=7")),
        ("expires, text filter", format!("/certificates?project={project}&sort=expires&q=host99999")),
        ("expires, halfway down", format!("/certificates?project={project}&sort=expires{deep}")),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..samples {
            let start = Instant::now();
            let (status, body) = call(addr, "GET", &path, &headers, None)?;
            times.push(start.elapsed());
            anyhow::ensure!(status == 200, "{path}: {status}");
            size = body.len();
        }
        times.sort();
        println!(
            "  {name:<26} p50 {} p95 {} max {} ({size} bytes of HTML)",
            millis(percentile(&times, 50.0)),
            millis(percentile(&times, 95.0)),
            millis(*times.last().unwrap_or(&Duration::ZERO))
        );
    }
    let (_, overview) = call(addr, "GET", "/", &headers, None)?;
    let mut weight = overview.len();
    for asset in ["/assets/app-1.css", "/assets/htmx-2.0.11.min.js"] {
        weight += call(addr, "GET", asset, &[], None)?.1.len();
    }
    println!(
        "  overview page weight: {weight} bytes ({:.1} KB) with its style sheet and script, uncompressed",
        weight as f64 / 1024.0
    );
    Ok(())
}

/// Sets the service up and signs the owner in; returns the session token (the cookie's value).
fn sign_in(addr: SocketAddr) -> anyhow::Result<String> {
    let setup = format!(r#"{{"org_name":"bench","email":"{}","password":"{}"}}"#, OWNER.0, OWNER.1);
    let (status, body) = call(addr, "POST", "/api/v1/setup", &[], Some(&setup))?;
    anyhow::ensure!(status == 201, "setup: {status} {body}");
    let login = format!(r#"{{"email":"{}","password":"{}"}}"#, OWNER.0, OWNER.1);
    let (status, body) = call(addr, "POST", "/api/v1/auth/login", &[], Some(&login))?;
    anyhow::ensure!(status == 200, "login: {status} {body}");
    json_field(&body, "token")
}

fn post(addr: SocketAddr, cookie: &str, path: &str, body: &str) -> anyhow::Result<String> {
    // A bearer token, not the cookie: cookie-carried changes need the CSRF header.
    let token = cookie.trim_start_matches("cap_session=");
    let auth = format!("Bearer {token}");
    let (status, answer) = call(addr, "POST", path, &[("Authorization", auth.as_str())], Some(body))?;
    anyhow::ensure!(status == 201, "{path}: {status} {answer}");
    Ok(answer)
}

fn json_field(body: &str, field: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_str(body)?;
    value[field].as_str().map(str::to_owned).with_context(|| format!("no {field} in {body}"))
}

/// Issued certificates with expiries spread over the next 90 days, written beside the service.
/// Returns the expiry order's store cursor after the first half of them (walked through the
/// store, as the inventory pages), to time a page that deep.
async fn load(db: &Path, project: &str, certificates: usize) -> anyhow::Result<Option<String>> {
    let (store, scope) = super::service::store_beside(db, OWNER.0, project.parse()?).await?;
    let project = scope.project_id();
    let base = Timestamp::now();
    let account = AcmeAccountId::new();
    let mut made = 0;
    while made < certificates {
        let n = (certificates - made).min(INSERT_BATCH);
        let batch: Vec<Certificate> = (made..made + n)
            .map(|k| {
                let name = format!("host{k}.example.com");
                let mut cert = Certificate::new(project, &name, vec![name.clone()], KeyType::EcdsaP256, account, base);
                let expires = base.saturating_add(DAY.mul_f64((k % 9_000) as f64 / 100.0));
                cert.mark_issued(format!("{k:032x}"), expires.saturating_sub(DAY * 90), expires, format!("{k:064x}"));
                cert
            })
            .collect();
        store.insert_many(&scope, &batch).await?;
        made += n;
    }
    let mut cursor = None;
    for _ in 0..certificates / 2 / MAX_PAGE_SIZE {
        let page = PageRequest { limit: Some(MAX_PAGE_SIZE), cursor };
        cursor = store.certificates_by_expiry(&scope, &Condition::Always, &page).await?.next_cursor;
    }
    Ok(cursor)
}
