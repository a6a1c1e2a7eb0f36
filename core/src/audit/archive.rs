//! Archived audit segments and the live chain's checkpoint (docs/audit.md, "Retention").
//! A segment is a file of entries moved out of the live chain, one JSON entry per line in chain
//! order, closed by a footer naming the organization, the first and last `seq`, the first entry's
//! `prev_hmac`, the last entry's `hmac` and the count; the checkpoint, tagged under the audit
//! secret, names the last archived entry and the segment holding it.
//! Invariants: a segment is complete (fsynced, renamed into place, directory fsynced) before any
//! live entry it holds is deleted; a segment's entries are verified with the same `Verifier` as
//! the live chain, so a changed byte, a missing, reordered or foreign segment names its file and
//! entry; the checkpoint is believed only with its tag.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::audit::mark::{parts, tag, tag_matches};
use crate::audit::{BrokenLink, LinkFault, Verifier};
use crate::crypto::SecretBytes;
use crate::ids::OrgId;
use crate::model::AuditEvent;
use crate::timestamp::Timestamp;

/// The footer's `format`.
pub const SEGMENT_FORMAT: &str = "cap-audit-segment-v1";
const CHECKPOINT_DOMAIN: &[u8] = b"cap-audit-checkpoint-v1";

/// Where the live chain begins: everything up to `seq` is archived, the last of it in `segment`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// The last archived entry.
    pub seq: u64,
    /// Its `hmac`: the first live entry's `prev_hmac`.
    pub hmac: String,
    pub at: Timestamp,
    /// The file name of the segment that ends at `seq`, and its SHA-256 (hex).
    pub segment: String,
    pub sha256: String,
    pub tag: String,
}

impl Checkpoint {
    pub fn seal(secret: &SecretBytes, org: OrgId, end: &SegmentEnd, at: Timestamp) -> Self {
        let extra = format!("{}\n{}", end.name, end.sha256);
        let tag = tag(secret, CHECKPOINT_DOMAIN, &parts(org, end.last_seq, &end.last_hmac, at, &extra));
        Checkpoint {
            seq: end.last_seq,
            hmac: end.last_hmac.clone(),
            at,
            segment: end.name.clone(),
            sha256: end.sha256.clone(),
            tag,
        }
    }

    pub fn is_genuine(&self, secret: &SecretBytes, org: OrgId) -> bool {
        let extra = format!("{}\n{}", self.segment, self.sha256);
        tag_matches(secret, CHECKPOINT_DOMAIN, &parts(org, self.seq, &self.hmac, self.at, &extra), &self.tag)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a checkpoint serializes")
    }

    pub fn from_json(doc: &str) -> Option<Self> {
        serde_json::from_str(doc).ok()
    }
}

/// A segment's last line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentFooter {
    pub format: String,
    pub org_id: OrgId,
    pub first_seq: u64,
    pub last_seq: u64,
    pub first_prev_hmac: String,
    pub last_hmac: String,
    pub entries: u64,
}

/// A finished segment: what the checkpoint and the `audit.archived` entry record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEnd {
    pub name: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_hmac: String,
    pub sha256: String,
}

/// The file name of `org`'s segment holding `first..=last` (sorting by name sorts by `seq`).
pub fn segment_name(org: OrgId, first: u64, last: u64) -> String {
    format!("segment-{org}-{first:020}-{last:020}.jsonl")
}

/// The segment of `org` that starts at `first`, if one is in `dir` (a segment written by a round
/// that stopped before its store step: the next round finishes that one instead of writing another).
pub fn segment_starting_at(dir: &Path, org: OrgId, first: u64) -> std::io::Result<Option<(PathBuf, u64)>> {
    let prefix = format!("segment-{org}-{first:020}-");
    for entry in read_dir_or_empty(dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".jsonl"))
            && let Ok(last) = rest.parse::<u64>()
        {
            return Ok(Some((entry.path(), last)));
        }
    }
    Ok(None)
}

fn read_dir_or_empty(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Writes one segment, entry by entry (memory stays flat however many it holds).
pub struct SegmentWriter {
    dir: PathBuf,
    tmp: PathBuf,
    out: BufWriter<std::fs::File>,
    hasher: Sha256,
    org: OrgId,
    first: Option<(u64, String)>,
    last: Option<(u64, String)>,
    count: u64,
}

impl SegmentWriter {
    pub fn create(dir: &Path, org: OrgId) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".segment-{org}.partial"));
        let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        Ok(SegmentWriter {
            dir: dir.to_owned(),
            tmp,
            out: BufWriter::new(file),
            hasher: Sha256::new(),
            org,
            first: None,
            last: None,
            count: 0,
        })
    }

    fn line(&mut self, text: &str) -> std::io::Result<()> {
        self.hasher.update(text.as_bytes());
        self.hasher.update(b"\n");
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")
    }

    pub fn push(&mut self, entry: &AuditEvent) -> std::io::Result<()> {
        let text = serde_json::to_string(entry).map_err(std::io::Error::other)?;
        self.line(&text)?;
        if self.first.is_none() {
            self.first = Some((entry.seq, entry.prev_hmac.clone()));
        }
        self.last = Some((entry.seq, entry.hmac.clone()));
        self.count += 1;
        Ok(())
    }

    pub fn entries(&self) -> u64 {
        self.count
    }

    /// Closes the segment: footer, fsync, rename into place, directory fsync. `None` if empty.
    pub fn finish(mut self) -> std::io::Result<Option<SegmentEnd>> {
        let (Some((first_seq, first_prev_hmac)), Some((last_seq, last_hmac))) = (self.first.take(), self.last.take())
        else {
            drop(self.out);
            let _ = std::fs::remove_file(&self.tmp);
            return Ok(None);
        };
        let footer = SegmentFooter {
            format: SEGMENT_FORMAT.into(),
            org_id: self.org,
            first_seq,
            last_seq,
            first_prev_hmac,
            last_hmac: last_hmac.clone(),
            entries: self.count,
        };
        let text = serde_json::to_string(&footer).map_err(std::io::Error::other)?;
        self.line(&text)?;
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        let name = segment_name(self.org, first_seq, last_seq);
        std::fs::rename(&self.tmp, self.dir.join(&name))?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        let sha256 = hex(&self.hasher.finalize());
        Ok(Some(SegmentEnd { name, first_seq, last_seq, last_hmac, sha256 }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 (hex) of a file, read in pieces.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut reader = BufReader::new(std::fs::File::open(path)?);
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        hasher.update(buf);
        let n = buf.len();
        reader.consume(n);
    }
    Ok(hex(&hasher.finalize()))
}

/// Where the archives broke: the segment file, the entry when there is one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("segment {file}{}: {reason}", .seq.map(|s| format!(", entry seq {s}")).unwrap_or_default())]
pub struct ArchiveBreak {
    pub file: String,
    pub seq: Option<u64>,
    pub reason: String,
}

/// What verifying the archives found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub segments: u64,
    pub entries: u64,
    /// Segments past the checkpoint: written by a step cut off before its store transaction, their
    /// entries still live (the next step writes them again). Not verified as archives.
    pub pending: u64,
    /// The last archived entry (seq, hmac): the checkpoint must name it.
    pub last: Option<(u64, String)>,
}

/// Verifies `org`'s segments in `dir` in order, entry by entry, from the chain's first entry, and
/// that they end where `checkpoint` says the live chain begins. Segments are checked on every core
/// at once (each entry's HMAC covers its `prev_hmac`, so a segment verifies on its own from its
/// first entry), then joined in order: each must begin where the one before it ended. The break
/// reported is the first in chain order, as a walk from the first entry would find it.
/// `progress` gets the entries checked, segment by segment.
pub fn verify_archives(
    dir: &Path,
    org: OrgId,
    secret: &SecretBytes,
    checkpoint: Option<&Checkpoint>,
    mut progress: impl FnMut(u64),
) -> Result<ArchiveSummary, ArchiveBreak> {
    let whole = |file: &str, reason: String| ArchiveBreak { file: file.to_owned(), seq: None, reason };
    let prefix = format!("segment-{org}-");
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in read_dir_or_empty(dir).map_err(|e| whole(&dir.display().to_string(), e.to_string()))? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".jsonl") {
            files.insert(name, entry.path());
        }
    }
    let mut summary = ArchiveSummary { segments: 0, entries: 0, pending: 0, last: None };
    let archived_through = checkpoint.map_or(0, |c| c.seq);
    let mut archived: Vec<(String, PathBuf)> = Vec::new();
    for (name, path) in files {
        if first_seq_in_name(&name, &prefix).is_some_and(|first| first > archived_through) {
            summary.pending += 1;
        } else {
            archived.push((name, path));
        }
    }
    let checks = check_all(&archived, org, secret);
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    let mut previous: Option<(u64, String)> = None;
    for ((name, _), check) in archived.iter().zip(checks) {
        let check = check?;
        // The join: this segment's first entry follows the previous one's last (the first entry
        // of the chain follows nothing).
        let mut join = Verifier::resume(None, previous.clone());
        join.check(&check.first).map_err(|link| ArchiveBreak {
            file: name.clone(),
            seq: Some(link.seq),
            reason: link.fault.to_string(),
        })?;
        previous = Some(check.last.clone());
        summary.entries += check.entries;
        summary.segments += 1;
        progress(summary.entries);
        digests.insert(name.clone(), check.sha256);
    }
    summary.last = previous;
    let Some(checkpoint) = checkpoint else { return Ok(summary) };
    let ends_at = summary.last.as_ref().map(|(seq, _)| *seq).unwrap_or(0);
    if summary.last.as_ref() != Some(&(checkpoint.seq, checkpoint.hmac.clone())) {
        return Err(whole(
            &checkpoint.segment,
            format!(
                "the archives end at seq {ends_at} but the live chain's checkpoint is at seq {} (a segment is missing or another stands in its place)",
                checkpoint.seq
            ),
        ));
    }
    if digests.get(&checkpoint.segment) != Some(&checkpoint.sha256) {
        return Err(whole(&checkpoint.segment, "its SHA-256 differs from the one the checkpoint recorded".into()));
    }
    Ok(summary)
}

/// The first `seq` a segment's file name claims (`segment-<org>-<first>-<last>.jsonl`).
fn first_seq_in_name(name: &str, prefix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

/// One segment checked on its own: its first entry (for the join), its last (seq, hmac), its
/// count and its file's SHA-256.
struct SegmentCheck {
    first: AuditEvent,
    last: (u64, String),
    entries: u64,
    sha256: String,
}

/// Checks every segment, on as many threads as there are cores; results in the segments' order.
fn check_all(
    segments: &[(String, PathBuf)],
    org: OrgId,
    secret: &SecretBytes,
) -> Vec<Result<SegmentCheck, ArchiveBreak>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(segments.len()).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<SegmentCheck, ArchiveBreak>>> = (0..segments.len()).map(|_| None).collect();
    let done = std::sync::Mutex::new(&mut results);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((name, path)) = segments.get(i) else { break };
                    let checked = check_segment(name, path, org, secret);
                    done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(checked);
                }
            });
        }
    });
    results.into_iter().map(|r| r.expect("every segment was checked")).collect()
}

fn check_segment(name: &str, path: &Path, org: OrgId, secret: &SecretBytes) -> Result<SegmentCheck, ArchiveBreak> {
    let fail = |seq: Option<u64>, reason: String| ArchiveBreak { file: name.to_owned(), seq, reason };
    let broken = |link: BrokenLink| fail(Some(link.seq), link.fault.to_string());
    let file = std::fs::File::open(path).map_err(|e| fail(None, e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut verifier: Option<Verifier<'_>> = None;
    let (mut first, mut last, mut count, mut footer) = (None::<AuditEvent>, None::<(u64, String)>, 0u64, None);
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| fail(None, format!("unreadable: {e}")))?;
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
        if footer.is_some() {
            return Err(fail(None, "lines follow the footer".into()));
        }
        if line.starts_with("{\"format\"") {
            let f: SegmentFooter =
                serde_json::from_str(&line).map_err(|e| fail(None, format!("the footer is damaged: {e}")))?;
            footer = Some(f);
            continue;
        }
        let entry: AuditEvent = serde_json::from_str(&line).map_err(|e| {
            let next = last.as_ref().map(|(s, _)| s + 1);
            fail(next, LinkFault::Damaged { reason: e.to_string() }.to_string())
        })?;
        if entry.org_id != org {
            return Err(fail(Some(entry.seq), format!("the entry belongs to organization {}", entry.org_id)));
        }
        // The segment's first entry is taken at its word for where it follows; the join checks that.
        let verifier = verifier.get_or_insert_with(|| {
            Verifier::resume(Some(secret), Some((entry.seq.saturating_sub(1), entry.prev_hmac.clone())))
        });
        verifier.check(&entry).map_err(broken)?;
        last = Some((entry.seq, entry.hmac.clone()));
        if first.is_none() {
            first = Some(entry);
        }
        count += 1;
    }
    let footer = footer.ok_or_else(|| fail(None, "no footer: the segment is cut short".into()))?;
    let (Some(first), Some((last_seq, last_hmac))) = (first, last) else {
        return Err(fail(None, "the segment holds no entries".into()));
    };
    let matches = footer.format == SEGMENT_FORMAT
        && footer.org_id == org
        && footer.first_seq == first.seq
        && footer.last_seq == last_seq
        && footer.first_prev_hmac == first.prev_hmac
        && footer.last_hmac == last_hmac
        && footer.entries == count;
    if !matches {
        let whose =
            if footer.org_id != org { format!(" (it names organization {})", footer.org_id) } else { String::new() };
        return Err(fail(None, format!("the footer does not describe the entries above it{whose}")));
    }
    Ok(SegmentCheck { first, last: (last_seq, last_hmac), entries: count, sha256: hex(&hasher.finalize()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditDraft, ChainHead, seal_entry};
    use crate::scope::Principal;

    fn chain(secret: &SecretBytes, org: OrgId, n: u64) -> Vec<AuditEvent> {
        let mut entries: Vec<AuditEvent> = Vec::new();
        for i in 0..n {
            let head = entries.last().map(|e| ChainHead { seq: e.seq, hmac: e.hmac.clone() });
            let draft = AuditDraft {
                org_id: org,
                actor: Principal::System("test".into()),
                action: format!("test.a{i}"),
                object: None,
                project_id: None,
                details: serde_json::json!({ "i": i }),
            };
            entries.push(seal_entry(secret, head.as_ref(), draft, Timestamp::from_unix_millis(i as i64)));
        }
        entries
    }

    /// Writes `entries` as one segment per slice of `sizes`; the checkpoint of the last.
    fn archive(dir: &Path, secret: &SecretBytes, org: OrgId, entries: &[AuditEvent], sizes: &[usize]) -> Checkpoint {
        let mut start = 0;
        let mut last = None;
        for size in sizes {
            let mut writer = SegmentWriter::create(dir, org).unwrap();
            for entry in &entries[start..start + size] {
                writer.push(entry).unwrap();
            }
            start += size;
            last = writer.finish().unwrap();
        }
        Checkpoint::seal(secret, org, &last.unwrap(), Timestamp::from_unix_millis(99))
    }

    fn names(dir: &Path) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        all.sort();
        all
    }

    /// Three segments verify from the chain's first entry to the checkpoint; every tamper names its
    /// segment (and entry, where there is one).
    #[test]
    fn archives_verify_and_every_tamper_names_its_segment() {
        let secret = SecretBytes::new(vec![5; 32]);
        let org = OrgId::new();
        let entries = chain(&secret, org, 30);
        let fresh = || {
            let dir = tempfile::tempdir().unwrap();
            let checkpoint = archive(dir.path(), &secret, org, &entries, &[10, 10, 5]);
            (dir, checkpoint)
        };
        let (dir, checkpoint) = fresh();
        assert!(checkpoint.is_genuine(&secret, org) && !checkpoint.is_genuine(&secret, OrgId::new()));
        let summary = verify_archives(dir.path(), org, &secret, Some(&checkpoint), |_| {}).unwrap();
        assert_eq!((summary.segments, summary.entries, summary.last), (3, 25, Some((25, entries[24].hmac.clone()))));
        let check = |dir: &Path| verify_archives(dir, org, &secret, Some(&checkpoint), |_| {}).unwrap_err();

        // A changed byte inside an entry.
        let (dir, _) = fresh();
        let second = names(dir.path())[1].clone();
        let text = std::fs::read_to_string(&second).unwrap().replacen("test.a13", "test.a31", 1);
        std::fs::write(&second, text).unwrap();
        let broken = check(dir.path());
        assert_eq!((broken.seq, broken.reason.as_str()), (Some(14), "content changed (its hmac does not match)"));
        assert!(broken.file.ends_with("00000000000000000011-00000000000000000020.jsonl"), "{broken}");

        // A missing segment: the next one's first entry, or the end, says so.
        let (dir, _) = fresh();
        std::fs::remove_file(&names(dir.path())[1]).unwrap();
        assert_eq!(check(dir.path()).reason, "entry missing (expected seq 11)");
        let (dir, _) = fresh();
        std::fs::remove_file(&names(dir.path())[2]).unwrap();
        assert!(check(dir.path()).reason.contains("the archives end at seq 20"), "ends early");

        // Reordered: two segments' contents swapped under their names.
        let (dir, _) = fresh();
        let all = names(dir.path());
        let (a, b) = (std::fs::read(&all[0]).unwrap(), std::fs::read(&all[1]).unwrap());
        std::fs::write(&all[0], b).unwrap();
        std::fs::write(&all[1], a).unwrap();
        assert_eq!(check(dir.path()).reason, "entry missing (expected seq 1)");

        // Another organization's segment under this organization's name.
        let (dir, _) = fresh();
        let other = OrgId::new();
        let foreign_dir = tempfile::tempdir().unwrap();
        archive(foreign_dir.path(), &secret, other, &chain(&secret, other, 10), &[10]);
        std::fs::copy(&names(foreign_dir.path())[0], &names(dir.path())[0]).unwrap();
        let broken = check(dir.path());
        assert!(broken.reason.contains(&format!("belongs to organization {other}")), "{broken}");

        // Cut short: the footer is gone.
        let (dir, _) = fresh();
        let first = names(dir.path())[0].clone();
        let text = std::fs::read_to_string(&first).unwrap();
        let cut: Vec<&str> = text.lines().take(10).collect();
        std::fs::write(&first, cut.join("\n") + "\n").unwrap();
        assert!(check(dir.path()).reason.contains("no footer"));

        // A segment past the checkpoint (a step cut off before its store transaction) is pending.
        let (dir, checkpoint_20) = {
            let dir = tempfile::tempdir().unwrap();
            let c = archive(dir.path(), &secret, org, &entries, &[10, 10]);
            let mut writer = SegmentWriter::create(dir.path(), org).unwrap();
            for entry in &entries[20..25] {
                writer.push(entry).unwrap();
            }
            writer.finish().unwrap();
            (dir, c)
        };
        let summary = verify_archives(dir.path(), org, &secret, Some(&checkpoint_20), |_| {}).unwrap();
        assert_eq!((summary.segments, summary.pending), (2, 1));
        assert_eq!(segment_starting_at(dir.path(), org, 21).unwrap().map(|(_, last)| last), Some(25));
    }
}
