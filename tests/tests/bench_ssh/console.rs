//! What the bench does at a terminal, written once for both ways of reaching the shell
//! (`ssh -tt` through pipes, and the terminal WebSocket): wait for the prompt, start `cat`,
//! time keystrokes to their echo, and time a flood of output.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tokio::time::timeout_at;
use tokio_tungstenite::tungstenite::Bytes;

use crate::cpu::Snapshot;
use crate::exchange::{FLOOD_MARKER, FloodRun, flood_command};
use crate::stage::Stage;

/// How long a prompt or an echo may take before the measurement counts as failed.
const PROMPT_LIMIT: Duration = Duration::from_secs(30);
/// How long one keystroke may wait for its echo.
const ECHO_LIMIT: Duration = Duration::from_secs(10);
/// How long a flood may take.
const FLOOD_LIMIT: Duration = Duration::from_secs(600);

/// A shell session the bench types into and reads from.
pub trait Console {
    /// Types `bytes`.
    async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()>;

    /// The next chunk of output; an error once the session is over.
    async fn recv(&mut self) -> anyhow::Result<Bytes>;

    /// Finishes what earlier output left to do (the WebSocket's acknowledgement), so that it
    /// does not land inside a timed interval.
    async fn settle(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The latest output, enough to find prompts and markers that span chunks.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    received: u64,
    chunks: u64,
    /// Length of the newest chunk.
    newest: usize,
}

impl Tail {
    const KEEP: usize = 4096;

    fn push(&mut self, chunk: &[u8]) {
        // Older output is trimmed before the chunk goes in, so the chunk is always whole.
        if self.bytes.len() > Tail::KEEP {
            let cut = self.bytes.len() - Tail::KEEP;
            self.bytes.drain(..cut);
        }
        self.received += chunk.len() as u64;
        self.chunks += 1;
        self.newest = chunk.len();
        self.bytes.extend_from_slice(chunk);
    }

    fn ends_with(&self, needle: &[u8]) -> bool {
        self.bytes.ends_with(needle)
    }

    /// Whether `needle` arrived with the newest chunk (it may start in an earlier one). Only
    /// that end is searched, so watching a long flood costs little.
    fn arrived(&self, needle: &[u8]) -> bool {
        let span = (self.newest + needle.len()).min(self.bytes.len());
        self.bytes[self.bytes.len() - span..]
            .windows(needle.len())
            .any(|window| window == needle)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Reads into `tail` until `done` holds, within `limit`.
async fn read_until(
    console: &mut impl Console,
    what: &str,
    limit: Duration,
    tail: &mut Tail,
    done: impl Fn(&Tail) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    while !done(tail) {
        match timeout_at(deadline, console.recv()).await {
            Ok(Ok(chunk)) => tail.push(&chunk),
            Ok(Err(error)) => {
                return Err(error.context(format!(
                    "waiting for {what}; last output: {:?}",
                    tail.text()
                )));
            }
            Err(_) => bail!("no {what} within {limit:?}; last output: {:?}", tail.text()),
        }
    }
    Ok(())
}

/// Waits for the shell's `$ ` prompt.
pub async fn at_prompt(console: &mut impl Console) -> anyhow::Result<()> {
    read_until(
        console,
        "shell prompt",
        PROMPT_LIMIT,
        &mut Tail::default(),
        |tail| tail.ends_with(b"$ "),
    )
    .await
}

/// Typed at the shell prompt: starts `cat`, then gives it a line. The PTY echoes both lines
/// as they arrive, and `cat` prints the second once more when it reads it.
pub const START_CAT: &str = "cat\rready\r";

/// Starts `cat` at the shell prompt and waits until it reads: from then on the PTY echoes
/// every keystroke and nothing else prints.
pub async fn into_cat(console: &mut impl Console) -> anyhow::Result<()> {
    console.send(START_CAT.as_bytes()).await?;
    read_until(
        console,
        "cat to read",
        PROMPT_LIMIT,
        &mut Tail::default(),
        |tail| tail.ends_with(b"ready\r\nready\r\n"),
    )
    .await
}

/// Times `warmup + count` keystrokes into `cat` (see [`into_cat`]), each from sending it to
/// receiving all of its echo; returns the last `count` in microseconds. Keystrokes alternate
/// between a letter (echoed as itself) and DEL, which erases it (echoed as backspace, space,
/// backspace), so the line never grows.
pub async fn echo_round_trips(
    console: &mut impl Console,
    warmup: usize,
    count: usize,
) -> anyhow::Result<Vec<f64>> {
    const LETTER: (&[u8], &[u8]) = (b"x", b"x");
    const ERASE: (&[u8], &[u8]) = (b"\x7f", b"\x08 \x08");
    let mut samples = Vec::with_capacity(count);
    let mut echo = Vec::new();
    for index in 0..warmup + count {
        let (key, expected) = if index % 2 == 0 { LETTER } else { ERASE };
        console.settle().await?;
        echo.clear();
        let started = Instant::now();
        console.send(key).await?;
        while echo.len() < expected.len() {
            let chunk = tokio::time::timeout(ECHO_LIMIT, console.recv())
                .await
                .with_context(|| format!("keystroke {index}: no echo within {ECHO_LIMIT:?}"))??;
            echo.extend_from_slice(&chunk);
        }
        let elapsed = started.elapsed();
        ensure!(
            echo == expected,
            "keystroke {index}: expected the echo {expected:?}, got {echo:?}"
        );
        if index >= warmup {
            samples.push(elapsed.as_secs_f64() * 1e6);
        }
    }
    Ok(samples)
}

/// At the shell prompt: types the flood command, then times from Enter until the end marker
/// has arrived (noting where the CPU went meanwhile), and waits for the prompt again.
pub async fn flood(
    console: &mut impl Console,
    stage: &Stage,
    bytes: u64,
) -> anyhow::Result<FloodRun> {
    let command = flood_command(bytes);
    let marker = format!("\r\n{FLOOD_MARKER}\r\n");
    let mut tail = Tail::default();
    console.send(command.as_bytes()).await?;
    read_until(
        console,
        "the command's echo",
        PROMPT_LIMIT,
        &mut tail,
        |tail| tail.ends_with(command.as_bytes()),
    )
    .await?;
    console.settle().await?;
    let (before, chunks_before) = (tail.received, tail.chunks);
    let cpu = Snapshot::take(stage);
    let started = Instant::now();
    console.send(b"\r").await?;
    read_until(console, "the end marker", FLOOD_LIMIT, &mut tail, |tail| {
        tail.arrived(marker.as_bytes())
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu.since(stage);
    let received_bytes = tail.received - before;
    let chunks = tail.chunks - chunks_before;
    read_until(
        console,
        "the prompt after the flood",
        PROMPT_LIMIT,
        &mut tail,
        |tail| tail.ends_with(b"$ "),
    )
    .await?;
    Ok(FloodRun {
        seconds,
        received_bytes,
        chunks,
        cpu,
    })
}
