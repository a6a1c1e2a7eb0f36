//! One cluster node: its Raft, its cluster port, and the leadership watch the scheduler follows.
//! A node counts as the scheduler's home only when it leads, a quorum has committed its `Lead`
//! entry for the current term, and a quorum acknowledged it within the shortest election timeout
//! (so a leader cut off from the others stops before anyone else can have been elected).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openraft::ChangeMembers;
use openraft::ServerState;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{AdminError, AdminRequest, AdminResponse, ClusterStatus};
use crate::storage::{self, StateMachineData};
use crate::transport::{
    self, Connector, Handler, NetworkFactory, TlsIdentity, TransportStats, WireRequest, WireResponse,
};
use crate::types::{Command, Epoch, Node, NodeId, Raft};
use crate::{ClusterError, ClusterSettings};

/// Whether this node's scheduler may run, and under which term (its fencing token).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Leadership {
    pub active: bool,
    pub term: u64,
}

/// How long a membership change may take (a learner catching up included).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(60);

struct Shared {
    settings: ClusterSettings,
    raft: Raft,
    state: Arc<RwLock<StateMachineData>>,
    leadership: watch::Sender<Leadership>,
    connector: Arc<Connector>,
    stats: Arc<TransportStats>,
}

pub struct ClusterNode {
    shared: Arc<Shared>,
    local_addr: std::net::SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl ClusterNode {
    pub async fn start(settings: ClusterSettings) -> Result<Self, ClusterError> {
        let identity = TlsIdentity::load(&settings.ca_path, &settings.cert_path, &settings.key_path)?;
        let stats = Arc::new(TransportStats::default());
        let connector = Arc::new(Connector::new(&identity, settings.source_address, stats.clone()));
        if let Some(parent) = settings.raft_db.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let (log, state_machine) = storage::open(&settings.raft_db)?;
        let state = state_machine.shared();
        let ms = |d: Duration| d.as_millis() as u64;
        let config = openraft::Config {
            cluster_name: "certautopilot".into(),
            heartbeat_interval: ms(settings.heartbeat),
            election_timeout_min: ms(settings.election_timeout_min),
            election_timeout_max: ms(settings.election_timeout_max),
            // A chunk must fit a frame with room for the request around it.
            snapshot_max_chunk_size: (transport::MAX_FRAME / 2) as u64,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ClusterError::Invalid(e.to_string()))?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| ClusterError::Invalid(format!("cannot listen on cluster.listen {}: {e}", settings.listen)))?;
        let local_addr = listener.local_addr()?;
        let raft =
            Raft::new(settings.node_id, Arc::new(config), NetworkFactory::new(connector.clone()), log, state_machine)
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let (leadership, _) = watch::channel(Leadership::default());
        let shared = Arc::new(Shared { settings, raft, state, leadership, connector, stats: stats.clone() });
        let tasks = vec![
            tokio::spawn(transport::serve(listener, identity, shared.clone(), stats)),
            tokio::spawn(watch_leadership(shared.clone())),
        ];
        tracing::info!(node_id = shared.settings.node_id, %local_addr, advertise = %shared.settings.advertise, "cluster node started");
        Ok(ClusterNode { shared, local_addr, tasks })
    }

    pub fn id(&self) -> NodeId {
        self.shared.settings.node_id
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.shared.leadership.subscribe()
    }

    pub fn status(&self) -> ClusterStatus {
        self.shared.status()
    }

    /// The same requests the cluster port takes, for the HTTP admin routes.
    pub async fn admin(&self, request: AdminRequest) -> Result<AdminResponse, AdminError> {
        self.shared.admin(request, false).await
    }

    pub fn connector(&self) -> Arc<Connector> {
        self.shared.connector.clone()
    }

    /// Stops Raft and the cluster port. Peers see the node as gone.
    pub async fn shutdown(&self) {
        let term = self.shared.leadership.borrow().term;
        self.shared.leadership.send_replace(Leadership { active: false, term });
        for task in &self.tasks {
            task.abort();
        }
        if let Err(e) = self.shared.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
    }
}

impl Shared {
    fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let nodes: BTreeMap<NodeId, String> = membership.nodes().map(|(id, n)| (*id, n.addr.clone())).collect();
        let state = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        ClusterStatus {
            node_id: self.settings.node_id,
            addr: self.settings.advertise.clone(),
            state: state.into(),
            term: m.current_term,
            leader: m.current_leader,
            leader_addr: m.current_leader.and_then(|l| nodes.get(&l).cloned()),
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            nodes,
            last_log_index: m.last_log_index,
            last_applied_index: m.last_applied.map(|l| l.index),
            epoch: self.state.read().unwrap_or_else(|p| p.into_inner()).epoch,
            scheduler_active: self.leadership.borrow().active,
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            transport: self.stats.counters(),
        }
    }

    async fn admin(&self, request: AdminRequest, forwarded: bool) -> Result<AdminResponse, AdminError> {
        match request {
            AdminRequest::Status => Ok(AdminResponse::Status(Box::new(self.status()))),
            AdminRequest::Init => self.init().await,
            AdminRequest::Join { .. } | AdminRequest::Leave { .. } => {
                let status = self.status();
                if status.leader == Some(self.settings.node_id) {
                    return self.change(request).await;
                }
                match (forwarded, status.leader_addr) {
                    (false, Some(addr)) => {
                        let wire = WireRequest::Admin { request, forwarded: true };
                        match self.connector.call_once(&addr, &wire, MEMBERSHIP_TIMEOUT).await {
                            Ok(WireResponse::Admin(answer)) => answer,
                            Ok(_) => Err(AdminError::Failed("the leader answered with something else".into())),
                            Err(e) => Err(AdminError::Failed(format!("cannot reach the leader at {addr}: {e}"))),
                        }
                    }
                    (_, leader_addr) => Err(AdminError::NotLeader { leader: status.leader, leader_addr }),
                }
            }
        }
    }

    async fn init(&self) -> Result<AdminResponse, AdminError> {
        let initialized = self.raft.is_initialized().await.map_err(|e| AdminError::Failed(e.to_string()))?;
        if initialized {
            return Err(AdminError::Refused("this node already belongs to a cluster".into()));
        }
        let me = BTreeMap::from([(self.settings.node_id, Node::new(self.settings.advertise.clone()))]);
        self.raft.initialize(me).await.map_err(|e| AdminError::Failed(e.to_string()))?;
        Ok(AdminResponse::Done(format!(
            "cluster initialized: node {} at {} is its first voter",
            self.settings.node_id, self.settings.advertise
        )))
    }

    /// Join and leave, on the leader.
    async fn change(&self, request: AdminRequest) -> Result<AdminResponse, AdminError> {
        let status = self.status();
        let failed = |e: &dyn std::fmt::Display| AdminError::Failed(e.to_string());
        match request {
            AdminRequest::Join { node_id, addr, voter } => {
                validate_addr(&addr)?;
                if let Some(existing) = status.nodes.get(&node_id).filter(|a| **a != addr) {
                    return Err(AdminError::Refused(format!(
                        "node {node_id} is already a member at {existing}; make it leave first"
                    )));
                }
                if let Some((other, _)) = status.nodes.iter().find(|(id, a)| **a == addr && **id != node_id) {
                    return Err(AdminError::Refused(format!("{addr} is already node {other}'s address")));
                }
                if status.voters.contains(&node_id) {
                    return Ok(AdminResponse::Done(format!("node {node_id} is already a voter")));
                }
                within(self.raft.add_learner(node_id, Node::new(addr.clone()), true)).await?.map_err(|e| failed(&e))?;
                if !voter {
                    return Ok(AdminResponse::Done(format!("node {node_id} at {addr} joined as a learner")));
                }
                within(self.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([node_id])), false))
                    .await?
                    .map_err(|e| failed(&e))?;
                Ok(AdminResponse::Done(format!("node {node_id} at {addr} joined as a voter")))
            }
            AdminRequest::Leave { node_id } => {
                let change = if status.voters.contains(&node_id) {
                    if status.voters.len() == 1 {
                        return Err(AdminError::Refused(format!(
                            "node {node_id} is the last voter; a cluster cannot lose its last voter"
                        )));
                    }
                    ChangeMembers::RemoveVoters(BTreeSet::from([node_id]))
                } else if status.learners.contains(&node_id) {
                    ChangeMembers::RemoveNodes(BTreeSet::from([node_id]))
                } else {
                    return Err(AdminError::Refused(format!("node {node_id} is not a member")));
                };
                within(self.raft.change_membership(change, false)).await?.map_err(|e| failed(&e))?;
                Ok(AdminResponse::Done(format!("node {node_id} left the cluster")))
            }
            AdminRequest::Init | AdminRequest::Status => unreachable!("handled by admin()"),
        }
    }
}

async fn within<T>(work: impl std::future::Future<Output = T>) -> Result<T, AdminError> {
    tokio::time::timeout(MEMBERSHIP_TIMEOUT, work)
        .await
        .map_err(|_| AdminError::Failed(format!("membership change did not finish within {MEMBERSHIP_TIMEOUT:?}")))
}

fn validate_addr(addr: &str) -> Result<(), AdminError> {
    if certautopilot_config::is_host_port(addr) {
        Ok(())
    } else {
        Err(AdminError::Refused(format!("{addr:?} is not a host:port address")))
    }
}

impl Handler for Shared {
    async fn handle(&self, request: WireRequest) -> WireResponse {
        match request {
            WireRequest::AppendEntries(rpc) => WireResponse::AppendEntries(self.raft.append_entries(rpc).await),
            WireRequest::Vote(rpc) => WireResponse::Vote(self.raft.vote(rpc).await),
            WireRequest::InstallSnapshot(rpc) => WireResponse::InstallSnapshot(self.raft.install_snapshot(rpc).await),
            WireRequest::Admin { request, forwarded } => WireResponse::Admin(self.admin(request, forwarded).await),
        }
    }
}

/// Follows Raft's metrics and publishes [`Leadership`]. On winning a term it proposes the `Lead`
/// entry; it re-checks every heartbeat, because a leader cut off from the others gets no new metrics
/// and must notice its quorum acknowledgement growing old by itself.
async fn watch_leadership(shared: Arc<Shared>) {
    let me = shared.settings.node_id;
    let lease = shared.settings.election_timeout_min;
    let mut metrics = shared.raft.metrics();
    let mut tick = tokio::time::interval(shared.settings.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen_at = Instant::now();
    let mut proposed_for = 0u64;
    loop {
        tokio::select! {
            changed = metrics.changed() => {
                if changed.is_err() {
                    break;
                }
                seen_at = Instant::now();
            }
            _ = tick.tick() => {}
        }
        let m = metrics.borrow().clone();
        let leads = m.state == ServerState::Leader && m.current_leader == Some(me);
        if leads && proposed_for != m.current_term {
            proposed_for = m.current_term;
            let (raft, term) = (shared.raft.clone(), m.current_term);
            tokio::spawn(async move {
                if let Err(e) = raft.client_write(Command::Lead { node: me, term }).await {
                    tracing::warn!(term, error = %e, "could not commit the lead entry; leadership not confirmed");
                }
            });
        }
        let epoch = shared.state.read().unwrap_or_else(|p| p.into_inner()).epoch;
        let confirmed = leads && epoch == Some(Epoch { term: m.current_term, node: me });
        let sole_voter = m.membership_config.membership().voter_ids().count() <= 1;
        let fresh = sole_voter
            || m.millis_since_quorum_ack.is_some_and(|ack| Duration::from_millis(ack) + seen_at.elapsed() < lease);
        let next = Leadership { active: confirmed && fresh, term: m.current_term };
        shared.leadership.send_if_modified(|current| {
            if *current == next {
                return false;
            }
            if current.active != next.active {
                tracing::info!(node_id = me, term = next.term, active = next.active, "scheduler leadership changed");
            }
            *current = next;
            true
        });
    }
}
