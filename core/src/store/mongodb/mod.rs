//! The multi-host backend: MongoDB (a replica set; one member is enough), for clusters whose nodes
//! share nothing but the store URI and the cluster CA (docs/store.md).
//! Every write that must land with another (a record and its audit outbox row, a job and its fence)
//! runs in one multi-document transaction (`txn.rs`), retried by the driver's documented rules
//! within a bound; a deployment that cannot run transactions is refused at connect.
//! One file per concern implements that concern's trait, as for SQLite; this file connects.
//! Invariant: a `MongoStore` exists only against a replica set whose schema is at `SCHEMA_VERSION`.

mod audit;
mod batch;
mod codec;
mod error;
mod fence;
mod health;
mod jobs;
mod login;
mod organizations;
mod records;
mod schema;
mod sealed;
mod siem;
mod stats;
mod transfer;
mod txn;

use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::Document;
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::{ClientOptions, Tls, TlsOptions};
use mongodb::{Client, Collection, Database};

use crate::clock::{Clock, SystemClock};
use crate::ids::OrgId;
use crate::store::{RoundTrips, StoreError, WriteHealthTracker};
use crate::timestamp::Timestamp;

pub use self::error::ConnectError;
pub use self::schema::LATEST_VERSION as SCHEMA_VERSION;

/// How to reach the deployment. `uri` may hold a password: it is never logged, shown or put in an
/// error (`Debug` leaves it out).
#[derive(Clone)]
pub struct MongoOptions {
    pub uri: String,
    pub database: String,
    /// PEM bundle of the CA(s) that sign the servers' certificates; `None`: the URI's TLS settings.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// PEM file with this client's certificate and key, for servers that ask for one (X.509).
    pub tls_client_cert_key_file: Option<std::path::PathBuf>,
    pub connect_timeout: Duration,
    pub server_selection_timeout: Duration,
    pub max_pool_size: u32,
    /// How long one transaction may go on retrying transient errors before it fails.
    pub transaction_timeout: Duration,
}

impl std::fmt::Debug for MongoOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoOptions")
            .field("uri", &redact_uri(&self.uri))
            .field("database", &self.database)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_client_cert_key_file", &self.tls_client_cert_key_file)
            .finish_non_exhaustive()
    }
}

impl MongoOptions {
    /// Settings for `uri` and `database` with the defaults of `[store.mongodb]`.
    pub fn new(uri: impl Into<String>, database: impl Into<String>) -> Self {
        MongoOptions {
            uri: uri.into(),
            database: database.into(),
            tls_ca_file: None,
            tls_client_cert_key_file: None,
            connect_timeout: Duration::from_secs(5),
            server_selection_timeout: Duration::from_secs(10),
            max_pool_size: 32,
            transaction_timeout: Duration::from_secs(15),
        }
    }
}

/// `uri` with any password replaced by `***`, for messages.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else { return "***".into() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{hosts}{tail}")
        }
        None => uri.to_string(),
    }
}

/// `message` with `uri`'s password, as written and percent-decoded, replaced by `***`: the driver's
/// errors are its own text, and nothing promises they never quote the connection string.
pub fn scrub_password(message: &str, uri: &str) -> String {
    let password = uri
        .split_once("://")
        .map(|(_, rest)| &rest[..rest.find(['/', '?']).unwrap_or(rest.len())])
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty());
    let Some(password) = password else { return message.to_owned() };
    let mut scrubbed = message.replace(password, "***");
    let decoded = percent_decode(password);
    if !decoded.is_empty() {
        scrubbed = scrubbed.replace(&decoded, "***");
    }
    scrubbed
}

/// RFC 3986 percent-decoding, leaving malformed escapes as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct MongoStore {
    client: Client,
    db: Database,
    options: MongoOptions,
    clock: Arc<dyn Clock>,
    /// Organizations whose outbox just got rows, for this process's AuditActors.
    audit_signal: tokio::sync::broadcast::Sender<OrgId>,
    /// What this process's writes found about the deployment, for readiness and metrics.
    write_health: WriteHealthTracker,
    /// Commands this store's client sent, by name (the driver's command monitoring).
    round_trips: RoundTrips,
    /// This store object's audit outbox ids: unique across processes, time-ordered (`audit.rs`).
    outbox_ids: audit::OutboxIds,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore").field("database", &self.options.database).finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects, refuses a deployment without transactions, and brings the schema to
    /// `SCHEMA_VERSION` (once, even when several nodes start together).
    pub async fn connect(options: MongoOptions, clock: Arc<dyn Clock>) -> Result<Self, ConnectError> {
        let round_trips = RoundTrips::default();
        let mut client_options = client_options(&options).await?;
        let trips = round_trips.clone();
        client_options.command_event_handler = Some(EventHandler::callback(move |event: CommandEvent| {
            if let CommandEvent::Started(started) = event {
                trips.record(&started.command_name);
            }
        }));
        let client = Client::with_options(client_options).map_err(ConnectError::driver)?;
        let db = client.database(&options.database);
        error::require_replica_set(&db).await?;
        schema::migrate(&db, clock.as_ref()).await.map_err(ConnectError::Store)?;
        Ok(MongoStore {
            client,
            db,
            options,
            clock,
            audit_signal: tokio::sync::broadcast::channel(256).0,
            write_health: WriteHealthTracker::default(),
            round_trips,
            outbox_ids: audit::OutboxIds::default(),
        })
    }

    /// A store on `uri`/`database` with the default settings and the system clock.
    pub async fn connect_with_defaults(uri: &str, database: &str) -> Result<Self, ConnectError> {
        Self::connect(MongoOptions::new(uri, database), Arc::new(SystemClock)).await
    }

    /// Commands this store has sent, by name.
    pub fn round_trips(&self) -> &RoundTrips {
        &self.round_trips
    }

    /// The schema version the database is at (`SCHEMA_VERSION` once connected).
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        schema::current_version(&self.db).await
    }

    pub fn database_name(&self) -> &str {
        &self.options.database
    }

    fn collection(&self, name: &str) -> Collection<Document> {
        self.db.collection::<Document>(name)
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Tells this process's AuditActors an outbox row of `org` committed.
    fn signal_audit(&self, org: Option<OrgId>) {
        if let Some(org) = org {
            // Nobody listening (a CLI, a test) is fine: the rows wait in the outbox.
            let _ = self.audit_signal.send(org);
        }
    }

    /// Records what a write found, for readiness and metrics, and passes the result on.
    fn observed<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.write_health.observe(&result);
        result
    }

    /// Drops the whole database: for tests that made it, never for a service.
    #[cfg(feature = "testsuite")]
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        self.db.drop().await.map_err(StoreError::from)
    }
}

async fn client_options(options: &MongoOptions) -> Result<ClientOptions, ConnectError> {
    let mut parsed = ClientOptions::parse(&options.uri)
        .await
        .map_err(|e| ConnectError::Uri { uri: redact_uri(&options.uri), reason: error::describe(&e) })?;
    parsed.app_name = Some("certautopilot".into());
    parsed.connect_timeout = Some(options.connect_timeout);
    parsed.server_selection_timeout = Some(options.server_selection_timeout);
    parsed.max_pool_size = Some(options.max_pool_size);
    if options.tls_ca_file.is_some() || options.tls_client_cert_key_file.is_some() {
        let mut tls = match parsed.tls.take() {
            Some(Tls::Enabled(tls)) => tls,
            _ => TlsOptions::default(),
        };
        if let Some(ca) = &options.tls_ca_file {
            tls.ca_file_path = Some(ca.clone());
        }
        if let Some(cert) = &options.tls_client_cert_key_file {
            tls.cert_key_file_path = Some(cert.clone());
        }
        parsed.tls = Some(Tls::Enabled(tls));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, redact_uri, scrub_password};

    /// A password the driver might quote is replaced, as written and percent-decoded; a URI without
    /// one leaves the message alone.
    #[test]
    fn driver_messages_are_scrubbed_of_the_password() {
        assert_eq!(
            scrub_password(
                "auth failed for mongodb://cap:p%40ss-w0rd@db1/ with p@ss-w0rd",
                "mongodb://cap:p%40ss-w0rd@db1/"
            ),
            "auth failed for mongodb://cap:***@db1/ with ***"
        );
        assert_eq!(scrub_password("server selection timeout", "mongodb://db1/"), "server selection timeout");
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }

    #[test]
    fn passwords_never_survive_redaction() {
        assert_eq!(
            redact_uri("mongodb://cap:s3cret@db1:27017,db2/cap?replicaSet=rs0"),
            "mongodb://cap:***@db1:27017,db2/cap?replicaSet=rs0"
        );
        assert_eq!(redact_uri("mongodb://db1:27017/"), "mongodb://db1:27017/");
        assert_eq!(redact_uri("mongodb+srv://u:p%40ss@cluster.example/x"), "mongodb+srv://u:***@cluster.example/x");
        assert_eq!(redact_uri("not a uri with:secret@"), "***");
    }
}
