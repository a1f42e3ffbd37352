//! The RDP bench's results as one markdown table: the native client and the page in Chromium
//! through the gateway next to `xfreerdp` straight to the origin, the server's CPU per
//! session, the page's download, and the goals next to the measured values.

use std::fmt::Write as _;

use super::exchange::{
    Cpu, FRAME_GAP_MILLIS, HA_CONNECTIONS, MOVE_PAUSE_MILLIS, Measured, Results,
};
use crate::bench::stats::median;

/// What the run does not know itself.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// When (UTC).
    pub date: String,
    /// CPU model and count, kernel.
    pub machine: String,
}

/// The goals.
pub mod goal {
    /// Click on Connect to the first frame in the browser, median, seconds.
    pub const FIRST_FRAME_SECONDS: f64 = 1.5;
    /// Server CPU per RDP session while relaying a moving window, % of one core.
    pub const SESSION_CPU_PERCENT: f64 = 1.0;
}

/// A file's size as is and compressed, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compressed {
    /// On disk.
    pub raw: u64,
    /// `gzip -9`.
    pub gzip: u64,
    /// `brotli -q 11`, when the CLI is installed.
    pub brotli: Option<u64>,
}

/// One downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Its file name.
    pub name: String,
    /// Its sizes, or why they are unknown.
    pub sizes: Measured<Compressed>,
}

/// What the browser downloads: the RDP module only the desktop page loads, and the main app
/// every page loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The RDP module's WebAssembly.
    pub rdp_wasm: Asset,
    /// Its JS glue.
    pub rdp_js: Asset,
    /// The main app's WebAssembly.
    pub app_wasm: Asset,
    /// Its JS glue.
    pub app_js: Asset,
    /// Whether the `brotli` CLI was there to measure with.
    pub brotli: bool,
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn failed(error: &str) -> String {
    // Table cells cannot hold pipes or newlines.
    let short: String = error.chars().take(80).collect();
    format!("failed: {}", short.replace(['|', '\n'], " "))
}

fn percent(used: f64, seconds: f64) -> f64 {
    100.0 * used / seconds.max(1e-9)
}

fn megabytes_per_second(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds.max(1e-9)
}

fn kib(bytes: u64) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// Median and range of first-frame samples, in seconds.
fn first_frame_cell(samples: &Measured<Vec<f64>>) -> (String, Option<f64>) {
    match samples {
        Ok(samples) => match median(samples) {
            Some(middle) => {
                let low = samples.iter().copied().fold(f64::INFINITY, f64::min);
                let high = samples.iter().copied().fold(0.0, f64::max);
                (
                    format!(
                        "{middle:.2} s ({low:.2}–{high:.2}, {} connects)",
                        samples.len()
                    ),
                    Some(middle),
                )
            }
            None => ("no samples".to_owned(), None),
        },
        Err(error) => (failed(error), None),
    }
}

/// Server CPU with one session open in % of a core, and the cell that shows it with the
/// connector's. With the server's CPU with no session open (`idle`, measured in the same run),
/// the figure for the goal is what the session adds: the relay's own cost, without the
/// heartbeats and sweeps the server runs anyway.
fn session_cpu_cell(cpu: &Measured<Cpu>, idle: Option<f64>) -> (String, Option<f64>) {
    match cpu {
        Ok(cpu) => {
            let server = percent(cpu.server, cpu.seconds);
            let connector = percent(cpu.connector, cpu.seconds);
            match idle {
                Some(idle) => {
                    let relay = (server - idle).max(0.0);
                    (
                        format!(
                            "{relay:.2} % relaying ({server:.2} % in all, {idle:.2} % with no \
                             session; connector {connector:.2} %)"
                        ),
                        Some(relay),
                    )
                }
                None => (
                    format!("{server:.2} % in all (connector {connector:.2} %)"),
                    Some(server),
                ),
            }
        }
        Err(error) => (failed(error), None),
    }
}

fn asset_cell(asset: &Asset, brotli: bool) -> String {
    match &asset.sizes {
        Ok(sizes) => {
            let brotli = match (brotli, sizes.brotli) {
                (true, Some(bytes)) => kib(bytes),
                _ => "n/a".to_owned(),
            };
            format!(
                "`{}` {} / {} / {}",
                asset.name,
                kib(sizes.raw),
                kib(sizes.gzip),
                brotli
            )
        }
        Err(error) => failed(error),
    }
}

/// Renders the report as markdown.
pub fn render(context: &Context, results: &Results, download: &Download) -> String {
    let sizes = &results.sizes;
    let motion = &results.motion;
    let mut out = String::new();
    let _ = writeln!(out, "# RDP benchmark\n");
    let _ = writeln!(
        out,
        "{} · {} · load average {} and {:.0} % of one core busy just before measuring. One run \
         on a possibly shared machine: compare columns of the same run, not absolute numbers \
         across runs.\n",
        context.date, context.machine, results.quiet.load_average, results.quiet.busy_percent
    );
    let _ = writeln!(
        out,
        "All on 127.0.0.1, release builds. Two origins: the FreeRDP shadow server (NLA) sharing \
         a {} Xvfb screen with an `xterm` on it, for the first frame and the idle session; and \
         xrdp 0.9 (TLS, Xorg backend, RemoteFX), for the moving window: one client at a time \
         logs in, and on its session's display an `xterm` is opened that `xdotool` moves \
         (waiting for each move) every {MOVE_PAUSE_MILLIS} ms across the whole screen for {} s, \
         measured after a 1 s ramp. **native client**: the \
         `rdp` crate the page runs as WebAssembly, built natively, through `postern-server` \
         (RDCleanPath gateway) and `postern connector run` ({HA_CONNECTIONS} HA links); it \
         reads every PDU and decodes it into its image but draws nothing. **Chromium**: the \
         `/rdp/{{app}}` page in headless Chromium (no GPU), same path, its window sized so that \
         the page asks for the same 1024×768 desktop. **xfreerdp direct**: \
         FreeRDP 2's own client straight to xrdp through a counting TCP relay, with `/rfx` so \
         that xrdp encodes RemoteFX for it as for the `rdp` crate.\n",
        results.desktop, sizes.motion_seconds
    );

    let (native_first, _) = first_frame_cell(&results.first_frame.native);
    let (browser_first, browser_median) = first_frame_cell(&results.first_frame.browser);
    let first_goal = match browser_median {
        Some(middle) => verdict(middle <= goal::FIRST_FRAME_SECONDS),
        None => "n/a",
    };

    let native_frames = match &motion.native {
        Ok(run) => {
            let seconds = run.cpu.seconds;
            format!(
                "{:.1} frames/s ({:.0} graphics PDUs/s, {:.0} rectangles/s; {})",
                run.frames as f64 / seconds.max(1e-9),
                run.graphics_pdus as f64 / seconds.max(1e-9),
                run.rectangles as f64 / seconds.max(1e-9),
                run.screen
            )
        }
        Err(error) => failed(error),
    };
    let browser_frames = match &motion.browser {
        Ok(run) => format!(
            "{:.1} painted frames/s ({})",
            run.frames as f64 / run.cpu.seconds.max(1e-9),
            run.screen
        ),
        Err(error) => failed(error),
    };
    let native_bytes = match &motion.native {
        Ok(run) => format!(
            "{:.2} MB/s on the WebSocket ({} PDUs)",
            megabytes_per_second(run.bytes, run.cpu.seconds),
            run.pdus
        ),
        Err(error) => failed(error),
    };
    let direct_bytes = match &motion.direct {
        Ok(run) => format!(
            "{:.2} MB/s over TCP (TLS records; {})",
            megabytes_per_second(run.bytes, run.seconds),
            run.screen
        ),
        Err(error) => failed(error),
    };

    let idle_server = results
        .idle
        .as_ref()
        .ok()
        .map(|idle| percent(idle.without.server, idle.without.seconds));
    let (native_cpu, native_percent) = session_cpu_cell(
        &motion
            .native
            .as_ref()
            .map(|run| run.cpu)
            .map_err(Clone::clone),
        idle_server,
    );
    let (browser_cpu, browser_percent) = session_cpu_cell(
        &motion
            .browser
            .as_ref()
            .map(|run| run.cpu)
            .map_err(Clone::clone),
        idle_server,
    );
    let browser_cpu = match &motion.browser {
        Ok(run) => format!(
            "{browser_cpu}; Chromium {:.0} %",
            percent(run.chromium, run.cpu.seconds)
        ),
        Err(_) => browser_cpu,
    };
    // A window without updates relayed nothing: its CPU says nothing about the goal.
    let native_moved = motion
        .native
        .as_ref()
        .is_ok_and(|run| run.graphics_pdus > 0);
    let browser_moved = motion.browser.as_ref().is_ok_and(|run| run.frames > 0);
    let measured_cpu: Vec<f64> = [
        native_percent.filter(|_| native_moved),
        browser_percent.filter(|_| browser_moved),
    ]
    .into_iter()
    .flatten()
    .collect();
    let cpu_goal = if measured_cpu.is_empty() {
        "n/a (no updates relayed)"
    } else {
        verdict(
            measured_cpu
                .iter()
                .all(|used| *used <= goal::SESSION_CPU_PERCENT),
        )
    };
    let (idle_cell, idle_baseline) = match &results.idle {
        Ok(idle) => (
            format!(
                "{:.2} % (connector {:.2} %; {:.1} KB/s received)",
                percent(idle.with.server, idle.with.seconds),
                percent(idle.with.connector, idle.with.seconds),
                idle.bytes as f64 / 1e3 / idle.with.seconds.max(1e-9)
            ),
            format!(
                "{:.2} % with no session",
                percent(idle.without.server, idle.without.seconds)
            ),
        ),
        Err(error) => (failed(error), String::new()),
    };

    let _ = writeln!(
        out,
        "| | Postern, native client | Postern in Chromium | baseline | goal |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| connect → first frame, median (min–max) | {native_first} | {browser_first} | – | \
         ≤ {:.1} s in the browser: {first_goal} |",
        goal::FIRST_FRAME_SECONDS
    );
    let _ = writeln!(
        out,
        "| moving window: frames | {native_frames} | {browser_frames} | xfreerdp direct: not \
         measured | – |"
    );
    let _ = writeln!(
        out,
        "| moving window: bytes received | {native_bytes} | not measured | xfreerdp direct: \
         {direct_bytes} | – |"
    );
    let _ = writeln!(
        out,
        "| `postern-server` CPU, one session, moving window (% of one core) | {native_cpu} | \
         {browser_cpu} | – | ≤ {:.0} % per session: {cpu_goal} |",
        goal::SESSION_CPU_PERCENT
    );
    let _ = writeln!(
        out,
        "| `postern-server` CPU, one idle session (% of one core) | {idle_cell} | – | \
         {idle_baseline} | – |"
    );
    let _ = writeln!(
        out,
        "| download: RDP module, raw / gzip -9 / brotli | – | {} · {} | main app: {} · {} | – |",
        asset_cell(&download.rdp_wasm, download.brotli),
        asset_cell(&download.rdp_js, download.brotli),
        asset_cell(&download.app_wasm, download.brotli),
        asset_cell(&download.app_js, download.brotli)
    );
    let _ = writeln!(out);

    let goals = [
        format!(
            "click → first frame in the browser ≤ {:.1} s: {first_goal}",
            goal::FIRST_FRAME_SECONDS
        ),
        format!(
            "server CPU a session adds while relaying a moving window ≤ {:.0} % of a core: \
             {cpu_goal}",
            goal::SESSION_CPU_PERCENT
        ),
    ];
    let _ = writeln!(out, "Goals: {}.\n", goals.join("; "));
    let _ = writeln!(
        out,
        "**Connect → first frame**: native, from asking for the ticket to the first graphics \
         update decoded; Chromium, from the click on Connect (the RDP module already loaded, as \
         it is while a person types) to the screen's `data-frames` turning 1, timed in the page: \
         ticket, WebSocket, TLS to the origin, NLA, capabilities, first paint into the canvas. \
         **Frames**: native, runs of graphics PDUs less than {FRAME_GAP_MILLIS} ms apart (xrdp \
         sends each batch of damage it encodes back to back); Chromium, frames the page \
         painted (at most one per animation frame). Both are bounded by how often xrdp encodes \
         its screen and by the {MOVE_PAUSE_MILLIS} ms between moves (at most {} moves/s), not \
         only by the gateway; the session's screen size is in each cell. **Bytes**: the native client counts the RDP \
         bytes in the WebSocket's messages (the gateway ends TLS to the origin); xfreerdp's are \
         the TCP bytes from xrdp (TLS adds a few per cent); both asked for RemoteFX. \
         **CPU** is the time the server's and the connector's threads ran over the {} s \
         window, to the nanosecond from `/proc/PID/task/TID/schedstat`; \
         \"relaying\" is the server's figure less its figure over a window with no session \
         open (heartbeats on the connector links, sweeps), which is the goal's \"relay only\". \
         The connector, the origin and the clients run beside the server on the same two \
         cores, as do xrdp and the session's Xorg, which encode every frame.",
        1000 / MOVE_PAUSE_MILLIS.max(1),
        sizes.motion_seconds
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::rdp::exchange::{
        BrowserMotion, DirectMotion, FirstFrame, Idle, Motion, NativeMotion, Quiet, Sizes,
    };

    fn cpu(server: f64) -> Cpu {
        Cpu {
            seconds: 10.0,
            server,
            connector: 0.05,
            machine: 5.0,
        }
    }

    fn results() -> Results {
        Results {
            sizes: Sizes::FULL,
            quiet: Quiet {
                load_average: "0.10 0.20 0.30".to_owned(),
                busy_percent: 3.0,
            },
            desktop: "1024×768".to_owned(),
            first_frame: FirstFrame {
                native: Ok(vec![0.3, 0.2, 0.4]),
                browser: Ok(vec![0.9, 1.2, 0.8, 2.0]),
            },
            motion: Motion {
                native: Ok(NativeMotion {
                    screen: "1024×768".to_owned(),
                    cpu: cpu(0.08),
                    bytes: 20_000_000,
                    pdus: 3_000,
                    graphics_pdus: 2_000,
                    rectangles: 4_000,
                    frames: 160,
                }),
                browser: Ok(BrowserMotion {
                    screen: "1280×900".to_owned(),
                    cpu: cpu(0.2),
                    frames: 150,
                    chromium: 9.0,
                }),
                direct: Ok(DirectMotion {
                    screen: "1024×768".to_owned(),
                    seconds: 10.0,
                    bytes: 30_000_000,
                }),
            },
            idle: Ok(Idle {
                without: cpu(0.001),
                with: cpu(0.002),
                bytes: 10_000,
            }),
        }
    }

    fn download() -> Download {
        let asset = |name: &str| Asset {
            name: name.to_owned(),
            sizes: Ok(Compressed {
                raw: 2048 * 1024,
                gzip: 700 * 1024,
                brotli: None,
            }),
        };
        Download {
            rdp_wasm: asset("rdp_web_bg.wasm"),
            rdp_js: asset("rdp_web.js"),
            app_wasm: asset("web_bg.wasm"),
            app_js: Asset {
                name: "web.js".to_owned(),
                sizes: Err("no web.js".to_owned()),
            },
            brotli: false,
        }
    }

    fn line<'a>(text: &'a str, start: &str) -> &'a str {
        text.lines()
            .find(|line| line.starts_with(start))
            .unwrap_or_default()
    }

    #[test]
    fn values_and_goals() {
        let text = render(&Context::default(), &results(), &download());
        let first = line(&text, "| connect → first frame");
        assert!(
            first.contains("| 0.30 s (0.20–0.40, 3 connects) | 1.05 s (0.80–2.00, 4 connects) |"),
            "{first}"
        );
        assert!(first.ends_with("≤ 1.5 s in the browser: met |"), "{first}");
        let frames = line(&text, "| moving window: frames");
        assert!(
            frames.contains("16.0 frames/s (200 graphics PDUs/s, 400 rectangles/s; 1024×768)"),
            "{frames}"
        );
        assert!(
            frames.contains("| 15.0 painted frames/s (1280×900) |"),
            "{frames}"
        );
        let bytes = line(&text, "| moving window: bytes");
        assert!(bytes.contains("2.00 MB/s on the WebSocket"), "{bytes}");
        assert!(bytes.contains("3.00 MB/s over TCP"), "{bytes}");
        let cpu = line(&text, "| `postern-server` CPU, one session");
        assert!(
            cpu.contains(
                "| 0.79 % relaying (0.80 % in all, 0.01 % with no session; connector 0.50 %) |"
            ),
            "{cpu}"
        );
        assert!(
            cpu.contains("1.99 % relaying (2.00 % in all, 0.01 % with no session; connector 0.50 %); Chromium 90 %"),
            "{cpu}"
        );
        assert!(cpu.ends_with("≤ 1 % per session: **missed** |"), "{cpu}");
        let idle = line(&text, "| `postern-server` CPU, one idle");
        assert!(idle.contains("| 0.02 % (connector 0.50 %; 1.0 KB/s received) |"));
        assert!(idle.contains("| 0.01 % with no session |"), "{idle}");
        let download = line(&text, "| download");
        assert!(
            download.contains("`rdp_web_bg.wasm` 2048 KiB / 700 KiB / n/a"),
            "{download}"
        );
        assert!(download.contains("failed: no web.js"), "{download}");
        assert!(text.contains(
            "server CPU a session adds while relaying a moving window ≤ 1 % of a core: **missed**"
        ));
    }

    #[test]
    fn the_goal_counts_what_the_session_adds() {
        let mut results = results();
        // 1.10 % in all, 0.30 % without a session: the relay adds 0.80 %.
        results.motion.native.as_mut().unwrap().cpu = cpu(0.11);
        results.motion.browser.as_mut().unwrap().cpu = cpu(0.1);
        results.idle.as_mut().unwrap().without = cpu(0.03);
        let text = render(&Context::default(), &results, &download());
        let cpu_line = line(&text, "| `postern-server` CPU, one session");
        assert!(
            cpu_line.contains("| 0.80 % relaying (1.10 % in all"),
            "{cpu_line}"
        );
        assert!(cpu_line.ends_with("≤ 1 % per session: met |"), "{cpu_line}");
        // Without the window with no session, the whole figure counts.
        results.idle = Err("no desktop".to_owned());
        let text = render(&Context::default(), &results, &download());
        let cpu_line = line(&text, "| `postern-server` CPU, one session");
        assert!(
            cpu_line.contains("| 1.10 % in all (connector 0.50 %) |"),
            "{cpu_line}"
        );
        assert!(
            cpu_line.ends_with("≤ 1 % per session: **missed** |"),
            "{cpu_line}"
        );
    }

    #[test]
    fn failures_are_visible() {
        let mut results = results();
        results.first_frame.browser = Err("chromium | gone\nreally".to_owned());
        results.motion.browser = Err("no session".to_owned());
        results.motion.native = Err("closed".to_owned());
        let text = render(&Context::default(), &results, &download());
        let first = line(&text, "| connect → first frame");
        assert!(first.contains("failed: chromium   gone really"), "{first}");
        assert!(first.ends_with("in the browser: n/a |"), "{first}");
        assert!(
            line(&text, "| `postern-server` CPU, one session")
                .ends_with(": n/a (no updates relayed) |")
        );
        assert!(line(&text, "| moving window: frames").contains("failed: closed"));
    }
}
