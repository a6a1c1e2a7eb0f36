//! The command line: subcommands and their flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "certautopilot", version, about = "Self-hosted certificate lifecycle manager")]
pub struct Cli {
    /// Configuration file (TOML). Without it, built-in defaults and CERTAUTOPILOT_… variables apply.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Work with the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the version and the store schema version.
    Version,
    /// Create the organization and its owner (once). The password is read from the terminal
    /// without echo, or from standard input when that is not a terminal; never from the command line.
    Setup {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
    },
    /// Work with the store as a whole.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Write a consistent copy of the embedded SQLite store to a new file, while the service runs
    /// (a MongoDB store: use mongodump, docs/operations.md "Backups").
    Backup {
        /// The new file (never written over).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restore a backup as this configuration's store, into an empty data directory: kept only
    /// once every sealed value opens with this KEK, every audit chain verifies and SQLite's
    /// integrity check passes.
    Restore {
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Exit 0 if the service at ADDR answers its readiness probe (`/readyz`) with 200, else 1: a
    /// container's health check, where the image has no shell and no HTTP client.
    Healthcheck {
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        #[arg(long, default_value = "/readyz")]
        path: String,
    },
    /// Check the tamper-evident audit chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage the key-encryption key.
    Kek {
        #[command(subcommand)]
        command: KekCommand,
    },
    /// Form and inspect the cluster that elects the scheduler (the node's `[cluster]` section).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Start a local ACME CA (Pebble) and DNS server (BIND 9) on loopback for trying the product
    /// (docs/getting-started.md); they run until Ctrl-C. Not for production: only in builds with
    /// `--features dev-env`.
    DevEnv {
        /// Where their configuration, logs and `env.sh` (the settings to use) go.
        #[arg(long, default_value = "./dev-env")]
        dir: PathBuf,
    },
    /// Measure this machine: job-queue throughput, renewal scan at scale.
    #[cfg(feature = "bench")]
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
    /// Measure this machine (this build has none: build with `--features bench`).
    #[cfg(not(feature = "bench"))]
    Bench {
        /// Whatever was asked of the benches; refused with the feature to build with.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The API client: `login`, `logout`, `project`, `cert`, `account`, `credential`, `zone`,
    /// `target`, `job` against a running service (src/client/, docs/api.md).
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the chain from its verified-up-to mark (the entries since; the whole chain when there
    /// is no mark yet) and name the first broken link, if any (exit 1). Opens the store on this
    /// host; with `--remote`, asks the running service instead (owners; `certautopilot login` first).
    Verify {
        /// Only this organization (id or name).
        #[arg(long, conflicts_with = "remote")]
        org: Option<String>,
        /// Walk the live chain from its first entry (or its archive checkpoint), whatever the mark says.
        #[arg(long)]
        full: bool,
        /// Also verify the archived segments in this directory (`[audit] archive_dir`), entry by
        /// entry from the chain's first, and that they end where the live chain's checkpoint says.
        #[arg(long, value_name = "DIR", conflicts_with = "remote")]
        archives: Option<std::path::PathBuf>,
        /// Ask the running service over its API (`POST /api/v1/audit/verify`) instead.
        #[arg(long)]
        remote: bool,
        #[command(flatten)]
        connection: crate::client::Remote,
    },
    /// The audit events of the running service (owners; the API client, `certautopilot login` first).
    Events {
        #[command(flatten)]
        remote: crate::client::Remote,
        #[command(flatten)]
        args: crate::client::EventsArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy everything from one store into an empty one (SQLite to MongoDB or back): organizations,
    /// records, sealed values as ciphertext (no KEK needed), jobs and their logs, the audit chain
    /// and outbox, scheduler fences, SIEM cursors. Then compare the counts and verify the target's
    /// audit chains. Stop the services on the source first (docs/store.md, "Moving an installation").
    Copy {
        /// The source: a configuration file (`*.toml`), a SQLite file (a path or `sqlite:///path`),
        /// or `mongodb://…/DATABASE`.
        #[arg(long, value_name = "CONFIG_OR_URI")]
        from: String,
        /// The target, as `--from`; it must be empty. Given as a configuration, its KEK verifies the
        /// copied audit chains fully.
        #[arg(long, value_name = "CONFIG_OR_URI")]
        to: String,
        /// Rows per transaction.
        #[arg(long, default_value_t = certautopilot_core::store::COPY_BATCH)]
        batch: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Make this (running) node a one-voter cluster. Run once, on the first node.
    Init,
    /// Add this (running) node to the cluster through a member: it joins as a learner, catches up,
    /// then becomes a voter.
    Join {
        /// The cluster port (`host:port`) of any member; a follower passes the request to the leader.
        #[arg(long, value_name = "ADDR")]
        leader: String,
        /// Stay a learner: follow the log, never vote (workers and API nodes).
        #[arg(long)]
        learner: bool,
    },
    /// Remove a node (this one unless `--node-id` says otherwise) from the cluster.
    Leave {
        #[arg(long)]
        node_id: Option<u64>,
    },
    /// This node's view: state, term, leader, voters, learners, whether its scheduler is active.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a private CA (`ca.pem`, `ca.key`; reused if present) and a certificate and key per
    /// node for the cluster port's mutual TLS.
    Certs {
        /// Where to write the files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Node ids to issue for (repeat, or comma-separate).
        #[arg(long = "node", value_delimiter = ',', required = true)]
        nodes: Vec<u64>,
        /// Host names or IP addresses the nodes are reached at (in every node certificate).
        #[arg(long = "host", value_delimiter = ',', default_values_t = vec!["127.0.0.1".to_owned(), "localhost".to_owned()])]
        hosts: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KekCommand {
    /// Create a new KEK file (mode 0600) at `kek.file_path` or `--path`; never overwrites one.
    Init {
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Create KEK version n+1 and re-wrap every data key under it, in batches, while the service
    /// runs. Safe to interrupt: run it again and it continues where it stopped.
    Rotate {
        /// Data keys re-wrapped per transaction.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
    },
    /// Show the KEK provider, its current version, and how many data keys each version wraps; check
    /// that the KEK opens the store's values (exit 1 naming the missing KEK and version if not).
    Status,
    /// Move every sealed value from the KEK named in `[kek.previous]` to the configured one
    /// (`kek.provider`), in batches, while the service runs; then verify that every data key opens
    /// under the new KEK alone and record `kek.migrated`. Safe to interrupt: run it again and it
    /// continues. The previous KEK is kept until `kek retire --previous`.
    Migrate {
        /// The provider to move to: must be the configured `kek.provider`, whose settings
        /// (`kek.file_path` or `[kek.pkcs11]`) say where the new KEK is.
        #[arg(long, value_enum)]
        to: MigrateTarget,
        /// Data keys re-wrapped per transaction.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
    },
    /// Destroy an old KEK version, or with `--previous` the previous provider's keys; refused while
    /// any data key is still wrapped by them.
    Retire {
        #[arg(long, required_unless_present = "previous", conflicts_with = "previous")]
        version: Option<u32>,
        /// Destroy every key of the provider in `[kek.previous]` (its key file, or its token objects)
        /// once `kek migrate` has moved everything off it.
        #[arg(long)]
        previous: bool,
        /// Seconds to wait between the first and the final usage check, for running services to
        /// pick up the newer version.
        #[arg(long, default_value_t = 15)]
        settle_secs: u64,
    },
}

/// Where `kek migrate` may move to (never to the development KEK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MigrateTarget {
    File,
    Pkcs11,
}

impl MigrateTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrateTarget::File => "file",
            MigrateTarget::Pkcs11 => "pkcs11",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective settings, secrets redacted.
    Check,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which roles this process plays.
    #[arg(long, value_enum, default_value_t = Mode::All)]
    pub mode: Mode,
    /// Log format; overrides `log.format` from the configuration.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// The HTTP gateway only.
    Api,
    /// Claims and runs jobs.
    Worker,
    /// Enqueues time-driven jobs.
    Scheduler,
    /// All three in one process.
    All,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Api => "api",
            Mode::Worker => "worker",
            Mode::Scheduler => "scheduler",
            Mode::All => "all",
        }
    }

    pub fn runs_api(self) -> bool {
        matches!(self, Mode::Api | Mode::All)
    }

    pub fn runs_worker(self) -> bool {
        matches!(self, Mode::Worker | Mode::All)
    }

    pub fn runs_scheduler(self) -> bool {
        matches!(self, Mode::Scheduler | Mode::All)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Pretty,
    Json,
}

#[cfg(test)]
mod tests {
    /// Every subcommand's flags fit together (no flag defined twice, e.g. a command's own `--config`
    /// beside the global one): clap checks the whole tree.
    #[test]
    fn the_command_line_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
