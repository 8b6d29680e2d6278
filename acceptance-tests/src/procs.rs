//! Probes of running processes through `/proc`, for tests that check what is (still) running.
//!
//! A probe that cannot read `/proc` is an error, never an empty list: "no process left" must not
//! pass because the check could not look.

use std::io;
use std::path::Path;

/// Pids of the running processes whose `/proc/<pid>/<link>` symlink (`exe`, `cwd`) points at
/// `target`.
pub fn processes_linking(link: &str, target: &Path) -> io::Result<Vec<u32>> {
    processes_linking_under(Path::new("/proc"), link, target)
}

/// [`processes_linking`] over the process table mounted at `proc`. A process whose link cannot
/// be read (another user's, or one that just exited) does not count: it is not one of ours.
pub fn processes_linking_under(proc: &Path, link: &str, target: &Path) -> io::Result<Vec<u32>> {
    let entries = std::fs::read_dir(proc).map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", proc.display())))?;
    let mut pids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", proc.display())))?;
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if std::fs::read_link(entry.path().join(link)).is_ok_and(|p| p == target) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_process_table_is_an_error_not_no_processes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = processes_linking_under(&dir.path().join("no-proc"), "exe", Path::new("/bin/sh")).expect_err("no /proc is an error");
        assert!(err.to_string().contains("no-proc"), "{err}");
    }

    #[test]
    fn the_probe_sees_this_very_process() {
        let me = std::fs::read_link("/proc/self/exe").expect("own exe");
        let found = processes_linking("exe", &me).expect("reads /proc");
        assert!(found.contains(&std::process::id()), "{found:?}");
        let cwd = std::fs::read_link("/proc/self/cwd").expect("own cwd");
        assert!(processes_linking("cwd", &cwd).expect("reads /proc").contains(&std::process::id()));
    }
}
