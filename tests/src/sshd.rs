//! OpenSSH's sshd as a test peer: its own host key, one authorised client key, loopback only,
//! started in the foreground and stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::process::{free_port, stop, wait_for};

/// The name ssh checks the host key under, whatever route it takes.
pub const HOST_KEY_ALIAS: &str = "postern-test-origin";

/// A running sshd.
pub struct Sshd {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The client's private key.
    pub client_key: PathBuf,
    /// A known_hosts file with the host key under [`HOST_KEY_ALIAS`].
    pub known_hosts: PathBuf,
    /// The user to log in as.
    pub user: String,
    child: Child,
    dir: tempfile::TempDir,
}

fn keygen(path: &Path) -> anyhow::Result<()> {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "postern-test", "-f"])
        .arg(path)
        .status()
        .context("run ssh-keygen")?;
    anyhow::ensure!(status.success(), "ssh-keygen failed");
    Ok(())
}

fn current_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_owned())
}

impl Sshd {
    /// Starts sshd on a free loopback port.
    pub async fn start() -> anyhow::Result<Sshd> {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .context(
                "sshd is not installed: run `cargo xtask ci`, which installs openssh-server",
            )?;
        // sshd refuses to start without its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").context("create /run/sshd")?;
        let dir = tempfile::tempdir()?;
        let host_key = dir.path().join("host_key");
        let client_key = dir.path().join("client_key");
        keygen(&host_key)?;
        keygen(&client_key)?;
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized)?;
        let host_public = std::fs::read_to_string(host_key.with_extension("pub"))?;
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, format!("{HOST_KEY_ALIAS} {host_public}"))?;
        let user = current_user();
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile none\nUsePAM no\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                     AuthorizedKeysFile {authorized}\nPermitRootLogin prohibit-password\nAllowUsers {user}\n\
                     StrictModes no\nLogLevel VERBOSE\nSubsystem sftp internal-sftp\n",
                    host = host_key.display(),
                    authorized = authorized.display(),
                ),
            )?;
            let mut child = Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("start sshd")?;
            let up = wait_for("sshd to listen", Duration::from_secs(10), || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            })
            .await;
            match up {
                Ok(()) => {
                    return Ok(Sshd {
                        port,
                        client_key,
                        known_hosts,
                        user,
                        child,
                        dir,
                    });
                }
                Err(error) => {
                    stop(&mut child, Duration::from_secs(1)).await;
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("sshd did not start")))
    }

    /// Options for `ssh`/`scp` that trust this sshd and use the test key, going through
    /// `proxy_command`.
    pub fn client_options(&self, proxy_command: &str) -> Vec<String> {
        vec![
            "-i".into(),
            self.client_key.display().to_string(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            format!("HostKeyAlias={HOST_KEY_ALIAS}"),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            format!("ProxyCommand={proxy_command}"),
        ]
    }

    /// A scratch directory next to the keys.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops sshd.
    pub async fn stop(mut self) {
        stop(&mut self.child, Duration::from_secs(3)).await;
    }
}
