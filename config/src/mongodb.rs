//! `[store.mongodb]`: how a multi-host installation reaches its MongoDB deployment: the connection
//! string (in the file, from `CERTAUTOPILOT_STORE__MONGODB__URI`, or read from `uri_file`), the
//! database, the TLS files, the timeouts and the connection pool (docs/store.md, docs/configuration.md).
//! Invariant: the connection string's password never leaves `MongoUri` as text: its `Debug`,
//! `Display` and `Serialize`, and every error about it, print it redacted (`user:***@`). Validation
//! is pure; the files (`uri_file`, the TLS files) are checked by `Config::check_environment`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use crate::check::{Section, in_range};
use crate::error::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMongodb {
    /// `mongodb://…` or `mongodb+srv://…`. It may hold a password: prefer `uri_file`, or set it
    /// through the environment (`CERTAUTOPILOT_STORE__MONGODB__URI`), so it is not in this file.
    pub uri: Option<String>,
    /// A file (mode 0600, say) whose first line is the connection string; instead of `uri`.
    pub uri_file: Option<String>,
    pub database: String,
    /// PEM bundle of the CAs that sign the servers' certificates (enables TLS).
    pub tls_ca_file: Option<String>,
    /// PEM file holding this client's certificate and private key, for X.509 authentication.
    pub tls_client_cert_key_file: Option<String>,
    pub connect_timeout_ms: u64,
    /// How long an operation waits for a suitable server (a primary, during an election) before it fails.
    pub server_selection_timeout_ms: u64,
    /// Connections to each server at most, per process.
    pub max_pool_size: u32,
    /// How long one transaction may go on retrying transient errors (an election) before it fails.
    pub transaction_timeout_ms: u64,
}

impl Default for RawMongodb {
    fn default() -> Self {
        // The same defaults as the store's `MongoOptions::new`.
        RawMongodb {
            uri: None,
            uri_file: None,
            database: "certautopilot".into(),
            tls_ca_file: None,
            tls_client_cert_key_file: None,
            connect_timeout_ms: 5_000,
            server_selection_timeout_ms: 10_000,
            max_pool_size: 32,
            transaction_timeout_ms: 15_000,
        }
    }
}

/// `[store.mongodb]` validated.
#[derive(Debug, Clone, Serialize)]
pub struct MongodbConfig {
    pub uri: MongoUriSource,
    pub database: String,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_client_cert_key_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub server_selection_timeout: Duration,
    pub max_pool_size: u32,
    pub transaction_timeout: Duration,
}

/// Where the connection string comes from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MongoUriSource {
    /// `uri`, from the file or the environment; checked when the configuration was validated.
    Inline(MongoUri),
    /// `uri_file`, read when the store opens (and by `config check`).
    File(PathBuf),
}

impl MongoUriSource {
    /// The connection string: as configured, or the first line of `uri_file`, checked like `uri`.
    pub fn read(&self) -> Result<MongoUri, ConfigError> {
        match self {
            MongoUriSource::Inline(uri) => Ok(uri.clone()),
            MongoUriSource::File(path) => {
                let environment = |message: String| ConfigError::Environment { key: "store.mongodb.uri_file", message };
                let text = std::fs::read_to_string(path)
                    .map_err(|e| environment(format!("cannot read {}: {e}", path.display())))?;
                let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
                MongoUri::parse(line)
                    .map_err(|problem| environment(format!("{} {problem} (got {})", path.display(), redact_uri(line))))
            }
        }
    }
}

/// A MongoDB connection string that may hold a password; only `expose` gives it out whole.
#[derive(Clone, PartialEq, Eq)]
pub struct MongoUri(String);

impl MongoUri {
    /// Checks what can be checked without the driver: the scheme, a host, no whitespace, and a
    /// user name and password whose reserved characters are percent-encoded (a raw `@` or `/` in a
    /// password would make the host part, and the redaction, ambiguous).
    pub fn parse(text: &str) -> Result<MongoUri, &'static str> {
        let Some(rest) = text.strip_prefix("mongodb://").or_else(|| text.strip_prefix("mongodb+srv://")) else {
            return Err("must start with mongodb:// or mongodb+srv://");
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters");
        }
        let before_query = rest.split_once('?').map_or(rest, |(head, _)| head);
        let (userinfo, hosts) = match before_query.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, before_query),
        };
        if userinfo.is_some_and(|u| u.contains(['@', '/', '?', '#', '[', ']']) || u.matches(':').count() > 1) {
            return Err("user name and password must be percent-encoded (`@` is %40, `/` is %2F, `:` is %3A)");
        }
        let hosts = hosts.split_once('/').map_or(hosts, |(hosts, _)| hosts);
        if hosts.is_empty() || hosts.split(',').any(str::is_empty) {
            return Err("must name at least one host (mongodb://HOST[:PORT][,HOST…]/)");
        }
        Ok(MongoUri(text.to_owned()))
    }

    /// The only way to the whole string, password included; grep for it when auditing where it goes.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The password as written in the string (percent-encoded), for scrubbing messages; `None`
    /// when there is none.
    pub fn password(&self) -> Option<&str> {
        let rest = self.0.split_once("://")?.1;
        let before_query = rest.split_once('?').map_or(rest, |(head, _)| head);
        let (userinfo, _) = before_query.rsplit_once('@')?;
        userinfo.split_once(':').map(|(_, password)| password).filter(|p| !p.is_empty())
    }

    /// The string with the password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_uri(&self.0)
    }
}

/// `uri` with any password replaced by `***` (`mongodb://cap:***@db1,db2/?replicaSet=rs0`). When
/// the string cannot be taken apart it is redacted more, never less: everything up to the last `@`
/// but the user name goes.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return if uri.contains('@') || uri.contains(':') { "***".into() } else { uri.to_owned() };
    };
    match rest.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            // A user name cannot hold `/` or `?` when encoded; if it seems to, the split went wrong.
            let user = if user.contains(['/', '?']) { "***" } else { user };
            format!("{scheme}://{user}:***@{hosts}")
        }
        None => uri.to_owned(),
    }
}

impl std::fmt::Debug for MongoUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for MongoUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for MongoUri {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// MongoDB refuses these in database names (its "Naming Restrictions"), on every platform.
const DATABASE_FORBIDDEN: [char; 7] = ['/', '\\', '.', ' ', '"', '$', '\0'];
/// Database names must be shorter than 64 bytes.
const DATABASE_MAX_BYTES: usize = 63;

impl RawMongodb {
    pub(crate) fn validate(self, prefix: Section<'_>) -> Result<MongodbConfig, ConfigError> {
        let uri = match (self.uri, self.uri_file) {
            (Some(uri), None) => MongoUri::parse(&uri)
                .map(MongoUriSource::Inline)
                .map_err(|problem| ConfigError::invalid(prefix.key("uri"), redact_uri(&uri), problem))?,
            (None, Some(file)) if file.trim().is_empty() => {
                return Err(ConfigError::invalid(prefix.key("uri_file"), "\"\"", "must not be empty"));
            }
            (None, Some(file)) => MongoUriSource::File(PathBuf::from(file)),
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    prefix.key("uri"),
                    "…",
                    format!("only one of {} and {} may be set", prefix.key("uri"), prefix.key("uri_file")),
                ));
            }
            (None, None) => {
                return Err(ConfigError::invalid(
                    prefix.key("uri"),
                    "\"\"",
                    format!(
                        "is required with store.backend = \"mongodb\" (or {}, or the environment variable \
                         CERTAUTOPILOT_STORE__MONGODB__URI)",
                        prefix.key("uri_file")
                    ),
                ));
            }
        };
        let database = self.database;
        if database.is_empty() || database.len() > DATABASE_MAX_BYTES || database.contains(DATABASE_FORBIDDEN) {
            return Err(ConfigError::invalid(
                prefix.key("database"),
                format!("{database:?}"),
                format!(
                    "must be 1 to {DATABASE_MAX_BYTES} bytes without '/', '\\', '.', space, '\"', '$' or NUL \
                     (MongoDB's rules for database names)"
                ),
            ));
        }
        let file = |key: &str, value: Option<String>| match value {
            Some(v) if v.trim().is_empty() => Err(ConfigError::invalid(prefix.key(key), "\"\"", "must not be empty")),
            other => Ok(other.map(PathBuf::from)),
        };
        let millis = |key: &str, value: u64, max: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(in_range(prefix.key(key), value, 100, max)?))
        };
        Ok(MongodbConfig {
            uri,
            database,
            tls_ca_file: file("tls_ca_file", self.tls_ca_file)?,
            tls_client_cert_key_file: file("tls_client_cert_key_file", self.tls_client_cert_key_file)?,
            connect_timeout: millis("connect_timeout_ms", self.connect_timeout_ms, 300_000)?,
            server_selection_timeout: millis("server_selection_timeout_ms", self.server_selection_timeout_ms, 300_000)?,
            max_pool_size: in_range(prefix.key("max_pool_size"), u64::from(self.max_pool_size), 1, 1_000)? as u32,
            transaction_timeout: millis("transaction_timeout_ms", self.transaction_timeout_ms, 600_000)?,
        })
    }
}

impl From<&MongodbConfig> for RawMongodb {
    /// The effective section as `config check` prints it: an inline URI redacted.
    fn from(m: &MongodbConfig) -> Self {
        let (uri, uri_file) = match &m.uri {
            MongoUriSource::Inline(uri) => (Some(uri.redacted()), None),
            MongoUriSource::File(path) => (None, Some(path.display().to_string())),
        };
        RawMongodb {
            uri,
            uri_file,
            database: m.database.clone(),
            tls_ca_file: m.tls_ca_file.as_ref().map(|p| p.display().to_string()),
            tls_client_cert_key_file: m.tls_client_cert_key_file.as_ref().map(|p| p.display().to_string()),
            connect_timeout_ms: m.connect_timeout.as_millis() as u64,
            server_selection_timeout_ms: m.server_selection_timeout.as_millis() as u64,
            max_pool_size: m.max_pool_size,
            transaction_timeout_ms: m.transaction_timeout.as_millis() as u64,
        }
    }
}

impl MongodbConfig {
    /// The checks that touch the machine: `uri_file` reads as a connection string, the TLS files exist.
    pub(crate) fn check_environment(&self) -> Result<(), ConfigError> {
        self.uri.read()?;
        for (key, path) in [
            ("store.mongodb.tls_ca_file", &self.tls_ca_file),
            ("store.mongodb.tls_client_cert_key_file", &self.tls_client_cert_key_file),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(ConfigError::Environment { key, message: format!("{} is not a file", path.display()) });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{Config, RawConfig, StoreConfig};

    const PASSWORD: &str = "s3cr3t-pw";

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        crate::load_from_str(text, Path::new("t.toml"), env)
    }

    fn mongodb(config: &Config) -> &MongodbConfig {
        match &config.store {
            StoreConfig::Mongodb(m) => m,
            other => panic!("not mongodb: {other:?}"),
        }
    }

    fn section(lines: &str) -> String {
        format!("[store]\nbackend = \"mongodb\"\n[store.mongodb]\n{lines}\n")
    }

    /// A URI alone is enough: every other key has a default, the same as the store's own.
    #[test]
    fn a_uri_alone_validates_with_the_defaults() {
        let config = load(&section("uri = \"mongodb://db1:27017,db2:27017/?replicaSet=rs0\""), &[]).unwrap();
        let m = mongodb(&config);
        assert_eq!(m.database, "certautopilot");
        assert_eq!(m.connect_timeout, Duration::from_secs(5));
        assert_eq!(m.server_selection_timeout, Duration::from_secs(10));
        assert_eq!(m.max_pool_size, 32);
        assert_eq!(m.transaction_timeout, Duration::from_secs(15));
        assert_eq!(m.uri.read().unwrap().expose(), "mongodb://db1:27017,db2:27017/?replicaSet=rs0");
    }

    /// Each bad value is refused with the key it is about named first, and a password in a refused
    /// URI does not appear in the message.
    #[test]
    fn bad_values_name_their_key() {
        for (lines, key) in [
            ("", "store.mongodb.uri"),
            ("uri = \"postgres://cap:s3cr3t-pw@db1/\"", "store.mongodb.uri"),
            ("uri = \"127.0.0.1:27017\"", "store.mongodb.uri"),
            ("uri = \"mongodb://\"", "store.mongodb.uri"),
            ("uri = \"mongodb://cap:s3cr3t-pw@/\"", "store.mongodb.uri"),
            ("uri = \"mongodb://cap:s3cr3t-pw@db1, db2/\"", "store.mongodb.uri"),
            ("uri = \"mongodb://cap:s3cr3t@pw@db1/\"", "store.mongodb.uri"),
            ("uri = \"mongodb://db1/\"\nuri_file = \"/etc/cap/uri\"", "store.mongodb.uri"),
            ("uri_file = \" \"", "store.mongodb.uri_file"),
            ("uri = \"mongodb://db1/\"\ndatabase = \"\"", "store.mongodb.database"),
            ("uri = \"mongodb://db1/\"\ndatabase = \"cap.prod\"", "store.mongodb.database"),
            ("uri = \"mongodb://db1/\"\ndatabase = \"cap prod\"", "store.mongodb.database"),
            ("uri = \"mongodb://db1/\"\ndatabase = \"cap$\"", "store.mongodb.database"),
            ("uri = \"mongodb://db1/\"\ndatabase = \"a/b\"", "store.mongodb.database"),
            ("uri = \"mongodb://db1/\"\ndatabase = \"a\\\\b\"", "store.mongodb.database"),
            ("uri = \"mongodb://db1/\"\ndatabase = \"a\\\"b\"", "store.mongodb.database"),
            ("uri = \"mongodb://db1/\"\ndatabase = \"a\\u0000b\"", "store.mongodb.database"),
            (&format!("uri = \"mongodb://db1/\"\ndatabase = \"{}\"", "d".repeat(64)), "store.mongodb.database"),
            ("uri = \"mongodb://db1/\"\ntls_ca_file = \"\"", "store.mongodb.tls_ca_file"),
            ("uri = \"mongodb://db1/\"\ntls_client_cert_key_file = \"\"", "store.mongodb.tls_client_cert_key_file"),
            ("uri = \"mongodb://db1/\"\nconnect_timeout_ms = 0", "store.mongodb.connect_timeout_ms"),
            ("uri = \"mongodb://db1/\"\nconnect_timeout_ms = 300001", "store.mongodb.connect_timeout_ms"),
            ("uri = \"mongodb://db1/\"\nserver_selection_timeout_ms = 99", "store.mongodb.server_selection_timeout_ms"),
            ("uri = \"mongodb://db1/\"\nmax_pool_size = 0", "store.mongodb.max_pool_size"),
            ("uri = \"mongodb://db1/\"\nmax_pool_size = 1001", "store.mongodb.max_pool_size"),
            ("uri = \"mongodb://db1/\"\ntransaction_timeout_ms = 600001", "store.mongodb.transaction_timeout_ms"),
            ("uri = \"mongodb://db1/\"\nsurprise = 1", "store.mongodb.surprise"),
        ] {
            let err = load(&section(lines), &[]).unwrap_err();
            assert_eq!(err.key(), Some(key), "{lines}: {err}");
            let text = err.to_string();
            assert!(text.starts_with(key), "{lines}: {text}");
            assert!(!text.contains(PASSWORD) && !text.contains("pw@"), "{lines}: {text}");
        }
        // A database name of 63 bytes is the longest MongoDB takes.
        let longest = format!("uri = \"mongodb://db1/\"\ndatabase = \"{}\"", "d".repeat(63));
        assert_eq!(mongodb(&load(&section(&longest), &[]).unwrap()).database.len(), 63);
    }

    /// The two backends' sections do not mix: a setting the chosen backend ignores is a mistake.
    #[test]
    fn the_other_backends_section_is_refused() {
        let err = load("[store.mongodb]\nuri = \"mongodb://db1/\"\n", &[]).unwrap_err();
        assert_eq!(err.key(), Some("store.mongodb"), "{err}");
        assert!(err.to_string().contains("only applies with store.backend = \"mongodb\""), "{err}");
        let err = load(&(section("uri = \"mongodb://db1/\"") + "[store.sqlite]\npath = \"/x.db\"\n"), &[]).unwrap_err();
        assert_eq!(err.key(), Some("store.sqlite"), "{err}");
    }

    /// The URI can come from the environment, so the password need not be in the file.
    #[test]
    fn the_uri_comes_from_the_environment() {
        let uri = format!("mongodb://cap:{PASSWORD}@db1:27017/?replicaSet=rs0&authSource=admin");
        let config = load(
            "[store]\nbackend = \"mongodb\"\n",
            &[("CERTAUTOPILOT_STORE__MONGODB__URI", &uri), ("CERTAUTOPILOT_STORE__MONGODB__MAX_POOL_SIZE", "8")],
        )
        .unwrap();
        assert_eq!(mongodb(&config).uri.read().unwrap().expose(), uri);
        assert_eq!(mongodb(&config).max_pool_size, 8);
        let err =
            load("[store]\nbackend = \"mongodb\"\n", &[("CERTAUTOPILOT_STORE__MONGODB__URI", "http://x")]).unwrap_err();
        assert_eq!(err.key(), Some("store.mongodb.uri"), "{err}");
    }

    /// `uri_file`'s first line is the URI; a missing or bad file is an environment error naming
    /// the key, without the password.
    #[test]
    fn the_uri_comes_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("uri");
        let uri = format!("mongodb://cap:{PASSWORD}@db1/");
        std::fs::write(&file, format!("\n{uri}\n")).unwrap();
        let config = load(&section(&format!("uri_file = \"{}\"", file.display())), &[]).unwrap();
        config.check_environment().unwrap();
        assert_eq!(mongodb(&config).uri.read().unwrap().expose(), uri);

        std::fs::write(&file, format!("mysql://cap:{PASSWORD}@db1/\n")).unwrap();
        let err = config.check_environment().unwrap_err();
        assert_eq!(err.key(), Some("store.mongodb.uri_file"));
        assert!(err.to_string().contains("must start with mongodb://"), "{err}");
        assert!(!err.to_string().contains(PASSWORD), "{err}");

        std::fs::remove_file(&file).unwrap();
        let err = config.check_environment().unwrap_err();
        assert_eq!(err.key(), Some("store.mongodb.uri_file"));
        assert!(err.to_string().contains("cannot read"), "{err}");
    }

    /// TLS files must exist when the configuration is checked against the machine.
    #[test]
    fn tls_files_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "pem").unwrap();
        for (key, lines) in [
            ("store.mongodb.tls_ca_file", "tls_ca_file = \"/nonexistent/ca.pem\"".to_owned()),
            (
                "store.mongodb.tls_client_cert_key_file",
                format!("tls_ca_file = \"{}\"\ntls_client_cert_key_file = \"/nonexistent/me.pem\"", ca.display()),
            ),
        ] {
            let config = load(&section(&format!("uri = \"mongodb://db1/?tls=true\"\n{lines}")), &[]).unwrap();
            let err = config.check_environment().unwrap_err();
            assert_eq!(err.key(), Some(key), "{err}");
        }
    }

    /// The printed effective configuration shows the URI with its password redacted, and reads back
    /// as the same configuration when there is no password.
    #[test]
    fn the_effective_configuration_redacts_the_password() {
        let with_password = format!("uri = \"mongodb://cap:{PASSWORD}@db1,db2/?replicaSet=rs0\"");
        let config = load(&section(&with_password), &[]).unwrap();
        let text = toml::to_string_pretty(&RawConfig::from(&config)).unwrap();
        assert!(text.contains("uri = \"mongodb://cap:***@db1,db2/?replicaSet=rs0\""), "{text}");
        for shown in [text, format!("{config:?}"), toml::to_string(&config.store).unwrap()] {
            assert!(!shown.contains(PASSWORD), "{shown}");
        }

        let config = load(&section("uri = \"mongodb://db1/\"\ndatabase = \"cap\"\nmax_pool_size = 4"), &[]).unwrap();
        let text = toml::to_string_pretty(&RawConfig::from(&config)).unwrap();
        let again = crate::load_from_str(&text, Path::new("printed.toml"), Vec::new()).unwrap();
        assert_eq!(format!("{config:?}"), format!("{again:?}"));
    }

    /// Redaction never lets a password through, however the string is malformed.
    #[test]
    fn redaction_never_leaks_the_password() {
        for (uri, expected) in [
            (
                "mongodb://cap:s3cr3t-pw@db1:27017,db2/cap?replicaSet=rs0",
                "mongodb://cap:***@db1:27017,db2/cap?replicaSet=rs0",
            ),
            ("mongodb+srv://cap:s3cr3t-pw@cluster.example/", "mongodb+srv://cap:***@cluster.example/"),
            ("mongodb://db1:27017/", "mongodb://db1:27017/"),
            ("mongodb://cap@db1/", "mongodb://cap:***@db1/"),
            ("mongodb://cap:s3cr3t/pw@db1/", "mongodb://cap:***@db1/"),
            ("mongodb://cap:s3cr3t@pw@db1/", "mongodb://cap:***@db1/"),
            ("cap:s3cr3t-pw@db1", "***"),
        ] {
            assert_eq!(redact_uri(uri), expected, "{uri}");
        }
        let uri = MongoUri::parse("mongodb://cap:s3cr3t-pw@db1/").unwrap();
        assert_eq!(uri.password(), Some(PASSWORD));
        assert_eq!(format!("{uri} {uri:?}"), "mongodb://cap:***@db1/ mongodb://cap:***@db1/");
        assert_eq!(MongoUri::parse("mongodb://db1/").unwrap().password(), None);
    }
}
