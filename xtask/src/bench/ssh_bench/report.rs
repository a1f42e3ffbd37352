//! The SSH bench's results as one markdown report: browser and Postern against native `ssh`,
//! the server's cost per idle and busy terminal, the goals next to the measured
//! values, and where the flood's time goes.

use std::fmt::Write as _;
use std::time::Duration;

use super::exchange::{
    BusySessions, CpuSplit, FLOOD_MARKER, FloodRun, HA_CONNECTIONS, IdleSessions, Measured,
    Results, flood_command,
};
use crate::bench::stats::{Latency, added_micros};

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
    /// Output rendered in the browser, bytes.
    pub const RENDER_BYTES: u64 = 50_000_000;
    /// … within this many seconds.
    pub const RENDER_SECONDS: f64 = 5.0;
    /// Keystroke-to-echo p50 added over native ssh, milliseconds.
    pub const ECHO_ADDED_P50_MILLIS: f64 = 5.0;
}

const MIB: f64 = 1024.0 * 1024.0;

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn failed(error: &str) -> String {
    // Table cells cannot hold pipes or newlines.
    let short: String = error.chars().take(80).collect();
    format!("failed: {}", short.replace(['|', '\n'], " "))
}

fn latency(samples: &Measured<Vec<f64>>) -> Measured<Latency> {
    let samples = samples.as_ref().map_err(Clone::clone)?;
    Latency::of(
        samples
            .iter()
            .map(|micros| Duration::from_secs_f64(micros.max(0.0) / 1e6))
            .collect(),
    )
    .ok_or_else(|| "no samples".to_owned())
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn rate(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds.max(1e-9)
}

/// One way of reaching the shell: a column of the main table.
struct Column {
    name: String,
    /// Seconds of the flood.
    flood: Measured<f64>,
    echo: Measured<Latency>,
}

fn columns(results: &Results) -> Vec<Column> {
    let seconds =
        |run: &Measured<FloodRun>| run.as_ref().map(|run| run.seconds).map_err(Clone::clone);
    let mut columns = vec![
        Column {
            name: "native `ssh -tt`".to_owned(),
            flood: seconds(&results.flood.native),
            echo: latency(&results.echo.native),
        },
        Column {
            name: "postern client".to_owned(),
            flood: seconds(&results.flood.postern),
            echo: latency(&results.echo.postern),
        },
    ];
    let picked = match &results.flood.browser {
        Ok(flood) => format!("postern in Chromium, {}", renderer_name(&flood.renderer)),
        Err(_) => "postern in Chromium".to_owned(),
    };
    columns.push(Column {
        name: picked,
        flood: results
            .flood
            .browser
            .as_ref()
            .map(|flood| flood.seconds)
            .map_err(Clone::clone),
        echo: latency(&results.echo.browser),
    });
    if let (Some(flood), Some(echo)) = (&results.flood.browser_dom, &results.echo.browser_dom) {
        columns.push(Column {
            name: "postern in Chromium, DOM renderer".to_owned(),
            flood: flood
                .as_ref()
                .map(|flood| flood.seconds)
                .map_err(Clone::clone),
            echo: latency(echo),
        });
    }
    columns
}

fn renderer_name(renderer: &str) -> String {
    match renderer {
        "webgl" => "WebGL renderer".to_owned(),
        other => format!("{} renderer", other.to_uppercase()),
    }
}

fn flood_cell(seconds: &Measured<f64>, bytes: u64) -> String {
    match seconds {
        Ok(seconds) => format!("{seconds:.2} s ({:.1} MB/s)", rate(bytes, *seconds)),
        Err(error) => failed(error),
    }
}

fn echo_cell(echo: &Measured<Latency>) -> String {
    match echo {
        Ok(echo) => format!("{:.2} / {:.2}", millis(echo.p50), millis(echo.p99)),
        Err(error) => failed(error),
    }
}

fn added_cell(echo: &Measured<Latency>, native: &Measured<Latency>) -> String {
    match (echo, native) {
        (Ok(echo), Ok(native)) => format!(
            "{:+.2} / {:+.2}",
            added_micros(echo.p50, native.p50) / 1e3,
            added_micros(echo.p99, native.p99) / 1e3
        ),
        _ => "n/a".to_owned(),
    }
}

/// Renders the report as markdown.
pub fn render(context: &Context, results: &Results) -> String {
    let sizes = &results.sizes;
    let columns = columns(results);
    let mut out = String::new();
    let _ = writeln!(out, "# SSH benchmark\n");
    let _ = writeln!(
        out,
        "{} · {} · load average {} and {:.0} % of one core busy just before measuring. One run \
         on a possibly shared machine: compare columns of the same run, not absolute numbers \
         across runs.\n",
        context.date, context.machine, results.quiet.load_average, results.quiet.busy_percent
    );
    let fallback = if results.flood.browser_dom.is_some() {
        ", and with its DOM renderer after the WebGL context was taken away (the page's \
         fallback)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "All on 127.0.0.1, release builds, one sshd trusting only Postern's SSH CA. **native**: \
         OpenSSH `ssh -tt` with a CA-signed certificate straight to the sshd, driven through \
         pipes (no terminal emulator). **postern client**: a WebSocket client that speaks the \
         terminal protocol like the web app and acknowledges output at once, through \
         `postern-server` and `postern connector run` ({HA_CONNECTIONS} HA links) to the same \
         sshd. **postern in Chromium**: the web app's `/ssh/{{app}}` page in headless Chromium \
         (xterm.js) with the renderer it picked{fallback}. Session recording {} (the server's \
         default).\n",
        if results.recorded { "on" } else { "off" }
    );
    let header: Vec<&str> = columns.iter().map(|column| column.name.as_str()).collect();
    let _ = writeln!(out, "| | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(columns.len()));
    let cells =
        |cell: &dyn Fn(&Column) -> String| columns.iter().map(cell).collect::<Vec<_>>().join(" | ");
    let _ = writeln!(
        out,
        "| {:.0} MB of output, Enter → end marker | {} |",
        sizes.flood_bytes as f64 / 1e6,
        cells(&|column| flood_cell(&column.flood, sizes.flood_bytes))
    );
    let _ = writeln!(
        out,
        "| keystroke → echo p50 / p99 ms | {} |",
        cells(&|column| echo_cell(&column.echo))
    );
    let native = &columns[0].echo;
    let _ = writeln!(
        out,
        "| added over native p50 / p99 ms | – | {} |",
        columns[1..]
            .iter()
            .map(|column| added_cell(&column.echo, native))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        out,
        "\nMB = 10^6 bytes, MiB = 2^20 bytes. Flood: `{}` typed at the shell prompt, timed from \
         Enter until `{}` arrived (native, client) or was in xterm.js's buffer (Chromium, \
         polled every 50 ms). Echo: {} keystrokes after {} unmeasured ones into `cat` on the \
         remote PTY with echo on, alternating a letter and DEL so the line stays empty, each \
         timed from sending it until its whole echo arrived; in Chromium from `Terminal.input` \
         until the echo was parsed (Chromium's clock has 0.1 ms steps there). Nearest-rank \
         percentiles.\n",
        flood_command(sizes.flood_bytes),
        FLOOD_MARKER,
        sizes.echo_count,
        sizes.echo_warmup
    );
    render_flood_breakdown(&mut out, results);
    render_sessions(&mut out, results);
    render_goals(&mut out, results, &columns);
    out
}

fn render_sessions(out: &mut String, results: &Results) {
    let _ = writeln!(
        out,
        "## The server per terminal\n\n`postern-server` alone (its RSS and CPU time from `/proc`), \
         a freshly started process for each row, after one warm-up terminal came and went. CPU \
         in % of one core (this machine has {} cores).\n",
        cores()
    );
    let _ = writeln!(
        out,
        "| terminals | server RSS MiB | per terminal | server CPU | per terminal | output |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    match &results.idle {
        Ok(idle) => idle_row(out, idle),
        Err(error) => {
            let _ = writeln!(
                out,
                "| {} idle | {} | | | | |",
                results.sizes.idle_sessions,
                failed(error)
            );
        }
    }
    match &results.busy {
        Ok(busy) => busy_row(out, busy),
        Err(error) => {
            let _ = writeln!(
                out,
                "| {} busy | {} | | | | |",
                results.sizes.busy_sessions,
                failed(error)
            );
        }
    }
    let _ = writeln!(out);
    if let Ok(idle) = &results.idle {
        let (before, with) = idle.connector_rss;
        let _ = writeln!(
            out,
            "Idle: {} terminals at a shell prompt, CPU over {:.0} s before and {:.0} s with them \
             open; memory read at the end. The connector's RSS went from {:.1} to {:.1} MiB.\n",
            idle.sessions,
            idle.window_seconds,
            idle.window_seconds,
            before as f64 / MIB,
            with as f64 / MIB
        );
    }
    if let Ok(busy) = &results.busy {
        let cores = cores();
        let _ = writeln!(
            out,
            "Busy: `exec base64 /dev/urandom` in {} terminals, the client reading and \
             acknowledging as fast as it can, measured over {:.0} s once all were flowing; peak \
             RSS sampled every 250 ms. Meanwhile the connector used {:.0} % of a core and the \
             whole machine {:.0} % of {} %: the origin (sshd, the PTYs, base64), the client and \
             Postern share {} cores, so output per terminal is what this machine gives, not a \
             limit of the server alone.\n",
            busy.sessions,
            busy.window_seconds,
            percent(busy.connector_cpu, busy.window_seconds),
            percent(busy.machine_cpu, busy.window_seconds),
            100 * cores,
            cores
        );
    }
}

fn percent(cpu_seconds: f64, window_seconds: f64) -> f64 {
    100.0 * cpu_seconds / window_seconds.max(1e-9)
}

fn idle_row(out: &mut String, idle: &IdleSessions) {
    let count = idle.sessions.max(1) as f64;
    let before = percent(idle.cpu_before, idle.window_seconds);
    let with = percent(idle.cpu_with, idle.window_seconds);
    let _ = writeln!(
        out,
        "| {} idle | {:.1} → {:.1} | {:+.2} MiB | {before:.2} → {with:.2} % | {:+.3} % | – |",
        idle.sessions,
        idle.rss_before as f64 / MIB,
        idle.rss_with as f64 / MIB,
        (idle.rss_with as f64 - idle.rss_before as f64) / MIB / count,
        (with - before) / count
    );
}

fn busy_row(out: &mut String, busy: &BusySessions) {
    let count = busy.sessions.max(1) as f64;
    let server = percent(busy.server_cpu, busy.window_seconds);
    let rates: Vec<f64> = busy
        .bytes
        .iter()
        .map(|bytes| rate(*bytes, busy.window_seconds))
        .collect();
    let total: u64 = busy.bytes.iter().sum();
    let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let low = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let high = rates.iter().copied().fold(0.0, f64::max);
    let per_megabyte = if total > 0 {
        format!(
            "; {:.1} ms of server CPU per MB",
            1e3 * busy.server_cpu / (total as f64 / 1e6)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "| {} busy | {:.1} → {:.1} (peak) | {:+.2} MiB | {server:.0} % | {:.0} % | {mean:.1} MB/s \
         each ({low:.1}–{high:.1}){per_megabyte} |",
        busy.sessions,
        busy.rss_before as f64 / MIB,
        busy.rss_peak as f64 / MIB,
        (busy.rss_peak as f64 - busy.rss_before as f64) / MIB / count,
        server / count
    );
}

fn render_goals(out: &mut String, results: &Results, columns: &[Column]) {
    let _ = writeln!(out, "## Goals\n");
    let _ = writeln!(out, "| goal | measured | |");
    let _ = writeln!(out, "|---|---|---|");
    let flood_mb = results.sizes.flood_bytes / 1_000_000;
    // The browser columns; the first two are native and the client.
    for column in columns.iter().skip(2) {
        let (measured, judged) = match &column.flood {
            // The goal is for a given amount: a smaller run shows its time but no verdict.
            Ok(seconds) if results.sizes.flood_bytes >= goal::RENDER_BYTES => (
                format!("{seconds:.2} s"),
                verdict(*seconds <= goal::RENDER_SECONDS),
            ),
            Ok(seconds) => (
                format!("{seconds:.2} s for {flood_mb} MB"),
                "n/a: a smaller run",
            ),
            Err(_) => ("n/a (failed)".to_owned(), ""),
        };
        let _ = writeln!(
            out,
            "| {} MB of output rendered in the browser in ≤ {:.0} s ({}) | {measured} | {judged} |",
            goal::RENDER_BYTES / 1_000_000,
            goal::RENDER_SECONDS,
            column.name
        );
    }
    let native = &columns[0].echo;
    for column in columns.iter().skip(1) {
        match (&column.echo, native) {
            (Ok(echo), Ok(native)) => {
                let added = added_micros(echo.p50, native.p50) / 1e3;
                let _ = writeln!(
                    out,
                    "| keystroke echo added over native ssh, p50 ≤ {:.0} ms ({}) | {added:+.2} ms | {} |",
                    goal::ECHO_ADDED_P50_MILLIS,
                    column.name,
                    verdict(added <= goal::ECHO_ADDED_P50_MILLIS)
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "| keystroke echo added over native ssh, p50 ≤ {:.0} ms ({}) | n/a (failed) | |",
                    goal::ECHO_ADDED_P50_MILLIS,
                    column.name
                );
            }
        }
    }
    let _ = writeln!(out);
}

/// The flood's stages side by side: the origin and OpenSSH alone (native), Postern's path
/// to a client that renders nothing, xterm.js alone, and the page, per renderer.
/// One stage of the flood: how long it took, and where the CPU went when that was measured.
struct Timed {
    seconds: f64,
    cpu: Option<CpuSplit>,
}

fn render_flood_breakdown(out: &mut String, results: &Results) {
    let bytes = results.sizes.flood_bytes;
    let program = |run: &Measured<FloodRun>| {
        run.as_ref()
            .map(|run| Timed {
                seconds: run.seconds,
                cpu: Some(run.cpu),
            })
            .map_err(Clone::clone)
    };
    let mut rows: Vec<(String, Measured<Timed>)> = vec![
        (
            "native `ssh -tt`: the origin (sshd, PTY, base64) and OpenSSH".to_owned(),
            program(&results.flood.native),
        ),
        (
            "postern client: + gateway, connector, WebSocket; renders nothing".to_owned(),
            program(&results.flood.postern),
        ),
    ];
    let browsers = [
        ("the page's pick", Some(&results.flood.browser)),
        (
            "after the WebGL context was lost",
            results.flood.browser_dom.as_ref(),
        ),
    ];
    let mut gl_renderer = None;
    for (when, flood) in browsers {
        match flood {
            Some(Ok(flood)) => {
                let renderer = renderer_name(&flood.renderer);
                gl_renderer = gl_renderer.or(flood.gl_renderer.as_deref());
                rows.push((
                    format!("xterm.js alone, {renderer}: the same bytes from memory"),
                    flood
                        .xterm_seconds
                        .clone()
                        .map(|seconds| Timed { seconds, cpu: None }),
                ));
                rows.push((
                    format!("Chromium, {renderer} ({when})"),
                    Ok(Timed {
                        seconds: flood.seconds,
                        cpu: Some(flood.cpu),
                    }),
                ));
            }
            Some(Err(error)) => rows.push((format!("Chromium ({when})"), Err(error.clone()))),
            None => {}
        }
    }
    let piece = match &results.flood.browser {
        Ok(flood) => format!(
            "{:.1} KiB (the average message of the postern client's flood)",
            flood.xterm_piece as f64 / 1024.0
        ),
        Err(_) => "the size of the postern client's average message".to_owned(),
    };
    let _ = writeln!(
        out,
        "## Where the flood's time goes\n\nThe stages overlap (the server keeps up to 2 MiB in \
         flight), so the slowest bounds the total. \"xterm.js alone\" writes as many terminal \
         bytes of base64 lines straight into the page's terminal in pieces of {}, each with a \
         completion callback as the page does with each WebSocket message, and at most the \
         server's output window unparsed. CPU is the average over the run in % of one core \
         ({} % is the whole machine). Chromium's is split into its page (renderer: scripts, \
         xterm.js, layout, painting), its GPU process (compositing, and WebGL, in software \
         without a GPU) and the other processes; \"the rest\" is the origin (sshd, the PTY, \
         base64), the bench's client, the kernel and anything else running.\n",
        piece,
        100 * cores()
    );
    let _ = writeln!(
        out,
        "| stage | seconds | MB/s | CPU: Chromium | postern-server | connector | the rest |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (stage, measured) in rows {
        match measured {
            Ok(Timed { seconds, cpu }) => {
                let cpu: Vec<String> = match cpu {
                    Some(cpu) => {
                        let share = |used: f64| percent(used, seconds);
                        let chromium = cpu.chromium_page + cpu.chromium_gpu + cpu.chromium_other;
                        let rest = cpu.machine - cpu.server - cpu.connector - chromium;
                        vec![
                            format!(
                                "{:.0} % (page {:.0}, GPU {:.0}, other {:.0})",
                                share(chromium),
                                share(cpu.chromium_page),
                                share(cpu.chromium_gpu),
                                share(cpu.chromium_other)
                            ),
                            format!("{:.0} %", share(cpu.server)),
                            format!("{:.0} %", share(cpu.connector)),
                            format!("{:.0} %", share(rest.max(0.0))),
                        ]
                    }
                    None => vec![String::new(); 4],
                };
                let cpu = cpu.join(" | ");
                let _ = writeln!(
                    out,
                    "| {stage} | {seconds:.2} | {:.1} | {cpu} |",
                    rate(bytes, seconds)
                );
            }
            Err(error) => {
                let _ = writeln!(out, "| {stage} | {} | | | | | |", failed(&error));
            }
        }
    }
    if let Some(gl) = gl_renderer {
        let _ = writeln!(out, "\nWebGL ran on: {gl}.");
    }
    if let Ok(run) = &results.flood.postern {
        let _ = writeln!(
            out,
            "\nThe postern client received {:.1} MB of terminal bytes (the PTY adds a carriage \
             return to each line) in {} WebSocket messages, {:.1} KiB each on average.",
            run.received_bytes as f64 / 1e6,
            run.chunks,
            run.received_bytes as f64 / 1024.0 / run.chunks.max(1) as f64
        );
    }
    let _ = writeln!(out);
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::ssh_bench::exchange::{BrowserFlood, Echo, Flood, Quiet, Sizes};

    fn samples(p50_micros: f64) -> Vec<f64> {
        // 100 samples up to twice the median: p50 is the median, p99 is 1.98 times it.
        (1..=100)
            .map(|i| 2.0 * p50_micros * f64::from(i) / 100.0)
            .collect()
    }

    fn browser_flood(seconds: f64, renderer: &str, xterm_seconds: f64) -> BrowserFlood {
        BrowserFlood {
            seconds,
            cpu: CpuSplit {
                server: seconds * 0.1,
                connector: seconds * 0.05,
                chromium_page: seconds * 0.5,
                chromium_gpu: seconds * 0.9,
                chromium_other: seconds * 0.1,
                machine: seconds * 1.9,
            },
            renderer: renderer.to_owned(),
            gl_renderer: (renderer == "webgl").then(|| "SwiftShader Device".to_owned()),
            xterm_seconds: Ok(xterm_seconds),
            xterm_piece: 4096,
        }
    }

    fn results() -> Results {
        Results {
            sizes: Sizes::FULL,
            quiet: Quiet {
                load_average: "0.10 0.20 0.30".to_owned(),
                busy_percent: 3.0,
            },
            recorded: true,
            echo: Echo {
                native: Ok(samples(200.0)),
                postern: Ok(samples(700.0)),
                browser: Ok(samples(2_200.0)),
                browser_dom: Some(Ok(samples(1_200.0))),
            },
            flood: Flood {
                native: Ok(FloodRun {
                    seconds: 1.0,
                    received_bytes: 50_649_350,
                    chunks: 20_000,
                    cpu: CpuSplit {
                        machine: 1.5,
                        ..CpuSplit::default()
                    },
                }),
                postern: Ok(FloodRun {
                    seconds: 2.5,
                    received_bytes: 50_649_350,
                    chunks: 12_366,
                    cpu: CpuSplit {
                        server: 1.0,
                        connector: 0.5,
                        machine: 4.0,
                        ..CpuSplit::default()
                    },
                }),
                browser: Ok(browser_flood(20.0, "webgl", 8.0)),
                browser_dom: Some(Ok(browser_flood(4.0, "dom", 1.25))),
            },
            idle: Ok(IdleSessions {
                sessions: 50,
                window_seconds: 30.0,
                rss_before: 20 << 20,
                rss_with: 45 << 20,
                cpu_before: 0.03,
                cpu_with: 0.33,
                connector_rss: (10 << 20, 12 << 20),
            }),
            busy: Ok(BusySessions {
                sessions: 5,
                window_seconds: 30.0,
                rss_before: 20 << 20,
                rss_peak: 70 << 20,
                server_cpu: 15.0,
                connector_cpu: 9.0,
                machine_cpu: 57.0,
                bytes: vec![300_000_000; 5],
            }),
        }
    }

    fn context() -> Context {
        Context {
            date: "2026-11-22 07:00 UTC".to_owned(),
            machine: "2 × test CPU".to_owned(),
        }
    }

    fn line<'a>(text: &'a str, start: &str) -> &'a str {
        text.lines()
            .find(|line| line.starts_with(start))
            .unwrap_or_default()
    }

    const PICKED: &str =
        "| 50 MB of output rendered in the browser in ≤ 5 s (postern in Chromium, WebGL renderer)";
    const DOM: &str =
        "| 50 MB of output rendered in the browser in ≤ 5 s (postern in Chromium, DOM renderer)";
    const CLIENT_ECHO: &str = "| keystroke echo added over native ssh, p50 ≤ 5 ms (postern client)";
    const BROWSER_ECHO: &str =
        "| keystroke echo added over native ssh, p50 ≤ 5 ms (postern in Chromium, WebGL renderer)";
    const DOM_ECHO: &str =
        "| keystroke echo added over native ssh, p50 ≤ 5 ms (postern in Chromium, DOM renderer)";

    #[test]
    fn goals_and_the_flood_s_stages() {
        let text = render(&context(), &results());
        assert!(
            line(&text, PICKED).contains("| 20.00 s | **missed** |"),
            "{text}"
        );
        assert!(line(&text, DOM).contains("| 4.00 s | met |"), "{text}");
        let client = line(&text, CLIENT_ECHO);
        assert!(client.contains("+0.50 ms"), "{client}");
        assert!(client.ends_with("| met |"));
        assert!(line(&text, DOM_ECHO).contains("+1.00 ms"), "{text}");
        assert!(line(&text, "| keystroke → echo").contains("| 0.20 / 0.40 | 0.70 / 1.39 |"));
        assert!(line(&text, "| added over native").contains("| – | +0.50 / +0.99 |"));
        assert!(line(&text, "| added over native").ends_with("| +1.00 / +1.98 |"));
        let flood = line(&text, "| 50 MB of output, Enter");
        assert!(
            flood.contains(
                "| 1.00 s (50.0 MB/s) | 2.50 s (20.0 MB/s) | 20.00 s (2.5 MB/s) | 4.00 s (12.5 MB/s) |"
            ),
            "{flood}"
        );
        assert!(text.contains(
            "| | native `ssh -tt` | postern client | postern in Chromium, WebGL renderer | \
             postern in Chromium, DOM renderer |\n|---|---|---|---|---|\n"
        ));
        assert!(
            line(&text, "| xterm.js alone, WebGL renderer:").contains("| 8.00 | 6.2 |"),
            "{text}"
        );
        assert!(text.contains("WebGL ran on: SwiftShader Device."));
        assert!(
            text.contains(
                "in pieces of 4.0 KiB (the average message of the postern client's flood)"
            )
        );
        assert!(
            line(&text, "| postern client: + gateway")
                .ends_with("| 2.50 | 20.0 | 0 % (page 0, GPU 0, other 0) | 40 % | 20 % | 100 % |"),
            "{text}"
        );
        assert!(
            line(&text, "| Chromium, WebGL renderer (the page's pick)").ends_with(
                "| 20.00 | 2.5 | 150 % (page 50, GPU 90, other 10) | 10 % | 5 % | 25 % |"
            ),
            "{text}"
        );
        assert!(
            line(&text, "| xterm.js alone, DOM renderer").ends_with("| 1.25 | 40.0 |  |  |  |  |")
        );
        assert!(
            line(
                &text,
                "| Chromium, DOM renderer (after the WebGL context was lost)"
            )
            .contains("| 4.00 | 12.5 |"),
            "{text}"
        );
        assert!(
            text.contains("in 12366 WebSocket messages, 4.0 KiB each"),
            "{text}"
        );
    }

    #[test]
    fn per_terminal_arithmetic() {
        let text = render(&context(), &results());
        // 25 MiB over 50 terminals; 1 % of a core over 50.
        let idle = line(&text, "| 50 idle");
        assert!(idle.contains("20.0 → 45.0"), "{idle}");
        assert!(idle.contains("+0.50 MiB"), "{idle}");
        assert!(idle.contains("0.10 → 1.10 %"), "{idle}");
        assert!(idle.contains("+0.020 %"), "{idle}");
        // 50 % of a core over 5 terminals; 10 MB/s each; 15 s of CPU for 1500 MB.
        let busy = line(&text, "| 5 busy");
        assert!(busy.contains("| 50 % | 10 % |"), "{busy}");
        assert!(busy.contains("10.0 MB/s each (10.0–10.0)"), "{busy}");
        assert!(busy.contains("10.0 ms of server CPU per MB"), "{busy}");
        assert!(busy.contains("+10.00 MiB"), "{busy}");
    }

    #[test]
    fn failures_and_small_runs_are_visible() {
        let mut results = results();
        results.echo.native = Err("ssh exited | badly\nreally".to_owned());
        results.busy = Err("a busy terminal stopped".to_owned());
        results.flood.browser_dom = None;
        results.echo.browser_dom = None;
        results.flood.postern = Err("closed".to_owned());
        let text = render(&context(), &results);
        // Without the native baseline there is nothing to add to.
        assert!(line(&text, BROWSER_ECHO).contains("n/a"));
        let echo = line(&text, "| keystroke → echo");
        assert!(echo.contains("failed: ssh exited   badly really"), "{echo}");
        assert!(line(&text, "| 5 busy").contains("failed: a busy terminal stopped"));
        assert!(!text.contains("Busy: `exec"));
        assert!(line(&text, DOM).is_empty());
        assert!(!text.contains("DOM renderer |"));
        assert!(!text.contains("the page's fallback"));
        assert!(line(&text, "| postern client: + gateway").contains("failed: closed"));
        assert!(!text.contains("WebSocket messages,"));

        let mut results = self::results();
        results.sizes = Sizes::QUICK;
        results.echo.browser = Ok(samples(6_000.0));
        let text = render(&context(), &results);
        assert!(
            line(&text, PICKED).ends_with("| 20.00 s for 10 MB | n/a: a smaller run |"),
            "{text}"
        );
        let chromium = line(&text, BROWSER_ECHO);
        assert!(chromium.contains("+5.80 ms"), "{chromium}");
        assert!(chromium.ends_with("**missed** |"), "{chromium}");
    }
}
