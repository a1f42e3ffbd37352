//! What terminals cost the server process alone: its resident memory and CPU time (from
//! `/proc`) with many terminals idle at a prompt, and with a few printing as fast as they can
//! while the client acknowledges like the web app.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::task::JoinSet;

use crate::children::{clock_ticks_per_second, cpu_ticks, machine_busy_ticks, rss_bytes, wait_for};
use crate::console::{self, Console};
use crate::exchange::{BusySessions, IdleSessions, Sizes};
use crate::stage::{APP, Stage};
use crate::web_terminal::WebTerminal;

/// Terminals opened at once: each costs sshd a login, and sshd drops unauthenticated
/// connections beyond ten by default (`MaxStartups`).
const OPEN_PARALLELISM: usize = 4;
/// Time for the server to finish with closed terminals, or settle after opening new ones,
/// before memory is read.
const SETTLE: Duration = Duration::from_secs(2);
/// Output each busy terminal must have printed before the window starts.
const RAMP_BYTES: u64 = 1_000_000;
/// How often memory is sampled during the busy window.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

fn rss(pid: u32) -> anyhow::Result<u64> {
    rss_bytes(pid).with_context(|| format!("cannot read the memory of process {pid}"))
}

fn cpu_seconds(pid: u32) -> f64 {
    cpu_ticks(pid, false) as f64 / clock_ticks_per_second()
}

/// CPU seconds `pid` uses over `window` of doing nothing here.
async fn cpu_over(pid: u32, window: Duration) -> f64 {
    let before = cpu_seconds(pid);
    tokio::time::sleep(window).await;
    cpu_seconds(pid) - before
}

/// One terminal opened and closed, so that what the server sets up once (its first
/// WebSocket, SSH and recording) is not counted per session, then a moment to settle.
async fn warm_up(stage: &Stage) -> anyhow::Result<()> {
    let mut terminal = WebTerminal::open(stage, APP).await?;
    console::at_prompt(&mut terminal).await?;
    drop(terminal);
    tokio::time::sleep(SETTLE).await;
    Ok(())
}

/// Opens `count` terminals, each waiting at its shell prompt.
async fn open_at_prompt(stage: &Stage, count: usize) -> anyhow::Result<Vec<WebTerminal>> {
    let opened: Vec<anyhow::Result<WebTerminal>> = futures_util::stream::iter(0..count)
        .map(|_| async {
            let mut terminal = WebTerminal::open(stage, APP).await?;
            console::at_prompt(&mut terminal).await?;
            anyhow::Ok(terminal)
        })
        .buffer_unordered(OPEN_PARALLELISM)
        .collect()
        .await;
    opened
        .into_iter()
        .enumerate()
        .map(|(index, terminal)| terminal.with_context(|| format!("terminal {index}")))
        .collect()
}

/// Idle terminals: memory and CPU of the server before and with them open.
pub async fn idle(stage: &Stage, sizes: Sizes) -> anyhow::Result<IdleSessions> {
    let window = Duration::from_secs(sizes.window_seconds);
    warm_up(stage).await?;
    let rss_before = rss(stage.server_pid)?;
    let connector_before = rss(stage.connector_pid)?;
    let cpu_before = cpu_over(stage.server_pid, window).await;
    let terminals = open_at_prompt(stage, sizes.idle_sessions).await?;
    tokio::time::sleep(SETTLE).await;
    let cpu_with = cpu_over(stage.server_pid, window).await;
    // Read after the window, so whatever the sessions do periodically (Session checks,
    // keepalives) has had its chance to allocate.
    let rss_with = rss(stage.server_pid)?;
    let connector_with = rss(stage.connector_pid)?;
    drop(terminals);
    Ok(IdleSessions {
        sessions: sizes.idle_sessions,
        window_seconds: window.as_secs_f64(),
        rss_before,
        rss_with,
        cpu_before,
        cpu_with,
        connector_rss: (connector_before, connector_with),
    })
}

/// Busy terminals: `base64 /dev/urandom` in each, read and acknowledged as fast as it comes;
/// the server's CPU and peak memory over a window once all of them are flowing.
pub async fn busy(stage: &Stage, sizes: Sizes) -> anyhow::Result<BusySessions> {
    let window = Duration::from_secs(sizes.window_seconds);
    warm_up(stage).await?;
    let rss_before = rss(stage.server_pid)?;
    let terminals = open_at_prompt(stage, sizes.busy_sessions).await?;
    let mut readers = JoinSet::new();
    let mut counters = Vec::new();
    for mut terminal in terminals {
        let counter = Arc::new(AtomicU64::new(0));
        counters.push(Arc::clone(&counter));
        terminal.send(b"exec base64 /dev/urandom\r").await?;
        // Reads until the terminal fails, and returns why.
        readers.spawn(async move {
            loop {
                match terminal.recv().await {
                    Ok(chunk) => counter.fetch_add(chunk.len() as u64, Ordering::Relaxed),
                    Err(error) => return error,
                };
            }
        });
    }
    let received = |counters: &[Arc<AtomicU64>]| -> Vec<u64> {
        counters
            .iter()
            .map(|counter| counter.load(Ordering::Relaxed))
            .collect()
    };
    wait_for(
        "every busy terminal to print",
        Duration::from_secs(30),
        || async {
            received(&counters)
                .iter()
                .all(|&bytes| bytes >= RAMP_BYTES)
                .then_some(())
        },
    )
    .await?;

    let ticks_per_second = clock_ticks_per_second();
    let server_before = cpu_seconds(stage.server_pid);
    let connector_before = cpu_seconds(stage.connector_pid);
    let machine_before = machine_busy_ticks();
    let bytes_before = received(&counters);
    let started = Instant::now();
    let mut rss_peak = rss(stage.server_pid)?;
    while started.elapsed() < window {
        tokio::time::sleep(SAMPLE_EVERY).await;
        rss_peak = rss_peak.max(rss(stage.server_pid)?);
        if let Some(ended) = readers.try_join_next() {
            let reason = match ended {
                Ok(error) => format!("{error:#}"),
                Err(error) => error.to_string(),
            };
            bail!("a busy terminal stopped during the window: {reason}");
        }
    }
    let window_seconds = started.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(stage.server_pid) - server_before;
    let connector_cpu = cpu_seconds(stage.connector_pid) - connector_before;
    let machine_cpu = machine_busy_ticks().saturating_sub(machine_before) as f64 / ticks_per_second;
    let bytes = received(&counters)
        .iter()
        .zip(&bytes_before)
        .map(|(after, before)| after - before)
        .collect();
    readers.abort_all();
    Ok(BusySessions {
        sessions: sizes.busy_sessions,
        window_seconds,
        rss_before,
        rss_peak,
        server_cpu,
        connector_cpu,
        machine_cpu,
        bytes,
    })
}
