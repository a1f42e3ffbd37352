//! The measuring half of `cargo xtask bench ssh`: browser SSH against native OpenSSH on this
//! machine (render time of a flood of output, keystroke-to-echo latency) and what one
//! terminal costs the server process when idle and when busy.
//!
//! A benchmark, not a test: ignored by `cargo test`, it asserts nothing, and a measurement
//! that fails is written down as failed while the others go on. `cargo xtask bench ssh`
//! builds the release binaries and the web app, runs this in release mode with the sizes in
//! [`exchange::SIZES_ENV`], and renders the results it writes to [`exchange::OUTPUT_ENV`].
//!
//! Everything under test runs in its own process from the release build (`postern-server`,
//! `postern connector run`, sshd, Chromium), so the server's CPU and memory are its alone.

mod browser;
mod console;
mod cpu;
mod native;
mod sessions;
mod stage;
mod web_terminal;

// The tunnel bench's process helpers (stop by PID, `/proc` readings) and the hand-over
// format live in xtask, a binary crate; including the files keeps one copy of each.
#[allow(dead_code)]
#[path = "../../../xtask/src/bench/children.rs"]
mod children;
#[path = "../bench_support/harness.rs"]
mod harness;
#[path = "../bench_support/release.rs"]
mod release;
// `Sizes::FULL` is for xtask to choose.
#[allow(dead_code)]
#[path = "../../../xtask/src/bench/ssh_bench/exchange.rs"]
mod exchange;

use exchange::{Echo, Flood, Quiet, Results, Sizes};
use harness::measured;
use stage::Stage;
use web_terminal::WebTerminal;

fn progress(message: &str) {
    eprintln!("bench ssh: {message}");
}

/// The piece size for writing into xterm.js alone when the client's flood failed: the
/// WebSocket messages of a flood are mostly a few SSH packets of up to 32 KiB batched.
const DEFAULT_PIECE: u64 = 16 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: `cargo xtask bench ssh` runs it in release mode"]
async fn ssh() -> anyhow::Result<()> {
    tests::init_logging();
    let sizes = harness::sizes(exchange::SIZES_ENV, Sizes::QUICK)?;
    let output = harness::output_path(exchange::OUTPUT_ENV, "ssh.json");
    let (load_average, busy_percent) = harness::quiet().await;
    let quiet = Quiet {
        load_average,
        busy_percent,
    };
    let mut stage = Stage::start().await?;
    let outcome = tokio::select! {
        outcome = run(&mut stage, sizes, quiet) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    progress("stopping the processes it started");
    let keep = outcome.is_err() || harness::any_failed();
    let kept = stage.stop(keep).await;
    if keep {
        progress(&format!("logs kept in {}", kept.display()));
    }
    harness::write_results(&output, &outcome?)
}

async fn run(stage: &mut Stage, sizes: Sizes, quiet: Quiet) -> anyhow::Result<Results> {
    // One terminal first: it pins the origin's host key and proves the path works.
    let mut first = WebTerminal::open(stage, stage::APP).await?;
    let recorded = first.recorded;
    console::at_prompt(&mut first).await?;
    drop(first);

    progress(&format!(
        "echo: {} keystrokes through ssh -tt, then through postern",
        sizes.echo_count
    ));
    let native_echo = measured(native_echo(stage, sizes).await);
    let postern_echo = measured(postern_echo(stage, sizes).await);

    progress(&format!(
        "flood: {} MB through ssh -tt, then through postern",
        sizes.flood_bytes / 1_000_000
    ));
    let native_flood = measured(native_flood(stage, sizes).await);
    let postern_flood = measured(postern_flood(stage, sizes).await);

    progress("browser: flood and echo in Chromium");
    // xterm.js alone gets its input in pieces the size of the gateway's messages.
    let piece = postern_flood
        .as_ref()
        .ok()
        .filter(|run| run.chunks > 0)
        .map_or(DEFAULT_PIECE, |run| run.received_bytes / run.chunks);
    let browser = browser::measure(stage, sizes, piece).await;
    let (flood_dom, echo_dom) = browser.dom.unzip();

    progress(&format!(
        "idle: {} terminals on a fresh server",
        sizes.idle_sessions
    ));
    stage.restart().await?;
    let idle = measured(sessions::idle(stage, sizes).await);

    progress(&format!(
        "busy: {} printing terminals on a fresh server",
        sizes.busy_sessions
    ));
    stage.restart().await?;
    let busy = measured(sessions::busy(stage, sizes).await);

    Ok(Results {
        sizes,
        quiet,
        recorded,
        echo: Echo {
            native: native_echo,
            postern: postern_echo,
            browser: measured(browser.echo),
            browser_dom: echo_dom,
        },
        flood: Flood {
            native: native_flood,
            postern: postern_flood,
            browser: measured(browser.flood),
            browser_dom: flood_dom,
        },
        idle,
        busy,
    })
}

async fn native_echo(stage: &Stage, sizes: Sizes) -> anyhow::Result<Vec<f64>> {
    let mut ssh = native::Ssh::start(stage).await?;
    console::at_prompt(&mut ssh).await?;
    console::into_cat(&mut ssh).await?;
    console::echo_round_trips(&mut ssh, sizes.echo_warmup, sizes.echo_count).await
}

async fn postern_echo(stage: &Stage, sizes: Sizes) -> anyhow::Result<Vec<f64>> {
    let mut terminal = WebTerminal::open(stage, stage::APP).await?;
    console::at_prompt(&mut terminal).await?;
    console::into_cat(&mut terminal).await?;
    console::echo_round_trips(&mut terminal, sizes.echo_warmup, sizes.echo_count).await
}

async fn native_flood(stage: &Stage, sizes: Sizes) -> anyhow::Result<exchange::FloodRun> {
    let mut ssh = native::Ssh::start(stage).await?;
    console::at_prompt(&mut ssh).await?;
    console::flood(&mut ssh, stage, sizes.flood_bytes).await
}

async fn postern_flood(stage: &Stage, sizes: Sizes) -> anyhow::Result<exchange::FloodRun> {
    let mut terminal = WebTerminal::open(stage, stage::APP).await?;
    console::at_prompt(&mut terminal).await?;
    console::flood(&mut terminal, stage, sizes.flood_bytes).await
}
