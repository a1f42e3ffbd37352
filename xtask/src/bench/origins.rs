//! The origins every path ends at: echo, sink and first-byte, served by a helper process
//! (`xtask bench origins`) so that ten thousand origin sockets do not count against the load
//! generator's open-file limit, and origin work does not share its runtime.

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

use super::children::{Children, read_line_until};

/// The byte the first-byte origin sends on accept.
pub const FIRST_BYTE: u8 = 0x2a;
/// Read size of the echo and sink origins.
const BUFFER: usize = 256 * 1024;

/// Where the origins listen on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
pub struct Origins {
    /// Echoes every byte until the client half-closes, then closes.
    pub echo: u16,
    /// Swallows everything; after the client half-closes it answers the byte count as a
    /// little-endian u64, so a client knows every byte arrived.
    pub sink: u16,
    /// Sends [`FIRST_BYTE`] on accept, then waits for the client to close.
    pub first_byte: u16,
    /// The helper process.
    pub pid: u32,
}

impl Origins {
    /// Starts the helper process (this same executable). It exits when its stdin closes, so it
    /// cannot outlive the bench even if the bench is killed.
    pub async fn start(children: &mut Children, log: &Path) -> anyhow::Result<Origins> {
        let exe = std::env::current_exe().context("locate the xtask executable")?;
        let mut command = Command::new(exe);
        command
            .args(["bench", "origins"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let (pid, stdout) = children.spawn("origins", &mut command, Some(log))?;
        let stdout = stdout.context("origins stdout")?;
        let ports = read_line_until(stdout, Duration::from_secs(10), |line| {
            parse_ready_line("origins", line)
        })
        .await
        .context("start the origins")?;
        Ok(Origins {
            echo: ports[0],
            sink: ports[1],
            first_byte: ports[2],
            pid,
        })
    }
}

/// `{who} echo=1 sink=2 first-byte=3` → the three ports.
pub fn parse_ready_line(who: &str, line: &str) -> Option<[u16; 3]> {
    let rest = line.strip_prefix(who)?.strip_prefix(' ')?;
    let mut ports = [0u16; 3];
    for (slot, (word, key)) in
        ports
            .iter_mut()
            .zip(rest.split_whitespace().zip(["echo", "sink", "first-byte"]))
    {
        *slot = word.strip_prefix(key)?.strip_prefix('=')?.parse().ok()?;
    }
    ports.iter().all(|port| *port != 0).then_some(ports)
}

/// `xtask bench origins`: serves the three origins until stdin closes.
pub fn serve_here() -> anyhow::Result<()> {
    serve_until_parent_leaves(async {
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let sink = TcpListener::bind("127.0.0.1:0").await?;
        let first_byte = TcpListener::bind("127.0.0.1:0").await?;
        let line = format!(
            "origins echo={} sink={} first-byte={}\n",
            echo.local_addr()?.port(),
            sink.local_addr()?.port(),
            first_byte.local_addr()?.port()
        );
        tokio::spawn(accept_loop(echo, serve_echo));
        tokio::spawn(accept_loop(sink, serve_sink));
        tokio::spawn(accept_loop(first_byte, serve_first_byte));
        Ok(line)
    })
}

/// The body of a bench helper process: `start` binds and spawns its servers and returns its
/// ready line, which goes to the parent; then it serves until stdin closes (the parent holds
/// it, so EOF means the parent is gone or done).
pub fn serve_until_parent_leaves(
    start: impl Future<Output = anyhow::Result<String>>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    runtime.block_on(async {
        let line = start.await?;
        let mut stdout = std::io::stdout();
        stdout.write_all(line.as_bytes())?;
        stdout.flush()?;
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 64];
        while stdin.read(&mut buffer).await? > 0 {}
        anyhow::Ok(())
    })
}

/// Serves each connection `listener` accepts with `serve`, in a task of its own.
pub async fn accept_loop<F, Fut>(listener: TcpListener, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Latency is measured through here: no Nagle delay on small writes.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream));
            }
            // Out of file descriptors: back off rather than spin; the bench reports the stall.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_echo(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buffer[..read]).await?;
    }
}

async fn serve_sink(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buffer = vec![0u8; BUFFER];
    let mut total: u64 = 0;
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        total += read as u64;
    }
    stream.write_all(&total.to_le_bytes()).await?;
    stream.shutdown().await
}

async fn serve_first_byte(mut stream: TcpStream) -> std::io::Result<()> {
    stream.write_all(&[FIRST_BYTE]).await?;
    let mut buffer = [0u8; 1024];
    while stream.read(&mut buffer).await? > 0 {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line() {
        assert_eq!(
            parse_ready_line("origins", "origins echo=1000 sink=2000 first-byte=3000"),
            Some([1000, 2000, 3000])
        );
        for bad in [
            "origins echo=1000 sink=2000",
            "origins sink=2000 echo=1000 first-byte=3000",
            "echo=1000 sink=2000 first-byte=3000",
            "origins echo=0 sink=2000 first-byte=3000",
        ] {
            assert_eq!(parse_ready_line("origins", bad), None, "{bad}");
        }
    }
}
