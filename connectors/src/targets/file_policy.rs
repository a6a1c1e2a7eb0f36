//! Where `file` targets may write on this host: only under the directories the host's operator
//! allowed (`[targets.file] allowed_dirs`), and never over the service's own files (data directory,
//! store, KEK, configuration, TLS and cluster keys), whatever the allow-list says.
//! Invariant: a file is only ever created and renamed inside a directory handle whose real path,
//! read back from the open handle itself, passed the check; the final component is never followed
//! when it is a symbolic link, so neither a `..`, a link planted in the path, nor a link swapped in
//! between the check and the write can move the write elsewhere.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// Why a path was refused. The text is shown to the admin who configured the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRefused {
    #[error(
        "file targets are disabled on this host: its operator must list the directories they may write to in [targets.file] allowed_dirs"
    )]
    Disabled,
    #[error("{path} must be an absolute path without '..' or control characters")]
    NotNormal { path: String },
    #[error("{path} is not under a directory this host allows file targets to write to ({allowed})")]
    NotAllowed { path: String, allowed: String },
    #[error("{path} is one of the service's own files or directories; targets never write there")]
    Protected { path: String },
    #[error("{path} is a symbolic link or not a regular file; targets never write through links")]
    NotRegular { path: String },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// The allow-list and the protected paths, both as written and as resolved when the policy was
/// built (a protected file that does not exist yet is still protected by its written path).
#[derive(Debug, Clone, Default)]
pub struct FilePathPolicy {
    allowed: Vec<PathBuf>,
    protected: Vec<PathBuf>,
}

impl FilePathPolicy {
    /// `protected` are the service's own paths; relative ones are taken from the current directory.
    pub fn new(allowed: impl IntoIterator<Item = PathBuf>, protected: impl IntoIterator<Item = PathBuf>) -> Self {
        let mut resolved = Vec::new();
        for path in protected {
            let absolute = absolute(&path);
            if let Ok(real) = std::fs::canonicalize(&absolute) {
                resolved.push(real);
            }
            resolved.push(lexical(&absolute).unwrap_or(absolute));
        }
        FilePathPolicy { allowed: allowed.into_iter().map(|p| absolute(&p)).collect(), protected: resolved }
    }

    /// No directory allowed: every file target is refused.
    pub fn is_disabled(&self) -> bool {
        self.allowed.is_empty()
    }

    /// The check made when a target is created or changed: the path as written must lie under an
    /// allowed directory and outside the protected ones; where its directory already exists, its
    /// real location must too. Writes are checked again (`open_directory`), as links can change.
    pub fn check(&self, path: &str) -> Result<PathBuf, PathRefused> {
        if self.is_disabled() {
            return Err(PathRefused::Disabled);
        }
        let normal = lexical(Path::new(path)).ok_or_else(|| PathRefused::NotNormal { path: path.to_owned() })?;
        let Some(parent) = normal.parent().filter(|_| normal.file_name().is_some()) else {
            return Err(PathRefused::NotNormal { path: path.to_owned() });
        };
        self.check_location(&normal, parent, &self.allowed)?;
        if let Ok(real_parent) = std::fs::canonicalize(parent) {
            let name = normal.file_name().unwrap_or_default();
            self.check_location(&real_parent.join(name), &real_parent, &self.resolved_allowed())?;
        }
        Ok(normal)
    }

    /// Opens the directory `path` is to be written in, re-checking where it really is from the open
    /// handle, and refuses a final component that is a link or not a regular file.
    pub fn open_directory(&self, path: &Path) -> Result<(File, CString), PathRefused> {
        let shown = path.display().to_string();
        let normal = self.check(&shown)?;
        let io = |e: std::io::Error| PathRefused::Io { path: shown.clone(), message: e.to_string() };
        let parent = normal.parent().unwrap_or(Path::new("/"));
        let name = normal.file_name().unwrap_or_default();
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(std::fs::canonicalize(parent).map_err(io)?)
            .map_err(io)?;
        let real_parent = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).map_err(io)?;
        self.check_location(&real_parent.join(name), &real_parent, &self.resolved_allowed())?;
        let c_name = CString::new(name.as_bytes()).map_err(|_| PathRefused::NotNormal { path: shown.clone() })?;
        // SAFETY: `dir` is an open directory and `c_name` a NUL-terminated name; `st` is written by
        // the call before it is read.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let found = unsafe { libc::fstatat(dir.as_raw_fd(), c_name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        if found == 0 && (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
            return Err(PathRefused::NotRegular { path: shown });
        }
        Ok((dir, c_name))
    }

    fn resolved_allowed(&self) -> Vec<PathBuf> {
        self.allowed.iter().filter_map(|dir| std::fs::canonicalize(dir).ok()).collect()
    }

    fn check_location(&self, file: &Path, dir: &Path, allowed: &[PathBuf]) -> Result<(), PathRefused> {
        let shown = || file.display().to_string();
        if !allowed.iter().any(|a| dir.starts_with(a)) {
            let allowed = self.allowed.iter().map(|a| a.display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(PathRefused::NotAllowed { path: shown(), allowed });
        }
        if self.protected.iter().any(|p| file.starts_with(p) || p.starts_with(file)) {
            return Err(PathRefused::Protected { path: shown() });
        }
        Ok(())
    }
}

/// `path` with `.` and repeated separators removed; `None` when it is relative, has `..`, or holds
/// control characters.
fn lexical(path: &Path) -> Option<PathBuf> {
    let text = path.to_str()?;
    if !text.starts_with('/') || text.chars().any(char::is_control) {
        return None;
    }
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_owned())
    }
}

/// Creates `name` inside `dir` exclusively, never following a link, with `mode`.
pub(crate) fn create_in(dir: &File, name: &OsStr, mode: u32) -> std::io::Result<File> {
    let c_name = CString::new(name.as_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: `dir` is an open directory and `c_name` a NUL-terminated name; the returned descriptor
    // is owned by the `File` made from it.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c_name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Renames `from` over `to`, both inside `dir`.
pub(crate) fn rename_in(dir: &File, from: &OsStr, to: &CString) -> std::io::Result<()> {
    let c_from = CString::new(from.as_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: both names are NUL-terminated and relative to the open directory `dir`.
    if unsafe { libc::renameat(dir.as_raw_fd(), c_from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Removes `name` inside `dir` (a temporary file left by a failed write).
pub(crate) fn remove_in(dir: &File, name: &OsStr) {
    if let Ok(c_name) = CString::new(name.as_bytes()) {
        // SAFETY: a NUL-terminated name relative to the open directory; failure is ignored on purpose.
        unsafe { libc::unlinkat(dir.as_raw_fd(), c_name.as_ptr(), 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths are normalized and must be under an allowed directory and outside protected ones; a
    /// link inside an allowed directory that leads out is refused by its real location.
    #[test]
    fn paths_must_stay_inside_the_allowed_directories() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("certs");
        let data = root.path().join("data");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let policy = FilePathPolicy::new([allowed.clone()], [data.clone(), allowed.join("kek.key")]);
        let inside = format!("{}/./www//cert.pem", allowed.display());
        assert_eq!(policy.check(&inside).unwrap(), allowed.join("www/cert.pem"));
        assert!(matches!(policy.check("relative/cert.pem"), Err(PathRefused::NotNormal { .. })));
        let dotdot = format!("{}/../data/certautopilot.db", allowed.display());
        assert!(matches!(policy.check(&dotdot), Err(PathRefused::NotNormal { .. })));
        assert!(matches!(policy.check("/etc/passwd"), Err(PathRefused::NotAllowed { .. })));
        let kek = format!("{}/kek.key", allowed.display());
        assert!(matches!(policy.check(&kek), Err(PathRefused::Protected { .. })));
        std::os::unix::fs::symlink(&data, allowed.join("escape")).unwrap();
        let through_link = format!("{}/escape/certautopilot.db", allowed.display());
        assert!(matches!(policy.check(&through_link), Err(PathRefused::NotAllowed { .. })));
        assert_eq!(FilePathPolicy::default().check(&inside), Err(PathRefused::Disabled));
    }

    /// An allowed directory that contains the data directory still never lets a write reach it.
    #[test]
    fn protected_paths_win_over_the_allow_list() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let policy = FilePathPolicy::new([root.path().to_owned()], [data.clone()]);
        let db = format!("{}/certautopilot.db", data.display());
        assert!(matches!(policy.check(&db), Err(PathRefused::Protected { .. })));
        // Naming the data directory itself (to replace it) is refused too.
        assert!(matches!(policy.check(&data.display().to_string()), Err(PathRefused::Protected { .. })));
        assert!(policy.check(&format!("{}/site/cert.pem", root.path().display())).is_ok());
    }
}
