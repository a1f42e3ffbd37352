//! What `cargo xtask bench ssh` and the test target that measures (`tests/tests/bench_ssh`)
//! hand each other: the sizes asked for, as JSON in an environment variable, and the raw
//! results, as a JSON file. The test target includes this file by path, so the two sides
//! share one definition and cannot drift.

use serde::{Deserialize, Serialize};

/// Environment variable holding the [`Sizes`] as JSON; without it the test target runs
/// [`Sizes::QUICK`]. Not `POSTERN_*`: the server refuses unknown variables of its own prefix.
pub const SIZES_ENV: &str = "XTASK_BENCH_SSH_SIZES";
/// Environment variable naming the file the test target writes [`Results`] to; without it,
/// `target/bench/ssh.json` in the workspace.
pub const OUTPUT_ENV: &str = "XTASK_BENCH_SSH_OUTPUT";

/// The line the flood ends with; the command line shows it as `DONE-$((40+2))`, so only the
/// shell's output matches.
pub const FLOOD_MARKER: &str = "DONE-42";

/// The flood command typed at the prompt: exactly `bytes` of base64 lines, then
/// [`FLOOD_MARKER`] on a line of its own.
pub fn flood_command(bytes: u64) -> String {
    format!("base64 /dev/urandom | head -c {bytes}; echo; echo DONE-$((40+2))")
}

/// HA links of the bench's connector (the connector's default, given explicitly so the bench
/// can wait for all of them).
pub const HA_CONNECTIONS: usize = 4;

/// A measurement, or why it failed (the others still run, and the table shows the failure).
pub type Measured<T> = Result<T, String>;

/// How much of everything to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// Bytes of terminal output to render (`base64 /dev/urandom | head -c N`).
    pub flood_bytes: u64,
    /// Unmeasured keystrokes first, on each path.
    pub echo_warmup: usize,
    /// Measured keystrokes on each path.
    pub echo_count: usize,
    /// Idle terminals held open at once.
    pub idle_sessions: usize,
    /// Terminals printing as fast as they can at once.
    pub busy_sessions: usize,
    /// How long each CPU measurement lasts, seconds.
    pub window_seconds: u64,
}

impl Sizes {
    /// What the issue asks for.
    pub const FULL: Sizes = Sizes {
        flood_bytes: 50_000_000,
        echo_warmup: 200,
        echo_count: 2_000,
        idle_sessions: 50,
        busy_sessions: 5,
        window_seconds: 30,
    };

    /// `--quick`: every step, smaller, in about a minute once built.
    pub const QUICK: Sizes = Sizes {
        flood_bytes: 10_000_000,
        echo_warmup: 50,
        echo_count: 300,
        idle_sessions: 10,
        busy_sessions: 2,
        window_seconds: 5,
    };
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The sizes it ran with.
    pub sizes: Sizes,
    /// The machine before measuring.
    pub quiet: Quiet,
    /// Whether the server recorded the sessions (its default).
    pub recorded: bool,
    /// Keystroke-to-echo round trips.
    pub echo: Echo,
    /// Rendering [`Sizes::flood_bytes`] of output.
    pub flood: Flood,
    /// Idle terminals on a freshly started server.
    pub idle: Measured<IdleSessions>,
    /// Busy terminals on a freshly started server.
    pub busy: Measured<BusySessions>,
}

/// How busy the machine was before the bench started its load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quiet {
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages.
    pub load_average: String,
    /// Busy share of all cores over a few seconds, in % of one core.
    pub busy_percent: f64,
}

/// Keystroke-to-echo samples in microseconds, one keystroke at a time into `cat` on a
/// remote PTY with echo on, so the PTY echoes each byte and nothing else prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Echo {
    /// OpenSSH's `ssh -tt` straight to the sshd, written to and read from through pipes.
    pub native: Measured<Vec<f64>>,
    /// A WebSocket client behaving like the web app, through server and connector.
    pub postern: Measured<Vec<f64>>,
    /// The web app in Chromium with the renderer it picked: from handing the key to xterm.js
    /// to the echo parsed into its buffer.
    pub browser: Measured<Vec<f64>>,
    /// The same after the page fell back to the DOM renderer; `None` when it had picked it
    /// to begin with.
    pub browser_dom: Option<Measured<Vec<f64>>>,
}

/// Seconds from pressing Enter on the flood command to its end marker arriving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flood {
    /// `ssh -tt`, read through a pipe (nothing renders).
    pub native: Measured<FloodRun>,
    /// The WebSocket client (acknowledges at once, renders nothing).
    pub postern: Measured<FloodRun>,
    /// The web app in Chromium with the renderer it picked, until the marker is in xterm.js's
    /// buffer.
    pub browser: Measured<BrowserFlood>,
    /// The same again after the page fell back to xterm.js's DOM renderer (its WebGL context
    /// taken away); `None` when it had picked the DOM renderer to begin with.
    pub browser_dom: Option<Measured<BrowserFlood>>,
}

/// One flood read by a program.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FloodRun {
    /// From Enter to the end marker.
    pub seconds: f64,
    /// Terminal bytes received meanwhile (the PTY adds a carriage return to each line).
    pub received_bytes: u64,
    /// Pieces they came in: WebSocket messages, or reads from ssh's stdout.
    pub chunks: u64,
    /// Where the CPU went meanwhile.
    pub cpu: CpuSplit,
}

/// CPU seconds used during a flood, by whom.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSplit {
    /// `postern-server`.
    pub server: f64,
    /// `postern connector run`.
    pub connector: f64,
    /// Chromium's renderer processes: the page's scripts, xterm.js, layout and painting.
    pub chromium_page: f64,
    /// Chromium's GPU process: compositing, and WebGL (in software without a GPU).
    pub chromium_gpu: f64,
    /// Chromium's other processes (browser, network service, utilities) and chromedriver.
    pub chromium_other: f64,
    /// The whole machine, all cores: the rest is the origin (sshd, the PTY, base64), the
    /// bench's own client, the kernel's network work and anything else running.
    pub machine: f64,
}

/// One flood rendered by the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserFlood {
    /// From Enter to the end marker in the terminal's buffer.
    pub seconds: f64,
    /// Where the CPU went meanwhile.
    pub cpu: CpuSplit,
    /// Which xterm.js renderer drew it: `webgl` or `dom`.
    pub renderer: String,
    /// What runs WebGL (`UNMASKED_RENDERER_WEBGL`): a GPU, or software such as SwiftShader.
    pub gl_renderer: Option<String>,
    /// The same amount of terminal output written from memory straight into xterm.js in
    /// [`BrowserFlood::xterm_piece`]-byte pieces, each with a completion callback as the page
    /// writes them, at most the server's output window unparsed: what xterm.js alone needs,
    /// without network, WebSocket or page code.
    pub xterm_seconds: Measured<f64>,
    /// The piece size of [`BrowserFlood::xterm_seconds`]: the average WebSocket message of
    /// the postern client's flood, so xterm.js gets its input cut as the page gets it.
    pub xterm_piece: u64,
}

/// The server process with idle terminals open. CPU is in seconds over
/// [`IdleSessions::window_seconds`] of wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleSessions {
    /// Terminals held open at a shell prompt.
    pub sessions: usize,
    /// Length of each CPU window.
    pub window_seconds: f64,
    /// Server RSS after one warm-up terminal came and went, bytes.
    pub rss_before: u64,
    /// Server RSS with the terminals open, bytes.
    pub rss_with: u64,
    /// Server CPU over a window before opening them.
    pub cpu_before: f64,
    /// Server CPU over a window with them open.
    pub cpu_with: f64,
    /// Connector RSS before and with them, bytes.
    pub connector_rss: (u64, u64),
}

/// The server process with terminals printing continuously (`base64 /dev/urandom`), the
/// client acknowledging like the web app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusySessions {
    /// Busy terminals.
    pub sessions: usize,
    /// Length of the measured window.
    pub window_seconds: f64,
    /// Server RSS after one warm-up terminal came and went, bytes.
    pub rss_before: u64,
    /// Highest server RSS sampled during the window, bytes.
    pub rss_peak: u64,
    /// Server CPU seconds over the window.
    pub server_cpu: f64,
    /// Connector CPU seconds over the window.
    pub connector_cpu: f64,
    /// The whole machine's busy CPU seconds over the window (all cores).
    pub machine_cpu: f64,
    /// Output bytes each terminal received during the window.
    pub bytes: Vec<u64>,
}
