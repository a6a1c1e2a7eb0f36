//! The documentation against the code it describes: docs/audit.md's table lists exactly the audit
//! actions the product writes, and the README's documentation list names every page in docs/.
//! Both read the source tree, so a new action or page without its documentation fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose code writes audit entries (their non-test code).
const PRODUCT_SOURCES: &[&str] = &["src", "actors/src", "core/src", "cluster/src", "connectors/src"];

/// What an audit action names before its dot. A string literal `"<prefix>.<word>"` in product code
/// is taken for an action; other dotted literals (`"config.key_path"`, `"certificate.deployed"`, the
/// webhook's event name) have other prefixes.
const OBJECT_PREFIXES: &[&str] = &[
    "acme_account",
    "api_token",
    "approval",
    "audit",
    "cert",
    "cluster",
    "credential",
    "kek",
    "login",
    "member",
    "notification_channel",
    "notification_rule",
    "org",
    "project",
    "session",
    "target",
    "user",
    "zone",
];

/// Literals with these endings are file names (`"kek.json"`), not actions.
const FILE_ENDINGS: &[&str] = &["json", "key", "pem", "db", "toml", "log", "pid", "pub", "csr", "cnf", "conf", "txt"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, skipping test code: `tests/` folders, test-support modules and
/// `tests.rs` / `*_test.rs` / `conformance.rs` files.
fn product_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["tests", "testsupport"].contains(&name.as_str()) {
                product_files(&path, out);
            }
        } else if name.ends_with(".rs")
            && name != "tests.rs"
            && name != "conformance.rs"
            && !name.ends_with("_test.rs")
            && !name.ends_with("_tests.rs")
        {
            out.push(path);
        }
    }
}

/// The string literals `"a.b"` on one line of code.
fn dotted_literals(line: &str) -> Vec<String> {
    line.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            let Some((prefix, word)) = s.split_once('.') else { return false };
            !word.is_empty()
                && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && OBJECT_PREFIXES.contains(&prefix)
                && !FILE_ENDINGS.contains(&word)
        })
        .map(str::to_owned)
        .collect()
}

/// Every action literal in the product code, with where it was first seen. Skips comments,
/// `#[cfg(test)]` items (by brace depth) and failpoint names.
fn actions_in_code() -> BTreeMap<String, String> {
    let mut files = Vec::new();
    for dir in PRODUCT_SOURCES {
        product_files(&root().join(dir), &mut files);
    }
    let mut found = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut test_item: Option<i64> = None; // brace depth inside a `#[cfg(test)]` item
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if let Some(depth) = test_item.as_mut() {
                *depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
                if *depth <= 0 && (code.contains('}') || code.ends_with(';')) {
                    test_item = None;
                }
                continue;
            }
            if code.starts_with("#[cfg(test)]") {
                test_item = Some(0);
                continue;
            }
            // A template's file name (`#[template(path = "audit.html")]`) is dotted but no action.
            if code.starts_with("//") || code.contains("failpoint::") || code.starts_with("#[template(") {
                continue;
            }
            for action in dotted_literals(code) {
                let at = format!("{}:{}", file.strip_prefix(root()).unwrap().display(), n + 1);
                found.entry(action).or_insert(at);
            }
        }
    }
    found
}

/// The actions in docs/audit.md's table of actions: the backquoted names in each row's first cell.
fn actions_in_doc() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/audit.md")).unwrap();
    let mut listed = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let first = line.trim_start_matches('|').split('|').next().unwrap_or_default();
        for name in first.split('`').skip(1).step_by(2) {
            if dotted_literals(&format!("\"{name}\"")).len() == 1 {
                listed.insert(name.to_owned());
            }
        }
    }
    listed
}

/// Every action the product code writes is in docs/audit.md's table, and the table lists none the
/// code never writes. The scan must find the actions known to exist, so a scan of the wrong place
/// (or a changed code layout) fails instead of passing with nothing to compare.
#[test]
fn audit_doc_lists_exactly_the_actions_the_code_writes() {
    let code = actions_in_code();
    for known in ["org.created", "cert.issued", "cert.revoke_requested", "credential.created", "kek.rotated"] {
        assert!(code.contains_key(known), "the scan of the sources did not find {known}: {code:?}");
    }
    assert!(!code.contains_key("kek.after_batch"), "failpoint names are not actions");
    let doc = actions_in_doc();
    assert!(doc.len() >= 30, "docs/audit.md's table of actions was not found: {doc:?}");
    let undocumented: Vec<String> =
        code.iter().filter(|(a, _)| !doc.contains(*a)).map(|(a, at)| format!("{a} ({at})")).collect();
    assert!(
        undocumented.is_empty(),
        "the code writes audit actions docs/audit.md does not list; add a row for each: {undocumented:?}"
    );
    let unwritten: Vec<&String> = doc.iter().filter(|a| !code.contains_key(*a)).collect();
    assert!(unwritten.is_empty(), "docs/audit.md lists actions no code writes: {unwritten:?}");
}

/// The README's documentation list links every page in docs/ (the getting-started guide first),
/// and every page it links exists.
#[test]
fn readme_lists_every_page_in_docs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme.split("\n## Documentation").nth(1).expect("README.md has a Documentation section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let linked: Vec<String> =
        section.split("](docs/").skip(1).map(|rest| rest.split(')').next().unwrap_or_default().to_owned()).collect();
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    pages.sort();
    assert!(pages.len() >= 10, "docs/ not found: {pages:?}");
    let missing: Vec<&String> = pages.iter().filter(|p| !linked.contains(p)).collect();
    assert!(missing.is_empty(), "README.md's documentation list leaves out {missing:?}");
    let dangling: Vec<&String> = linked.iter().filter(|l| !pages.contains(l)).collect();
    assert!(dangling.is_empty(), "README.md links pages that do not exist: {dangling:?}");
    assert_eq!(linked.first().map(String::as_str), Some("getting-started.md"), "the guide comes first");
}
