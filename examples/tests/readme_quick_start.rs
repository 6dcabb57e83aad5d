//! The README's quick start is `src/bin/quick-start.rs` word for word, so it compiles (as
//! that binary) and can't drift from the file users copy it from.

#[test]
fn the_readme_quick_start_is_the_quick_start_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../README.md")).expect("README.md");
    let start = readme.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let end = start + readme[start..].find("```").expect("its end");
    let example =
        std::fs::read_to_string(root.join("src/bin/quick-start.rs")).expect("the example");
    // The example adds only its leading doc comment and a blank line.
    let code: String = example
        .lines()
        .skip_while(|line| line.starts_with("//!") || line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(code, readme[start..end]);
}
