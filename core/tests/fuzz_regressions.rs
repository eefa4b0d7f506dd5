//! The fuzz targets' checks (`core/fuzz/checks.rs`) over the checked-in corpus
//! (`core/fuzz/corpus/<target>/`) and over every input a fuzzing run found failing
//! (`core/fuzz/regressions/<target>/`, where each such input is kept once the bug is fixed), in the
//! ordinary test run: what the fuzzer found once stays found.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else { continue };
        let mut files: Vec<_> = entries
            .map(|entry| entry.expect("an entry").path())
            .filter(|path| path.file_name().is_some_and(|name| name != "README"))
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("readable");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails its check", file.display());
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn the_wire_protocol_corpus_holds() {
    assert!(replay("wire", checks::wire) > 0);
}

#[test]
fn the_import_corpus_holds() {
    assert!(replay("import", checks::import_jsonl) > 0);
}

#[test]
fn the_event_kinds_corpus_holds() {
    assert!(replay("event_kinds", checks::event_kinds) > 0);
}

#[test]
fn the_merge_patch_corpus_holds() {
    assert!(replay("merge_patch", checks::merge_patch) > 0);
}
