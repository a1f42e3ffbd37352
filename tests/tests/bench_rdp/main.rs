//! The measuring half of `cargo xtask bench rdp`: browser RDP through the gateway on this
//! machine (click to first frame in Chromium and with the native client, frames and bytes per
//! second while a window moves, next to `xfreerdp` straight to the origin) and what one
//! session costs the server process, moving and idle.
//!
//! A benchmark, not a test: ignored by `cargo test`, it asserts nothing, and a measurement
//! that fails is written down as failed while the others go on. `cargo xtask bench rdp`
//! builds the release binaries and the web app, runs this in release mode with the sizes in
//! [`exchange::SIZES_ENV`], and renders the results it writes to [`exchange::OUTPUT_ENV`].
//!
//! Everything under test runs in its own process from the release build (`postern-server`,
//! `postern connector run`, the FreeRDP shadow server, xrdp, Chromium, xfreerdp), so the
//! server's CPU is its alone. First frames and the idle session use the shadow server; the
//! moving window uses xrdp, one client at a time (only one xrdp can run, its session manager
//! having a fixed port), each with a fresh xterm on its session's display.

mod browser;
mod cpu;
mod desktop;
mod direct;
mod native;
mod stage;
mod xrdp;

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
#[path = "../../../xtask/src/bench/rdp/exchange.rs"]
mod exchange;

use std::time::Duration;

use anyhow::Context;

use cpu::Snapshot;
use exchange::{
    BrowserMotion, FirstFrame, Idle, Measured, Motion, NativeMotion, Quiet, Results, Sizes,
};
use harness::measured;
use stage::{APP, Stage, XRDP_APP};
use xrdp::{MovingSession, logins};

pub fn progress(message: &str) {
    eprintln!("bench rdp: {message}");
}

/// Time for the screen, the server and the clients to settle between phases.
const SETTLE: Duration = Duration::from_secs(2);
/// Moving before a window is measured, so it starts in the steady state.
pub const RAMP: Duration = Duration::from_secs(1);
/// The mover runs this much longer than a window, to cover connecting and the ramp; it is
/// stopped as soon as the window ends.
pub const MOVER_MARGIN_SECONDS: u64 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: `cargo xtask bench rdp` runs it in release mode"]
async fn rdp() -> anyhow::Result<()> {
    tests::init_logging();
    let sizes = harness::sizes(exchange::SIZES_ENV, Sizes::QUICK)?;
    let output = harness::output_path(exchange::OUTPUT_ENV, "rdp.json");
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
    // One session first: it pins the origin's certificate and proves the path works.
    progress("warm-up: one native session");
    let (first, _) = native::connect(stage, APP).await?;
    native::disconnect(first).await;

    progress(&format!("first frame: {} native connects", sizes.connects));
    let native_first = measured(native_first_frames(stage, sizes).await);

    progress(&format!(
        "idle: {} s without a session, then {} s with one",
        sizes.idle_seconds, sizes.idle_seconds
    ));
    tokio::time::sleep(SETTLE).await;
    let idle = measured(idle(stage, sizes).await);

    progress(&format!(
        "moving window: {} s with the native client through Postern to xrdp",
        sizes.motion_seconds
    ));
    tokio::time::sleep(SETTLE).await;
    let native_motion = measured(native_motion(stage, sizes).await);

    progress(&format!(
        "moving window: {} s with xfreerdp straight to xrdp",
        sizes.motion_seconds
    ));
    tokio::time::sleep(SETTLE).await;
    let direct = measured(direct_motion(stage, sizes).await);

    progress(&format!(
        "browser: {} connects, then {} s of a moving window",
        sizes.connects, sizes.motion_seconds
    ));
    tokio::time::sleep(SETTLE).await;
    let (browser_first, browser_motion) = browser(stage, sizes).await;

    Ok(Results {
        sizes,
        quiet,
        desktop: format!("{}×{}", native::WIDTH, native::HEIGHT),
        first_frame: FirstFrame {
            native: native_first,
            browser: browser_first,
        },
        motion: Motion {
            native: native_motion,
            browser: browser_motion,
            direct,
        },
        idle,
    })
}

async fn native_first_frames(stage: &Stage, sizes: Sizes) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(sizes.connects);
    for _ in 0..sizes.connects {
        let (desktop, elapsed) = native::connect(stage, APP).await?;
        native::disconnect(desktop).await;
        samples.push(elapsed.as_secs_f64());
    }
    Ok(samples)
}

/// Server CPU over a window with no session, then over one with a native session open on a
/// still screen, read as the page reads it.
async fn idle(stage: &Stage, sizes: Sizes) -> anyhow::Result<Idle> {
    let window = Duration::from_secs(sizes.idle_seconds);
    let before = Snapshot::take(stage);
    tokio::time::sleep(window).await;
    let (without, _) = before.since(stage);
    let (mut desktop, _) = native::connect(stage, APP).await?;
    native::read_for(&mut desktop, SETTLE).await?;
    let before = Snapshot::take(stage);
    let received = native::read_for(&mut desktop, window).await?;
    let (with, _) = before.since(stage);
    native::disconnect(desktop).await;
    Ok(Idle {
        without,
        with,
        bytes: received.bytes,
    })
}

/// The native client on a session of its own on xrdp, read while a window moves there.
async fn native_motion(stage: &mut Stage, sizes: Sizes) -> anyhow::Result<NativeMotion> {
    let before = logins(stage.xrdp()?);
    let (mut desktop, _) = native::connect(stage, XRDP_APP).await?;
    let measured = async {
        let session =
            MovingSession::open(stage, before, sizes.motion_seconds + MOVER_MARGIN_SECONDS).await?;
        let counted = async {
            // Reading on while the xterm opens and the mover starts keeps the session flowing.
            native::read_for(&mut desktop, RAMP).await?;
            let before = Snapshot::take(stage);
            let received =
                native::read_for(&mut desktop, Duration::from_secs(sizes.motion_seconds)).await?;
            let (cpu, _) = before.since(stage);
            anyhow::ensure!(
                received.graphics_pdus > 0,
                "no graphics updates while the window moved ({} bytes, {} PDUs)",
                received.bytes,
                received.pdus
            );
            anyhow::Ok(NativeMotion {
                screen: session.size(),
                cpu,
                bytes: received.bytes,
                pdus: received.pdus,
                graphics_pdus: received.graphics_pdus,
                rectangles: received.rectangles,
                frames: received.frames,
            })
        }
        .await;
        session.close(&mut stage.children).await;
        counted
    }
    .await;
    native::disconnect(desktop).await;
    measured
}

async fn direct_motion(stage: &mut Stage, sizes: Sizes) -> anyhow::Result<exchange::DirectMotion> {
    direct::motion(stage, sizes).await
}

/// The page: timed connects, then the last session's painted frames while the window moves.
async fn browser(stage: &mut Stage, sizes: Sizes) -> (Measured<Vec<f64>>, Measured<BrowserMotion>) {
    let page = match browser::Page::open(stage).await {
        Ok(page) => page,
        Err(error) => {
            let error = measured::<()>(Err(error)).err().unwrap_or_default();
            return (Err(error.clone()), Err(error));
        }
    };
    let first = async {
        // Untimed: the first load of the module and the page.
        page.click_to_first_frame(stage, APP).await?;
        let mut samples = Vec::with_capacity(sizes.connects);
        for _ in 0..sizes.connects {
            samples.push(page.click_to_first_frame(stage, APP).await?);
        }
        anyhow::Ok(samples)
    }
    .await;
    let motion = match &first {
        Ok(_) => browser_motion(stage, &page, sizes).await,
        Err(error) => Err(anyhow::anyhow!("no session: {error:#}")),
    };
    if first.is_err() || motion.is_err() {
        page.screenshot().await;
    }
    page.close().await;
    (measured(first), measured(motion))
}

/// The page on a session of its own on xrdp, its painted frames counted while a window moves
/// there.
async fn browser_motion(
    stage: &mut Stage,
    page: &browser::Page,
    sizes: Sizes,
) -> anyhow::Result<BrowserMotion> {
    let before = logins(stage.xrdp()?);
    page.click_to_first_frame(stage, XRDP_APP)
        .await
        .context("connect the page to xrdp")?;
    let session =
        MovingSession::open(stage, before, sizes.motion_seconds + MOVER_MARGIN_SECONDS).await?;
    let measured = async {
        tokio::time::sleep(RAMP).await;
        let frames_before = page.frames().await?;
        let before = Snapshot::take(stage);
        tokio::time::sleep(Duration::from_secs(sizes.motion_seconds)).await;
        let frames_after = page.frames().await?;
        let (cpu, chromium) = before.since(stage);
        let frames = frames_after.saturating_sub(frames_before);
        anyhow::ensure!(
            frames > 0,
            "the page painted nothing while the window moved"
        );
        anyhow::Ok(BrowserMotion {
            screen: session.size(),
            cpu,
            frames,
            chromium,
        })
    }
    .await;
    session.close(&mut stage.children).await;
    measured
}
