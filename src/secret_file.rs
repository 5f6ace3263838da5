//! Private-key files (an election's log key, a witness's key, the TLS key) must be
//! readable by their owner only, or by the owner's group: that is how Kubernetes projects
//! a Secret into a pod with `fsGroup` (mode 0440, the pod's own group). A key that anyone
//! else on the machine can read, or that its group can change, is refused at start with
//! the file and its mode named: a leaked log key lets whoever holds it sign a forged
//! checkpoint or tally under the election's name.

use std::path::Path;

/// Why a key file is refused.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} has mode {mode:04o}: a private key must not be readable by others or writable by its group (chmod 600 {path}; on Kubernetes, defaultMode: 0400 with fsGroup)"
    )]
    TooOpen { path: String, mode: u32 },
}

/// The mode bits that refuse a key file: any for others, write or execute for the group.
const REFUSED: u32 = 0o037;

/// Checks `path`'s permissions (following symlinks, as Kubernetes mounts Secrets).
pub fn check(path: &Path) -> Result<(), SecretFileError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| SecretFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if refused(mode) {
        return Err(SecretFileError::TooOpen {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

/// Reads a private-key file after [`check`].
pub fn read(path: &Path) -> Result<String, SecretFileError> {
    check(path)?;
    std::fs::read_to_string(path).map_err(|source| SecretFileError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn refused(mode: u32) -> bool {
    mode & REFUSED != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn owner_and_group_read_pass_anything_wider_is_refused() {
        for ok in [0o400, 0o600, 0o440, 0o640] {
            assert!(!refused(ok), "{ok:o}");
        }
        for bad in [0o644, 0o604, 0o660, 0o666, 0o610, 0o601] {
            assert!(refused(bad), "{bad:o}");
        }
    }

    #[test]
    fn a_world_readable_key_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "secret").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("key.pem") && err.contains("0644"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&path).unwrap(), "secret");
    }
}
