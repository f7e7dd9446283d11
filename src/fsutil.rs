//! File writes that never leave a half-written file behind.

use std::io::Write;
use std::path::Path;

/// Writes `contents` to a temporary file beside `path`, syncs it, and renames it over `path`, so
/// readers see the old file or the new one, never a mix.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(contents)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
