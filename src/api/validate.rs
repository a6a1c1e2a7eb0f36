//! Validation of what people type: domain names, resource names, URLs, e-mail addresses, paths.
//! Each check returns the normalized value or an `ApiError` naming the field.

use crate::api::error::ApiError;

pub const MAX_SANS: usize = 100;
/// The renewal lead a new certificate may ask for, in days: less than the 90 days an ACME
/// certificate is expected to live until one is issued (issue 15, item 4; `door::renew_before_days`
/// applies the issued certificate's own lifetime once there is one).
pub const RENEW_BEFORE_DAYS: std::ops::RangeInclusive<u32> =
    1..=(certautopilot_core::model::EXPECTED_ACME_LIFETIME_DAYS - 1);
/// RFC 5280's `ub-common-name`: a subject common name holds at most 64 characters.
pub const MAX_COMMON_NAME: usize = 64;
const MAX_NAME: usize = 64;
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

/// A resource name: 1–64 characters of letters, digits, space, `.`, `_`, `-`; no leading dot and no
/// `..`, so a name can never walk a path when it ends up in one.
pub fn name(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > MAX_NAME {
        return Err(ApiError::invalid(field, format!("must be 1 to {MAX_NAME} characters")));
    }
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-')) {
        return Err(ApiError::invalid(field, "may contain letters, digits, spaces, '.', '_' and '-' only"));
    }
    if v.starts_with('.') || v.contains("..") {
        return Err(ApiError::invalid(field, "must not start with '.' or contain '..'"));
    }
    Ok(v.to_owned())
}

/// A DNS name for a certificate: converted to lower-case A-labels; `*.` allowed only as the whole
/// leftmost label; at least two labels; each label 1–63 LDH characters not starting or ending with
/// '-'; 253 characters at most; not an IP address.
pub fn domain(field: &str, value: &str, allow_wildcard: bool) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::invalid(field, format!("{value:?} is not a valid domain name: {why}"));
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

/// A name a certificate may carry: a valid domain (wildcards allowed), but never a wildcard directly
/// under a public suffix (`*.co.uk`, `*.github.io`), which would cover every registrant below it.
/// The suffixes come from the Public Suffix List compiled into the `psl` crate.
pub fn certificate_name(field: &str, value: &str) -> Result<String, ApiError> {
    let name = domain(field, value, true)?;
    if let Some(parent) = name.strip_prefix("*.")
        && psl::suffix(parent.as_bytes()).is_some_and(|s| s.is_known() && s.as_bytes() == parent.as_bytes())
    {
        return Err(ApiError::invalid(
            field,
            format!(
                "{name:?} is a wildcard directly under the public suffix {parent:?}; name a domain registered under it"
            ),
        ));
    }
    Ok(name)
}

/// An `https://` URL (or `http://` to a loopback host, for test CAs and receivers).
pub fn url(field: &str, value: &str) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::invalid(field, format!("not a usable URL: {why}"));
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

/// An e-mail address, lower-cased: one `@`, a non-empty local part, a valid domain.
pub fn email(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_ascii_lowercase();
    let (local, domain_part) = v.split_once('@').ok_or_else(|| ApiError::invalid(field, "is not an e-mail address"))?;
    if local.is_empty() || local.len() > 64 || local.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@') {
        return Err(ApiError::invalid(field, "is not an e-mail address"));
    }
    domain(field, domain_part, false).map_err(|_| ApiError::invalid(field, "is not an e-mail address"))?;
    Ok(v)
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
pub fn free_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    if value.trim().is_empty() || value.len() > max {
        return Err(ApiError::invalid(field, format!("must be 1 to {max} characters")));
    }
    if !value.chars().all(is_plain_text_char) {
        return Err(ApiError::invalid(
            field,
            "must not contain control, line-separator or bidirectional-control characters",
        ));
    }
    Ok(value.to_owned())
}

/// An absolute file path with no `..` component and no control characters.
pub fn absolute_path(field: &str, value: &str) -> Result<String, ApiError> {
    if !value.starts_with('/') || value.len() > 4_096 || !value.chars().all(is_plain_text_char) {
        return Err(ApiError::invalid(field, "must be an absolute path without control characters"));
    }
    if value.split('/').any(|part| part == "..") {
        return Err(ApiError::invalid(field, "must not contain '..'"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Good names normalize to lower-case A-labels; every kind of bad name is refused.
    #[test]
    fn domain_names_are_normalized_or_refused() {
        assert_eq!(domain("n", "WWW.Example.COM.", false).unwrap(), "www.example.com");
        assert_eq!(domain("n", "bücher.example", false).unwrap(), "xn--bcher-kva.example");
        assert_eq!(domain("n", "*.example.com", true).unwrap(), "*.example.com");
        for bad in [
            "",
            "com",
            "*.example.com",
            "a..b.com",
            "-a.example.com",
            "a-.example.com",
            "a_b.example.com",
            "foo.*.example.com",
            "*foo.example.com",
            "192.0.2.1",
            "example.123",
            "exa mple.com",
            "../etc/passwd",
        ] {
            assert!(domain("n", bad, false).is_err(), "{bad:?} accepted");
        }
        assert!(domain("n", &format!("{}.com", "a".repeat(64)), false).is_err());
        assert!(domain("n", &format!("{}com", "abcdefghi.".repeat(26)), false).is_err());
        assert!(domain("n", "*.*.example.com", true).is_err());
    }

    /// Issue M2.1 item 10: wildcards directly under a public suffix (ICANN or private section) are
    /// refused; wildcards under a registered domain, and names under unlisted test TLDs, pass.
    #[test]
    fn no_wildcard_directly_under_a_public_suffix() {
        for bad in ["*.co.uk", "*.github.io", "*.CO.UK.", "*.ac.jp"] {
            let e = certificate_name("n", bad).unwrap_err();
            assert!(e.detail.contains("public suffix"), "{bad}: {}", e.detail);
        }
        assert!(certificate_name("n", "*.com").is_err(), "a wildcard over a TLD needs two labels anyway");
        for good in ["*.example.co.uk", "*.example.com", "www.co.uk", "*.acme.test", "*.me.github.io"] {
            assert!(certificate_name("n", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn names_urls_emails_and_paths() {
        assert_eq!(name("n", " web-prod ").unwrap(), "web-prod");
        for bad in ["", "../x", "a/b", ".hidden", "x\u{0}", &"x".repeat(65)] {
            assert!(name("n", bad).is_err(), "{bad:?}");
        }
        assert!(url("u", "https://acme-v02.api.letsencrypt.org/directory").is_ok());
        assert!(url("u", "http://127.0.0.1:14000/dir").is_ok());
        assert!(url("u", "http://ca.example/dir").is_err());
        assert!(url("u", "ftp://x").is_err());
        assert!(url("u", "https://user:pw@host/").is_err());
        assert_eq!(email("e", "Ops@Example.COM").unwrap(), "ops@example.com");
        assert!(email("e", "no-at-sign").is_err());
        assert!(absolute_path("p", "/etc/ssl/cert.pem").is_ok());
        assert!(absolute_path("p", "/etc/../passwd").is_err());
        assert!(absolute_path("p", "relative").is_err());
        assert!(absolute_path("p", "/etc/ssl/a\u{2028}b").is_err());
    }

    /// Issue M2.1 item 10: every control, separator and bidirectional-control character is refused in
    /// free text, whatever its script; ordinary Unicode text passes.
    #[test]
    fn free_text_refuses_control_and_separator_characters() {
        assert_eq!(free_text("f", "Default Web Site – Zürich", 256).unwrap(), "Default Web Site – Zürich");
        for bad in [
            "kid\r\nX-Injected: 1",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{85}b",
            "a\u{0}b",
            "a\tb",
            "a\u{7f}b",
            "a\u{9b}b",
            "evil\u{202e}txt.exe",
            "a\u{2066}b",
            "",
            "   ",
        ] {
            assert!(free_text("f", bad, 256).is_err(), "{bad:?} accepted");
        }
        assert!(free_text("f", &"x".repeat(257), 256).is_err());
    }
}
