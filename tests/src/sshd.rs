//! OpenSSH's sshd as a test peer: its own host key, loopback only, started in the foreground
//! and stopped when dropped; it trusts either one authorised client key or, for certificate
//! logins, only a user CA.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

use crate::process::{free_port, stop, wait_for};

/// The name ssh checks the host key under, whatever route it takes.
pub const HOST_KEY_ALIAS: &str = "postern-test-origin";

/// How long sshd gets to listen.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A running sshd.
pub struct Sshd {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// A client private key. With [`Sshd::start`] it is the one authorised key; with
    /// [`Sshd::start_with_ca`] sshd does not trust it on its own (no certificate).
    pub client_key: PathBuf,
    /// A known_hosts file with the current host key under [`HOST_KEY_ALIAS`].
    pub known_hosts: PathBuf,
    /// The user to log in as.
    pub user: String,
    binary: PathBuf,
    config: PathBuf,
    host_key: PathBuf,
    log: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

/// Whom sshd lets in.
enum Trust {
    /// Keys in this authorized_keys file.
    AuthorizedKeys(PathBuf),
    /// Certificates signed by the CA whose public key is in this file, and nothing else.
    CertificateAuthority(PathBuf),
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

fn sshd_binary() -> anyhow::Result<PathBuf> {
    let binary = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .context("sshd is not installed: run `cargo xtask ci`, which installs openssh-server")?;
    // sshd refuses to start without its privilege-separation directory.
    std::fs::create_dir_all("/run/sshd").context("create /run/sshd")?;
    Ok(binary)
}

fn config_text(port: u16, host_key: &Path, trust: &Trust, user: &str) -> String {
    let trust = match trust {
        Trust::AuthorizedKeys(file) => format!("AuthorizedKeysFile {}\n", file.display()),
        Trust::CertificateAuthority(file) => format!(
            "AuthorizedKeysFile none\nTrustedUserCAKeys {}\n",
            file.display()
        ),
    };
    format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile none\nUsePAM no\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
         {trust}PermitRootLogin prohibit-password\nAllowUsers {user}\n\
         StrictModes no\nLogLevel VERBOSE\nSubsystem sftp internal-sftp\n",
        host = host_key.display(),
    )
}

/// The `SHA256:…` fingerprint of the public key line in `path`, as `ssh-keygen -lf` prints it.
pub fn fingerprint(path: &Path) -> anyhow::Result<String> {
    let line = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let blob = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("no key in {}", path.display()))?;
    let blob = STANDARD.decode(blob).context("public key is not base64")?;
    Ok(format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(Sha256::digest(blob))
    ))
}

impl Sshd {
    /// Starts sshd on a free loopback port, trusting one client key ([`Sshd::client_key`]) for
    /// the current user.
    pub async fn start() -> anyhow::Result<Sshd> {
        let dir = tempfile::tempdir()?;
        let client_key = dir.path().join("client_key");
        keygen(&client_key)?;
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized)?;
        Sshd::launch(
            dir,
            client_key,
            Trust::AuthorizedKeys(authorized),
            &current_user(),
        )
        .await
    }

    /// Starts sshd on a free loopback port that lets `user` in only with a certificate signed
    /// by the CA whose public key line is `ca_public_key_line` (no authorized_keys at all).
    /// `user` must exist on this machine and be unlocked ([`ensure_unix_user`]).
    pub async fn start_with_ca(ca_public_key_line: &str, user: &str) -> anyhow::Result<Sshd> {
        let dir = tempfile::tempdir()?;
        let ca = dir.path().join("user_ca.pub");
        std::fs::write(&ca, format!("{}\n", ca_public_key_line.trim()))?;
        let client_key = dir.path().join("client_key");
        keygen(&client_key)?;
        Sshd::launch(dir, client_key, Trust::CertificateAuthority(ca), user).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        client_key: PathBuf,
        trust: Trust,
        user: &str,
    ) -> anyhow::Result<Sshd> {
        let binary = sshd_binary()?;
        let host_key = dir.path().join("host_key");
        keygen(&host_key)?;
        let known_hosts = dir.path().join("known_hosts");
        write_known_hosts(&known_hosts, &host_key)?;
        let config = dir.path().join("sshd_config");
        let log = dir.path().join("sshd.log");
        let mut last_error = None;
        // The free port is released before sshd binds it, so another process may take it
        // first: then sshd exits, and the next try picks another port.
        for _ in 0..3 {
            let port = free_port()?;
            std::fs::write(&config, config_text(port, &host_key, &trust, user))?;
            match spawn_listening(&binary, &config, &log, port).await {
                Ok(child) => {
                    return Ok(Sshd {
                        port,
                        client_key,
                        known_hosts,
                        user: user.to_owned(),
                        binary,
                        config,
                        host_key,
                        log,
                        child,
                        dir,
                    });
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("sshd did not start")))
    }

    /// Stops sshd and starts it again on the same port with a new host key (a reinstalled or
    /// impersonated origin). [`Sshd::known_hosts`] is rewritten with the new key, so ssh
    /// clients of the harness keep connecting; anything that pinned the old key sees a change.
    pub async fn restart_with_new_host_key(&mut self) -> anyhow::Result<()> {
        stop(&mut self.child, Duration::from_secs(3)).await;
        std::fs::remove_file(&self.host_key)?;
        std::fs::remove_file(self.host_key.with_extension("pub"))?;
        keygen(&self.host_key)?;
        write_known_hosts(&self.known_hosts, &self.host_key)?;
        let mut last_error = None;
        // The port cannot change (Apps point at it); it can only be busy for a moment.
        for _ in 0..3 {
            match spawn_listening(&self.binary, &self.config, &self.log, self.port).await {
                Ok(child) => {
                    self.child = child;
                    return Ok(());
                }
                Err(error) => {
                    last_error = Some(error);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("sshd did not restart")))
    }

    /// The host key's fingerprint, `SHA256:…` as `ssh-keygen -lf` prints it.
    pub fn host_key_fingerprint(&self) -> anyhow::Result<String> {
        fingerprint(&self.host_key.with_extension("pub"))
    }

    /// What sshd logged so far (VERBOSE: accepted and refused keys and certificates).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Options for `ssh`/`scp` that trust this sshd's current host key (strict checking under
    /// [`HOST_KEY_ALIAS`]) and never prompt; no identity, no route.
    pub fn trust_options(&self) -> Vec<String> {
        vec![
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            format!("HostKeyAlias={HOST_KEY_ALIAS}"),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
        ]
    }

    /// Options for `ssh`/`scp` that trust this sshd and use the test key, going through
    /// `proxy_command`.
    pub fn client_options(&self, proxy_command: &str) -> Vec<String> {
        let mut options = vec![
            "-i".into(),
            self.client_key.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ];
        options.extend(self.trust_options());
        options.extend(["-o".into(), format!("ProxyCommand={proxy_command}")]);
        options
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

fn write_known_hosts(known_hosts: &Path, host_key: &Path) -> anyhow::Result<()> {
    let host_public = std::fs::read_to_string(host_key.with_extension("pub"))?;
    std::fs::write(known_hosts, format!("{HOST_KEY_ALIAS} {host_public}"))?;
    Ok(())
}

/// Starts sshd with `config` and waits until it accepts on `port`; fails (with its log) if it
/// exits first, which is what losing the port to another process looks like.
async fn spawn_listening(
    binary: &Path,
    config: &Path,
    log: &Path,
    port: u16,
) -> anyhow::Result<Child> {
    let output = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .context("open the sshd log")?;
    let mut child = Command::new(binary)
        .args(["-D", "-e", "-f"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(output)
        .kill_on_drop(true)
        .spawn()
        .context("start sshd")?;
    let up = wait_for("sshd to listen", START_LIMIT, || {
        let exited = child.try_wait().ok().flatten();
        async move {
            if let Some(status) = exited {
                return Some(Err(status));
            }
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| Ok(()))
        }
    })
    .await;
    let failure = match up {
        Ok(Ok(())) => return Ok(child),
        Ok(Err(status)) => anyhow::anyhow!("sshd exited ({status}) before listening on {port}"),
        Err(error) => error,
    };
    stop(&mut child, Duration::from_secs(1)).await;
    let logged = std::fs::read_to_string(log).unwrap_or_default();
    Err(failure.context(format!("sshd log:\n{logged}")))
}

/// Makes sure the local account `name` exists and can log in with a key or certificate:
/// created (with a home and `/bin/sh`) when missing, and unlocked, because `useradd` leaves the
/// password `!` and sshd without PAM refuses locked accounts even for certificates. Needs root.
pub fn ensure_unix_user(name: &str) -> anyhow::Result<()> {
    // Tests run in parallel threads; useradd and usermod lock /etc/passwd and fail if another
    // holds it.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let exists = |name: &str| {
        std::process::Command::new("id")
            .arg("-u")
            .arg(name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if !exists(name) {
        let output = std::process::Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", name])
            .output()
            .context("run useradd")?;
        // Another test binary may have created it meanwhile.
        if !output.status.success() && !exists(name) {
            bail!(
                "useradd {name} failed (tests that log in as another account run as root): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    let shadow = std::fs::read_to_string("/etc/shadow").context("read /etc/shadow")?;
    let locked = shadow
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(user, _)| *user == name)
        .is_some_and(|(_, rest)| rest.starts_with('!'));
    if locked {
        // `*`: no password can match, but the account is not locked.
        let output = std::process::Command::new("usermod")
            .args(["-p", "*", name])
            .output()
            .context("run usermod")?;
        anyhow::ensure!(
            output.status.success(),
            "usermod -p '*' {name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
