//! `postern-server admin …`: provisioning from scripts, either against the data directory (the
//! same rules as the admin API, `server::provision`; safe while the server runs: SQLite in WAL
//! mode takes concurrent writers, and the running server notices revoked or rotated Connectors
//! within seconds) or against a running server's admin API (`--server` with an admin's token).
//! Output is for people by default and JSON with `--json`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use protocol::api::{
    AllowList, AppKind, AppRequest, AppSummary, AuditEvent, ConnectorSummary, ConnectorToken,
    CreateServiceTokenRequest, ServiceTokenCreated, ServiceTokenSummary,
};
use protocol::ssh::{PrincipalRule, PrincipalSource, SshSettings};
use serde::Serialize;
use server::provision;
use server::store::Store;
use server::store::sqlite::SqliteStore;

/// Provision Connectors, Apps and Service tokens.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The server's data directory.
    #[arg(
        long,
        env = "POSTERN_DATA_DIR",
        default_value = "postern-data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// Talk to this running server's admin API instead of the data directory.
    #[arg(long, value_name = "URL", requires = "token")]
    server: Option<url::Url>,
    /// An admin's Session token for `--server` (for example from `postern login`).
    #[arg(long, env = "POSTERN_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of a CA (or the server's self-signed certificate) to trust with `--server`.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Connectors (tunnel identities).
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// Apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Service tokens for automation.
    #[command(subcommand, name = "service-token")]
    ServiceToken(ServiceTokenCommand),
    /// Show the newest Audit events.
    Audit {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum ConnectorCommand {
    /// Create a Connector and print its token (shown once).
    Create {
        /// Name: lowercase letters, digits and dashes.
        name: String,
    },
    /// List Connectors.
    List,
    /// Replace a Connector's token and print the new one.
    Rotate {
        /// Name.
        name: String,
    },
    /// Revoke a Connector: its replicas are disconnected and cannot attach again.
    Revoke {
        /// Name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Create an App.
    Create(AppSpec),
    /// Replace an App's settings.
    Update(AppSpec),
    /// List Apps.
    List,
    /// Delete an App.
    Delete {
        /// Name.
        name: String,
    },
    /// Forget an SSH App's pinned host key; its next connection pins the key then presented.
    /// Check the new key's fingerprint with the origin's admin first.
    UnpinHostKey {
        /// Name.
        name: String,
    },
}

#[derive(Debug, Args)]
struct AppSpec {
    /// Name: lowercase letters, digits and dashes.
    name: String,
    /// What it carries.
    #[arg(long, value_parser = parse_kind)]
    kind: AppKind,
    /// The Connector that reaches it.
    #[arg(long)]
    connector: String,
    /// Where the Connector dials: ssh://host[:port], rdp://host[:port] or tcp://host:port.
    #[arg(long)]
    url: String,
    /// Allow this email (repeatable).
    #[arg(long = "allow-email")]
    allow_emails: Vec<String>,
    /// Allow this email domain (repeatable).
    #[arg(long = "allow-domain")]
    allow_domains: Vec<String>,
    /// Allow this group (repeatable).
    #[arg(long = "allow-group")]
    allow_groups: Vec<String>,
    /// How long granted access lasts, such as 8h.
    #[arg(long, value_parser = humantime::parse_duration)]
    session_duration: Option<Duration>,
    /// SSH apps: take principals from this ID-token claim instead of the email's local part.
    #[arg(long, conflicts_with = "principals")]
    principal_claim: Option<String>,
    /// SSH apps: offer this principal (repeatable), as NAME for everyone the app allows or
    /// NAME=group:G,email:E,domain:D to narrow who may use it.
    #[arg(long = "principal", value_parser = parse_principal)]
    principals: Vec<PrincipalRule>,
    /// SSH apps: record keystrokes too (they can contain passwords).
    #[arg(long)]
    record_input: bool,
}

/// `NAME` or `NAME=group:G,email:E,domain:D`.
fn parse_principal(text: &str) -> Result<PrincipalRule, String> {
    let (name, rules) = match text.split_once('=') {
        Some((name, rules)) => (name, Some(rules)),
        None => (text, None),
    };
    let allow = rules
        .map(|rules| {
            let mut allow = AllowList::default();
            for rule in rules.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                match rule.split_once(':') {
                    Some(("group", group)) => allow.groups.push(group.to_owned()),
                    Some(("email", email)) => allow.emails.push(email.to_owned()),
                    Some(("domain", domain)) => allow.email_domains.push(domain.to_owned()),
                    _ => {
                        return Err(format!(
                            "{rule:?}: use group:NAME, email:ADDRESS or domain:DOMAIN"
                        ));
                    }
                }
            }
            Ok(allow)
        })
        .transpose()?;
    Ok(PrincipalRule {
        name: name.to_owned(),
        allow,
    })
}

#[derive(Debug, Subcommand)]
enum ServiceTokenCommand {
    /// Create a Service token and print its id and secret (shown once).
    Create {
        /// Name.
        name: String,
        /// An App it may reach (repeatable).
        #[arg(long = "app", required = true)]
        apps: Vec<String>,
        /// Lifetime, such as 90d (default 365d).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// List Service tokens.
    List,
    /// Revoke a Service token by id.
    Revoke {
        /// The token's id.
        id: String,
    },
}

fn parse_kind(text: &str) -> Result<AppKind, String> {
    AppKind::from_scheme(text).ok_or_else(|| format!("{text:?} is not one of ssh, rdp, tcp"))
}

const ACTOR: &str = "cli:postern-server-admin";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Prints `value` as JSON, or `text` for people.
#[allow(clippy::print_stdout)]
fn emit<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

/// Where the commands go.
enum Target {
    Local(SqliteStore),
    Remote {
        http: reqwest::Client,
        base: url::Url,
        token: String,
    },
}

impl Target {
    async fn open(args: &AdminArgs) -> anyhow::Result<Target> {
        if let Some(base) = &args.server {
            let token = args
                .token
                .clone()
                .context("--server needs --token or POSTERN_ADMIN_TOKEN")?;
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if let Some(ca) = &args.ca {
                use rustls_pki_types::CertificateDer;
                use rustls_pki_types::pem::PemObject;
                for cert in CertificateDer::pem_file_iter(ca)
                    .with_context(|| format!("cannot read --ca {}", ca.display()))?
                {
                    roots.add(cert?)?;
                }
            }
            let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let http = reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(Duration::from_secs(30))
                .build()?;
            return Ok(Target::Remote {
                http,
                base: base.clone(),
                token,
            });
        }
        anyhow::ensure!(
            args.data_dir
                .join(server::store::sqlite::DATABASE_FILE)
                .exists(),
            "no Postern database in {}: pass --data-dir (or POSTERN_DATA_DIR) of a server that has run, or --server",
            args.data_dir.display()
        );
        let store = SqliteStore::open(&args.data_dir)
            .await
            .with_context(|| format!("cannot open the store in {}", args.data_dir.display()))?;
        Ok(Target::Local(store))
    }

    /// Calls the admin API; errors carry the server's message.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<T> {
        let Target::Remote { http, base, token } = self else {
            anyhow::bail!("not connected to a server")
        };
        let mut request = http.request(method, base.join(path)?).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.context("cannot reach the server")?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let message = serde_json::from_slice::<protocol::api::ErrorBody>(&bytes)
                .map(|body| body.error.message)
                .unwrap_or_else(|_| format!("the server answered {status}"));
            anyhow::bail!("{message}");
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// Runs an admin command.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    use reqwest::Method;
    let target = Target::open(&args).await?;
    let json = args.json;
    let now = now();
    let local = match &target {
        Target::Local(store) => Some(store as &dyn Store),
        Target::Remote { .. } => None,
    };
    match args.command {
        AdminCommand::Connector(ConnectorCommand::Create { name }) => {
            let created: ConnectorToken = match local {
                Some(store) => provision::create_connector(store, ACTOR, &name, now).await?,
                None => {
                    target
                        .call(
                            Method::POST,
                            "/api/admin/connectors",
                            Some(serde_json::json!({"name": name})),
                        )
                        .await?
                }
            };
            emit(json, &created, || {
                format!(
                    "Created connector {name}. Its token (shown once):\n\n  {}\n\nRun on the origin host:\n  POSTERN_CONNECTOR_TOKEN=… postern connector run --server https://… --allow HOST:PORT",
                    created.token
                )
            })
        }
        AdminCommand::Connector(ConnectorCommand::Rotate { name }) => {
            let rotated: ConnectorToken = match local {
                Some(store) => provision::rotate_connector(store, ACTOR, &name, now).await?,
                None => {
                    target
                        .call(
                            Method::POST,
                            &format!("/api/admin/connectors/{name}/rotate"),
                            Some(serde_json::json!({})),
                        )
                        .await?
                }
            };
            emit(json, &rotated, || {
                format!(
                    "New token for connector {name} (shown once):\n\n  {}",
                    rotated.token
                )
            })
        }
        AdminCommand::Connector(ConnectorCommand::Revoke { name }) => {
            match local {
                Some(store) => drop(provision::revoke_connector(store, ACTOR, &name, now).await?),
                None => target
                    .call::<serde_json::Value>(
                        Method::DELETE,
                        &format!("/api/admin/connectors/{name}"),
                        None,
                    )
                    .await
                    .map(drop)?,
            }
            emit(json, &serde_json::json!({"revoked": name}), || {
                format!("Revoked connector {name}")
            })
        }
        AdminCommand::Connector(ConnectorCommand::List) => {
            let connectors: Vec<ConnectorSummary> = match local {
                Some(store) => store
                    .list_connectors()
                    .await?
                    .iter()
                    .map(provision::connector_summary)
                    .collect(),
                None => {
                    target
                        .call(Method::GET, "/api/admin/connectors", None)
                        .await?
                }
            };
            emit(json, &connectors, || {
                connectors
                    .iter()
                    .map(|c| {
                        format!(
                            "{}\t{}\tcreated {}",
                            c.name,
                            if c.revoked { "revoked" } else { "active" },
                            c.created_at
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AdminCommand::App(AppCommand::Create(spec)) => {
            let request = app_request(spec);
            let app: AppSummary = match local {
                Some(store) => provision::create_app(store, ACTOR, request, now).await?,
                None => {
                    target
                        .call(
                            Method::POST,
                            "/api/admin/apps",
                            Some(serde_json::to_value(&request)?),
                        )
                        .await?
                }
            };
            emit(json, &app, || {
                format!(
                    "Created app {} ({} via connector {})",
                    app.name, app.service_url, app.connector
                )
            })
        }
        AdminCommand::App(AppCommand::Update(spec)) => {
            let name = spec.name.clone();
            let request = app_request(spec);
            let app: AppSummary = match local {
                Some(store) => provision::update_app(store, ACTOR, &name, request, now).await?,
                None => {
                    target
                        .call(
                            Method::PUT,
                            &format!("/api/admin/apps/{name}"),
                            Some(serde_json::to_value(&request)?),
                        )
                        .await?
                }
            };
            emit(json, &app, || format!("Updated app {}", app.name))
        }
        AdminCommand::App(AppCommand::UnpinHostKey { name }) => {
            let app: AppSummary = match local {
                Some(store) => provision::unpin_host_key(store, ACTOR, &name, now).await?,
                None => {
                    target
                        .call(
                            Method::DELETE,
                            &format!("/api/admin/apps/{name}/host-key"),
                            None,
                        )
                        .await?
                }
            };
            emit(json, &app, || {
                format!(
                    "Forgot the pinned host key of app {}: its next connection pins the key the origin presents",
                    app.name
                )
            })
        }
        AdminCommand::App(AppCommand::Delete { name }) => {
            match local {
                Some(store) => provision::delete_app(store, ACTOR, &name, now).await?,
                None => target
                    .call::<serde_json::Value>(
                        Method::DELETE,
                        &format!("/api/admin/apps/{name}"),
                        None,
                    )
                    .await
                    .map(drop)?,
            }
            emit(json, &serde_json::json!({"deleted": name}), || {
                format!("Deleted app {name}")
            })
        }
        AdminCommand::App(AppCommand::List) => {
            let apps: Vec<AppSummary> = match local {
                Some(store) => store
                    .list_apps()
                    .await?
                    .iter()
                    .map(provision::app_summary)
                    .collect(),
                None => target.call(Method::GET, "/api/admin/apps", None).await?,
            };
            emit(json, &apps, || {
                apps.iter()
                    .map(|a| {
                        format!(
                            "{}\t{}\t{}\tvia {}",
                            a.name,
                            a.kind.as_str(),
                            a.service_url,
                            a.connector
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AdminCommand::ServiceToken(ServiceTokenCommand::Create {
            name,
            apps,
            expires_in,
        }) => {
            let request = CreateServiceTokenRequest {
                name,
                apps,
                expires_in_seconds: expires_in.map(|d| d.as_secs()),
            };
            let created: ServiceTokenCreated = match local {
                Some(store) => provision::create_service_token(store, ACTOR, request, now).await?,
                None => {
                    target
                        .call(
                            Method::POST,
                            "/api/admin/service-tokens",
                            Some(serde_json::to_value(&request)?),
                        )
                        .await?
                }
            };
            emit(json, &created, || {
                format!(
                    "Created service token {} for {} (expires {}).\n\n  id:     {}\n  secret: {}\n\nThe secret is shown once.",
                    created.token.name,
                    created.token.apps.join(", "),
                    created.token.expires_at,
                    created.token.id,
                    created.secret
                )
            })
        }
        AdminCommand::ServiceToken(ServiceTokenCommand::Revoke { id }) => {
            match local {
                Some(store) => provision::revoke_service_token(store, ACTOR, &id, now).await?,
                None => target
                    .call::<serde_json::Value>(
                        Method::DELETE,
                        &format!("/api/admin/service-tokens/{id}"),
                        None,
                    )
                    .await
                    .map(drop)?,
            }
            emit(json, &serde_json::json!({"revoked": id}), || {
                format!("Revoked service token {id}")
            })
        }
        AdminCommand::ServiceToken(ServiceTokenCommand::List) => {
            let tokens: Vec<ServiceTokenSummary> = match local {
                Some(store) => store
                    .list_service_tokens()
                    .await?
                    .iter()
                    .map(provision::service_token_summary)
                    .collect(),
                None => {
                    target
                        .call(Method::GET, "/api/admin/service-tokens", None)
                        .await?
                }
            };
            emit(json, &tokens, || {
                tokens
                    .iter()
                    .map(|t| {
                        format!(
                            "{}\t{}\t{}\texpires {}{}",
                            t.id,
                            t.name,
                            t.apps.join(","),
                            t.expires_at,
                            if t.revoked { "\trevoked" } else { "" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AdminCommand::Audit { limit } => {
            let limit = limit.clamp(1, 1000);
            let events: Vec<AuditEvent> = match local {
                Some(store) => store
                    .list_audit(limit, None)
                    .await?
                    .into_iter()
                    .map(provision::audit_event)
                    .collect(),
                None => {
                    target
                        .call(
                            Method::GET,
                            &format!("/api/admin/audit?limit={limit}"),
                            None,
                        )
                        .await?
                }
            };
            emit(json, &events, || {
                events
                    .iter()
                    .map(|e| {
                        let decision = e
                            .decision
                            .map(|d| format!("{d:?}").to_lowercase())
                            .unwrap_or_default();
                        format!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            e.at,
                            e.actor,
                            e.action,
                            e.app.as_deref().unwrap_or("-"),
                            decision,
                            e.reason
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

fn app_request(spec: AppSpec) -> AppRequest {
    let ssh = if let Some(claim) = spec.principal_claim {
        Some(SshSettings {
            principals: PrincipalSource::Claim { claim },
            record_input: spec.record_input,
        })
    } else if !spec.principals.is_empty() {
        Some(SshSettings {
            principals: PrincipalSource::List {
                principals: spec.principals,
            },
            record_input: spec.record_input,
        })
    } else if spec.record_input {
        Some(SshSettings {
            principals: PrincipalSource::EmailLocalPart,
            record_input: true,
        })
    } else {
        None
    };
    AppRequest {
        ssh,
        name: spec.name,
        kind: spec.kind,
        connector: spec.connector,
        service_url: spec.url,
        session_duration_seconds: spec.session_duration.map(|d| d.as_secs()),
        allow: AllowList {
            emails: spec.allow_emails,
            email_domains: spec.allow_domains,
            groups: spec.allow_groups,
        },
    }
}
