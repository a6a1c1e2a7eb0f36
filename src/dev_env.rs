//! `certautopilot dev-env`: a local ACME CA (Pebble) and an authoritative DNS server (BIND 9) on
//! loopback, for trying the product by hand (docs/getting-started.md, deploy/dev/pebble-bind).
//! Not for production. Invariant: both listen on 127.0.0.1 only, and both stop when this command
//! does (Ctrl-C or SIGTERM); what a person needs to point the service at them is written to
//! `<dir>/env.sh` (mode 0600: it holds the throwaway TSIG secret), never printed.

use std::path::Path;

use anyhow::Context;
use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, DELEGATED_ZONE, ZONE};

pub async fn run(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)?;
    let env_dir = dir.clone();
    let env = tokio::task::spawn_blocking(move || AcmeEnv::start(&env_dir, AcmeEnvOptions::default())).await?;
    let bundle = dir.join("pebble-https-ca.pem");
    std::fs::write(&bundle, env.pebble.https_ca_pem())?;
    let key = env.bind.key();
    let settings = format!(
        "# Written by `certautopilot dev-env`; source it: . {dir}/env.sh\n\
         export PEBBLE_DIRECTORY='{directory}'\n\
         export PEBBLE_CA_BUNDLE='{bundle}'\n\
         export DNS_SERVER='{server}'\n\
         export TSIG_KEY_NAME='{key_name}'\n\
         export TSIG_ALGORITHM='{algorithm}'\n\
         export TSIG_SECRET='{secret}'\n\
         export ZONE='{ZONE}'\n",
        dir = dir.display(),
        directory = env.pebble.directory_url(),
        bundle = bundle.display(),
        server = env.bind.addr(),
        key_name = key.name,
        algorithm = key.algorithm,
        secret = key.secret,
    );
    write_private(&dir.join("env.sh"), &settings)?;
    println!("Pebble (ACME CA):    {}", env.pebble.directory_url());
    println!("  its HTTPS CA:      {}", bundle.display());
    println!("BIND 9 (DNS):        {} (zones {ZONE} and {DELEGATED_ZONE}, RFC 2136 with TSIG)", env.bind.addr());
    println!("  its configuration: {}/bind/named.conf and {}/bind/{ZONE}.zone", dir.display(), dir.display());
    println!("Settings for the service and the API calls: . {}/env.sh", dir.display());
    println!("Both run until you press Ctrl-C.");
    wait_for_stop().await?;
    println!("stopping Pebble and BIND");
    drop(env);
    Ok(())
}

async fn wait_for_stop() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
