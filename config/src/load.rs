//! Reading the layers: defaults, then the TOML file, then `CERTAUTOPILOT_…` environment variables.
//! Errors name the dotted key, and the environment variable when that is where the value came from.

use std::path::Path;

use toml::{Table, Value};

use crate::error::ConfigError;
use crate::raw::RawConfig;
use crate::validated::Config;

pub const ENV_PREFIX: &str = "CERTAUTOPILOT_";
/// Separates nesting levels in a variable name; single underscores stay part of a key.
const ENV_LEVEL_SEPARATOR: &str = "__";
/// The command-line API client's variables (`certautopilot login`, `cert …`; src/client/): they
/// share the prefix but are no configuration keys, so a shell that exports them for the client can
/// still run `serve` or `audit verify`.
pub const CLIENT_ENV_VARIABLES: &[&str] = &["CERTAUTOPILOT_SERVER", "CERTAUTOPILOT_TOKEN", "CERTAUTOPILOT_PROJECT"];

/// Loads, merges and validates. `path = None` means defaults plus environment only.
pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
    let text = match path {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?
        }
        None => String::new(),
    };
    let display_path = path.map(Path::to_path_buf).unwrap_or_else(|| "<none>".into());
    let mut config = load_from_str(&text, &display_path, env)?;
    config.source_file = path.map(Path::to_path_buf);
    Ok(config)
}

pub fn load_from_str(
    text: &str,
    path_for_errors: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut table: Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path_for_errors.to_path_buf(),
        message: e.to_string().trim().to_owned(),
    })?;

    let defaults = Table::try_from(RawConfig::default()).expect("defaults serialize to a table");
    let mut overrides = Vec::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
        if CLIENT_ENV_VARIABLES.contains(&name.as_str()) {
            continue;
        }
        let key: Vec<String> = rest.split(ENV_LEVEL_SEPARATOR).map(str::to_ascii_lowercase).collect();
        if key.iter().any(String::is_empty) {
            return Err(ConfigError::Schema {
                key: key.join("."),
                message: "empty key segment".into(),
                origin: format!(" (from environment variable {name})"),
            });
        }
        set_path(&mut table, &defaults, &key, &value).map_err(|message| ConfigError::Schema {
            key: key.join("."),
            message,
            origin: format!(" (from environment variable {name})"),
        })?;
        overrides.push((key.join("."), name));
    }

    let raw: RawConfig = serde_path_to_error::deserialize(table).map_err(|err| {
        let key = err.path().to_string();
        let message = err.inner().message().to_owned();
        let origin = overrides
            .iter()
            .find(|(k, _)| {
                *k == key
                    || key.starts_with(&format!("{k}."))
                    || message.contains(&format!("`{}`", k.rsplit('.').next().unwrap_or(k)))
            })
            .map(|(_, var)| format!(" (from environment variable {var})"))
            .unwrap_or_default();
        ConfigError::Schema { key, message, origin }
    })?;
    raw.validate()
}

/// Writes an environment value into the table at `key`, typed like the default or file value there.
fn set_path(table: &mut Table, defaults: &Table, key: &[String], raw: &str) -> Result<(), String> {
    let (last, parents) = key.split_last().expect("key has at least one segment");
    let mut node = table;
    let mut default_node = Some(defaults);
    for segment in parents {
        let entry = node.entry(segment.clone()).or_insert_with(|| Value::Table(Table::new()));
        node = entry.as_table_mut().ok_or_else(|| format!("`{segment}` is a value, not a section"))?;
        default_node = default_node.and_then(|d| d.get(segment)).and_then(Value::as_table);
    }
    let like = node.get(last).or_else(|| default_node.and_then(|d| d.get(last)));
    node.insert(last.clone(), typed_value(raw, like)?);
    Ok(())
}

fn typed_value(raw: &str, like: Option<&Value>) -> Result<Value, String> {
    match like {
        Some(Value::Integer(_)) => {
            raw.trim().parse().map(Value::Integer).map_err(|_| format!("expected an integer, got {raw:?}"))
        }
        Some(Value::Boolean(_)) => {
            raw.trim().parse().map(Value::Boolean).map_err(|_| format!("expected true or false, got {raw:?}"))
        }
        Some(Value::Float(_)) => {
            raw.trim().parse().map(Value::Float).map_err(|_| format!("expected a number, got {raw:?}"))
        }
        Some(Value::String(_)) => Ok(Value::String(raw.to_owned())),
        Some(Value::Table(_)) => Err("is a section; set one of its keys instead".into()),
        // A list: a TOML array (`["/a", "/b"]`), or comma-separated strings (`/a,/b`).
        Some(Value::Array(_)) if raw.trim_start().starts_with('[') => toml::from_str::<Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .ok_or_else(|| format!("expected a TOML array, got {raw:?}")),
        Some(Value::Array(_)) => Ok(Value::Array(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        )),
        // Optional keys with no default: take what the text looks like, and let the schema judge.
        _ => Ok(raw
            .parse()
            .map(Value::Integer)
            .or_else(|_| raw.parse().map(Value::Boolean))
            .unwrap_or_else(|_| Value::String(raw.to_owned()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::{LogFormat, SqliteSynchronous};
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn check(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load_from_str(text, Path::new("test.toml"), env(vars))
    }

    /// With no file and no environment the defaults validate: `serve` must start with no set-up.
    #[test]
    fn empty_config_gives_working_defaults() {
        let config = check("", &[]).unwrap();
        assert_eq!(config.api.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.metrics.listen.to_string(), "127.0.0.1:9090");
        assert_eq!(config.jobs.lease, Duration::from_secs(60));
        let crate::StoreConfig::Sqlite(sqlite) = &config.store else { panic!("sqlite is the default backend") };
        assert_eq!(sqlite.path, Path::new("./data/certautopilot.db"));
        assert_eq!(sqlite.synchronous, SqliteSynchronous::Full);
    }

    /// File values override defaults, environment values override the file.
    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let text = "[api]\nlisten = \"127.0.0.1:8000\"\nshutdown_grace_secs = 5\n[log]\nformat = \"json\"\n";
        let config = check(
            text,
            &[
                ("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:8100"),
                ("CERTAUTOPILOT_JOBS__LEASE_SECS", "120"),
                ("OTHER_VAR", "x"),
            ],
        )
        .unwrap();
        assert_eq!(config.api.listen.to_string(), "127.0.0.1:8100");
        assert_eq!(config.api.shutdown_grace, Duration::from_secs(5));
        assert_eq!(config.jobs.lease, Duration::from_secs(120));
        assert_eq!(config.log.format, LogFormat::Json);
    }

    /// Lists come from the environment as TOML arrays or comma-separated; the file's list is replaced.
    #[test]
    fn lists_are_set_from_the_environment() {
        let file = "[targets.file]\nallowed_dirs = [\"/srv/a\"]\n";
        let config = check(file, &[("CERTAUTOPILOT_TARGETS__FILE__ALLOWED_DIRS", "/etc/ssl/x, /srv/b")]).unwrap();
        assert_eq!(config.targets.file_allowed_dirs, [Path::new("/etc/ssl/x"), Path::new("/srv/b")]);
        let config = check("", &[("CERTAUTOPILOT_TARGETS__FILE__ALLOWED_DIRS", "[\"/srv/c\"]")]).unwrap();
        assert_eq!(config.targets.file_allowed_dirs, [Path::new("/srv/c")]);
        let err = check("", &[("CERTAUTOPILOT_TARGETS__FILE__ALLOWED_DIRS", "[oops")]).unwrap_err();
        assert_eq!(err.key(), Some("targets.file.allowed_dirs"));
        let err = check("", &[("CERTAUTOPILOT_TARGETS__FILE__ALLOWED_DIRS", "relative")]).unwrap_err();
        assert_eq!(err.key(), Some("targets.file.allowed_dirs"));
    }

    /// An unknown key is an error that names it, in the file and in the environment.
    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let err = check("[store.sqlite]\npth = \"/tmp/x.db\"\n", &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("store.sqlite"), "{text}");
        assert!(text.contains("unknown field `pth`"), "{text}");

        let err = check("", &[("CERTAUTOPILOT_API__LISTENING", "x")]).unwrap_err().to_string();
        assert!(err.contains("unknown field `listening`"), "{err}");
        assert!(err.contains("CERTAUTOPILOT_API__LISTENING"), "{err}");

        let err = check("[nonsense]\na = 1\n", &[]).unwrap_err().to_string();
        assert!(err.contains("unknown field `nonsense`"), "{err}");
    }

    /// The API client's variables are not configuration: a shell that exports them for
    /// `certautopilot cert …` still loads the service's configuration, while a near miss of them
    /// (`CERTAUTOPILOT_TOKENS`) is still refused as an unknown key.
    #[test]
    fn client_variables_are_not_configuration_keys() {
        let vars: Vec<(&str, &str)> = CLIENT_ENV_VARIABLES.iter().map(|name| (*name, "x")).collect();
        assert_eq!(vars.len(), 3);
        let config = check("", &vars).unwrap();
        assert_eq!(config.api.listen.to_string(), "127.0.0.1:8080");
        let err = check("", &[("CERTAUTOPILOT_TOKENS", "x")]).unwrap_err().to_string();
        assert!(err.contains("unknown field `tokens`"), "{err}");
    }

    /// A value of the wrong type names the key and what was expected.
    #[test]
    fn wrong_types_name_the_key() {
        let err = check("[jobs]\nlease_secs = \"soon\"\n", &[]).unwrap_err();
        assert_eq!(err.key(), Some("jobs.lease_secs"), "{err}");
        let err = check("", &[("CERTAUTOPILOT_JOBS__MAX_ATTEMPTS", "many")]).unwrap_err();
        assert_eq!(err.key(), Some("jobs.max_attempts"), "{err}");
        assert!(err.to_string().contains("CERTAUTOPILOT_JOBS__MAX_ATTEMPTS"), "{err}");
        let err = check("[log]\nformat = \"xml\"\n", &[]).unwrap_err();
        assert_eq!(err.key(), Some("log.format"), "{err}");
    }

    /// Values of the right type that cannot work are refused with the key and the value.
    #[test]
    fn impossible_values_are_refused() {
        for (text, key) in [
            ("[api]\nlisten = \"localhost\"\n", "api.listen"),
            ("[jobs]\nlease_secs = 10\nheartbeat_secs = 6\n", "jobs.heartbeat_secs"),
            ("[jobs]\nmax_attempts = 0\n", "jobs.max_attempts"),
            ("[jobs]\nbackoff_base_secs = 100\nbackoff_max_secs = 10\n", "jobs.backoff_max_secs"),
            ("[store.sqlite]\nread_connections = 0\n", "store.sqlite.read_connections"),
            ("[metrics]\nlisten = \"127.0.0.1:8080\"\n", "metrics.listen"),
            ("version = 7\n", "version"),
            ("[node]\nid = \"has space\"\n", "node.id"),
            ("[kek]\nprovider = \"pkcs11\"\n", "kek.pkcs11.module"),
            ("[kek]\nprovider = \"pkcs11\"\n[kek.pkcs11]\nmodule = \"/m.so\"\n", "kek.pkcs11.token_label"),
            (
                "[kek]\nprovider = \"pkcs11\"\n[kek.pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\n",
                "kek.pkcs11.pin_env",
            ),
            (
                "[kek]\nprovider = \"pkcs11\"\n[kek.pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_env = \"P\"\npin_file = \"/p\"\n",
                "kek.pkcs11.pin_env",
            ),
            ("[kek]\nprovider = \"file\"\n", "kek.file_path"),
            ("[kek.pkcs11]\nmodule = \"/m.so\"\n", "kek.pkcs11"),
            ("[api.tls]\ncert_path = \"/c.pem\"\n", "api.tls.key_path"),
            (
                "[[siem]]\nname = \"a b\"\nformat = \"cef\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:514\"\n",
                "siem.name",
            ),
            (
                "[[siem]]\nname = \"s\"\nformat = \"cef\"\ntransport = \"tcp\"\naddress = \"siem.example:514\"\n",
                "siem.address",
            ),
        ] {
            let err = check(text, &[]).unwrap_err();
            assert_eq!(err.key(), Some(key), "{text}: {err}");
        }
    }

    /// Broken TOML is reported as a syntax error of the file, not a panic.
    #[test]
    fn syntax_errors_name_the_file() {
        let err = check("[api\nlisten=", &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
        assert!(err.to_string().contains("test.toml"), "{err}");
    }

    /// The environment check names a store path whose directory does not exist.
    #[test]
    fn missing_store_directory_is_an_environment_error() {
        let config = check("[store.sqlite]\npath = \"/nonexistent-dir-for-test/x.db\"\n", &[]).unwrap();
        let err = config.check_environment().unwrap_err();
        assert_eq!(err.to_string(), "store.sqlite.path: parent directory /nonexistent-dir-for-test does not exist");
    }
}
