//! The server's configuration: defaults, then a TOML file, then `POSTERN_*` environment
//! variables, then command-line flags, validated once at start.
//!
//! Unknown keys are errors wherever they come from, and file errors name the file and line,
//! so a typo never silently falls back to a default.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "POSTERN_";

/// Everything `postern-server` can be told.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the one HTTPS listener.
    pub listen: SocketAddr,
    /// Directory for the database, the self-signed certificate and other state.
    pub data_dir: PathBuf,
    /// The URL people and agents use to reach this server (`https://host[:port]`). Defaults to
    /// `https://localhost:{listen port}`.
    pub public_url: Option<Url>,
    /// Directory of the built web app (Trunk's `dist/`).
    pub web_root: PathBuf,
    /// Logging.
    pub log: LogConfig,
    /// TLS certificate.
    pub tls: TlsConfig,
    /// Session lifetimes.
    pub session: SessionConfig,
    /// First-admin setup.
    pub setup: SetupConfig,
    /// Local accounts.
    pub local: LocalConfig,
    /// OIDC identity providers, shown on the sign-in page in this order.
    pub oidc: Vec<OidcProviderConfig>,
    /// Browser SSH and SSH certificates.
    pub ssh: SshConfig,
    /// Browser RDP.
    pub rdp: RdpConfig,
    /// Who may read `/metrics`.
    pub metrics: MetricsConfig,
}

/// Access to `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A file holding the bearer token a scraper presents (Prometheus:
    /// `authorization: { credentials_file: … }`); at least 32 characters. Without it only
    /// signed-in admins may read `/metrics`.
    pub token_file: Option<PathBuf>,
}

/// Browser RDP through the RDCleanPath gateway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RdpConfig {
    /// Whether the origin-to-browser byte stream of each desktop session is recorded (with
    /// timestamps, in `{data_dir}/recordings`).
    pub record: bool,
}

impl Default for RdpConfig {
    fn default() -> Self {
        RdpConfig { record: true }
    }
}

/// Browser SSH and short-lived SSH certificates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    /// How long a user certificate is valid (1 minute to 1 hour). A certificate is only
    /// checked when a connection authenticates, so a few minutes is plenty.
    #[serde(with = "humantime_serde")]
    pub certificate_lifetime: Duration,
    /// Whether browser SSH sessions are recorded (asciicast v2 in `{data_dir}/recordings`).
    pub record: bool,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            certificate_lifetime: Duration::from_secs(5 * 60),
            record: true,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("postern-data"),
            public_url: None,
            web_root: PathBuf::from("dist"),
            log: LogConfig::default(),
            tls: TlsConfig::default(),
            session: SessionConfig::default(),
            setup: SetupConfig::default(),
            local: LocalConfig::default(),
            oidc: Vec::new(),
            ssh: SshConfig::default(),
            rdp: RdpConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,server=debug`; `RUST_LOG` wins if set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            filter: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The HTTPS certificate. With neither file set the server makes and keeps a self-signed one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

/// How long Sessions live.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A Session unused for this long ends.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A Session ends this long after sign-in, however busy.
    #[serde(with = "humantime_serde")]
    pub absolute_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout: Duration::from_secs(60 * 60),
            absolute_timeout: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// First-admin setup.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SetupConfig {
    /// How long the printed setup link stays valid.
    #[serde(with = "humantime_serde")]
    pub link_ttl: Duration,
}

impl Default for SetupConfig {
    fn default() -> Self {
        SetupConfig {
            link_ttl: Duration::from_secs(60 * 60),
        }
    }
}

/// Local (break-glass) accounts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Whether the username and password form is offered.
    pub enabled: bool,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig { enabled: true }
    }
}

/// One OIDC identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Short id used in URLs: lowercase letters, digits and dashes.
    pub id: String,
    /// Name on the sign-in button.
    pub name: String,
    /// Issuer URL exactly as the provider states it (a trailing slash matters);
    /// discovery is read from `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret. Prefer `client_secret_file` or `POSTERN_OIDC_SECRET_{ID}`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// File holding the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes to request; `openid` is always included.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim that lists the user's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Members of any of these groups are admins.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// PEM file of extra CA certificates to trust when talking to this provider.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

/// Values given on the command line or through their dedicated environment variables; each
/// set one wins over the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Directory for the database, certificate and other state.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTPS listener, such as 0.0.0.0:443.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The URL people and agents use to reach this server.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<Url>,
    /// Directory of the built web app.
    #[arg(long, value_name = "DIR")]
    pub web_root: Option<PathBuf>,
    /// Log line format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// A configuration that could not be used, with where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a bad key or value; the message names the line.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// An environment variable could not be applied.
    #[error("environment variable {name}: {message}")]
    Environment {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The values parse but do not make sense together.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file`, then `POSTERN_*` variables from `environment`, then
    /// `overrides`, and validates the result.
    pub fn load(
        file: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        let mut oidc_secrets = Vec::new();
        for (name, value) in environment {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if let Some(provider) = key.strip_prefix("OIDC_SECRET_") {
                oidc_secrets.push((provider.to_owned(), value));
                continue;
            }
            if key == "CONFIG" {
                continue;
            }
            apply_environment(&mut table, &name, key, &value)?;
        }
        let mut config: Config =
            Config::deserialize(toml::Value::Table(table)).map_err(|error| {
                ConfigError::Environment {
                    name: format!("{ENV_PREFIX}*"),
                    message: error.message().to_owned(),
                }
            })?;
        for (provider, secret) in oidc_secrets {
            let matching = config
                .oidc
                .iter_mut()
                .find(|oidc| env_suffix(&oidc.id) == provider);
            let Some(oidc) = matching else {
                return Err(ConfigError::Environment {
                    name: format!("{ENV_PREFIX}OIDC_SECRET_{provider}"),
                    message: "no [[oidc]] provider has this id".to_owned(),
                });
            };
            oidc.client_secret = Some(secret);
        }
        config.apply(overrides);
        config.validate()?;
        Ok(config)
    }

    fn apply(&mut self, overrides: &Overrides) {
        if let Some(data_dir) = &overrides.data_dir {
            self.data_dir.clone_from(data_dir);
        }
        if let Some(listen) = overrides.listen {
            self.listen = listen;
        }
        if let Some(public_url) = &overrides.public_url {
            self.public_url = Some(public_url.clone());
        }
        if let Some(web_root) = &overrides.web_root {
            self.web_root.clone_from(web_root);
        }
        if let Some(format) = overrides.log_format {
            self.log.format = format;
        }
    }

    /// Checks what types cannot: URL shapes, uniqueness, sensible durations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if let Some(url) = &self.public_url
            && let Err(message) = check_public_url(url)
        {
            return invalid(format!("public_url {url}: {message}"));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return invalid("tls.cert and tls.key must be given together".to_owned());
        }
        if self.session.idle_timeout.is_zero() || self.session.absolute_timeout.is_zero() {
            return invalid("session timeouts must be longer than zero".to_owned());
        }
        if self.session.idle_timeout > self.session.absolute_timeout {
            return invalid("session.idle_timeout is longer than session.absolute_timeout".into());
        }
        if self.setup.link_ttl.is_zero() {
            return invalid("setup.link_ttl must be longer than zero".to_owned());
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(3600))
            .contains(&self.ssh.certificate_lifetime)
        {
            return invalid("ssh.certificate_lifetime must be between 1m and 1h".to_owned());
        }
        let mut ids = HashSet::new();
        for oidc in &self.oidc {
            if !is_valid_provider_id(&oidc.id) {
                return invalid(format!(
                    "oidc id {:?}: use 1-32 lowercase letters, digits or dashes",
                    oidc.id
                ));
            }
            if !ids.insert(oidc.id.as_str()) {
                return invalid(format!("oidc id {:?} is used twice", oidc.id));
            }
            if oidc.name.trim().is_empty() || oidc.client_id.trim().is_empty() {
                return invalid(format!(
                    "oidc {}: name and client_id must not be empty",
                    oidc.id
                ));
            }
            if let Err(message) = check_issuer(&oidc.issuer) {
                return invalid(format!(
                    "oidc {} issuer {}: {message}",
                    oidc.id, oidc.issuer
                ));
            }
            if oidc.client_secret.is_some() && oidc.client_secret_file.is_some() {
                return invalid(format!(
                    "oidc {}: give client_secret or client_secret_file, not both",
                    oidc.id
                ));
            }
        }
        if !self.local.enabled && self.oidc.is_empty() {
            return invalid("local sign-in is disabled and no [[oidc]] provider is set".into());
        }
        Ok(())
    }

    /// `public_url` or its default, as an origin without trailing slash.
    pub fn public_origin(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.origin().ascii_serialization(),
            None => format!("https://localhost:{}", bound.port()),
        }
    }
}

/// The suffix of `POSTERN_OIDC_SECRET_{ID}` for a provider id.
pub fn env_suffix(id: &str) -> String {
    id.to_ascii_uppercase().replace('-', "_")
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file_error = |message: String| ConfigError::File {
        path: path.to_owned(),
        message,
    };
    // Deserialising the text itself (not a table made from it) keeps spans, so the message
    // carries the line and column of a bad key or value.
    toml::from_str::<Config>(&text).map_err(|error| file_error(error.to_string()))?;
    toml::from_str::<toml::Table>(&text).map_err(|error| file_error(error.to_string()))
}

/// Sets the key that `POSTERN_A__B` names (`a.b`) to the TOML value of `value`, or to the
/// string itself if it is not a TOML value.
fn apply_environment(
    table: &mut toml::Table,
    name: &str,
    key: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let error = |message: &str| ConfigError::Environment {
        name: name.to_owned(),
        message: message.to_owned(),
    };
    let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return Err(error("empty key segment"));
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let (last, parents) = path.split_last().ok_or_else(|| error("empty key"))?;
    let mut current = table;
    for segment in parents {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        current = entry.as_table_mut().ok_or_else(|| error("not a table"))?;
    }
    current.insert(last.clone(), parsed);
    Ok(())
}

fn is_valid_provider_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

fn check_public_url(url: &Url) -> Result<(), &'static str> {
    if url.scheme() != "https" {
        return Err("must use https");
    }
    if url.host_str().is_none() {
        return Err("must name a host");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin only, without path, query or fragment");
    }
    Ok(())
}

fn check_issuer(issuer: &str) -> Result<(), &'static str> {
    let url = Url::parse(issuer).map_err(|_| "is not a URL")?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err("must use https (plain http is allowed for loopback test providers only)"),
        _ => Err("must be an https URL"),
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, environment: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postern.toml");
        std::fs::write(&path, text).unwrap();
        let environment = environment
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(Some(&path), environment, &Overrides::default())
    }

    const PROVIDER: &str = r#"
[[oidc]]
id = "corp"
name = "Corp SSO"
issuer = "https://id.example.com"
client_id = "postern"
"#;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(load("", &[]).unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_rejected_with_its_line() {
        let error = load("listen = \"127.0.0.1:1\"\n\nlisten_adress = 1\n", &[]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("listen_adress"), "{message}");
        assert!(message.contains("postern.toml"), "{message}");
    }

    #[test]
    fn nested_unknown_key_is_rejected() {
        let message = load("[session]\nidle = \"1h\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("line 2") && message.contains("idle"),
            "{message}"
        );
    }

    #[test]
    fn bad_duration_is_rejected() {
        let message = load("[session]\nidle_timeout = \"soon\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn environment_overrides_file_and_flags_override_environment() {
        let config = load(
            "listen = \"127.0.0.1:1000\"\n[session]\nidle_timeout = \"5m\"\n",
            &[
                ("POSTERN_LISTEN", "127.0.0.1:2000"),
                ("POSTERN_SESSION__IDLE_TIMEOUT", "10m"),
                ("POSTERN_LOCAL__ENABLED", "false"),
                ("UNRELATED", "x"),
            ],
        );
        // Local sign-in off with no provider is refused: proves the boolean was applied.
        assert!(matches!(config, Err(ConfigError::Invalid(_))));
        let config = load(
            &format!("listen = \"127.0.0.1:1000\"\n{PROVIDER}"),
            &[
                ("POSTERN_LISTEN", "127.0.0.1:2000"),
                ("POSTERN_SESSION__IDLE_TIMEOUT", "10m"),
                ("POSTERN_OIDC_SECRET_CORP", "s3cret"),
            ],
        )
        .unwrap();
        assert_eq!(config.listen.port(), 2000);
        assert_eq!(config.session.idle_timeout, Duration::from_secs(600));
        assert_eq!(config.oidc[0].client_secret.as_deref(), Some("s3cret"));

        let overrides = Overrides {
            listen: Some("127.0.0.1:3000".parse().unwrap()),
            ..Default::default()
        };
        let config = Config::load(
            None,
            [("POSTERN_LISTEN".to_owned(), "127.0.0.1:2000".to_owned())],
            &overrides,
        )
        .unwrap();
        assert_eq!(config.listen.port(), 3000);
    }

    #[test]
    fn unknown_environment_key_is_rejected() {
        let message = load("", &[("POSTERN_LISTN", "x")]).unwrap_err().to_string();
        assert!(message.contains("listn"), "{message}");
        let message = load("", &[("POSTERN_OIDC_SECRET_NOPE", "x")])
            .unwrap_err()
            .to_string();
        assert!(message.contains("POSTERN_OIDC_SECRET_NOPE"), "{message}");
    }

    #[test]
    fn invalid_combinations_are_refused() {
        let cases = [
            "public_url = \"http://example.com\"",
            "public_url = \"https://example.com/portal\"",
            "[tls]\ncert = \"a.pem\"",
            "[session]\nidle_timeout = \"2h\"\nabsolute_timeout = \"1h\"",
            "[setup]\nlink_ttl = \"0s\"",
            &PROVIDER.replace("https://id.example.com", "http://id.example.com"),
            &PROVIDER.replace("\"corp\"", "\"Corp\""),
            &format!("{PROVIDER}{PROVIDER}"),
            &format!("{PROVIDER}client_secret = \"a\"\nclient_secret_file = \"b\""),
        ];
        for text in cases {
            assert!(
                matches!(load(text, &[]), Err(ConfigError::Invalid(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn loopback_http_issuer_is_allowed_for_tests() {
        let text = PROVIDER.replace("https://id.example.com", "http://127.0.0.1:4000");
        let config = load(&text, &[]).unwrap();
        assert_eq!(config.oidc[0].scopes, ["openid", "email", "profile"]);
        assert_eq!(config.oidc[0].groups_claim, "groups");
    }

    #[test]
    fn public_origin_defaults_to_localhost_and_the_bound_port() {
        let bound: SocketAddr = "0.0.0.0:9443".parse().unwrap();
        assert_eq!(
            Config::default().public_origin(bound),
            "https://localhost:9443"
        );
        let config = Config {
            public_url: Some("https://postern.example.com".parse().unwrap()),
            ..Config::default()
        };
        assert_eq!(config.public_origin(bound), "https://postern.example.com");
    }
}
