//! Issuance latency per DNS provider on this machine: for each provider that runs here (BIND 9 and
//! Knot DNS by RFC 2136, PowerDNS's API, Route 53 on moto, the exec hook, and the stand-ins of the
//! cloud APIs), a project with its credential and zone on this binary serving in a child process,
//! and N certificates requested one at a time, each timed from `POST /api/v1/certificates` to the
//! GET that first shows it `issued` (p50 and max).
//!
//! Where Pebble can look the record up (BIND, Knot, PowerDNS, and the stand-ins that publish into
//! BIND) the zone waits at that server; where nothing answers DNS (moto, the Google, Azure and OVH
//! stand-ins) Pebble passes every challenge and the zone's strategy is `none`, so the figure is the
//! provider's API path plus the provider's own change report.

use std::any::Any;
use std::path::Path;
use std::time::Duration;

use certautopilot_connectors::testsupport::{
    AcmeEnv, AcmeEnvOptions, AzureApi, AzurePrincipal, GcloudApi, GcloudZone, Knot, MOTO_ACCESS_KEY_ID,
    MOTO_SECRET_ACCESS_KEY, Moto, OvhApi, OvhKeys, PdnsServer, Pebble, PebbleOptions, Rfc2136Server,
    TestServiceAccount, TestZone, TsigKey, ZONE, cloudflare_standin, digitalocean_standin, hetzner_standin,
    nsupdate_hook,
};
use serde_json::{Value, json};

use super::issue::{self, Client};
use super::{millis, percentile};

const TOKEN: &str = "bench-token-0123456789abcdef";

/// One provider's environment: what must stay alive, the CA, the credential and the zone's
/// propagation settings.
struct Setup {
    _alive: Vec<Box<dyn Any>>,
    directory_url: String,
    ca_pem: String,
    credential: Value,
    propagation: Value,
}

type Start = fn(&Path) -> Setup;

const PROVIDERS: [(&str, Start); 11] = [
    ("rfc2136 (BIND 9)", bind),
    ("rfc2136 (Knot DNS)", knot),
    ("pdns (PowerDNS API)", pdns),
    ("route53 (moto)", route53),
    ("exec (nsupdate hook)", exec),
    ("cloudflare (stand-in)", cloudflare),
    ("digitalocean (stand-in)", digitalocean),
    ("hetzner (stand-in)", hetzner),
    ("gcloud (stand-in)", gcloud),
    ("azure (stand-in)", azure),
    ("ovh (stand-in)", ovh),
];

pub fn run(dir: &Path, count: usize, only: Option<&str>) -> anyhow::Result<()> {
    let count = count.max(1);
    let (mut child, client) = issue::start_service(&dir.join("service"), 4)?;
    let mut client = issue::sign_in(client)?;
    println!("bench providers: {count} single-name certificates per DNS provider, one at a time, Pebble on loopback");
    println!("  {:<26} {:>9} {:>9}  zone checked at", "provider", "p50", "max");
    for (i, (name, start)) in PROVIDERS.iter().enumerate() {
        if only.is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let work = dir.join(format!("provider-{i}"));
        // The test support panics when a server cannot start; that provider's row says so.
        let setup = match std::panic::catch_unwind(|| start(&work)) {
            Ok(setup) => setup,
            Err(e) => {
                let why =
                    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                println!("  {name:<26} not run: {}", why.unwrap_or_default().lines().next().unwrap_or_default());
                continue;
            }
        };
        match measure(&mut client, &setup, i, count) {
            Ok(mut samples) => {
                samples.sort();
                let checked = match setup.propagation["strategy"].as_str() {
                    Some("none") => "none (Pebble passes every challenge)".to_owned(),
                    _ => setup.propagation["nameservers"][0].as_str().unwrap_or_default().to_owned(),
                };
                println!(
                    "  {name:<26} {:>9} {:>9}  {checked}",
                    millis(percentile(&samples, 50.0)),
                    millis(samples.last().copied().unwrap_or_default())
                );
            }
            Err(e) => println!("  {name:<26} failed: {e:#}"),
        }
    }
    child.stop();
    Ok(())
}

/// A project for the provider; one warm-up certificate (account registration), then `count` timed.
fn measure(c: &mut Client, setup: &Setup, index: usize, count: usize) -> anyhow::Result<Vec<Duration>> {
    let project = c.expect("POST", "/api/v1/projects", json!({ "name": format!("provider-{index}") }), 201)?;
    let pid = project["id"].clone();
    let account = c.expect(
        "POST",
        "/api/v1/acme-accounts",
        json!({ "project_id": pid, "name": "pebble", "directory_url": setup.directory_url, "tos_agreed": true,
            "ca_bundle_pem": setup.ca_pem }),
        201,
    )?;
    let mut credential = setup.credential.clone();
    credential["project_id"] = pid.clone();
    credential["name"] = json!("bench");
    let credential = c.expect("POST", "/api/v1/dns-credentials", credential, 201)?;
    c.expect(
        "POST",
        "/api/v1/zones",
        json!({ "project_id": pid, "apex": ZONE, "credential_id": credential["id"], "propagation": setup.propagation }),
        201,
    )?;
    c.project = Some((pid, account["id"].clone()));
    issue::issue(c, &format!("warmup-{index}"))?;
    (0..count).map(|n| issue::issue(c, &format!("p{index}-{n}"))).collect()
}

fn checked_at(server: impl ToString) -> Value {
    json!({ "strategy": "authoritative", "nameservers": [server.to_string()] })
}

/// Pebble that passes every challenge without a lookup, for providers nothing can ask over DNS.
fn always_valid_pebble(dir: &Path) -> Pebble {
    let mut options = PebbleOptions::new("127.0.0.1:9".parse().expect("an address"));
    options.always_valid = true;
    Pebble::start(&dir.join("pebble"), options)
}

fn with_pebble(mut alive: Vec<Box<dyn Any>>, pebble: Pebble, credential: Value, propagation: Value) -> Setup {
    let (directory_url, ca_pem) = (pebble.directory_url(), pebble.https_ca_pem());
    alive.push(Box::new(pebble));
    Setup { _alive: alive, directory_url, ca_pem, credential, propagation }
}

/// Pebble and BIND from the test support; the zone is checked at BIND.
fn with_env(env: AcmeEnv, extra: Option<Box<dyn Any>>, credential: Value) -> Setup {
    let propagation = checked_at(env.bind.addr());
    let (directory_url, ca_pem) = (env.pebble.directory_url(), env.pebble.https_ca_pem());
    let mut alive: Vec<Box<dyn Any>> = vec![Box::new(env)];
    alive.extend(extra);
    Setup { _alive: alive, directory_url, ca_pem, credential, propagation }
}

fn acme_env(dir: &Path) -> AcmeEnv {
    AcmeEnv::start(&dir.join("env"), AcmeEnvOptions::default())
}

fn rfc2136_credential(server: impl ToString, key: &TsigKey) -> Value {
    json!({ "provider": "rfc2136", "config": { "server": server.to_string(), "key_name": key.name,
        "algorithm": key.algorithm, "secret": key.secret } })
}

fn bind(dir: &Path) -> Setup {
    let env = acme_env(dir);
    let credential = rfc2136_credential(env.bind.addr(), env.bind.key());
    with_env(env, None, credential)
}

fn knot(dir: &Path) -> Setup {
    let knot = Knot::start(&dir.join("knot"), TsigKey::random("bench"), vec![TestZone::new(ZONE)]);
    let pebble = Pebble::start(&dir.join("pebble"), PebbleOptions::new(knot.addr()));
    let (credential, propagation) = (rfc2136_credential(knot.addr(), knot.key()), checked_at(knot.addr()));
    with_pebble(vec![Box::new(knot)], pebble, credential, propagation)
}

fn pdns(dir: &Path) -> Setup {
    let pdns = PdnsServer::start(&dir.join("pdns"), &[ZONE]);
    let pebble = Pebble::start(&dir.join("pebble"), PebbleOptions::new(pdns.dns_addr()));
    let credential = json!({ "provider": "pdns", "config": { "api_url": pdns.api_url(), "api_key": pdns.api_key() } });
    let propagation = checked_at(pdns.dns_addr());
    with_pebble(vec![Box::new(pdns)], pebble, credential, propagation)
}

fn route53(dir: &Path) -> Setup {
    let moto = Moto::start(&dir.join("moto"));
    moto.create_zone(ZONE);
    let credential = json!({ "provider": "route53", "config": { "access_key_id": MOTO_ACCESS_KEY_ID,
        "secret_access_key": MOTO_SECRET_ACCESS_KEY, "endpoint": moto.url() } });
    with_pebble(vec![Box::new(moto)], always_valid_pebble(dir), credential, json!({ "strategy": "none" }))
}

/// The hook of docs/dns/exec.md publishing with nsupdate at BIND.
fn exec(dir: &Path) -> Setup {
    let env = acme_env(dir);
    let hook = nsupdate_hook(dir, &env.bind, None);
    let credential =
        json!({ "provider": "exec", "config": { "command": hook.display().to_string(), "timeout_seconds": 10 } });
    with_env(env, None, credential)
}

fn cloudflare(dir: &Path) -> Setup {
    let env = acme_env(dir);
    let api = cloudflare_standin(TOKEN, &[("z-bench", ZONE, "active")], Some(&env.bind));
    let credential = json!({ "provider": "cloudflare", "config": { "api_url": api.url(), "api_token": TOKEN } });
    with_env(env, Some(Box::new(api)), credential)
}

fn digitalocean(dir: &Path) -> Setup {
    let env = acme_env(dir);
    let api = digitalocean_standin(TOKEN, &[ZONE], Some(&env.bind));
    let credential = json!({ "provider": "digitalocean", "config": { "api_url": api.url(), "token": TOKEN } });
    with_env(env, Some(Box::new(api)), credential)
}

fn hetzner(dir: &Path) -> Setup {
    let env = acme_env(dir);
    let api = hetzner_standin(TOKEN, &[("z-bench", ZONE)], Some(&env.bind));
    let credential = json!({ "provider": "hetzner", "config": { "api_url": api.url(), "api_token": TOKEN } });
    with_env(env, Some(Box::new(api)), credential)
}

fn gcloud(dir: &Path) -> Setup {
    let account = TestServiceAccount::generate("dns@bench.iam.gserviceaccount.com");
    let zone = GcloudZone { name: "bench".into(), dns_name: format!("{ZONE}."), visibility: "public" };
    let api = GcloudApi::start("bench", &account, vec![zone], 50);
    let credential = json!({ "provider": "gcloud", "config": { "project": "bench", "api_url": api.api_url(),
        "token_url": api.token_url(), "service_account_key": account.key_json } });
    with_pebble(vec![Box::new(api)], always_valid_pebble(dir), credential, json!({ "strategy": "none" }))
}

fn azure(dir: &Path) -> Setup {
    let p = AzurePrincipal {
        tenant_id: "11111111-2222-3333-4444-555555555555".into(),
        client_id: "66666666-7777-8888-9999-000000000000".into(),
        client_secret: TOKEN.into(),
        subscription_id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
        resource_group: "dns-rg".into(),
    };
    let api = AzureApi::start(p.clone(), &[ZONE], 50);
    let credential = json!({ "provider": "azure", "config": { "tenant_id": p.tenant_id, "client_id": p.client_id,
        "subscription_id": p.subscription_id, "resource_group": p.resource_group, "api_url": api.url(),
        "login_url": api.url(), "client_secret": p.client_secret } });
    with_pebble(vec![Box::new(api)], always_valid_pebble(dir), credential, json!({ "strategy": "none" }))
}

fn ovh(dir: &Path) -> Setup {
    let keys = OvhKeys {
        application_key: "benchAppKey0123".into(),
        application_secret: "benchAppSecret0123456789abcdefgh".into(),
        consumer_key: "benchConsumerKey0123456789abcdef".into(),
    };
    let api = OvhApi::start(keys.clone(), &[ZONE]);
    let credential = json!({ "provider": "ovh", "config": { "endpoint": api.endpoint(),
        "application_key": keys.application_key, "application_secret": keys.application_secret,
        "consumer_key": keys.consumer_key } });
    with_pebble(vec![Box::new(api)], always_valid_pebble(dir), credential, json!({ "strategy": "none" }))
}
