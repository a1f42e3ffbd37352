//! The processes the bench starts, stopped by PID at the end whatever happened, and what
//! `/proc` says about them (resident memory, CPU time).

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// Every process the bench started, in start order.
#[derive(Default)]
pub struct Children {
    running: Vec<(String, Child)>,
}

impl Children {
    /// Starts `command` as `name`. Its stderr goes to `log` (when given) so daemons' logs do
    /// not interleave with the table; its stdout is returned when the caller piped it.
    pub fn spawn(
        &mut self,
        name: &str,
        command: &mut Command,
        log: Option<&Path>,
    ) -> anyhow::Result<(u32, Option<ChildStdout>)> {
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::File::create(path)
                    .with_context(|| format!("create {}", path.display()))?,
            ),
            None => Stdio::inherit(),
        };
        // The drop guard is a last resort (a panic); the normal path is `stop_all`.
        let mut child = command
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        let pid = child.id().with_context(|| format!("{name} has no pid"))?;
        let stdout = child.stdout.take();
        self.running.push((name.to_owned(), child));
        Ok((pid, stdout))
    }

    /// The exit status of the child `pid` if it has already exited.
    pub fn exited(&mut self, pid: u32) -> Option<ExitStatus> {
        self.running
            .iter_mut()
            .find(|(_, child)| child.id() == Some(pid))
            .and_then(|(_, child)| child.try_wait().ok().flatten())
    }

    /// Stops one child by PID (see [`Children::stop_all`]) and forgets it.
    pub async fn stop(&mut self, pid: u32) {
        if let Some(index) = self
            .running
            .iter()
            .position(|(_, child)| child.id() == Some(pid))
        {
            let (name, mut child) = self.running.remove(index);
            stop_child(&name, &mut child).await;
        }
    }

    /// Stops every child, newest first (clients before the servers they talk to): SIGTERM by
    /// PID, then SIGKILL for any still there after a grace period.
    pub async fn stop_all(&mut self) {
        while let Some((name, mut child)) = self.running.pop() {
            stop_child(&name, &mut child).await;
        }
    }
}

async fn stop_child(name: &str, child: &mut Child) {
    /// Long enough for postern-server's drain of closed connections, short enough not to
    /// stall the bench on a wedged process.
    const GRACE: Duration = Duration::from_secs(5);
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
        if tokio::time::timeout(GRACE, child.wait()).await.is_ok() {
            return;
        }
        eprintln!("bench: {name} (pid {pid}) ignored SIGTERM; killing it");
    }
    let _ = child.kill().await;
}

/// Reads `stdout` line by line until `pick` accepts one, within `limit`; the lines it skipped
/// are in the error so a failed start explains itself. The rest of the output is drained in
/// the background so the child never blocks on a full pipe.
pub async fn read_line_until<T>(
    stdout: ChildStdout,
    limit: Duration,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> anyhow::Result<T> {
    let mut reader = BufReader::new(stdout);
    let mut seen = String::new();
    let read = async {
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.context("read stdout")? == 0 {
                bail!("it exited before it was ready; its output:\n{seen}");
            }
            if let Some(value) = pick(line.trim_end()) {
                return Ok(value);
            }
            seen.push_str(&line);
        }
    };
    let value = tokio::time::timeout(limit, read)
        .await
        .with_context(|| format!("no ready line within {limit:?}"))??;
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
    });
    Ok(value)
}

/// Polls `probe` every 25 ms until it returns `Some`, or fails after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A free TCP port on 127.0.0.1 for programs that cannot be told to use port 0 (sshd, ssh's
/// `-L`). It is released before returning, so callers retry if someone else takes it.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind port 0")?;
    Ok(listener.local_addr()?.port())
}

/// Resident memory of `pid` in bytes (`VmRSS`), if the process exists.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    parse_rss_kib(line).map(|kib| kib * 1024)
}

fn parse_rss_kib(line: &str) -> Option<u64> {
    line.strip_prefix("VmRSS:")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One process's (ppid, utime + stime in clock ticks) from a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    // The command name is in parentheses and may contain spaces; fields after it are plain.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 4 (ppid), 14 (utime) and 15 (stime) of proc(5); index 0 here is field 3.
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// CPU time (user + system, clock ticks) of `pid`, plus that of all its live descendants
/// when `descendants` is set: sshd does its work in per-connection children.
pub fn cpu_ticks(pid: u32, descendants: bool) -> u64 {
    if !descendants {
        return std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parse_stat)
            .map_or(0, |(_, ticks)| ticks);
    }
    let mut processes: HashMap<u32, (u32, u64)> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(parsed) = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat)
            {
                processes.insert(id, parsed);
            }
        }
    }
    let mut total = 0;
    let mut frontier = vec![pid];
    while let Some(current) = frontier.pop() {
        if let Some((_, ticks)) = processes.get(&current) {
            total += ticks;
        }
        frontier.extend(
            processes
                .iter()
                .filter(|(_, (ppid, _))| *ppid == current)
                .map(|(id, _)| *id),
        );
    }
    total
}

/// Nanoseconds each live thread of `pid` has run, from `/proc/PID/task/TID/schedstat`: exact,
/// where `/proc/PID/stat` counts 10 ms ticks.
#[allow(dead_code, reason = "for the RDP bench, which includes this file")]
pub fn thread_cpu_nanos(pid: u32) -> HashMap<u32, u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let tid = entry.file_name().to_str()?.parse().ok()?;
            let schedstat = std::fs::read_to_string(entry.path().join("schedstat")).ok()?;
            Some((tid, schedstat.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// CPU seconds the threads read in `after` ran since `before` was read. A thread started in
/// between counts whole; one that ended in between is missing, which suits processes that
/// keep their threads (a tokio runtime's workers).
#[allow(dead_code, reason = "for the RDP bench, which includes this file")]
pub fn cpu_seconds_between(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> f64 {
    let nanos: u64 = after
        .iter()
        .map(|(tid, ran)| ran.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    nanos as f64 / 1e9
}

/// CPU time (clock ticks) all cores spent busy since boot, from `/proc/stat`: everything but
/// idle and I/O wait.
pub fn machine_busy_ticks() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .as_deref()
        .and_then(parse_busy)
        .unwrap_or(0)
}

fn parse_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // counted in user, so it is not added twice.
    let idle = fields.get(3)? + fields.get(4)?;
    let guest = fields.get(8).copied().unwrap_or(0) + fields.get(9).copied().unwrap_or(0);
    Some(total - idle - guest)
}

/// Clock ticks per second for [`cpu_ticks`].
pub fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Raises this process's soft open-file limit to its hard limit, so it and the children it
/// starts afterwards (which inherit it) can hold ten thousand sockets each. Returns the soft
/// limit in force.
pub fn raise_open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let mut numbers = line
        .split_whitespace()
        .filter_map(|word| word.parse::<u64>().ok());
    let (soft, hard) = (numbers.next()?, numbers.next()?);
    if soft >= hard {
        return Some(soft);
    }
    // `prlimit` rather than setrlimit(2): the workspace forbids unsafe code.
    let raised = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={hard}:{hard}"),
        ])
        .status()
        .is_ok_and(|status| status.success());
    Some(if raised { hard } else { soft })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_spaces_in_the_name() {
        let stat = "4242 (tokio-rt (w) 1) S 17 4242 4242 0 -1 4194304 100 0 0 0 250 30 0 0 20 0 \
                    3 0 12345 1000000 200 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((17, 280)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn parses_machine_busy_time() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 7 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n";
        // 100 + 5 + 50 + 1 + 2 + 3 (guest 7 is inside user).
        assert_eq!(parse_busy(stat), Some(161));
        assert_eq!(parse_busy("intr 1 2 3"), None);
    }

    #[test]
    fn parses_vmrss() {
        assert_eq!(parse_rss_kib("VmRSS:\t   20480 kB"), Some(20480));
        assert_eq!(parse_rss_kib("VmHWM:\t   20480 kB"), None);
    }
}
