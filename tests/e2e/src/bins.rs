//! Finding the workspace's binaries (`sessiond`, `sessionctl`, …) from a test.
//!
//! Cargo only builds the binaries of the package under test, so a test that runs another
//! package's binary looks for it in the target directory next to the test executable.

use std::path::PathBuf;

/// The path of the workspace binary `name` in the target directory this test runs from
/// (`target/<profile>/deps/<test>` → `target/<profile>/<name>`).
///
/// # Panics
///
/// When the binary has not been built, with a message saying how to build it.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test executable");
    let mut dir = exe
        .parent()
        .expect("the test executable lives in a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let candidate = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        candidate.is_file(),
        "binary `{name}` not found at {}: run `cargo build --workspace --bins` (with the same \
         profile as the tests) first",
        candidate.display()
    );
    candidate
}
