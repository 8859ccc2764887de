//! Every input in `fuzz/regressions/<target>/` (inputs that once made a fuzz
//! target fail, kept when the bug or the harness was fixed) runs through the
//! same code as the cargo-fuzz target and must pass now.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use finack_fuzz_targets::{run_target, TARGETS};

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions")
}

#[test]
fn every_kept_fuzz_failure_passes_now() {
    let root = regressions();
    let mut replayed = Vec::new();
    let mut failures = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            TARGETS.contains(&target.as_str()),
            "{}: not a fuzz target (one of {TARGETS:?})",
            dir.display()
        );
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("regression directory")
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("regression input");
            let result = panic::catch_unwind(AssertUnwindSafe(|| run_target(&target, &data)));
            match result {
                Ok(ran) => assert_eq!(ran, Some(()), "{target}"),
                Err(_) => failures.push(file.display().to_string()),
            }
            replayed.push(format!(
                "{target}/{}",
                file.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    eprintln!(
        "replayed {} regression inputs: {replayed:?}",
        replayed.len()
    );
    assert!(
        failures.is_empty(),
        "fuzz regressions fail again: {failures:?}"
    );
    assert!(
        replayed
            .iter()
            .any(|r| r == "endpoint_pair/checksum-cancel"),
        "{replayed:?}"
    );
}
