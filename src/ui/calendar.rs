//! The expiry calendar of the overview: 90 days as a heatmap drawn in SVG on the server, weeks as
//! columns and weekdays as rows, each day a link to the inventory of that day's expiries.
//! Invariant: pure (counts in, markup out), no script, no inline style: colours are classes of
//! the style sheet, so the strict CSP holds; every day has a text equivalent for screen readers.

use std::fmt::Write;

use certautopilot_core::Timestamp;

const CELL: usize = 16;
const GAP: usize = 3;
const LEFT: usize = 30;
const TOP: usize = 16;
const DAY_MILLIS: i64 = 86_400_000;
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The calendar's SVG. `start` is midnight UTC of the first day; `counts[i]` the certificates
/// expiring on day `i`; `link_query` is added to each day's link (`&project=…`, or empty).
pub fn heatmap_svg(start: Timestamp, counts: &[usize], link_query: &str) -> String {
    let max = counts.iter().copied().max().unwrap_or(0);
    let first_day = start.as_unix_millis().div_euclid(DAY_MILLIS);
    // 1970-01-01 was a Thursday: Monday is row 0.
    let first_row = (first_day + 3).rem_euclid(7) as usize;
    let weeks = (first_row + counts.len()).div_ceil(7);
    let width = LEFT + weeks * (CELL + GAP) + 12;
    let height = TOP + 7 * (CELL + GAP);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="calendar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="group" aria-label="certificates expiring per day, next {} days" xmlns="http://www.w3.org/2000/svg">"#,
        counts.len()
    );
    for (row, name) in [(0, "Mon"), (2, "Wed"), (4, "Fri")] {
        let _ = write!(svg, r#"<text x="0" y="{}" aria-hidden="true">{name}</text>"#, TOP + row * (CELL + GAP) + 12);
    }
    // Month names over the first week column of each month, never closer than three columns.
    let mut last_label: Option<(String, usize)> = None;
    for (i, &count) in counts.iter().enumerate() {
        let slot = first_row + i;
        let (col, row) = (slot / 7, slot % 7);
        let date = day_text(first_day + i as i64);
        let month = date[5..7].to_owned();
        let room = last_label.as_ref().is_none_or(|(m, c)| *m != month && col >= c + 3);
        if (row == 0 || i == 0) && room {
            let name = MONTHS[month.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1];
            let _ = write!(svg, r#"<text x="{}" y="11" aria-hidden="true">{name}</text>"#, LEFT + col * (CELL + GAP));
            last_label = Some((month, col));
        }
        let label = match count {
            0 => format!("no certificates expire on {date}"),
            1 => format!("1 certificate expires on {date}"),
            n => format!("{n} certificates expire on {date}"),
        };
        let _ = write!(
            svg,
            r#"<a href="/certificates?expires_on={date}{link_query}" aria-label="{label}"><rect class="day l{}" x="{}" y="{}" width="{CELL}" height="{CELL}" rx="3"><title>{label}</title></rect></a>"#,
            level(count, max),
            LEFT + col * (CELL + GAP),
            TOP + row * (CELL + GAP),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// 0 for no expiries, else 1 to 4 by the share of the busiest day.
fn level(count: usize, max: usize) -> usize {
    if count == 0 || max == 0 { 0 } else { (count * 4).div_ceil(max).clamp(1, 4) }
}

/// `YYYY-MM-DD` of a day number since 1970-01-01.
pub fn day_text(day: i64) -> String {
    Timestamp::from_unix_millis(day * DAY_MILLIS).to_rfc3339()[..10].to_owned()
}

/// The day number of a `YYYY-MM-DD` date (the inventory's `expires_on` filter).
pub fn parse_day(text: &str) -> Option<i64> {
    let date = time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    let midnight = date.midnight().assume_utc();
    Some(midnight.unix_timestamp().div_euclid(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 90 days give 90 linked cells with their dates and counts in words; the busiest day is the
    /// darkest and empty days the lightest; the markup has no inline style.
    #[test]
    fn heatmap_links_every_day_and_scales_colours() {
        let start = Timestamp::from_unix_millis(20_000 * DAY_MILLIS);
        let mut counts = vec![0; 90];
        counts[0] = 2;
        counts[5] = 8;
        let svg = heatmap_svg(start, &counts, "&project=p1");
        assert_eq!(svg.matches("<rect class=\"day").count(), 90);
        let first = day_text(20_000);
        assert!(svg.contains(&format!("/certificates?expires_on={first}&project=p1")), "{svg}");
        assert!(svg.contains(&format!("2 certificates expire on {first}")));
        assert!(svg.contains(&format!("8 certificates expire on {}", day_text(20_005))));
        assert!(
            svg.contains("class=\"day l4\"") && svg.contains("class=\"day l1\"") && svg.contains("class=\"day l0\"")
        );
        assert!(!svg.contains("style="));
        assert_eq!(parse_day(&first), Some(20_000));
        assert_eq!(parse_day("2026-13-01"), None);
    }
}
