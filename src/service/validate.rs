//! Validation of what people type: domain names, resource names, URLs, e-mail addresses, paths.
//! Each check returns the normalized value or an `ApiError` naming the field. The rules shared with
//! the typed configurations live in `certautopilot_core::model::checks`; these wrap them.

use certautopilot_core::model::checks;

use crate::service::error::ApiError;

pub const MAX_SANS: usize = 100;
/// The renewal lead a new certificate may ask for, in days: less than the 90 days an ACME
/// certificate is expected to live until one is issued (issue 15, item 4; `certificates::renew_before_days`
/// applies the issued certificate's own lifetime once there is one).
pub const RENEW_BEFORE_DAYS: std::ops::RangeInclusive<u32> =
    1..=(certautopilot_core::model::EXPECTED_ACME_LIFETIME_DAYS - 1);
/// The same lead in hours (for short-lived certificates), before one is issued.
pub const RENEW_BEFORE_HOURS: std::ops::RangeInclusive<u32> =
    1..=(certautopilot_core::model::EXPECTED_ACME_LIFETIME_DAYS * 24 - 1);
/// RFC 5280's `ub-common-name`: a subject common name holds at most 64 characters.
pub const MAX_COMMON_NAME: usize = 64;

impl From<certautopilot_core::model::CatalogueError> for ApiError {
    fn from(e: certautopilot_core::model::CatalogueError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

impl From<checks::ConfigError> for ApiError {
    fn from(e: checks::ConfigError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

/// The names serde gives `values`, in order: what a field naming one of them must hold.
pub fn serde_names<T: serde::Serialize>(values: &[T]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| match serde_json::to_value(v) {
            Ok(serde_json::Value::String(name)) => Some(name),
            _ => None,
        })
        .collect()
}

/// A resource name (`checks::name`).
pub fn name(field: &str, value: &str) -> Result<String, ApiError> {
    Ok(checks::name(field, value)?)
}

/// A DNS name, converted to lower-case A-labels (`checks::domain`).
pub fn domain(field: &str, value: &str, allow_wildcard: bool) -> Result<String, ApiError> {
    Ok(checks::domain(field, value, allow_wildcard)?)
}

/// An `https://` URL, or `http://` to a loopback host (`checks::url`).
pub fn url(field: &str, value: &str) -> Result<String, ApiError> {
    Ok(checks::url(field, value)?)
}

/// Free text without control, separator or bidirectional-control characters (`checks::free_text`).
pub fn free_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    Ok(checks::free_text(field, value, max)?)
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
        assert!(checks::absolute_path("p", "/etc/ssl/cert.pem").is_ok());
        assert!(checks::absolute_path("p", "/etc/../passwd").is_err());
        assert!(checks::absolute_path("p", "relative").is_err());
        assert!(checks::absolute_path("p", "/etc/ssl/a\u{2028}b").is_err());
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
