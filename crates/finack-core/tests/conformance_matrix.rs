//! Checks the RFC 9293 conformance matrix, `docs/conformance.md`:
//!
//! - every requirement ID of RFC 9293 Appendix B has a row, in the RFC's order (against
//!   the shared list `../shared/conformance/rfc9293-requirements.md`, and against the ID
//!   ranges MUST-1..69, SHLD-1..31, MAY-1..18, REC-1 when that list is not there);
//! - every status is one of the four allowed;
//! - every test the matrix names (a bare `snake_case` name in backticks) exists in the
//!   Rust sources under `crates/`: as `fn NAME(`, `dual!(NAME,` or a `NAME =>` macro
//!   entry; and every `tested` row names at least one;
//! - the summary counts match the rows.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const SHARED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/rfc9293-requirements.md"
);
const MATRIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/conformance.md");
const CRATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The statuses a row may have, in the order of the summary table.
const STATUSES: [&str; 4] = ["tested", "implemented, untested", "not implemented", "N/A"];

/// The ID ranges of RFC 9293 Appendix B.
const RANGES: [(&str, u32); 4] = [("MUST", 69), ("SHLD", 31), ("MAY", 18), ("REC", 1)];

/// One row of the matrix.
#[derive(Debug)]
struct Row {
    line: usize,
    id: String,
    feature: String,
    level: String,
    status: String,
    evidence: String,
}

/// `MUST-12`, `SHLD-5`, `MAY-3`, `REC-1`.
fn is_req_id(s: &str) -> bool {
    let Some((kind, n)) = s.split_once('-') else {
        return false;
    };
    RANGES.iter().any(|(k, _)| *k == kind)
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && !n.starts_with('0')
}

/// Every ID of Appendix B, in a fixed order.
fn all_ids() -> BTreeSet<String> {
    RANGES
        .iter()
        .flat_map(|(kind, max)| (1..=*max).map(move |n| format!("{kind}-{n}")))
        .collect()
}

/// The trimmed cells of a markdown table row, or `None` for other lines.
fn cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(str::trim).collect())
}

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The matrix rows: table rows whose first cell is a requirement ID.
fn matrix_rows(doc: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, line) in doc.lines().enumerate() {
        let Some(c) = cells(line) else { continue };
        if c.first().is_none_or(|id| !is_req_id(id)) {
            continue;
        }
        assert_eq!(
            c.len(),
            5,
            "docs/conformance.md line {}: want 5 cells (ReqID | feature | level | status | \
             evidence), got {}: {line}",
            i + 1,
            c.len()
        );
        rows.push(Row {
            line: i + 1,
            id: c[0].to_string(),
            feature: c[1].to_string(),
            level: c[2].to_string(),
            status: c[3].to_string(),
            evidence: c[4].to_string(),
        });
    }
    rows
}

/// The `status | rows` table under the `## Summary` heading.
fn summary(doc: &str) -> BTreeMap<String, usize> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Summary"))
        .expect("docs/conformance.md has a \"## Summary\" section");
    let mut counts = BTreeMap::new();
    for line in section.lines() {
        let Some(c) = cells(line) else { continue };
        if c.len() != 2 || c[0] == "status" || c[0].starts_with("---") {
            continue;
        }
        let n: usize = c[1]
            .parse()
            .unwrap_or_else(|_| panic!("summary: not a count: {line}"));
        assert!(
            counts.insert(c[0].to_string(), n).is_none(),
            "summary: {} listed twice",
            c[0]
        );
    }
    counts
}

/// The ReqIDs of the shared list, in its order (IDs listed twice appear twice).
fn shared_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for line in text.lines() {
        let Some(c) = cells(line) else { continue };
        // | # | Category | ReqID | Feature | Section | Level | Note |
        if c.len() < 3 || c[0].is_empty() || !c[0].bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if is_req_id(c[2]) {
            ids.push(c[2].to_string());
        } else {
            // Only the "Source Route:" sub-heading row has no ID.
            assert!(
                !c[2].chars().any(|ch| ch.is_ascii_alphanumeric()),
                "shared list: unexpected ReqID cell {:?} in: {line}",
                c[2]
            );
        }
    }
    ids
}

/// The IDs in order of first appearance.
fn first_seen(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    ids.into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// Backticked spans of `text`.
fn backticked(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// A test name: a bare `snake_case` identifier (code references carry a path, a
/// type or a file name, so they never look like this).
fn is_test_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Does `src` define `name` as a test: `fn name(` (or `fn name<`), `dual!(name,` or
/// a macro entry `name =>`, with any whitespace between the tokens?
fn defines_test(src: &str, name: &str) -> bool {
    let bytes = src.as_bytes();
    src.match_indices(name).any(|(at, _)| {
        let end = at + name.len();
        if at > 0 && is_ident_byte(bytes[at - 1]) {
            return false;
        }
        if bytes.get(end).is_some_and(|&b| is_ident_byte(b)) {
            return false;
        }
        let before = src[..at].trim_end();
        let after = src[end..].trim_start();
        let fn_item = before.len() < at
            && before.ends_with("fn")
            && !before[..before.len() - 2]
                .bytes()
                .next_back()
                .is_some_and(is_ident_byte)
            && (after.starts_with('(') || after.starts_with('<'));
        let dual = before.ends_with("dual!(") && after.starts_with(',');
        let entry = after.starts_with("=>")
            && (before.ends_with(',') || before.ends_with('{') || before.ends_with('('));
        fn_item || dual || entry
    })
}

/// Every `.rs` file under `dir` (no `target` directories), but this one.
fn rust_sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {dir:?}: {e}"));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path
                .file_name()
                .is_some_and(|n| n != "conformance_matrix.rs")
        {
            let text = fs::read_to_string(&path).unwrap_or_default();
            out.push((path, text));
        }
    }
}

#[test]
fn conformance_matrix_rows_tests_and_summary_are_consistent() {
    let doc = read(MATRIX);
    let rows = matrix_rows(&doc);
    assert!(!rows.is_empty(), "docs/conformance.md has no matrix rows");

    // Every ID of Appendix B has a row (independent of the shared list).
    let ids: BTreeSet<String> = rows.iter().map(|r| r.id.clone()).collect();
    let want = all_ids();
    let missing: Vec<_> = want.difference(&ids).collect();
    assert!(
        missing.is_empty(),
        "IDs without a row in docs/conformance.md: {missing:?}"
    );
    let unknown: Vec<_> = ids.difference(&want).collect();
    assert!(unknown.is_empty(), "IDs not in RFC 9293: {unknown:?}");

    // Statuses, and something in every cell.
    for r in &rows {
        assert!(
            STATUSES.contains(&r.status.as_str()),
            "docs/conformance.md line {} ({}): status {:?} is not one of {STATUSES:?}",
            r.line,
            r.id,
            r.status
        );
        assert!(
            !r.feature.is_empty() && !r.level.is_empty() && !r.evidence.is_empty(),
            "docs/conformance.md line {} ({}): empty cell",
            r.line,
            r.id
        );
    }

    // Every test named exists; every `tested` row names one.
    let mut sources = Vec::new();
    rust_sources(Path::new(CRATES), &mut sources);
    assert!(
        sources.len() > 10,
        "found only {} Rust files under {CRATES}",
        sources.len()
    );
    let mut cited: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &rows {
        let names: Vec<&str> = backticked(&r.evidence)
            .filter(|s| is_test_name(s))
            .collect();
        assert!(
            r.status != "tested" || !names.is_empty(),
            "docs/conformance.md line {} ({}): a `tested` row must name its tests",
            r.line,
            r.id
        );
        for name in names {
            cited.entry(name).or_default().push(&r.id);
        }
    }
    let unknown_tests: Vec<String> = cited
        .iter()
        .filter(|(name, _)| !sources.iter().any(|(_, src)| defines_test(src, name)))
        .map(|(name, ids)| format!("{name} (cited by {})", ids.join(", ")))
        .collect();
    assert!(
        unknown_tests.is_empty(),
        "tests named in docs/conformance.md but not found under crates/ (as `fn NAME(`, \
         `dual!(NAME,` or `NAME =>`):\n  {}",
        unknown_tests.join("\n  ")
    );

    // The summary.
    let mut counts: BTreeMap<String, usize> = STATUSES.iter().map(|s| (s.to_string(), 0)).collect();
    for r in &rows {
        *counts.get_mut(&r.status).expect("status checked above") += 1;
    }
    let listed = summary(&doc);
    for status in STATUSES {
        assert_eq!(
            listed.get(status),
            counts.get(status),
            "summary count for {status:?}"
        );
    }
    assert_eq!(listed.get("total"), Some(&rows.len()), "summary total");
    let extra: Vec<_> = listed
        .keys()
        .filter(|k| *k != "total" && !STATUSES.contains(&k.as_str()))
        .collect();
    assert!(extra.is_empty(), "summary lists unknown statuses {extra:?}");

    println!(
        "conformance matrix: {} rows, {} IDs, {} tests cited; {}",
        rows.len(),
        ids.len(),
        cited.len(),
        STATUSES
            .iter()
            .map(|s| format!("{s}: {}", counts[*s]))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn conformance_matrix_follows_the_shared_requirement_list() {
    if !Path::new(SHARED).exists() {
        println!("SKIPPED: ../shared/conformance not found ({SHARED})");
        eprintln!("SKIPPED: ../shared/conformance not found ({SHARED})");
        return;
    }
    let shared = shared_ids(&read(SHARED));
    assert!(
        shared.len() >= all_ids().len(),
        "the shared list has only {} rows with an ID",
        shared.len()
    );
    let rows = matrix_rows(&read(MATRIX));
    let doc_ids: BTreeSet<String> = rows.iter().map(|r| r.id.clone()).collect();
    let shared_set: BTreeSet<String> = shared.iter().cloned().collect();

    let missing: Vec<_> = shared_set.difference(&doc_ids).collect();
    assert!(
        missing.is_empty(),
        "IDs of the shared list without a row in docs/conformance.md: {missing:?}"
    );
    let extra: Vec<_> = doc_ids.difference(&shared_set).collect();
    assert!(
        extra.is_empty(),
        "rows in docs/conformance.md for IDs not in the shared list: {extra:?}"
    );
    // The RFC's order: IDs appear in the order of the shared list (an ID listed
    // twice there may share one row).
    let want = first_seen(shared);
    let got = first_seen(rows.iter().map(|r| r.id.clone()));
    if let Some(i) = (0..want.len()).find(|&i| want[i] != got[i]) {
        panic!(
            "docs/conformance.md is not in the order of the shared list: row for {} where \
             {} is expected",
            got[i], want[i]
        );
    }
}
