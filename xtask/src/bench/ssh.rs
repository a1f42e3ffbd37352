//! The `ssh -L` path: a real sshd on a free loopback port with its own host key and one
//! authorised client key, and one `ssh -N` carrying a `-L` forward per origin, host key
//! checked strictly against a known_hosts file written here.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::children::{Children, free_port, wait_for};
use super::origins::{FIRST_BYTE, Origins};

/// The cipher under test: the fastest OpenSSH offers on AES-NI hardware.
pub const CIPHER: &str = "aes128-gcm@openssh.com";

/// The running sshd and ssh.
pub struct SshTunnel {
    /// ssh's local port to the echo origin.
    pub echo: u16,
    /// ssh's local port to the sink origin.
    pub sink: u16,
    /// ssh's local port to the first-byte origin.
    pub first_byte: u16,
    /// The `ssh -N` client.
    pub ssh_pid: u32,
    /// The listening sshd (per-connection work happens in its children).
    pub sshd_pid: u32,
}

fn keygen(path: &Path) -> anyhow::Result<()> {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "postern-bench", "-f"])
        .arg(path)
        .status()
        .context("run ssh-keygen (is openssh-client installed?)")?;
    anyhow::ensure!(status.success(), "ssh-keygen failed");
    Ok(())
}

fn current_user() -> anyhow::Result<String> {
    let output = std::process::Command::new("id")
        .arg("-un")
        .output()
        .context("run id -un")?;
    let user = String::from_utf8(output.stdout)?.trim().to_owned();
    anyhow::ensure!(!user.is_empty(), "cannot tell the current user");
    Ok(user)
}

/// Starts sshd and the forwarding ssh in `dir`.
pub async fn start(
    children: &mut Children,
    dir: &Path,
    origins: &Origins,
) -> anyhow::Result<SshTunnel> {
    let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .context("sshd is not installed: `cargo xtask install` installs openssh-server")?;
    // sshd refuses to start without its privilege-separation directory.
    std::fs::create_dir_all("/run/sshd").context("create /run/sshd")?;
    let host_key = dir.join("ssh_host_key");
    let client_key = dir.join("ssh_client_key");
    keygen(&host_key)?;
    keygen(&client_key)?;
    let authorized = dir.join("authorized_keys");
    std::fs::copy(client_key.with_extension("pub"), &authorized)?;
    let user = current_user()?;
    let (sshd_pid, port) = start_sshd(children, sshd, dir, &host_key, &authorized, &user).await?;
    let host_public = std::fs::read_to_string(host_key.with_extension("pub"))?;
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_public}"))?;
    let client = Client {
        port,
        user,
        client_key,
        known_hosts,
        log: dir.join("ssh.log"),
    };
    let mut last_error = None;
    // A probed free port can be taken before ssh binds it; ExitOnForwardFailure makes that
    // an exit, and a retry picks new ports.
    for _ in 0..3 {
        match client.start(children, origins).await {
            Ok((ssh_pid, [echo, sink, first_byte])) => {
                return Ok(SshTunnel {
                    echo,
                    sink,
                    first_byte,
                    ssh_pid,
                    sshd_pid,
                });
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("ssh did not start")))
}

async fn start_sshd(
    children: &mut Children,
    sshd: &str,
    dir: &Path,
    host_key: &Path,
    authorized: &Path,
    user: &str,
) -> anyhow::Result<(u32, u16)> {
    let mut last_error = None;
    for _ in 0..3 {
        let port = free_port()?;
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile none\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nAuthorizedKeysFile {authorized}\n\
                 PermitRootLogin prohibit-password\nAllowUsers {user}\nStrictModes no\n\
                 AllowTcpForwarding yes\nX11Forwarding no\nPrintMotd no\nLogLevel INFO\n",
                host = host_key.display(),
                authorized = authorized.display(),
            ),
        )?;
        let mut command = Command::new(sshd);
        command
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let (pid, _) = children.spawn("sshd", &mut command, Some(&dir.join("sshd.log")))?;
        let up = wait_for("sshd to listen", Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        match up {
            Ok(()) => return Ok((pid, port)),
            Err(error) => {
                children.stop(pid).await;
                last_error = Some(error.context(format!("see {}/sshd.log", dir.display())));
            }
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("sshd did not start")))
}

struct Client {
    port: u16,
    user: String,
    client_key: PathBuf,
    known_hosts: PathBuf,
    log: PathBuf,
}

impl Client {
    /// Starts `ssh -N` with one forward per origin; returns its pid and the local ports in
    /// the order echo, sink, first-byte.
    async fn start(
        &self,
        children: &mut Children,
        origins: &Origins,
    ) -> anyhow::Result<(u32, [u16; 3])> {
        let local = [free_port()?, free_port()?, free_port()?];
        let mut command = Command::new("ssh");
        // `-F /dev/null`: no user or system config may change what is measured.
        command.args(["-F", "/dev/null", "-N", "-T", "-c", CIPHER]);
        for option in [
            "StrictHostKeyChecking=yes".to_owned(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "GlobalKnownHostsFile=/dev/null".to_owned(),
            "BatchMode=yes".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
            format!("IdentityFile={}", self.client_key.display()),
            "ExitOnForwardFailure=yes".to_owned(),
            "ControlMaster=no".to_owned(),
            "ControlPath=none".to_owned(),
            "Compression=no".to_owned(),
        ] {
            command.arg("-o").arg(option);
        }
        for (port, origin) in local
            .iter()
            .zip([origins.echo, origins.sink, origins.first_byte])
        {
            command
                .arg("-L")
                .arg(format!("127.0.0.1:{port}:127.0.0.1:{origin}"));
        }
        command
            .args(["-p", &self.port.to_string(), "-l", &self.user, "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let (pid, _) = children.spawn("ssh -L", &mut command, Some(&self.log))?;
        // Ready when a stream reaches the first-byte origin through the tunnel.
        let probe = local[2];
        let ready = wait_for("ssh -L to forward", Duration::from_secs(20), || {
            let exited = children.exited(pid).is_some();
            async move {
                if exited {
                    // Stop polling at once; the error below names the log.
                    return Some(false);
                }
                let attempt = tokio::time::timeout(Duration::from_secs(2), async {
                    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", probe)).await?;
                    let mut byte = [0u8; 1];
                    stream.read_exact(&mut byte).await?;
                    std::io::Result::Ok(byte[0])
                })
                .await;
                matches!(attempt, Ok(Ok(FIRST_BYTE))).then_some(true)
            }
        })
        .await;
        match ready {
            Ok(true) => Ok((pid, local)),
            Ok(false) => bail!("ssh exited early; see {}", self.log.display()),
            Err(error) => {
                children.stop(pid).await;
                Err(error.context(format!("see {}", self.log.display())))
            }
        }
    }
}
