//! TXT values as zone-file style APIs hold them (Route 53, Cloud DNS, OVH): one quoted
//! character-string on the way in, quoted strings joined on the way out (RFC 1035 §3.3.14).
//! Invariant: `unquoted(quoted(v)) == v` for every value.

/// A TXT value as a quoted character-string (`"value"`), as zone-file style APIs store it.
pub fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A stored TXT value with its quotes removed (several quoted strings are joined, RFC 1035 §3.3.14).
pub fn unquoted(stored: &str) -> String {
    let stored = stored.trim();
    if !stored.starts_with('"') {
        return stored.to_owned();
    }
    let mut out = String::new();
    let (mut inside, mut escaped) = (false, false);
    for c in stored.chars() {
        match (inside, escaped, c) {
            (true, true, c) => {
                out.push(c);
                escaped = false;
            }
            (true, false, '\\') => escaped = true,
            (_, false, '"') => inside = !inside,
            (true, false, c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quoting round-trips with quotes and backslashes; split strings are joined; a bare value stays.
    #[test]
    fn quoting_round_trips() {
        assert_eq!(unquoted(&quoted(r#"a"b\c"#)), r#"a"b\c"#);
        assert_eq!(unquoted(r#""abc" "def""#), "abcdef");
        assert_eq!(unquoted("plain"), "plain");
    }
}
