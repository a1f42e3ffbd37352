//! RDP test peers: the FreeRDP shadow server on a virtual display (NLA with a SAM file), xrdp
//! with its Xorg backend (TLS, PAM), and the xfreerdp client, all on loopback.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::process::{free_port, stop, wait_for};

/// The local account RDP servers authenticate.
pub const RDP_USER: &str = "posterntest";
/// Its password.
pub const RDP_PASSWORD: &str = "Postern-rdp-42";
/// The colour of the root window of the account's xrdp sessions.
pub const SESSION_COLOR: u32 = 0x2E8B57;

fn run(program: &str, args: &[&str]) -> anyhow::Result<std::process::Output> {
    std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("run {program}"))
}

/// Creates the test account (once) with a PAM password and a session script for xrdp.
pub fn ensure_user() -> anyhow::Result<PathBuf> {
    if !run("id", &[RDP_USER])?.status.success() {
        let created = run("useradd", &["-m", "-s", "/bin/bash", RDP_USER])?;
        // Another test may have created it in the meantime.
        if !created.status.success() && !run("id", &[RDP_USER])?.status.success() {
            bail!(
                "useradd failed: {}",
                String::from_utf8_lossy(&created.stderr)
            );
        }
    }
    let mut chpasswd = std::process::Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .context("run chpasswd")?;
    if let Some(stdin) = chpasswd.stdin.as_mut() {
        use std::io::Write;
        writeln!(stdin, "{RDP_USER}:{RDP_PASSWORD}")?;
    }
    anyhow::ensure!(chpasswd.wait()?.success(), "chpasswd failed");
    let home = PathBuf::from(format!("/home/{RDP_USER}"));
    // xrdp starts ~/startwm.sh as the session; no desktop is installed, so it paints the
    // root window a known colour (tests look for it) and waits.
    let startwm = home.join("startwm.sh");
    std::fs::write(
        &startwm,
        format!("#!/bin/sh\nxsetroot -solid '#{SESSION_COLOR:06x}'\nexec sleep infinity\n"),
    )?;
    std::fs::set_permissions(
        &startwm,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let _ = run(
        "chown",
        &[&format!("{RDP_USER}:"), &startwm.display().to_string()],
    );
    Ok(home)
}

async fn wait_port(port: u16, what: &str) -> anyhow::Result<()> {
    wait_for(what, Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await
}

/// Waits until `child` listens on `port`, failing at once when it exits first.
async fn wait_listening(child: &mut Child, port: u16) -> anyhow::Result<()> {
    wait_for("the shadow server", Duration::from_secs(30), || {
        let exited = child.try_wait().ok().flatten();
        async move {
            if let Some(status) = exited {
                return Some(Err(anyhow::anyhow!(
                    "exited with {status} before listening"
                )));
            }
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| Ok(()))
        }
    })
    .await?
}

/// A virtual X display.
pub struct Display {
    /// `:N`.
    pub name: String,
    child: Child,
}

impl Display {
    /// Starts Xvfb and waits until it accepts clients (it writes its display number to the
    /// `-displayfd` descriptor only then).
    pub async fn start(dir: &Path) -> anyhow::Result<Display> {
        let number_file = dir.join("displayfd");
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>{}",
                number_file.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start Xvfb")?;
        let number = wait_for("Xvfb", Duration::from_secs(20), || async {
            std::fs::read_to_string(&number_file)
                .ok()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
        })
        .await?;
        Ok(Display {
            name: format!(":{number}"),
            child,
        })
    }

    async fn stop(mut self) {
        stop(&mut self.child, Duration::from_secs(2)).await;
    }
}

/// The FreeRDP shadow server with NLA (CredSSP/NTLM against a SAM file) or TLS (the password
/// checked by PAM).
pub struct Shadow {
    /// Its port.
    pub port: u16,
    server: Child,
    display: Display,
    _dir: tempfile::TempDir,
}

impl Shadow {
    /// Starts it with NLA on a free port.
    pub async fn start_nla() -> anyhow::Result<Shadow> {
        Shadow::start(true).await
    }

    /// Starts it with TLS security (no NLA) on a free port; [`RDP_USER`] signs in through PAM.
    pub async fn start_tls() -> anyhow::Result<Shadow> {
        ensure_user()?;
        Shadow::start(false).await
    }

    /// The X display it shadows (`:N`).
    pub fn display(&self) -> &str {
        &self.display.name
    }

    async fn start(nla: bool) -> anyhow::Result<Shadow> {
        let dir = tempfile::tempdir()?;
        let display = Display::start(dir.path()).await?;
        // The SAM line carries the NT hash: MD4 of the UTF-16LE password.
        let utf16: Vec<u8> = RDP_PASSWORD
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let utf16_file = dir.path().join("password.utf16");
        std::fs::write(&utf16_file, utf16)?;
        let digest = run(
            "openssl",
            &[
                "dgst",
                "-md4",
                "-provider",
                "legacy",
                "-provider",
                "default",
                "-r",
                &utf16_file.display().to_string(),
            ],
        )?;
        anyhow::ensure!(
            digest.status.success(),
            "openssl md4: {}",
            String::from_utf8_lossy(&digest.stderr)
        );
        let nt_hash = String::from_utf8_lossy(&digest.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let sam = dir.path().join("sam");
        std::fs::write(&sam, format!("{RDP_USER}:::{nt_hash}:::\n"))?;
        let log = dir.path().join("shadow.log");
        // The free port is released before the server binds it, and a loaded machine can take
        // it in between: a server that exits before listening is started again on another port.
        let mut attempts = 0;
        let (port, server) = loop {
            attempts += 1;
            let port = free_port()?;
            let security = if nla {
                vec![
                    "/sec:nla".to_owned(),
                    format!("/sam-file:{}", sam.display()),
                ]
            } else {
                vec!["/sec:tls".to_owned()]
            };
            let mut server = Command::new("freerdp-shadow-cli")
                .args(["/bind-address:127.0.0.1", &format!("/port:{port}")])
                .args(&security)
                .env("DISPLAY", &display.name)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?)
                .kill_on_drop(true)
                .spawn()
                .context("start freerdp-shadow-cli")?;
            match wait_listening(&mut server, port).await {
                Ok(()) => break (port, server),
                Err(error) if attempts < 3 => {
                    tracing::warn!("shadow server attempt {attempts}: {error:#}");
                    stop(&mut server, Duration::from_secs(2)).await;
                }
                Err(error) => {
                    let output = std::fs::read_to_string(&log).unwrap_or_default();
                    return Err(error.context(format!("the shadow server's output:\n{output}")));
                }
            }
        };
        Ok(Shadow {
            port,
            server,
            display,
            _dir: dir,
        })
    }

    /// Stops it.
    pub async fn stop(mut self) {
        stop(&mut self.server, Duration::from_secs(2)).await;
        self.display.stop().await;
    }
}

/// xrdp 0.9 (TLS only, PAM) with xrdp-sesman and the Xorg backend.
pub struct Xrdp {
    /// Its port.
    pub port: u16,
    /// Held while it runs: sesman has a fixed port, so tests take turns.
    _turn: tokio::sync::OwnedMutexGuard<()>,
    /// Its log file, where it writes `login successful` or `login failed`.
    pub log: PathBuf,
    xrdp: Child,
    sesman: Child,
    _dir: tempfile::TempDir,
}

impl Xrdp {
    /// Starts xrdp and sesman, once any other test's xrdp has stopped (sesman has a fixed
    /// port, so only one may run at a time).
    pub async fn start() -> anyhow::Result<Xrdp> {
        static TURN: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
            std::sync::LazyLock::new(Default::default);
        let turn = std::sync::Arc::clone(&TURN).lock_owned().await;
        ensure_user()?;
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let made = run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key.display().to_string(),
                "-out",
                &cert.display().to_string(),
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
            ],
        )?;
        anyhow::ensure!(made.status.success(), "openssl req failed");
        let log = dir.path().join("xrdp.log");
        let port = free_port()?;
        let ini = dir.path().join("xrdp.ini");
        std::fs::write(
            &ini,
            format!(
                "[Globals]\nini_version=1\nfork=true\nport=tcp://127.0.0.1:{port}\nsecurity_layer=tls\ncrypt_level=high\n\
                 certificate={cert}\nkey_file={key}\nssl_protocols=TLSv1.2, TLSv1.3\nrequire_credentials=true\n\
                 allow_channels=true\nautorun=Xorg\nmax_bpp=32\nnew_cursors=true\nuse_fastpath=both\n\
                 [Logging]\nLogFile={log}\nLogLevel=INFO\nEnableSyslog=false\n\
                 [Channels]\ndrdynvc=true\ncliprdr=true\nrdpdr=false\nrdpsnd=false\nrail=false\nxrdpvr=false\ntcutils=false\n\
                 [Xorg]\nname=Xorg\nlib=libxup.so\nusername=ask\npassword=ask\nip=127.0.0.1\nport=-1\ncode=20\n",
                cert = cert.display(),
                key = key.display(),
                log = log.display(),
            ),
        )?;
        let packaged = std::fs::read_to_string("/etc/xrdp/sesman.ini")
            .context("xrdp is not installed: run `cargo xtask ci`")?;
        let sesman_log = dir.path().join("sesman.log");
        let sesman_ini: String = packaged
            .lines()
            .map(|line| {
                if line.starts_with("LogFile=") {
                    format!("LogFile={}", sesman_log.display())
                } else if line.starts_with("EnableSyslog=") {
                    "EnableSyslog=false".to_owned()
                } else if line.starts_with("KillDisconnected=") {
                    "KillDisconnected=true".to_owned()
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let sesman_path = dir.path().join("sesman.ini");
        std::fs::write(&sesman_path, sesman_ini)?;
        // What the packaged service's socket setup would do.
        std::fs::create_dir_all("/run/xrdp/sockdir")?;
        run("chown", &["root:xrdp", "/run/xrdp", "/run/xrdp/sockdir"])?;
        run("chmod", &["2775", "/run/xrdp"])?;
        run("chmod", &["3777", "/run/xrdp/sockdir"])?;
        let sesman = Command::new("setsid")
            .args(["/usr/sbin/xrdp-sesman", "--nodaemon", "--config"])
            .arg(&sesman_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start xrdp-sesman")?;
        let xrdp = Command::new("setsid")
            .args(["/usr/sbin/xrdp", "--nodaemon", "--config"])
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start xrdp")?;
        wait_port(port, "xrdp").await?;
        Ok(Xrdp {
            port,
            _turn: turn,
            log,
            xrdp,
            sesman,
            _dir: dir,
        })
    }

    /// The xrdp log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The X display of the session the first successful login got (`:10`), once xrdp has
    /// logged it.
    pub async fn session_display(&self, limit: Duration) -> anyhow::Result<String> {
        wait_for("the session's display", limit, || async {
            let log = self.log_text();
            let line = log
                .lines()
                .find(|line| line.contains("login successful for user"))?;
            line.rsplit("display ")
                .next()
                .map(|n| format!(":{}", n.trim()))
        })
        .await
    }

    /// `program` as a command on the session's X display `display`, with the session user's
    /// X authority.
    pub fn on_session(display: &str, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("DISPLAY", display)
            .env("XAUTHORITY", format!("/home/{RDP_USER}/.Xauthority"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// The session screen's size, as `xrandr` reads it on `display`.
    pub async fn screen_size(display: &str) -> anyhow::Result<(u32, u32)> {
        let output = Xrdp::on_session(display, "xrandr")
            .arg("--current")
            .output()
            .await
            .context("run xrandr")?;
        let text = String::from_utf8_lossy(&output.stdout);
        // "Screen 0: minimum 256 x 256, current 1024 x 768, maximum 16384 x 16384"
        let current = text
            .split(',')
            .find_map(|part| part.trim().strip_prefix("current "))
            .with_context(|| format!("no current size in xrandr's output: {text}"))?;
        let (width, height) = current
            .split_once(" x ")
            .with_context(|| format!("unreadable size {current:?}"))?;
        Ok((width.trim().parse()?, height.trim().parse()?))
    }

    /// Stops xrdp, sesman and every session they started (sessions outlive sesman, so the
    /// whole process groups go).
    pub async fn stop(mut self) {
        for child in [&mut self.xrdp, &mut self.sesman] {
            if let Some(pid) = child.id() {
                let _ = run("kill", &["-s", "TERM", "--", &format!("-{pid}")]);
            }
            stop(child, Duration::from_secs(3)).await;
        }
        let _ = run("pkill", &["-u", RDP_USER]);
    }
}

/// An xfreerdp client running under `xvfb-run` in its own process group.
pub struct XFreeRdp {
    child: Child,
}

impl XFreeRdp {
    /// Waits for it to exit.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Kills the client and the display `xvfb-run` started for it (the whole group).
    pub async fn kill(mut self) {
        if let Some(pid) = self.child.id() {
            // `--` so that `-PGID` is read as a process group, not a signal.
            let _ = run("kill", &["-s", "KILL", "--", &format!("-{pid}")]);
        }
        let _ = self.child.wait().await;
    }
}

/// Runs xfreerdp against 127.0.0.1:`port` on its own virtual display.
pub fn xfreerdp(port: u16, password: &str, security: &str) -> anyhow::Result<XFreeRdp> {
    let child = Command::new("xvfb-run")
        .args([
            "-a",
            "xfreerdp",
            &format!("/v:127.0.0.1:{port}"),
            &format!("/u:{RDP_USER}"),
            &format!("/p:{password}"),
            &format!("/sec:{security}"),
            "/cert:ignore",
            "/log-level:WARN",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .context("start xfreerdp")?;
    Ok(XFreeRdp { child })
}
