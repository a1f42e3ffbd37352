//! Counters exported at `/metrics` in the Prometheus text format.
//!
//! A handful of fixed counters do not need a metrics framework: atomics, rendered on scrape.

use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;

/// The shortest scrape token accepted.
pub const MIN_TOKEN_CHARS: usize = 32;

/// Reads the scrape token from `path` (`[metrics] token_file`) and returns its at-rest form
/// ([`crate::secret::hash_token`]); the clear token is not kept.
pub fn load_scrape_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("metrics.token_file: cannot read {}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(
        token.chars().count() >= MIN_TOKEN_CHARS,
        "metrics.token_file {}: the token must be at least {MIN_TOKEN_CHARS} characters",
        path.display()
    );
    anyhow::ensure!(
        token.bytes().all(|byte| byte.is_ascii_graphic()),
        "metrics.token_file {}: the token must be printable ASCII without spaces",
        path.display()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "metrics.token_file is readable by other users; chmod 600 it"
            );
        }
    }
    Ok(crate::secret::hash_token(token))
}

/// How a sign-in ended, for the `postern_sign_ins_total` counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    /// A Session was created.
    Success,
    /// Refused (bad password, bad state, bad token, provider error).
    Failure,
}

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    http_responses: [AtomicU64; 5],
    local_sign_ins: [AtomicU64; 2],
    oidc_sign_ins: [AtomicU64; 2],
    sessions_revoked: AtomicU64,
}

impl Metrics {
    /// Counts one HTTP response by status class.
    pub fn record_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.http_responses[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one local sign-in.
    pub fn record_local_sign_in(&self, outcome: SignInOutcome) {
        self.local_sign_ins[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one OIDC sign-in.
    pub fn record_oidc_sign_in(&self, outcome: SignInOutcome) {
        self.oidc_sign_ins[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one revoked Session.
    pub fn record_revocation(&self) {
        self.sessions_revoked.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders every metric, plus the gauges measured by the caller at scrape time.
    pub fn render(&self, live_sessions: u64, users: u64, uptime_seconds: u64) -> String {
        let mut out = String::new();
        let version = protocol::version::PRODUCT_VERSION;
        let _ = writeln!(out, "# HELP postern_build_info Build information.");
        let _ = writeln!(out, "# TYPE postern_build_info gauge");
        let _ = writeln!(out, "postern_build_info{{version=\"{version}\"}} 1");
        let _ = writeln!(
            out,
            "# HELP postern_uptime_seconds Seconds since the server started."
        );
        let _ = writeln!(out, "# TYPE postern_uptime_seconds gauge");
        let _ = writeln!(out, "postern_uptime_seconds {uptime_seconds}");
        let _ = writeln!(
            out,
            "# HELP postern_http_responses_total HTTP responses by status class."
        );
        let _ = writeln!(out, "# TYPE postern_http_responses_total counter");
        for (index, counter) in self.http_responses.iter().enumerate() {
            let value = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "postern_http_responses_total{{class=\"{}xx\"}} {value}",
                index + 1
            );
        }
        let _ = writeln!(
            out,
            "# HELP postern_sign_ins_total Sign-ins by method and outcome."
        );
        let _ = writeln!(out, "# TYPE postern_sign_ins_total counter");
        for (method, counters) in [
            ("local", &self.local_sign_ins),
            ("oidc", &self.oidc_sign_ins),
        ] {
            for (outcome, counter) in ["success", "failure"].iter().zip(counters.iter()) {
                let value = counter.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "postern_sign_ins_total{{method=\"{method}\",outcome=\"{outcome}\"}} {value}"
                );
            }
        }
        let revoked = self.sessions_revoked.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP postern_sessions_revoked_total Sessions revoked."
        );
        let _ = writeln!(out, "# TYPE postern_sessions_revoked_total counter");
        let _ = writeln!(out, "postern_sessions_revoked_total {revoked}");
        let _ = writeln!(out, "# HELP postern_sessions_live Live Sessions.");
        let _ = writeln!(out, "# TYPE postern_sessions_live gauge");
        let _ = writeln!(out, "postern_sessions_live {live_sessions}");
        let _ = writeln!(out, "# HELP postern_users Users in the store.");
        let _ = writeln!(out, "# TYPE postern_users gauge");
        let _ = writeln!(out, "postern_users {users}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_tokens_are_long_printable_and_kept_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let token = "a".repeat(MIN_TOKEN_CHARS);
        std::fs::write(&path, format!("{token}\n")).unwrap();
        assert_eq!(
            load_scrape_token(&path).unwrap(),
            crate::secret::hash_token(&token)
        );
        for bad in ["short", &format!("{token} with spaces"), ""] {
            std::fs::write(&path, bad).unwrap();
            assert!(load_scrape_token(&path).is_err(), "{bad:?}");
        }
        let missing = load_scrape_token(&dir.path().join("missing")).unwrap_err();
        assert!(
            format!("{missing:#}").contains("cannot read"),
            "{missing:#}"
        );
    }

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.record_response(200);
        metrics.record_response(404);
        metrics.record_response(404);
        metrics.record_local_sign_in(SignInOutcome::Failure);
        let text = metrics.render(3, 7, 12);
        for line in [
            "postern_http_responses_total{class=\"2xx\"} 1",
            "postern_http_responses_total{class=\"4xx\"} 2",
            "postern_sign_ins_total{method=\"local\",outcome=\"failure\"} 1",
            "postern_sign_ins_total{method=\"oidc\",outcome=\"success\"} 0",
            "postern_sessions_live 3",
            "postern_users 7",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        // Every sample line belongs to a metric with a TYPE line.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }
}
