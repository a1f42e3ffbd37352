//! The results of one run and their rendering as one markdown report: the table, the issue's
//! targets next to the measured values, and where the CPU went during the bulk runs.

use std::fmt::Write as _;

use super::load::Active;
use super::stats::{Latency, added_micros, median};

/// A measurement, or why it failed (the bench goes on and shows the failure in its cell).
pub type Measured<T> = Result<T, String>;

/// What was measured for one path.
#[derive(Debug, Clone)]
pub struct PathResult {
    /// Row label.
    pub name: String,
    /// MB/s of each bulk run.
    pub bulk: Measured<Vec<f64>>,
    /// 64-byte round trips.
    pub echo: Measured<Latency>,
    /// Connect to first byte.
    pub setup: Measured<Latency>,
    /// The concurrent echo load.
    pub active: Measured<Active>,
    /// Average CPU of each process during the bulk runs, in % of one core.
    pub bulk_cpu: Vec<(String, f64)>,
}

/// The idle-streams measurement (postern only).
#[derive(Debug, Clone, Default)]
pub struct IdleResult {
    /// Streams asked for.
    pub target: usize,
    /// Streams held open at once.
    pub opened: usize,
    /// How long opening took.
    pub seconds: f64,
    /// Why it stopped short, if it did.
    pub stalled: Option<String>,
    /// postern-server RSS before opening, bytes.
    pub server_before: Option<u64>,
    /// postern-server RSS with the streams open, bytes.
    pub server_with: Option<u64>,
    /// `postern access tcp` RSS with the streams open, bytes.
    pub access_with: Option<u64>,
    /// Connector RSS with the streams open, bytes.
    pub connector_with: Option<u64>,
}

/// The run's parameters and context.
#[derive(Debug, Clone, Default)]
pub struct Parameters {
    /// When (UTC).
    pub date: String,
    /// CPU model and count, kernel.
    pub machine: String,
    /// Bytes per bulk run.
    pub bulk_bytes: u64,
    /// Bulk runs per path.
    pub bulk_runs: usize,
    /// Unmeasured round trips first.
    pub echo_warmup: usize,
    /// Measured round trips.
    pub echo_count: usize,
    /// New streams.
    pub setups: usize,
    /// Concurrent echo streams.
    pub active_streams: usize,
    /// Bytes each.
    pub active_payload: usize,
    /// Connector links asked for and seen attaching.
    pub connector_links: (usize, usize),
    /// The soft open-file limit the processes ran with.
    pub open_files: Option<u64>,
}

/// Everything one run produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// Parameters.
    pub parameters: Parameters,
    /// Client → origin.
    pub direct: PathResult,
    /// Through `ssh -L`.
    pub ssh: PathResult,
    /// Through postern.
    pub postern: PathResult,
    /// Through three bare relays on postern's hops: the best any three-process path does here.
    pub floor: PathResult,
    /// Idle streams through postern.
    pub idle: Measured<IdleResult>,
}

/// The targets.
pub mod target {
    /// postern's bulk throughput over ssh -L's.
    pub const BULK_RATIO: f64 = 1.5;
    /// Echo p50 added over direct, µs.
    pub const ECHO_ADDED_P50_MICROS: f64 = 100.0;
    /// Echo p99 added over direct, µs.
    pub const ECHO_ADDED_P99_MICROS: f64 = 1000.0;
    /// New stream setup p50, ms.
    pub const SETUP_P50_MILLIS: f64 = 2.0;
    /// Server RSS with the idle streams open, MiB.
    pub const IDLE_SERVER_RSS_MIB: f64 = 256.0;
}

const MIB: f64 = 1024.0 * 1024.0;
/// The fewest idle streams a per-stream memory figure is computed from.
const PER_STREAM_MIN: usize = 1000;

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "?".to_owned(), |b| format!("{:.0}", b as f64 / MIB))
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn failed(error: &str) -> String {
    // Table cells cannot hold pipes or newlines.
    let short: String = error.chars().take(60).collect();
    format!("failed: {}", short.replace(['|', '\n'], " "))
}

fn bulk_median(path: &PathResult) -> Option<f64> {
    path.bulk.as_ref().ok().and_then(|runs| median(runs))
}

fn bulk_cell(path: &PathResult) -> String {
    match &path.bulk {
        Ok(runs) => match median(runs) {
            Some(middle) => {
                let all = runs
                    .iter()
                    .map(|r| format!("{r:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("**{middle:.0}** ({all})")
            }
            None => "no runs".to_owned(),
        },
        Err(error) => failed(error),
    }
}

fn micros(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn echo_cells(path: &PathResult, direct: &PathResult, is_direct: bool) -> [String; 3] {
    match (&path.echo, &direct.echo) {
        (Ok(echo), Ok(base)) if !is_direct => [
            format!("{:.0}", micros(echo.p50)),
            format!("{:.0}", micros(echo.p99)),
            format!(
                "{:+.0} / {:+.0}",
                added_micros(echo.p50, base.p50),
                added_micros(echo.p99, base.p99)
            ),
        ],
        (Ok(echo), _) => [
            format!("{:.0}", micros(echo.p50)),
            format!("{:.0}", micros(echo.p99)),
            "–".to_owned(),
        ],
        (Err(error), _) => [failed(error), String::new(), String::new()],
    }
}

fn setup_cells(path: &PathResult) -> [String; 2] {
    match &path.setup {
        Ok(setup) => [
            format!("{:.2}", setup.p50.as_secs_f64() * 1e3),
            format!("{:.2}", setup.p99.as_secs_f64() * 1e3),
        ],
        Err(error) => [failed(error), String::new()],
    }
}

fn active_cell(path: &PathResult) -> String {
    match &path.active {
        Ok(active) => {
            let mut cell = format!(
                "{}/{} intact in {:.1} s",
                active.intact, active.streams, active.seconds
            );
            if let Some(error) = &active.first_error {
                let _ = write!(cell, " ({})", failed(error));
            }
            cell
        }
        Err(error) => failed(error),
    }
}

/// Renders the report as markdown.
pub fn render(report: &Report) -> String {
    let setup = &report.parameters;
    let mut out = String::new();
    let _ = writeln!(out, "# Tunnel benchmark\n");
    let _ = writeln!(
        out,
        "{} · {} · open-file limit {}. One run on a possibly shared machine: compare rows \
         of the same run, not absolute numbers across runs.\n",
        setup.date,
        setup.machine,
        setup
            .open_files
            .map_or_else(|| "?".to_owned(), |n| n.to_string())
    );
    let _ = writeln!(
        out,
        "Paths: **direct** client → origin; **ssh -L** OpenSSH `ssh -N -L -c {}` to a local \
         sshd; **postern** client → `postern access tcp` → `postern-server` → `postern \
         connector run` ({} of {} HA links seen attaching) → origin, TLS on both hops, release \
         builds; **floor** the same four hops through three bare forwarding processes \
         (plain TCP both sides, no TLS, no framing), the best any three-process path can do \
         here. All on 127.0.0.1.\n",
        super::ssh::CIPHER,
        setup.connector_links.1,
        setup.connector_links.0
    );
    let _ = writeln!(
        out,
        "| path | bulk MB/s, median ({} × {} MiB) | echo p50 µs | echo p99 µs | echo added \
         over direct p50 / p99 µs | setup p50 ms | setup p99 ms | {} concurrent × {} KiB echoed |",
        setup.bulk_runs,
        setup.bulk_bytes / (1024 * 1024),
        setup.active_streams,
        setup.active_payload / 1024
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for (path, is_direct) in [
        (&report.direct, true),
        (&report.ssh, false),
        (&report.postern, false),
        (&report.floor, false),
    ] {
        let [p50, p99, added] = echo_cells(path, &report.direct, is_direct);
        let [setup_p50, setup_p99] = setup_cells(path);
        let _ = writeln!(
            out,
            "| {} | {} | {p50} | {p99} | {added} | {setup_p50} | {setup_p99} | {} |",
            path.name,
            bulk_cell(path),
            active_cell(path)
        );
    }
    let _ = writeln!(
        out,
        "\nMB = 10^6 bytes, MiB = 2^20 bytes. Echo: {} sequential 64-byte round trips on one \
         connection after {} warm-up ones. Setup: {} sequential new connections to the local \
         port, timed from connect to the origin's first byte. Concurrent echo: all connections \
         opened first, then every payload sent at once; \"intact\" means length and SHA-256 \
         equal.\n",
        setup.echo_count, setup.echo_warmup, setup.setups
    );
    render_idle(&mut out, &report.idle);
    render_targets(&mut out, report);
    render_floor(&mut out, report);
    render_cpu(&mut out, report);
    out
}

fn render_idle(out: &mut String, idle: &Measured<IdleResult>) {
    match idle {
        Ok(idle) => {
            let _ = write!(
                out,
                "**Idle streams through postern:** {} of {} held open at once (opened in {:.1} s); \
                 postern-server RSS {} MiB before, {} MiB with them open",
                idle.opened,
                idle.target,
                idle.seconds,
                mib(idle.server_before),
                mib(idle.server_with)
            );
            // Below a thousand streams the difference drowns in allocator noise (memory freed
            // by the earlier loads is reused first).
            if let (Some(before), Some(with)) = (idle.server_before, idle.server_with)
                && idle.opened >= PER_STREAM_MIN
            {
                let per_stream = (with as f64 - before as f64) / idle.opened as f64;
                let _ = write!(out, " ({:+.1} KiB per stream", per_stream / 1024.0);
                if idle.opened < idle.target {
                    let _ = write!(
                        out,
                        "; {:.0} MiB extrapolated to {}",
                        (before as f64 + per_stream * idle.target as f64) / MIB,
                        idle.target
                    );
                }
                let _ = write!(out, ")");
            }
            let _ = writeln!(
                out,
                "; `postern access tcp` {} MiB, connector {} MiB with them open.",
                mib(idle.access_with),
                mib(idle.connector_with)
            );
            if let Some(stalled) = &idle.stalled {
                let _ = writeln!(out, "Opening stopped: {stalled}.");
            }
            let _ = writeln!(out);
        }
        Err(error) => {
            let _ = writeln!(out, "**Idle streams through postern:** {}\n", failed(error));
        }
    }
}

fn render_targets(out: &mut String, report: &Report) {
    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(out, "| target | measured | |");
    let _ = writeln!(out, "|---|---|---|");
    let na = "n/a (measurement failed)";
    match (bulk_median(&report.postern), bulk_median(&report.ssh)) {
        (Some(postern), Some(ssh)) if ssh > 0.0 => {
            let ratio = postern / ssh;
            let _ = writeln!(
                out,
                "| postern bulk ≥ {:.1}× ssh -L | {ratio:.2}× ({postern:.0} vs {ssh:.0} MB/s) | {} |",
                target::BULK_RATIO,
                verdict(ratio >= target::BULK_RATIO)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "| postern bulk ≥ {:.1}× ssh -L | {na} | |",
                target::BULK_RATIO
            );
        }
    }
    match (&report.postern.echo, &report.direct.echo) {
        (Ok(echo), Ok(base)) => {
            let ssh = report.ssh.echo.as_ref().ok();
            let added_p50 = added_micros(echo.p50, base.p50);
            let added_p99 = added_micros(echo.p99, base.p99);
            let ssh_note = |pick: fn(&Latency) -> std::time::Duration| {
                ssh.map(|s| format!(" (ssh -L {:+.0} µs)", added_micros(pick(s), pick(base))))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "| echo added over direct, p50 ≤ {:.0} µs | {added_p50:+.0} µs{} | {} |",
                target::ECHO_ADDED_P50_MICROS,
                ssh_note(|l| l.p50),
                verdict(added_p50 <= target::ECHO_ADDED_P50_MICROS)
            );
            let _ = writeln!(
                out,
                "| echo added over direct, p99 ≤ {:.0} ms | {added_p99:+.0} µs{} | {} |",
                target::ECHO_ADDED_P99_MICROS / 1000.0,
                ssh_note(|l| l.p99),
                verdict(added_p99 <= target::ECHO_ADDED_P99_MICROS)
            );
        }
        _ => {
            let _ = writeln!(out, "| echo added over direct, p50 / p99 | {na} | |");
        }
    }
    match &report.postern.setup {
        Ok(setup) => {
            let millis = setup.p50.as_secs_f64() * 1e3;
            let ssh = report
                .ssh
                .setup
                .as_ref()
                .map(|s| format!(" (ssh -L {:.2} ms)", s.p50.as_secs_f64() * 1e3))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| new stream setup p50 ≤ {:.0} ms | {millis:.2} ms{ssh} | {} |",
                target::SETUP_P50_MILLIS,
                verdict(millis <= target::SETUP_P50_MILLIS)
            );
        }
        Err(_) => {
            let _ = writeln!(
                out,
                "| new stream setup p50 ≤ {:.0} ms | {na} | |",
                target::SETUP_P50_MILLIS
            );
        }
    }
    match &report.idle {
        Ok(idle) => {
            let rss = idle.server_with.map(|b| b as f64 / MIB);
            let all_open = idle.opened >= idle.target;
            let measured = match (rss, all_open) {
                (Some(rss), true) => format!("{rss:.0} MiB"),
                (Some(rss), false) => format!(
                    "{rss:.0} MiB with only {} of {} streams open",
                    idle.opened, idle.target
                ),
                (None, _) => "RSS unreadable".to_owned(),
            };
            let met = all_open && rss.is_some_and(|rss| rss <= target::IDLE_SERVER_RSS_MIB);
            let _ = writeln!(
                out,
                "| {} idle streams: server RSS ≤ {:.0} MB | {measured} | {} |",
                idle.target,
                target::IDLE_SERVER_RSS_MIB,
                verdict(met)
            );
        }
        Err(_) => {
            let _ = writeln!(
                out,
                "| idle streams: server RSS ≤ {:.0} MB | {na} | |",
                target::IDLE_SERVER_RSS_MIB
            );
        }
    }
    let _ = writeln!(out);
}

/// What the floor path reaches against the targets that compare with other paths.
fn render_floor(out: &mut String, report: &Report) {
    let bulk = match (bulk_median(&report.floor), bulk_median(&report.ssh)) {
        (Some(floor), Some(ssh)) if ssh > 0.0 => format!(
            "{:.2}× ssh -L in bulk (target for postern {:.1}×)",
            floor / ssh,
            target::BULK_RATIO
        ),
        _ => "bulk: n/a".to_owned(),
    };
    let echo = match (&report.floor.echo, &report.direct.echo) {
        (Ok(echo), Ok(base)) => format!(
            "{:+.0} µs added to the echo p50 (target for postern ≤ {:.0} µs)",
            added_micros(echo.p50, base.p50),
            target::ECHO_ADDED_P50_MICROS
        ),
        _ => "echo: n/a".to_owned(),
    };
    let _ = writeln!(
        out,
        "**Floor:** three bare relays on postern's hops reach {bulk} and {echo}. A target the \
         floor misses is out of reach of any three-process path on this machine.\n"
    );
}

fn render_cpu(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "## CPU during the bulk runs\n\nAverage per process over the bulk runs, in % of one core \
         (this machine has {} cores, so 200 % is all of it); a process near 100 % is a bottleneck, \
         a total near the machine's capacity means the path is CPU-bound. \"Everything else\" is \
         the rest of the machine's busy time (the kernel's network work outside these \
         processes, and other jobs: a large value means the run was disturbed).\n",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let _ = writeln!(out, "| path | processes |");
    let _ = writeln!(out, "|---|---|");
    for path in [&report.direct, &report.ssh, &report.postern, &report.floor] {
        let processes = path
            .bulk_cpu
            .iter()
            .map(|(name, percent)| format!("{name} {percent:.0} %"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "| {} | {processes} |", path.name);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn latency(p50: u64, p99: u64) -> Latency {
        Latency {
            p50: Duration::from_micros(p50),
            p99: Duration::from_micros(p99),
            count: 100,
        }
    }

    fn path(name: &str, bulk: f64, echo: Latency, setup: Latency) -> PathResult {
        PathResult {
            name: name.to_owned(),
            bulk: Ok(vec![bulk, bulk * 0.9, bulk * 1.1]),
            echo: Ok(echo),
            setup: Ok(setup),
            active: Ok(Active {
                intact: 1000,
                streams: 1000,
                seconds: 2.0,
                first_error: None,
            }),
            bulk_cpu: vec![("client".to_owned(), 50.0)],
        }
    }

    fn report() -> Report {
        Report {
            parameters: Parameters {
                bulk_bytes: 1 << 30,
                bulk_runs: 3,
                ..Parameters::default()
            },
            direct: path("direct", 2400.0, latency(20, 40), latency(80, 200)),
            ssh: path("ssh -L", 400.0, latency(90, 200), latency(400, 900)),
            postern: path("postern", 700.0, latency(100, 900), latency(1500, 3000)),
            floor: path("floor", 900.0, latency(60, 300), latency(300, 600)),
            idle: Ok(IdleResult {
                target: 10_000,
                opened: 10_000,
                seconds: 3.0,
                stalled: None,
                server_before: Some(20 << 20),
                server_with: Some(120 << 20),
                access_with: Some(50 << 20),
                connector_with: Some(60 << 20),
            }),
        }
    }

    fn target_line<'a>(text: &'a str, start: &str) -> &'a str {
        text.lines()
            .find(|line| line.starts_with(start))
            .unwrap_or_default()
    }

    #[test]
    fn targets_met() {
        let text = render(&report());
        assert!(target_line(&text, "| postern bulk").contains("1.75×"));
        assert!(target_line(&text, "| postern bulk").ends_with("| met |"));
        assert!(target_line(&text, "| echo added over direct, p50").contains("+80 µs"));
        assert!(target_line(&text, "| echo added over direct, p50").ends_with("| met |"));
        assert!(target_line(&text, "| echo added over direct, p99").contains("+860 µs"));
        assert!(target_line(&text, "| new stream setup").contains("1.50 ms"));
        assert!(target_line(&text, "| 10000 idle").contains("120 MiB"));
        assert!(target_line(&text, "| 10000 idle").ends_with("| met |"));
        assert!(text.contains("+10.2 KiB per stream"));
        assert!(text.contains("reach 2.25× ssh -L in bulk"), "{text}");
        assert!(text.contains("+40 µs added to the echo p50"), "{text}");
    }

    #[test]
    fn no_per_stream_figure_from_a_few_streams() {
        let mut report = report();
        report.idle = Ok(IdleResult {
            target: 10_000,
            opened: 200,
            server_with: Some(20 << 20),
            server_before: Some(20 << 20),
            ..IdleResult::default()
        });
        let text = render(&report);
        assert!(!text.contains("per stream"), "{text}");
    }

    #[test]
    fn targets_missed_and_failures_are_visible() {
        let mut report = report();
        report.postern.bulk = Ok(vec![300.0]);
        report.postern.setup = Ok(latency(2500, 4000));
        report.ssh.echo = Err("connection reset | by peer".to_owned());
        report.idle = Ok(IdleResult {
            target: 10_000,
            opened: 4096,
            stalled: Some("a stream got no first byte within 10s".to_owned()),
            server_with: Some(40 << 20),
            server_before: Some(20 << 20),
            ..IdleResult::default()
        });
        let text = render(&report);
        assert!(target_line(&text, "| postern bulk").ends_with("**missed** |"));
        assert!(target_line(&text, "| new stream setup").ends_with("**missed** |"));
        let idle = target_line(&text, "| 10000 idle");
        assert!(idle.contains("only 4096 of 10000"), "{idle}");
        assert!(idle.ends_with("**missed** |"));
        // 20 MiB over 4096 streams is 5 KiB each; 20 + 50 MiB for all of them.
        assert!(
            text.contains("+5.0 KiB per stream; 69 MiB extrapolated to 10000"),
            "{text}"
        );
        let ssh_row = target_line(&text, "| ssh -L |");
        assert!(
            ssh_row.contains("failed: connection reset   by peer"),
            "{ssh_row}"
        );
        // The failed ssh echo drops only ssh's note, not postern's verdict.
        assert!(target_line(&text, "| echo added over direct, p50").ends_with("| met |"));
    }

    #[test]
    fn a_tunnel_faster_than_loopback_shows_a_minus_sign() {
        let mut report = report();
        report.postern.echo = Ok(latency(30, 30));
        let text = render(&report);
        assert!(target_line(&text, "| postern |").contains("| +10 / -10 |"));
        assert!(target_line(&text, "| echo added over direct, p99").contains("| -10 µs"));
    }
}
