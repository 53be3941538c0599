//! Python files from bytes: function extraction and dataset building (both contexts) on arbitrary
//! bytes. Besides "never panics", it checks what the dataset promises: spans inside the file,
//! `prefix + middle + suffix` equal to the decoded file (file context) and a hidden line without a
//! line feed, and tasks that survive JSON Lines. Seeds: `tests/fixtures/pyfolder`.
#![no_main]

use infill::dataset::{
    build_dataset, extract_functions, tasks_from_jsonl, tasks_to_jsonl, Context, DatasetConfig,
    MaskMode,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spans) = extract_functions("fuzz.py", data) else {
        return;
    };
    let lines = 1 + data.iter().filter(|&&b| b == b'\n').count();
    for s in &spans {
        assert!(
            1 <= s.start_line && s.start_line <= s.end_line && s.end_line <= lines,
            "{s:?} outside a file of {lines} lines"
        );
    }
    let text = std::str::from_utf8(data).expect("extraction accepted non-UTF-8");
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let files = vec![("fuzz.py".to_string(), data.to_vec())];
    for (mode, context) in [
        (MaskMode::EveryLine, Context::Function),
        (MaskMode::OneRandom, Context::File),
    ] {
        let config = DatasetConfig {
            mode,
            context,
            seed: data.len() as u64,
            ..DatasetConfig::default()
        };
        let dataset = build_dataset(&files, &config);
        assert_eq!(dataset.files_read, 1);
        assert_eq!(dataset.functions, spans.len());
        for t in &dataset.tasks {
            let joined = format!("{}{}{}", t.prefix, t.middle, t.suffix);
            match context {
                Context::File => assert_eq!(joined, text),
                Context::Function => assert!(text.contains(&joined)),
            }
            assert!(!t.middle.contains('\n'), "{t:?}");
            assert!(t.start_line < t.masked_line && t.masked_line <= t.end_line, "{t:?}");
        }
        let back = tasks_from_jsonl(&tasks_to_jsonl(&dataset.tasks)).expect("JSONL round trip");
        assert_eq!(back, dataset.tasks);
    }
});
