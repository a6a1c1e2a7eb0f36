//! The checks of what people type into settings: resource names, domain names, URLs, free text,
//! absolute paths. Each returns the normalized value or a `ConfigError` naming the field by its path
//! (`config.host`), so the API answers with the field and the typed configurations (`TargetConfig`,
//! `DnsProviderConfig`) validate with the same rules. Invariant: each rule is written once, here.

/// A setting refused: the field's path (`config.port`) and why, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { field: field.into(), message: message.into() }
    }
}

const MAX_NAME: usize = 64;
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

/// A resource name: 1–64 characters of letters, digits, space, `.`, `_`, `-`; no leading dot and no
/// `..`, so a name can never walk a path when it ends up in one.
pub fn name(field: &str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > MAX_NAME {
        return Err(ConfigError::new(field, format!("must be 1 to {MAX_NAME} characters")));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-')) {
        return Err(ConfigError::new(field, "may contain letters, digits, spaces, '.', '_' and '-' only"));
    }
    if v.starts_with('.') || v.contains("..") {
        return Err(ConfigError::new(field, "must not start with '.' or contain '..'"));
    }
    Ok(v.to_owned())
}

/// A DNS name for a certificate: converted to lower-case A-labels; `*.` allowed only as the whole
/// leftmost label; at least two labels; each label 1–63 LDH characters not starting or ending with
/// '-'; 253 characters at most; not an IP address.
pub fn domain(field: &str, value: &str, allow_wildcard: bool) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::new(field, format!("{value:?} is not a valid domain name: {why}"));
    let trimmed = value.strip_suffix('.').unwrap_or(value);
    if trimmed.is_empty() {
        return Err(bad("empty"));
    }
    if trimmed.parse::<std::net::IpAddr>().is_ok() {
        return Err(bad("IP addresses are not domain names"));
    }
    let (wildcard, rest) = match trimmed.strip_prefix("*.") {
        Some(rest) if allow_wildcard => (true, rest),
        Some(_) => return Err(bad("wildcards are not allowed here")),
        None => (false, trimmed),
    };
    if rest.contains('*') {
        return Err(bad("'*' is allowed only as the whole leftmost label"));
    }
    let ascii = idna::domain_to_ascii_strict(rest).map_err(|_| bad("not a valid internationalized name"))?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("needs at least two labels"));
    }
    for label in &labels {
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err(bad("each label must be 1 to 63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(bad("labels are letters, digits and inner hyphens"));
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("the last label cannot be numeric"));
    }
    let full = if wildcard { format!("*.{ascii}") } else { ascii };
    if full.len() > MAX_DOMAIN {
        return Err(bad("longer than 253 characters"));
    }
    Ok(full)
}

/// An `https://` URL (or `http://` to a loopback host, for test CAs and receivers).
pub fn url(field: &str, value: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::new(field, format!("not a usable URL: {why}"));
    if value.len() > 2_048 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("too long or contains spaces"));
    }
    let (scheme, rest) = value.split_once("://").ok_or_else(|| bad("missing scheme"))?;
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host_port.is_empty() || host_port.contains('@') {
        return Err(bad("missing host, or credentials in the URL"));
    }
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map(|(h, _)| h).unwrap_or(host_port)
    };
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => Ok(value.to_owned()),
        "http" if loopback => Ok(value.to_owned()),
        "http" => Err(bad("plain http is only allowed to a loopback host")),
        _ => Err(bad("scheme must be https")),
    }
}

/// Whether `c` may appear in free text: not a control character (C0, DEL, C1 such as U+0085), not a
/// line or paragraph separator (U+2028, U+2029), and not a bidirectional override or isolate, which
/// make text display differently from what it is.
fn is_plain_text_char(c: char) -> bool {
    !c.is_control()
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Free text (a key id, a site name, a command line): 1 to `max` bytes, not blank, and without
/// control, separator or bidirectional-override characters, so it can never split a header, a log
/// line or a command, or read differently from what it is. The one check for every such field.
pub fn free_text(field: &str, value: &str, max: usize) -> Result<String, ConfigError> {
    if value.trim().is_empty() || value.len() > max {
        return Err(ConfigError::new(field, format!("must be 1 to {max} characters")));
    }
    if !value.chars().all(is_plain_text_char) {
        return Err(ConfigError::new(
            field,
            "must not contain control, line-separator or bidirectional-control characters",
        ));
    }
    Ok(value.to_owned())
}

/// An absolute file path with no `..` component and no control characters.
pub fn absolute_path(field: &str, value: &str) -> Result<String, ConfigError> {
    if !value.starts_with('/') || value.len() > 4_096 || !value.chars().all(is_plain_text_char) {
        return Err(ConfigError::new(field, "must be an absolute path without control characters"));
    }
    if value.split('/').any(|part| part == "..") {
        return Err(ConfigError::new(field, "must not contain '..'"));
    }
    Ok(value.to_owned())
}
