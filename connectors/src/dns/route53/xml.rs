//! Route 53's XML: the change batch this client sends (every value escaped) and the parts of its
//! answers it reads (zone pages, record sets, change status, error code and message).
//! Invariant: elements are matched by local name, so a namespace or an element Route 53 adds later
//! changes nothing; a missing element the client needs is an error, never a default.

use roxmltree::{Document, Node};

/// The namespace of API version 2013-04-01.
const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// One hosted zone of a `ListHostedZonesByName` page.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneEntry {
    /// `/hostedzone/Z…` as Route 53 writes it.
    pub id: String,
    pub name: String,
    pub private: bool,
}

/// A page of hosted zones and, when truncated, where the next page starts.
#[derive(Debug)]
pub struct ZonePage {
    pub zones: Vec<ZoneEntry>,
    /// (`NextDNSName`, `NextHostedZoneId`).
    pub next: Option<(String, String)>,
}

/// A record set as read, and as sent back (values exactly as Route 53 gave them).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSet {
    pub name: String,
    pub kind: String,
    pub ttl: u32,
    /// Character-string form: `"value"` (quoted, with `\"` and `\\` escapes).
    pub values: Vec<String>,
    /// A set with a routing policy (`SetIdentifier`): not one this client writes.
    pub routed: bool,
}

impl RecordSet {
    pub fn txt(name: &str, ttl: u32) -> RecordSet {
        RecordSet { name: name.to_owned(), kind: "TXT".into(), ttl, values: Vec::new(), routed: false }
    }
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.is_element() && n.tag_name().name() == name)
}

fn children<'a, 'i>(node: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children().filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).map(|n| n.text().unwrap_or_default())
}

fn required<'a>(node: Node<'a, '_>, name: &str) -> Result<&'a str, String> {
    text(node, name).ok_or_else(|| format!("no {name} in {}", node.tag_name().name()))
}

fn parse(body: &[u8]) -> Result<Document<'_>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_owned())?;
    Document::parse(text).map_err(|e| e.to_string())
}

/// `ListHostedZonesByNameResponse`.
pub fn zone_page(body: &[u8]) -> Result<ZonePage, String> {
    let doc = parse(body)?;
    let root = doc.root_element();
    let list = child(root, "HostedZones").ok_or("no HostedZones")?;
    let zones = children(list, "HostedZone")
        .map(|z| {
            Ok(ZoneEntry {
                id: required(z, "Id")?.trim().to_owned(),
                name: required(z, "Name")?.trim().to_owned(),
                private: child(z, "Config").and_then(|c| text(c, "PrivateZone")).is_some_and(|p| p.trim() == "true"),
            })
        })
        .collect::<Result<_, String>>()?;
    let truncated = text(root, "IsTruncated").is_some_and(|t| t.trim() == "true");
    let next = match (truncated, text(root, "NextDNSName"), text(root, "NextHostedZoneId")) {
        (true, Some(name), Some(id)) => Some((name.trim().to_owned(), id.trim().to_owned())),
        _ => None,
    };
    Ok(ZonePage { zones, next })
}

/// The record sets of a `ListResourceRecordSetsResponse`.
pub fn record_sets(body: &[u8]) -> Result<Vec<RecordSet>, String> {
    let doc = parse(body)?;
    let list = child(doc.root_element(), "ResourceRecordSets").ok_or("no ResourceRecordSets")?;
    children(list, "ResourceRecordSet")
        .map(|s| {
            let values = child(s, "ResourceRecords")
                .map(|r| children(r, "ResourceRecord").filter_map(|v| text(v, "Value")).map(str::to_owned).collect())
                .unwrap_or_default();
            Ok(RecordSet {
                name: required(s, "Name")?.trim().to_owned(),
                kind: required(s, "Type")?.trim().to_owned(),
                // An alias record has no TTL; it is never a TXT set this client changes.
                ttl: text(s, "TTL").and_then(|t| t.trim().parse().ok()).unwrap_or(0),
                values,
                routed: child(s, "SetIdentifier").is_some(),
            })
        })
        .collect()
}

/// (`Id`, `Status`) of the `ChangeInfo` in a change or `GetChange` answer.
pub fn change_info(body: &[u8]) -> Result<(String, String), String> {
    let doc = parse(body)?;
    let info = child(doc.root_element(), "ChangeInfo").ok_or("no ChangeInfo")?;
    Ok((required(info, "Id")?.trim().to_owned(), required(info, "Status")?.trim().to_owned()))
}

/// The `Code` of an `<ErrorResponse><Error>` body.
fn error_code(body: &[u8]) -> Option<String> {
    let doc = parse(body).ok()?;
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "Code")
        .and_then(|n| n.text())
        .map(str::to_owned)
}

/// The provider's own message: `<ErrorResponse><Error><Message>`, or the first of an
/// `<InvalidChangeBatch><Messages>` list.
pub fn error_message(body: &[u8]) -> Option<String> {
    let doc = parse(body).ok()?;
    let message = doc.descendants().find(|n| n.is_element() && n.tag_name().name() == "Message")?;
    message.text().map(|m| m.trim().to_owned())
}

/// Route 53's ways of saying "slow down" besides 429: `Throttling` (400) and
/// `PriorRequestNotComplete` (400, a change to the zone is still being applied).
pub fn is_throttling(status: u16, body: &[u8]) -> bool {
    status == 400
        && matches!(error_code(body).as_deref().map(str::trim), Some("Throttling" | "PriorRequestNotComplete"))
}

/// A `ChangeResourceRecordSetsRequest` with one change of `set`.
pub fn change_request(action: &str, set: &RecordSet) -> String {
    let values: String =
        set.values.iter().map(|v| format!("<ResourceRecord><Value>{}</Value></ResourceRecord>", escape(v))).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest xmlns=\"{NAMESPACE}\"><ChangeBatch><Comment>certautopilot dns-01</Comment><Changes><Change><Action>{}</Action><ResourceRecordSet><Name>{}</Name><Type>{}</Type><TTL>{}</TTL><ResourceRecords>{values}</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>",
        escape(action),
        escape(&set.name),
        escape(&set.kind),
        set.ttl
    )
}

/// XML character data and attribute-safe text.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// TXT quoting is shared with the other zone-file style APIs.
pub use super::super::txt::{quoted as txt_quoted, unquoted as txt_text};

#[cfg(test)]
mod tests {
    use super::*;

    /// A value with XML and TXT specials survives the round trip: escaped in the request, and the
    /// quoted form reads back as the value.
    #[test]
    fn values_are_escaped_and_read_back() {
        let value = r#"a<b>&"c"\d"#;
        let quoted = txt_quoted(value);
        assert_eq!(txt_text(&quoted), value);
        assert_eq!(txt_text(r#""ab" "cd""#), "abcd");
        let mut set = RecordSet::txt("_acme-challenge.example.test.", 60);
        set.values.push(quoted.clone());
        let body = change_request("UPSERT", &set);
        assert!(!body.contains("<b>") && body.contains("&lt;b&gt;&amp;"), "{body}");
        let doc = Document::parse(&body).unwrap();
        let value_node = doc.descendants().find(|n| n.tag_name().name() == "Value").unwrap();
        assert_eq!(value_node.text().unwrap(), quoted);
    }

    /// The documented error body gives its message and code; throttling is told apart from a
    /// refusal by its code, not by its message.
    #[test]
    fn error_bodies_give_message_and_code() {
        let body = br#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>"#;
        assert_eq!(error_message(body).unwrap(), "Rate exceeded");
        assert!(is_throttling(400, body));
        assert!(!is_throttling(403, body));
        let batch = br#"<InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Messages><Message>Tried to delete resource record set but it was not found</Message></Messages></InvalidChangeBatch>"#;
        assert!(error_message(batch).unwrap().starts_with("Tried to delete"));
        assert!(!is_throttling(400, batch));
        assert_eq!(error_message(b"<html>oops"), None);
    }
}
