//! `cargo xtask bench tunnel`: throughput, latency, stream setup and stream capacity of the
//! postern path next to a direct loopback connection and OpenSSH's `ssh -L`, measured in one
//! run on this machine and written as a markdown table to `target/bench/tunnel.md`.
//!
//! A benchmark, not a test: it asserts nothing, and `cargo xtask ci` does not run it. Missed
//! targets and failed measurements show in the table.
//!
//! The load generator must not be the bottleneck, so the debug `xtask` that cargo runs only
//! builds the release binaries (server, CLI and xtask itself) and hands over to the release
//! xtask. That one starts the origins in a helper process (`xtask bench origins`, internal),
//! sshd and `ssh -L`, and the postern processes, measures, and stops every process it started
//! by PID at the end, also on error or Ctrl-C.
//!
//! `cargo xtask bench ssh`, the browser SSH benchmark, is in [`ssh_bench`]; `cargo xtask bench
//! rdp`, the browser RDP benchmark, in [`rdp`].

mod children;
mod load;
mod origins;
mod postern;
mod rdp;
mod relay;
mod report;
mod ssh;
mod ssh_bench;
mod stats;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::tasks::{cmd, project_root, step};
use children::{Children, clock_ticks_per_second, cpu_ticks, machine_busy_ticks, rss_bytes};
use origins::Origins;
use report::{IdleResult, Measured, Parameters, PathResult, Report};
use stats::Latency;

/// How much of everything to do.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    bulk_bytes: u64,
    bulk_runs: usize,
    echo_warmup: usize,
    echo_count: usize,
    setups: usize,
    active_streams: usize,
    active_payload: usize,
    idle_streams: usize,
}

impl Sizes {
    /// What the issue asks for.
    const FULL: Sizes = Sizes {
        bulk_bytes: 1 << 30,
        bulk_runs: 3,
        echo_warmup: 2_000,
        echo_count: 20_000,
        setups: 500,
        active_streams: 1_000,
        active_payload: 1 << 20,
        idle_streams: 10_000,
    };

    /// `--quick`: a smoke run of every step, about half a minute once built.
    const QUICK: Sizes = Sizes {
        bulk_bytes: 64 << 20,
        bulk_runs: 3,
        echo_warmup: 200,
        echo_count: 2_000,
        setups: 100,
        active_streams: 100,
        active_payload: 1 << 20,
        idle_streams: 1_000,
    };
}

/// The longest one measurement may take before it counts as failed: a wedged path must not
/// hang the bench.
const MEASUREMENT_LIMIT: Duration = Duration::from_secs(300);

/// Forwarding processes on the floor path: as many as postern has (access, server, connector).
const FLOOR_RELAYS: usize = 3;

/// A stream that gets no first byte within this long means the path takes no more streams.
const IDLE_PATIENCE: Duration = Duration::from_secs(10);

/// `cargo xtask bench …`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("tunnel") => tunnel(&args[1..]),
        Some("ssh") => ssh_bench::run(&args[1..]),
        Some("rdp") => rdp::run(&args[1..]),
        // Internal: the origin helper process the tunnel bench starts.
        Some("origins") => origins::serve_here(),
        // Internal: one bare forwarding process of the tunnel bench's floor path.
        Some("relay") => relay::serve_here(&args[1..]),
        _ => bail!("usage: cargo xtask bench tunnel|ssh|rdp [--quick]"),
    }
}

/// The full sizes with no arguments, the quick ones with `--quick`; anything else is `usage`.
fn sizes<S>(args: &[String], (full, quick): (S, S), usage: &str) -> anyhow::Result<S> {
    match args {
        [] => Ok(full),
        [flag] if flag == "--quick" => Ok(quick),
        _ => bail!("{usage}"),
    }
}

/// Builds the release `postern-server` and `postern`, and the binaries of `more` packages.
fn build_release_binaries(more: &[&str]) -> anyhow::Result<()> {
    let mut args = vec![
        "build",
        "--release",
        "--package",
        "server",
        "--package",
        "cli",
    ];
    for package in more {
        args.extend(["--package", package]);
    }
    args.push("--bins");
    step("build release binaries", || cmd("cargo", &args).run())
}

fn tunnel(args: &[String]) -> anyhow::Result<()> {
    let sizes = sizes(
        args,
        (Sizes::FULL, Sizes::QUICK),
        "usage: cargo xtask bench tunnel [--quick]",
    )?;
    let root = project_root();
    let release = root.join("target/release");
    if cfg!(debug_assertions) {
        build_release_binaries(&["xtask"])?;
        let xtask = release.join("xtask");
        let status = std::process::Command::new(&xtask)
            .arg("bench")
            .arg("tunnel")
            .args(args)
            .current_dir(&root)
            .status()
            .with_context(|| format!("start {}", xtask.display()))?;
        if !status.success() {
            bail!("the release bench failed ({status})");
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let markdown = runtime.block_on(supervise(&root, &release, sizes))?;
    println!("{markdown}");
    let out = output_path(&root);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    std::fs::write(&out, &markdown).with_context(|| format!("write {}", out.display()))?;
    eprintln!("bench: written to {}", out.display());
    Ok(())
}

/// Runs the bench in a scratch directory and stops every child afterwards, also when the
/// bench fails or Ctrl-C arrives.
async fn supervise(root: &Path, release: &Path, sizes: Sizes) -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("postern-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let mut children = Children::default();
    let result = tokio::select! {
        result = bench(&mut children, root, release, &dir, sizes) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    eprintln!("bench: stopping the processes it started");
    children.stop_all().await;
    match &result {
        // Logs help only when something went wrong.
        Ok(_) => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(_) => eprintln!("bench: logs kept in {}", dir.display()),
    }
    result
}

/// A path under test: the local ports a client uses, and the processes that carry it.
struct Route {
    name: &'static str,
    echo: u16,
    sink: u16,
    first_byte: u16,
    /// Processes whose CPU is sampled during the bulk runs.
    processes: Vec<Sampled>,
}

/// A process whose CPU time is sampled.
struct Sampled {
    name: &'static str,
    pid: u32,
    /// Count its children too (sshd's per-connection processes). Not for the bench itself:
    /// every process here is its descendant.
    descendants: bool,
}

impl Sampled {
    fn own(name: &'static str, pid: u32) -> Sampled {
        Sampled {
            name,
            pid,
            descendants: false,
        }
    }

    fn ticks(&self) -> u64 {
        cpu_ticks(self.pid, self.descendants)
    }
}

/// Builds the release binaries, the web app and the ignored test target `tests/tests/{target}`,
/// runs it in release mode (ignored tests included, one at a time, progress shown) with
/// `sizes_json` in `sizes_env` and an output path in `output_env`, and returns the JSON results
/// it wrote there.
fn measure_in_release<R: serde::de::DeserializeOwned>(
    target: &str,
    (sizes_env, sizes_json): (&str, &str),
    output_env: &str,
) -> anyhow::Result<R> {
    let test_target = ["test", "--release", "--package", "tests", "--test", target];
    build_release_binaries(&[])?;
    step("build web app", crate::tasks::build_web)?;
    step("build the bench", || {
        cmd("cargo", &[&test_target[..], &["--no-run"]].concat()).run()
    })?;
    let json = project_root().join(format!("target/bench/{target}.json"));
    // A stale file must not pass for this run's results.
    let _ = std::fs::remove_file(&json);
    step("measure", || {
        cmd(
            "cargo",
            &[
                &test_target[..],
                &["--", "--ignored", "--nocapture", "--test-threads", "1"],
            ]
            .concat(),
        )
        .env(sizes_env, sizes_json)
        .env(output_env, &json)
        .run()
    })?;
    serde_json::from_slice(
        &std::fs::read(&json).with_context(|| format!("read {}", json.display()))?,
    )
    .with_context(|| format!("parse {}", json.display()))
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!(
        "{cores} × {cpu} · Linux {}",
        command_output("uname", &["-r"])
    )
}

fn progress(message: &str) {
    eprintln!("bench: {message}");
}

async fn bench(
    children: &mut Children,
    root: &Path,
    release: &Path,
    dir: &Path,
    sizes: Sizes,
) -> anyhow::Result<String> {
    let open_files = children::raise_open_file_limit();
    // Each of the load generator, the origins, `postern access` and the connector holds one
    // socket per idle stream.
    if open_files.is_some_and(|limit| (limit as usize) < sizes.idle_streams + 1_000) {
        progress(&format!(
            "warning: the open-file limit {open_files:?} is too low for {} idle streams",
            sizes.idle_streams
        ));
    }
    let self_pid = std::process::id();

    progress("starting the origins");
    let origins = Origins::start(children, &dir.join("origins.log")).await?;
    progress("starting sshd and ssh -L");
    let ssh = ssh::start(children, dir, &origins).await?;
    progress("starting postern (server, connector, access)");
    let layout = postern::Layout {
        bin: release.to_path_buf(),
        root: root.to_path_buf(),
        dir: dir.to_path_buf(),
    };
    let postern = postern::start(children, &layout, &origins).await?;
    progress("starting the floor: three bare relays");
    let floor = relay::start_chain(children, dir, &origins, FLOOR_RELAYS).await?;

    let routes = [
        Route {
            name: "direct",
            echo: origins.echo,
            sink: origins.sink,
            first_byte: origins.first_byte,
            processes: vec![
                Sampled::own("client", self_pid),
                Sampled::own("origin", origins.pid),
            ],
        },
        Route {
            name: "ssh -L",
            echo: ssh.echo,
            sink: ssh.sink,
            first_byte: ssh.first_byte,
            processes: vec![
                Sampled::own("client", self_pid),
                Sampled::own("ssh", ssh.ssh_pid),
                Sampled {
                    name: "sshd",
                    pid: ssh.sshd_pid,
                    descendants: true,
                },
                Sampled::own("origin", origins.pid),
            ],
        },
        Route {
            name: "postern",
            echo: postern.echo.0,
            sink: postern.sink.0,
            first_byte: postern.first_byte.0,
            processes: vec![
                Sampled::own("client", self_pid),
                Sampled::own("access", postern.sink.1),
                Sampled::own("server", postern.server_pid),
                Sampled::own("connector", postern.connector_pid),
                Sampled::own("origin", origins.pid),
            ],
        },
        Route {
            name: "floor: 3 bare relays",
            echo: floor.front.echo,
            sink: floor.front.sink,
            first_byte: floor.front.first_byte,
            processes: std::iter::once(Sampled::own("client", self_pid))
                .chain(floor.pids.iter().map(|pid| Sampled::own("relay", *pid)))
                .chain([Sampled::own("origin", origins.pid)])
                .collect(),
        },
    ];
    let mut results: Vec<PathResult> = routes
        .iter()
        .map(|route| PathResult {
            name: route.name.to_owned(),
            bulk: Err("not run".to_owned()),
            echo: Err("not run".to_owned()),
            setup: Err("not run".to_owned()),
            active: Err("not run".to_owned()),
            bulk_cpu: Vec::new(),
        })
        .collect();

    for (result, (bulk, cpu)) in results.iter_mut().zip(bulk_phase(&routes, sizes).await) {
        result.bulk = bulk;
        result.bulk_cpu = cpu;
    }
    for (index, route) in routes.iter().enumerate() {
        progress(&format!(
            "echo: {} round trips through {}",
            sizes.echo_count, route.name
        ));
        let round_trips = load::echo_round_trips(route.echo, sizes.echo_warmup, sizes.echo_count);
        results[index].echo = latency(within(MEASUREMENT_LIMIT, round_trips).await);
    }
    for (index, route) in routes.iter().enumerate() {
        progress(&format!(
            "setup: {} new streams through {}",
            sizes.setups, route.name
        ));
        results[index].setup = latency(load::stream_setups(route.first_byte, sizes.setups).await);
    }
    for (index, route) in routes.iter().enumerate() {
        progress(&format!(
            "active: {} concurrent echoes of {} KiB through {}",
            sizes.active_streams,
            sizes.active_payload >> 10,
            route.name
        ));
        results[index].active =
            load::active(route.echo, sizes.active_streams, sizes.active_payload)
                .await
                .map_err(|error| format!("{error:#}"));
    }

    progress(&format!(
        "idle: {} streams through postern",
        sizes.idle_streams
    ));
    let idle = idle(&postern, sizes.idle_streams).await;

    let [direct, ssh_result, postern_result, floor_result] =
        <[PathResult; 4]>::try_from(results).map_err(|_| anyhow::anyhow!("expected four paths"))?;
    let report = Report {
        parameters: Parameters {
            date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            machine: machine(),
            bulk_bytes: sizes.bulk_bytes,
            bulk_runs: sizes.bulk_runs,
            echo_warmup: sizes.echo_warmup,
            echo_count: sizes.echo_count,
            setups: sizes.setups,
            active_streams: sizes.active_streams,
            active_payload: sizes.active_payload,
            connector_links: (postern::HA_CONNECTIONS, postern.attached),
            open_files,
        },
        direct,
        ssh: ssh_result,
        postern: postern_result,
        floor: floor_result,
        idle: Ok(idle),
    };
    Ok(report::render(&report))
}

/// The bulk runs: MB/s of each run per route, and the CPU each process used meanwhile.
async fn bulk_phase(
    routes: &[Route],
    sizes: Sizes,
) -> Vec<(Measured<Vec<f64>>, Vec<(String, f64)>)> {
    // Bulk runs interleave the paths, so a noisy neighbour hurts all of them alike.
    let ticks_per_second = clock_ticks_per_second();
    let mut cpu_seconds: Vec<Vec<f64>> = routes
        .iter()
        .map(|route| vec![0.0; route.processes.len()])
        .collect();
    let mut rates: Vec<Measured<Vec<f64>>> = vec![Ok(Vec::new()); routes.len()];
    let mut wall_seconds = vec![0.0; routes.len()];
    // Busy time of the whole machine, to show how much went to processes not under test.
    let mut busy_seconds = vec![0.0; routes.len()];
    for run in 1..=sizes.bulk_runs {
        for (index, route) in routes.iter().enumerate() {
            progress(&format!(
                "bulk {run}/{}: {} MiB through {}",
                sizes.bulk_runs,
                sizes.bulk_bytes >> 20,
                route.name
            ));
            let before: Vec<u64> = route.processes.iter().map(Sampled::ticks).collect();
            let busy_before = machine_busy_ticks();
            let started = Instant::now();
            let outcome = within(MEASUREMENT_LIMIT, load::bulk(route.sink, sizes.bulk_bytes)).await;
            wall_seconds[index] += started.elapsed().as_secs_f64();
            busy_seconds[index] +=
                machine_busy_ticks().saturating_sub(busy_before) as f64 / ticks_per_second;
            for (slot, (process, before)) in route.processes.iter().zip(&before).enumerate() {
                cpu_seconds[index][slot] +=
                    process.ticks().saturating_sub(*before) as f64 / ticks_per_second;
            }
            record(&mut rates[index], outcome);
        }
    }
    let mut out = Vec::new();
    for (index, (route, rates)) in routes.iter().zip(rates).enumerate() {
        let wall = wall_seconds[index].max(1e-9);
        let mut cpu: Vec<(String, f64)> = route
            .processes
            .iter()
            .zip(&cpu_seconds[index])
            .map(|(process, seconds)| (process.name.to_owned(), 100.0 * seconds / wall))
            .collect();
        let ours: f64 = cpu_seconds[index].iter().sum();
        cpu.push((
            "everything else".to_owned(),
            100.0 * (busy_seconds[index] - ours).max(0.0) / wall,
        ));
        out.push((rates, cpu));
    }
    out
}

/// Appends one bulk run, or turns the cell into the first failure.
fn record(cell: &mut Measured<Vec<f64>>, outcome: anyhow::Result<f64>) {
    match (cell.as_mut(), outcome) {
        (Ok(runs), Ok(rate)) => runs.push(rate),
        (Ok(_), Err(error)) => *cell = Err(format!("{error:#}")),
        (Err(_), _) => {}
    }
}

async fn within<T>(
    limit: Duration,
    measurement: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, measurement)
        .await
        .with_context(|| format!("did not finish within {limit:?}"))?
}

fn latency(samples: anyhow::Result<Vec<Duration>>) -> Measured<Latency> {
    match samples {
        Ok(samples) => Latency::of(samples).ok_or_else(|| "no samples".to_owned()),
        Err(error) => Err(format!("{error:#}")),
    }
}

/// Holds up to `target` idle streams open through postern and reads the processes' RSS.
async fn idle(postern: &postern::Postern, target: usize) -> IdleResult {
    // Let memory freed by the earlier loads settle before the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let server_before = rss_bytes(postern.server_pid);
    let held = load::idle(postern.first_byte.0, target, IDLE_PATIENCE).await;
    // Give buffers allocated on open a moment to show up in RSS.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let result = IdleResult {
        target,
        opened: held.streams.len(),
        seconds: held.seconds,
        stalled: held.stalled,
        server_before,
        server_with: rss_bytes(postern.server_pid),
        access_with: rss_bytes(postern.first_byte.1),
        connector_with: rss_bytes(postern.connector_pid),
    };
    drop(held.streams);
    result
}

/// Where the bench writes its table.
fn output_path(root: &Path) -> PathBuf {
    root.join("target/bench/tunnel.md")
}
