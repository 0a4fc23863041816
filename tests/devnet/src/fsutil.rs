//! Small file helpers for the state directory: atomic writes (network.json, certificates) and
//! private files (keys).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use crate::error::DevnetError;

/// Creates `dir` and its parents (mode 0700 for new directories).
pub(crate) fn create_dir(dir: &Path) -> Result<(), DevnetError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| DevnetError::io("creating directory", dir, e))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers never see half a
/// file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DevnetError> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(|e| DevnetError::io("creating", &tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| DevnetError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| DevnetError::io("renaming into", path, e))
}

/// Writes a new private file (mode 0600).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DevnetError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| DevnetError::io("creating", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| DevnetError::io("writing", path, e))
}
