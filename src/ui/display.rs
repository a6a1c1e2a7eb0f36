//! How the console writes things: times, durations, project names, query values.
//! Invariant: presentation only; nothing here reads the store or decides anything.

use actix_web::HttpRequest;
use certautopilot_core::Timestamp;
use certautopilot_core::ids::ProjectId;

use crate::ui::context::Ui;

/// `2026-12-05 14:03 UTC`.
pub fn when(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    format!("{} {} UTC", &text[..10], text.get(11..16).unwrap_or(""))
}

/// `when` of an optional time, or a dash.
pub fn when_opt(at: Option<Timestamp>) -> String {
    at.map_or_else(|| "—".to_owned(), when)
}

/// A span in words: `3 d 4 h`, `12 min`, `40 s`.
pub fn span(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let text = match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..86_400 => format!("{} h {} min", s / 3_600, (s % 3_600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3_600),
    };
    if seconds < 0 { format!("{text} ago") } else { text }
}

/// The value of one query parameter of the request, if given.
pub fn query_value(req: &HttpRequest, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v).filter(|v| !v.is_empty())
}

/// The names of the projects the caller sees, by id.
pub struct ProjectNames(Vec<(ProjectId, String)>);

impl ProjectNames {
    pub fn of(ui: &Ui) -> ProjectNames {
        ProjectNames(ui.projects.iter().map(|(p, _)| (p.id, p.name.clone())).collect())
    }

    pub fn name(&self, id: ProjectId) -> String {
        self.0.iter().find(|(p, _)| *p == id).map(|(_, n)| n.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Times read as UTC minutes; spans pick their unit and say "ago" for the past.
    #[test]
    fn times_and_spans_read_naturally() {
        assert_eq!(when(Timestamp::from_unix_millis(0)), "1970-01-01 00:00 UTC");
        assert_eq!(span(40), "40 s");
        assert_eq!(span(-600), "10 min ago");
        assert_eq!(span(90_000), "1 d 1 h");
    }
}
