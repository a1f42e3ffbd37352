//! OpenSSH's own client straight to the same sshd, the baseline: `ssh -tt` with a
//! certificate from the server's SSH CA (signed here with `ssh-keygen -s`, as an admin would
//! for a person without Postern), written to and read from through pipes so that no terminal
//! emulator sits in the way.

use std::process::Stdio;

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_tungstenite::tungstenite::Bytes;

use crate::console::Console;
use crate::stage::{Stage, UNIX_USER};

/// The size of one read from ssh's stdout (a pipe holds 64 KiB).
const READ_SIZE: usize = 64 * 1024;

/// A running `ssh -tt`.
pub struct Ssh {
    stdin: ChildStdin,
    stdout: ChildStdout,
    buffer: Vec<u8>,
    // Last, so the pipes close before it is killed on drop.
    _child: Child,
}

impl Ssh {
    /// Logs in to the stage's sshd with a fresh certificate.
    pub async fn start(stage: &Stage) -> anyhow::Result<Ssh> {
        let key = &stage.sshd.client_key;
        let public = key.with_extension("pub");
        let certificate = key.with_file_name(format!(
            "{}-cert.pub",
            key.file_name()
                .and_then(|name| name.to_str())
                .context("the client key has no file name")?
        ));
        let signed = Command::new("ssh-keygen")
            .args(["-q", "-s"])
            .arg(stage.dir.join("data/ssh/ca_ed25519"))
            .args(["-I", "postern-bench", "-n", UNIX_USER, "-V", "-5m:+1h"])
            .arg(&public)
            .stdin(Stdio::null())
            .output()
            .await
            .context("run ssh-keygen -s")?;
        ensure!(
            signed.status.success(),
            "ssh-keygen -s failed: {}",
            String::from_utf8_lossy(&signed.stderr).trim()
        );
        let log = std::fs::File::create(stage.dir.join("ssh-client.log"))?;
        let mut child = Command::new("ssh")
            // No user or system configuration may change what is measured; `-e none` so no
            // byte is taken for an escape.
            .args(["-F", "/dev/null", "-tt", "-e", "none", "-i"])
            .arg(key)
            .arg("-o")
            .arg(format!("CertificateFile={}", certificate.display()))
            .args(["-o", "IdentitiesOnly=yes"])
            .args(stage.sshd.trust_options())
            .args([
                "-p",
                &stage.sshd.port.to_string(),
                "-l",
                UNIX_USER,
                "127.0.0.1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("start ssh")?;
        let stdin = child.stdin.take().context("ssh's stdin")?;
        let stdout = child.stdout.take().context("ssh's stdout")?;
        Ok(Ssh {
            stdin,
            stdout,
            buffer: vec![0; READ_SIZE],
            _child: child,
        })
    }
}

impl Console for Ssh {
    async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stdin.write_all(bytes).await.context("write to ssh")?;
        self.stdin.flush().await.context("write to ssh")
    }

    async fn recv(&mut self) -> anyhow::Result<Bytes> {
        let read = self
            .stdout
            .read(&mut self.buffer)
            .await
            .context("read from ssh")?;
        if read == 0 {
            bail!("ssh exited");
        }
        Ok(Bytes::copy_from_slice(&self.buffer[..read]))
    }
}
