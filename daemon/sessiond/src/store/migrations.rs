//! Versioned schema migrations of an account database.
//!
//! The schema version lives in SQLite's `user_version`. Each migration is SQL applied in one
//! transaction together with the version bump, so a crash leaves the database at either the
//! old or the new version. A database newer than this build is refused, not touched.

use super::StoreError;
use rusqlite::Connection;

/// Migrations in order; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("schema_v1.sql"), include_str!("schema_v2.sql")];

/// The schema version this build writes.
pub const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;

/// Bring the database up to `target` (tests use it to build databases of older versions).
pub(super) fn migrate_to(
    conn: &mut Connection,
    path: &std::path::Path,
    target: u32,
) -> Result<(), StoreError> {
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::sqlite(path, "reading schema version", e))?;
    if version > CURRENT_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: CURRENT_VERSION,
        });
    }
    for (from, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(version as usize)
        .take(target.saturating_sub(version) as usize)
    {
        let to = from as u32 + 1;
        let _span = tracing::info_span!("migrate", from, to).entered();
        let tx = conn
            .transaction()
            .map_err(|e| StoreError::sqlite(path, "starting migration", e))?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::sqlite(path, "applying migration", e))?;
        tx.pragma_update(None, "user_version", to)
            .map_err(|e| StoreError::sqlite(path, "recording schema version", e))?;
        tx.commit()
            .map_err(|e| StoreError::sqlite(path, "committing migration", e))?;
        tracing::info!(to, "database schema migrated");
    }
    Ok(())
}
