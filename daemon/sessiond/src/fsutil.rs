//! Small file-system helpers with the durability sessiond needs.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A failed step of [`write_atomic`].
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct AtomicWriteError {
    /// The step that failed.
    pub op: &'static str,
    /// The file it failed on (the temporary file, the target or its directory).
    pub path: PathBuf,
    /// The underlying error.
    pub source: std::io::Error,
}

/// Write `bytes` to `path` atomically: a fresh temporary file in the same directory (created
/// with `mode` and `O_EXCL`, so it never inherits a stale file's permissions), fsync, rename
/// over `path`, fsync of the directory. Readers see the old or the new content, never a mix;
/// on failure the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AtomicWriteError> {
    write_atomic_with_hook(path, bytes, mode, |_| Ok(()))
}

/// [`write_atomic`] with a hook run after the temporary file is synced and before the
/// rename (tests use it to inject a crash at the worst moment).
pub fn write_atomic_with_hook(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    before_rename: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), AtomicWriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut suffix = [0u8; 6];
    crate::clock::random_bytes(&mut suffix).map_err(|e| AtomicWriteError {
        op: "naming a temporary file for",
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        hex::encode(suffix)
    ));
    let err = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| AtomicWriteError { op, path, source }
    };
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(err("creating", &tmp))?;
        f.write_all(bytes).map_err(err("writing", &tmp))?;
        f.sync_all().map_err(err("flushing", &tmp))?;
        drop(f);
        before_rename(&tmp).map_err(err("replacing", path))?;
        std::fs::rename(&tmp, path).map_err(err("replacing", path))
    })();
    if result.is_err() {
        // Best effort: the error reported is the write's, not the cleanup's.
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err("flushing directory", dir))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_content_with_the_requested_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&p, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn failure_before_rename_keeps_the_old_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"old").unwrap();
        let e = write_atomic_with_hook(&p, b"new", 0o600, |_| Err(std::io::Error::other("crash")))
            .unwrap_err();
        assert_eq!(e.op, "replacing");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
