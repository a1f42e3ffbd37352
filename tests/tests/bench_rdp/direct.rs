//! The baseline without Postern: FreeRDP's own `xfreerdp` (on a virtual display of its own)
//! straight to xrdp, through a TCP relay here that counts the bytes coming back.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tests::rdp::{Display, RDP_PASSWORD, RDP_USER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

use crate::exchange::{DirectMotion, Sizes};
use crate::native::{HEIGHT, WIDTH};
use crate::stage::Stage;
use crate::xrdp::{MovingSession, logins};
use crate::{MOVER_MARGIN_SECONDS, RAMP};

/// Relays one connection at a time from a local port to `target`, counting the bytes that
/// come back.
struct Relay {
    port: u16,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: u16) -> anyhow::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    if let Ok(origin) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = relay(client, origin, &counter).await;
                    }
                });
            }
        });
        Ok(Relay {
            port,
            received,
            task,
        })
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, origin: TcpStream, counter: &AtomicU64) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    origin.set_nodelay(true)?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut origin_read, mut origin_write) = origin.into_split();
    let up = tokio::io::copy(&mut client_read, &mut origin_write);
    let down = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = origin_read.read(&mut buffer).await?;
            if read == 0 {
                return client_write.shutdown().await;
            }
            counter.fetch_add(read as u64, Ordering::Relaxed);
            client_write.write_all(&buffer[..read]).await?;
        }
    };
    tokio::select! {
        result = up => result.map(|_| ()),
        result = down => result,
    }
}

/// Runs xfreerdp (on a virtual display of its own) through the relay to xrdp, moves a window
/// on the session it opens, and counts what xfreerdp received over `window` after a ramp.
pub async fn motion(stage: &mut Stage, sizes: Sizes) -> anyhow::Result<DirectMotion> {
    let xrdp = stage.xrdp()?;
    let relay = Relay::start(xrdp.port).await?;
    let before = logins(xrdp);
    let display = Display::start(&stage.dir).await?;
    let mut command = Command::new("xfreerdp");
    command
        .args([
            &format!("/v:127.0.0.1:{}", relay.port),
            &format!("/u:{RDP_USER}"),
            &format!("/p:{RDP_PASSWORD}"),
            "/sec:tls",
            "/cert:ignore",
            &format!("/size:{WIDTH}x{HEIGHT}"),
            // RemoteFX, as the `rdp` crate asks for: the same encoder in xrdp for both.
            "/rfx",
            "/log-level:WARN",
        ])
        .env("DISPLAY", &display.name)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let log = stage.dir.join("xfreerdp.log");
    let (client, _) = stage.children.spawn("xfreerdp", &mut command, Some(&log))?;
    let measured = async {
        let session =
            MovingSession::open(stage, before, sizes.motion_seconds + MOVER_MARGIN_SECONDS)
                .await
                .context("xfreerdp's session")?;
        let counted = async {
            tokio::time::sleep(RAMP).await;
            let before = relay.received();
            let started = Instant::now();
            tokio::time::sleep(Duration::from_secs(sizes.motion_seconds)).await;
            let bytes = relay.received() - before;
            let seconds = started.elapsed().as_secs_f64();
            // A client that quit meanwhile would make the count meaningless.
            if let Some(status) = stage.children.exited(client) {
                bail!(
                    "xfreerdp exited during the window ({status}; log: {})",
                    log.display()
                );
            }
            ensure!(
                bytes > 0,
                "xfreerdp received nothing while the window moved"
            );
            anyhow::Ok(DirectMotion {
                screen: session.size(),
                seconds,
                bytes,
            })
        }
        .await;
        session.close(&mut stage.children).await;
        counted
    }
    .await;
    stage.children.stop(client).await;
    drop(display);
    measured.context("xfreerdp straight to xrdp")
}
