//! What `cargo xtask bench rdp` and the test target that measures (`tests/tests/bench_rdp`)
//! hand each other: the sizes asked for, as JSON in an environment variable, and the raw
//! results, as a JSON file. The test target includes this file by path, so the two sides
//! share one definition and cannot drift.

use serde::{Deserialize, Serialize};

/// Environment variable holding the [`Sizes`] as JSON; without it the test target runs
/// [`Sizes::QUICK`]. Not `POSTERN_*`: the server refuses unknown variables of its own prefix.
pub const SIZES_ENV: &str = "XTASK_BENCH_RDP_SIZES";
/// Environment variable naming the file the test target writes [`Results`] to; without it,
/// `target/bench/rdp.json` in the workspace.
pub const OUTPUT_ENV: &str = "XTASK_BENCH_RDP_OUTPUT";

/// HA links of the bench's connector (the connector's default, given explicitly so the bench
/// can wait for all of them).
pub const HA_CONNECTIONS: usize = 4;

/// Pause between two moves of the window (`xdotool … sleep`), milliseconds: at most 50 moves
/// a second, each a real change on the screen.
pub const MOVE_PAUSE_MILLIS: u64 = 20;

/// Graphics updates closer together than this belong to one frame: xrdp sends each batch of
/// damage it encodes back to back, and the moves come at most every [`MOVE_PAUSE_MILLIS`].
pub const FRAME_GAP_MILLIS: u64 = 5;

/// A measurement, or why it failed (the others still run, and the table shows the failure).
pub type Measured<T> = Result<T, String>;

/// How much of everything to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// Timed connects on each client (after one untimed warm-up).
    pub connects: usize,
    /// How long each moving-window measurement lasts, seconds.
    pub motion_seconds: u64,
    /// How long each idle CPU window lasts, seconds.
    pub idle_seconds: u64,
}

impl Sizes {
    /// What the issue asks for.
    pub const FULL: Sizes = Sizes {
        connects: 5,
        motion_seconds: 10,
        idle_seconds: 10,
    };

    /// `--quick`: every step, shorter.
    pub const QUICK: Sizes = Sizes {
        connects: 2,
        motion_seconds: 3,
        idle_seconds: 3,
    };
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The sizes it ran with.
    pub sizes: Sizes,
    /// The machine before measuring.
    pub quiet: Quiet,
    /// The desktop size the native client and xfreerdp ask for (the shadow server shares
    /// its own screen of that size; xrdp makes each session the size its client asks for).
    pub desktop: String,
    /// From connecting to the first frame.
    pub first_frame: FirstFrame,
    /// While a window moves on the remote screen.
    pub motion: Motion,
    /// One connected session with nothing changing on the screen.
    pub idle: Measured<Idle>,
}

/// How busy the machine was before the bench started its load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quiet {
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages.
    pub load_average: String,
    /// Busy share of all cores over a few seconds, in % of one core.
    pub busy_percent: f64,
}

/// Seconds to the first frame, one sample per connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstFrame {
    /// The native client: from asking for the ticket to the first graphics update.
    pub native: Measured<Vec<f64>>,
    /// The page in Chromium, its RDP module already loaded: from the click on Connect to the
    /// screen's `data-frames` turning 1 (ticket, WebSocket, TLS, NLA, first paint).
    pub browser: Measured<Vec<f64>>,
}

/// The moving window, seen by each client, each on an xrdp session of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Motion {
    /// The native client through the gateway.
    pub native: Measured<NativeMotion>,
    /// The page in Chromium through the gateway.
    pub browser: Measured<BrowserMotion>,
    /// `xfreerdp` straight to xrdp, through a counting TCP relay.
    pub direct: Measured<DirectMotion>,
}

/// CPU seconds used over a measured window, by whom.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    /// Wall time of the window.
    pub seconds: f64,
    /// `postern-server`.
    pub server: f64,
    /// `postern connector run`.
    pub connector: f64,
    /// The whole machine, all cores.
    pub machine: f64,
}

/// What the native client received during the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeMotion {
    /// The session's screen, `W×H`.
    pub screen: String,
    /// Where the CPU went.
    pub cpu: Cpu,
    /// RDP bytes received (the WebSocket's binary payload).
    pub bytes: u64,
    /// RDP PDUs read.
    pub pdus: u64,
    /// PDUs that updated the image.
    pub graphics_pdus: u64,
    /// Updated rectangles (`SessionEvent::Graphics`).
    pub rectangles: u64,
    /// Frames: runs of graphics updates with gaps under [`FRAME_GAP_MILLIS`].
    pub frames: u64,
}

/// What the page painted during the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserMotion {
    /// The session's screen, `W×H` (the page asks for its own size).
    pub screen: String,
    /// Where the CPU went.
    pub cpu: Cpu,
    /// Frames the page painted (its `data-frames`, at most one per animation frame).
    pub frames: u64,
    /// CPU seconds of Chromium's processes and chromedriver.
    pub chromium: f64,
}

/// What `xfreerdp` received straight from xrdp during the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectMotion {
    /// The session's screen, `W×H`.
    pub screen: String,
    /// Wall time of the window.
    pub seconds: f64,
    /// TCP bytes from xrdp to xfreerdp (TLS records, RDP inside).
    pub bytes: u64,
}

/// Server CPU with no session, then with one connected session on a still screen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Idle {
    /// No RDP session open.
    pub without: Cpu,
    /// One native session open and read.
    pub with: Cpu,
    /// RDP bytes that session received meanwhile.
    pub bytes: u64,
}
