//! The CLI's token cache: one token per server, in the user's config directory, readable by
//! the user only (directory 0700, file 0600), written atomically; and the config directory
//! itself, which the SSH keys of `ssh-cert` share.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A cached CLI token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedToken {
    /// Bearer token.
    pub token: String,
    /// When it ends (RFC 3339).
    pub expires_at: String,
    /// Who it acts as.
    pub username: String,
}

/// The cache file.
pub struct TokenCache {
    path: PathBuf,
}

/// The origin that keys a server in the cache.
pub fn server_key(server: &url::Url) -> String {
    server.origin().ascii_serialization()
}

/// The CLI's configuration directory: `$POSTERN_CONFIG_DIR`, `$XDG_CONFIG_HOME/postern` or
/// `~/.config/postern`.
pub fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("POSTERN_CONFIG_DIR") {
        Ok(PathBuf::from(dir))
    } else if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|dir| !dir.is_empty()) {
        Ok(PathBuf::from(dir).join("postern"))
    } else {
        let home = std::env::var_os("HOME").context("HOME is not set; set POSTERN_CONFIG_DIR")?;
        Ok(PathBuf::from(home).join(".config/postern"))
    }
}

/// Creates `dir` and its missing parents, readable by the user only.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes `bytes` to `path` atomically (a temporary file renamed over it), mode 0600.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .context("a file path has no file name")?
        .to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
}

impl TokenCache {
    /// The cache in [`config_dir`].
    pub fn open() -> anyhow::Result<TokenCache> {
        Ok(TokenCache {
            path: config_dir()?.join("credentials.json"),
        })
    }

    fn read_all(&self) -> BTreeMap<String, CachedToken> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn write_all(&self, tokens: &BTreeMap<String, CachedToken>) -> anyhow::Result<()> {
        let dir = self.path.parent().context("cache path has no directory")?;
        create_private_dir(dir)?;
        write_private_file(&self.path, &serde_json::to_vec_pretty(tokens)?)
    }

    /// The token for `server`, if cached.
    pub fn get(&self, server: &url::Url) -> Option<CachedToken> {
        self.read_all().remove(&server_key(server))
    }

    /// Caches `token` for `server`.
    pub fn put(&self, server: &url::Url, token: CachedToken) -> anyhow::Result<()> {
        let mut tokens = self.read_all();
        tokens.insert(server_key(server), token);
        self.write_all(&tokens)
    }

    /// Forgets the token for `server`; true if there was one.
    pub fn remove(&self, server: &url::Url) -> anyhow::Result<bool> {
        let mut tokens = self.read_all();
        let removed = tokens.remove(&server_key(server)).is_some();
        if removed {
            self.write_all(&tokens)?;
        }
        Ok(removed)
    }

    /// Where the cache lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_are_kept_per_server_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache {
            path: dir.path().join("postern/credentials.json"),
        };
        let one: url::Url = "https://one.example:8443/".parse().unwrap();
        let two: url::Url = "https://two.example".parse().unwrap();
        let token = |t: &str| CachedToken {
            token: t.into(),
            expires_at: "x".into(),
            username: "u".into(),
        };
        cache.put(&one, token("a")).unwrap();
        cache.put(&two, token("b")).unwrap();
        assert_eq!(
            cache
                .get(&"https://one.example:8443/some/path".parse().unwrap())
                .unwrap()
                .token,
            "a"
        );
        assert!(cache.remove(&two).unwrap());
        assert!(cache.get(&two).is_none());
        let mode = std::fs::metadata(cache.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(cache.path().parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }
}
