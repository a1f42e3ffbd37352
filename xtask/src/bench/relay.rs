//! The floor of the tunnel bench: a chain of bare forwarding processes on the same loopback
//! hops as postern's path (client → access → server → connector → origin), each copying bytes
//! between two plain TCP sockets with no TLS, no framing and no policy. No implementation of a
//! three-process path can beat it on this machine, so its row says how much of postern's gap
//! to a target is the topology and how much is postern's own work.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

use super::children::{Children, read_line_until};
use super::origins::{Origins, accept_loop, parse_ready_line, serve_until_parent_leaves};

/// Buffer per direction, as large as the origins' reads.
const BUFFER: usize = 256 * 1024;

/// A chain of relays in front of the origins.
pub struct Chain {
    /// The first relay's ports, as [`Origins`] (its pid is the first relay's).
    pub front: Origins,
    /// Every relay, front first.
    pub pids: Vec<u32>,
}

/// Starts `length` relay processes (this same executable), the last in front of `origins`.
pub async fn start_chain(
    children: &mut Children,
    dir: &Path,
    origins: &Origins,
    length: usize,
) -> anyhow::Result<Chain> {
    let mut next = *origins;
    let mut pids = Vec::with_capacity(length);
    for index in (0..length).rev() {
        let exe = std::env::current_exe().context("locate the xtask executable")?;
        let mut command = Command::new(exe);
        command
            .args(["bench", "relay"])
            .args([next.echo, next.sink, next.first_byte].map(|port| port.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let log = dir.join(format!("relay-{index}.log"));
        let (pid, stdout) = children.spawn("relay", &mut command, Some(&log))?;
        let ports = read_line_until(
            stdout.context("relay stdout")?,
            Duration::from_secs(10),
            |line| parse_ready_line("relay", line),
        )
        .await
        .context("start a relay")?;
        next = Origins {
            echo: ports[0],
            sink: ports[1],
            first_byte: ports[2],
            pid,
        };
        pids.push(pid);
    }
    pids.reverse();
    Ok(Chain { front: next, pids })
}

/// `xtask bench relay ECHO SINK FIRST_BYTE`: forwards three local ports to those until stdin
/// closes.
pub fn serve_here(args: &[String]) -> anyhow::Result<()> {
    let targets: Vec<u16> = args
        .iter()
        .map(|port| port.parse().context("relay ports"))
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(
        targets.len() == 3,
        "usage: xtask bench relay ECHO SINK FIRST_BYTE"
    );
    serve_until_parent_leaves(async move {
        let mut ports = Vec::with_capacity(3);
        for target in targets {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            ports.push(listener.local_addr()?.port());
            tokio::spawn(accept_loop(listener, move |inbound| {
                forward(inbound, target)
            }));
        }
        Ok(format!(
            "relay echo={} sink={} first-byte={}\n",
            ports[0], ports[1], ports[2]
        ))
    })
}

/// Copies between `inbound` and a new connection to `target` until both sides close.
async fn forward(mut inbound: TcpStream, target: u16) -> std::io::Result<()> {
    let mut outbound = TcpStream::connect(("127.0.0.1", target)).await?;
    outbound.set_nodelay(true)?;
    tokio::io::copy_bidirectional_with_sizes(&mut inbound, &mut outbound, BUFFER, BUFFER).await?;
    Ok(())
}
