//! `certautopilot cluster …`: membership commands sent over the cluster port (mutual TLS with this
//! node's own certificate) to the running node, which passes join and leave on to the leader.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use certautopilot_cluster::admin::{self, AdminRequest, AdminResponse};
use certautopilot_cluster::{ClusterStatus, Connector, TlsIdentity, TransportStats};
use certautopilot_config::{ClusterConfig, Config};

use crate::cli::ClusterCommand;

/// A join waits for the new node to catch up; the nodes bound it at 60 s.
const TIMEOUT: Duration = Duration::from_secs(90);

pub async fn run(config: &Config, command: ClusterCommand) -> anyhow::Result<ExitCode> {
    if let ClusterCommand::Certs { out, nodes, hosts } = command {
        let issued = certautopilot_cluster::certs::issue(&out, &nodes, &hosts)?;
        println!("{} {}", if issued.ca_created { "created CA" } else { "reused CA" }, issued.ca_cert.display());
        for node in issued.nodes {
            println!("node {}: {} {}", node.node_id, node.cert.display(), node.key.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cluster = config.cluster.as_ref().context(
        "this command needs the node's [cluster] section (node_id, listen, ca_path, cert_path, key_path); \
         see docs/cluster.md",
    )?;
    let connector = connector(cluster)?;
    let local = local_addr(cluster);
    let (addr, request) = match command {
        ClusterCommand::Init => (local, AdminRequest::Init),
        ClusterCommand::Join { leader, learner } => {
            (leader, AdminRequest::Join { node_id: cluster.node_id, addr: cluster.advertise.clone(), voter: !learner })
        }
        ClusterCommand::Leave { node_id } => {
            (local, AdminRequest::Leave { node_id: node_id.unwrap_or(cluster.node_id) })
        }
        ClusterCommand::Status { json } => {
            let status = match admin::call(&connector, &local, AdminRequest::Status, TIMEOUT).await {
                Ok(AdminResponse::Status(status)) => status,
                Ok(other) => anyhow::bail!("unexpected answer: {other:?}"),
                Err(e) => return Err(e).with_context(|| format!("cannot ask the node at {local}; is it running?")),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status);
            }
            return Ok(ExitCode::SUCCESS);
        }
        ClusterCommand::Certs { .. } => unreachable!("handled above"),
    };
    match admin::call(&connector, &addr, request, TIMEOUT).await? {
        AdminResponse::Done(message) => println!("{message}"),
        AdminResponse::Status(status) => print_status(&status),
    }
    Ok(ExitCode::SUCCESS)
}

fn connector(cluster: &ClusterConfig) -> anyhow::Result<Connector> {
    let identity = TlsIdentity::load(&cluster.ca_path, &cluster.cert_path, &cluster.key_path)?;
    Ok(Connector::new(&identity, None, Arc::new(TransportStats::default())))
}

/// The node's own cluster port: a wildcard listen address is reached through loopback.
fn local_addr(cluster: &ClusterConfig) -> String {
    if cluster.listen.ip().is_unspecified() { cluster.advertise.clone() } else { cluster.listen.to_string() }
}

fn print_status(s: &ClusterStatus) {
    let list = |ids: &[u64]| {
        if ids.is_empty() { "-".to_owned() } else { ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ") }
    };
    println!("node      {} at {}", s.node_id, s.addr);
    println!("state     {} (term {})", s.state, s.term);
    match (s.leader, &s.leader_addr) {
        (Some(id), Some(addr)) => println!("leader    {id} at {addr}"),
        (Some(id), None) => println!("leader    {id}"),
        _ => println!("leader    none"),
    }
    println!("voters    {}", list(&s.voters));
    println!("learners  {}", list(&s.learners));
    println!("scheduler {}", if s.scheduler_active { "active on this node" } else { "not on this node" });
    if let Some(epoch) = s.epoch {
        println!("epoch     node {} confirmed in term {}", epoch.node, epoch.term);
    }
}
