//! `postern ssh-config`: `ssh_config` blocks that reach SSH Apps through Postern and, with
//! `--short-lived-cert`, log in with a certificate that `postern ssh-cert` renews right before
//! ssh needs it.

use anyhow::Context;
use protocol::api::{AppKind, UserApp};
use protocol::ssh::{SshLogin, login_path};

use crate::access_cmd::{ServerArgs, upstream};
use crate::credentials::TokenCache;
use crate::sign_in::SignIn;
use crate::ssh_cert::{KeyFiles, explain};
use crate::upstream::Credentials;

/// Runs `postern ssh-config`: prints blocks for one App or every SSH App the signed-in user
/// may reach.
pub fn run(server: ServerArgs, app: Option<String>, short_lived_cert: bool) -> anyhow::Result<()> {
    let runtime = crate::runtime()?;
    let invocation = Invocation {
        executable: std::env::current_exe()
            .map(|path| path.display().to_string())
            .unwrap_or_else(|_| "postern".to_owned()),
        server: server.server.as_str().trim_end_matches('/').to_owned(),
        ca: server.ca.as_ref().map(|ca| ca.display().to_string()),
    };
    let text = if short_lived_cert {
        let hosts = runtime.block_on(cert_hosts(&server, app))?;
        cert_config_text(&invocation, &hosts)?
    } else {
        let apps = match app {
            Some(app) => vec![app],
            None => runtime.block_on(signed_in_ssh_apps(&server))?,
        };
        ssh_config_text(&invocation, &apps)
    };
    print!("{text}");
    Ok(())
}

/// The SSH Apps the cached token's user may reach; no sign-in (plain blocks need none).
async fn signed_in_ssh_apps(server: &ServerArgs) -> anyhow::Result<Vec<String>> {
    let cache = TokenCache::open()?;
    let cached = cache.get(&server.server).with_context(|| {
        format!(
            "not signed in to {}: run `postern login --server {}` or pass --app",
            server.server, server.server
        )
    })?;
    let upstream = upstream(server)?;
    let apps: Vec<UserApp> = upstream
        .get_json("/api/apps", Some(&Credentials::Session(cached.token)))
        .await?;
    Ok(ssh_app_names(apps))
}

fn ssh_app_names(apps: Vec<UserApp>) -> Vec<String> {
    apps.into_iter()
        .filter(|app| app.kind == AppKind::Ssh)
        .map(|app| app.name)
        .collect()
}

/// One App in certificate mode.
#[derive(Debug, Clone)]
pub struct CertHost {
    /// The App, which is also the host name ssh is given.
    pub app: String,
    /// The remote user, when the person may log in as exactly one.
    pub user: Option<String>,
    /// Where `ssh-cert` keeps the key and certificate.
    pub files: KeyFiles,
}

/// Looks up, signing in first if needed, who the person may log in as on each App.
async fn cert_hosts(server: &ServerArgs, app: Option<String>) -> anyhow::Result<Vec<CertHost>> {
    let upstream = upstream(server)?;
    let sign_in = SignIn::new(upstream, None, false, "the configuration");
    let upstream = sign_in.upstream();
    let named = app.is_some();
    let apps = match app {
        Some(app) => vec![app],
        None => {
            let apps: Vec<UserApp> = sign_in
                .send(|credentials| async move {
                    upstream.get_json("/api/apps", Some(&credentials)).await
                })
                .await?;
            ssh_app_names(apps)
        }
    };
    let mut hosts = Vec::new();
    for app in apps {
        let path = login_path(&app);
        let looked_up = sign_in
            .send(|credentials| {
                let path = &path;
                async move {
                    upstream
                        .get_json::<SshLogin>(path, Some(&credentials))
                        .await
                }
            })
            .await;
        let login = match looked_up {
            Ok(login) => login,
            Err(error) => {
                let error = explain(&sign_in, &app, error).await;
                if named {
                    return Err(error);
                }
                eprintln!("postern: leaving out {app}: {error:#}");
                continue;
            }
        };
        if login.principals.is_empty() {
            let message = format!("you may log in to {app} as no one");
            if named {
                anyhow::bail!(message);
            }
            eprintln!("postern: leaving out {app}: {message}");
            continue;
        }
        let user = match login.principals.as_slice() {
            [only] if is_plain_name(only) => Some(only.clone()),
            _ => None,
        };
        hosts.push(CertHost {
            files: KeyFiles::for_app(sign_in.upstream().server(), &app)?,
            app,
            user,
        });
    }
    Ok(hosts)
}

/// How the printed commands call this binary.
struct Invocation {
    executable: String,
    server: String,
    ca: Option<String>,
}

impl Invocation {
    /// The common start of `postern` commands: executable, `--server` and `--ca`.
    fn command(&self, subcommand: &str) -> String {
        let mut command = format!(
            "{} {subcommand} --server {}",
            command_word(&self.executable),
            command_word(&self.server)
        );
        if let Some(ca) = &self.ca {
            command.push_str(&format!(" --ca {}", command_word(ca)));
        }
        command
    }

    fn proxy_command(&self) -> String {
        format!("{} --app %n", self.command("access ssh"))
    }

    /// The command `Match exec` runs: it fails (and the certificate lines do not apply) when
    /// no certificate can be had, and its errors reach the terminal on stderr.
    fn cert_command(&self, app: &str) -> String {
        format!(
            "{} --app {app} --principal %r --quiet",
            self.command("ssh-cert")
        )
    }
}

/// Names that need no quoting anywhere: letters, digits and `._-@`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// `word` for the shell that runs ssh's commands, with `%` doubled so ssh does not read it as
/// one of its tokens.
fn command_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '.' | '_' | '-' | '/' | ':' | ',' | '+' | '=' | '@' | '%')
        });
    let quoted = if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    };
    quoted.replace('%', "%%")
}

/// A value for ssh_config: in double quotes when it has blanks or quotes, `%` doubled.
fn config_value(value: &str) -> String {
    let value = value.replace('%', "%%");
    if value
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#'))
    {
        format!("\"{}\"", value.replace('\\', r"\\").replace('"', "\\\""))
    } else {
        value
    }
}

/// The plain `ssh_config` text for `apps`: each one reached through `postern access ssh`.
fn ssh_config_text(invocation: &Invocation, apps: &[String]) -> String {
    let mut text = format!("# Postern: SSH Apps on {}\n", invocation.server);
    for app in apps {
        text.push_str(&format!(
            "Host {app}\n  HostName {app}\n  ProxyCommand {}\n\n",
            invocation.proxy_command()
        ));
    }
    text
}

/// The `ssh_config` text for `hosts` in certificate mode: the plain block (with `User` when
/// there is one choice), then a `Match … exec` block that has `postern ssh-cert` renew the
/// certificate before each connection and points ssh at the key and certificate.
fn cert_config_text(invocation: &Invocation, hosts: &[CertHost]) -> anyhow::Result<String> {
    let mut text = format!(
        "# Postern: SSH Apps on {}, logging in with short-lived certificates.\n\
         # Before each connection ssh runs `postern ssh-cert`, which asks for a new certificate\n\
         # only when the cached one has less than a minute left.\n",
        invocation.server
    );
    for host in hosts {
        let app = &host.app;
        anyhow::ensure!(is_plain_name(app), "{app:?} cannot be an ssh host name");
        text.push_str(&format!("Host {app}\n  HostName {app}\n"));
        if let Some(user) = &host.user {
            text.push_str(&format!("  User {user}\n"));
        }
        let cert_command = invocation
            .cert_command(app)
            .replace('\\', r"\\")
            .replace('"', "\\\"");
        text.push_str(&format!(
            "  ProxyCommand {}\nMatch originalhost {app} exec \"{cert_command}\"\n  \
             IdentityFile {}\n  CertificateFile {}\n  IdentitiesOnly yes\n\n",
            invocation.proxy_command(),
            config_value(&host.files.key.display().to_string()),
            config_value(&host.files.certificate.display().to_string()),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn invocation(executable: &str, ca: Option<&str>) -> Invocation {
        Invocation {
            executable: executable.to_owned(),
            server: "https://p.example".to_owned(),
            ca: ca.map(str::to_owned),
        }
    }

    fn host(config: &Path, app: &str, user: Option<&str>) -> CertHost {
        CertHost {
            app: app.to_owned(),
            user: user.map(str::to_owned),
            files: KeyFiles::in_dir(config, &"https://p.example".parse().unwrap(), app).unwrap(),
        }
    }

    #[test]
    fn ssh_config_blocks() {
        let text = ssh_config_text(
            &invocation("/usr/bin/postern", Some("/c.pem")),
            &["web1".into(), "db".into()],
        );
        assert!(text.contains("Host web1\n  HostName web1\n  ProxyCommand /usr/bin/postern access ssh --server https://p.example --ca /c.pem --app %n\n"));
        assert!(text.contains("Host db\n"));
    }

    #[test]
    fn certificate_blocks() {
        let hosts = [
            host(Path::new("/home/a/.config/postern"), "web1", Some("deploy")),
            host(Path::new("/home/a/.config/postern"), "db", None),
        ];
        let text =
            cert_config_text(&invocation("/usr/bin/postern", Some("/c.pem")), &hosts).unwrap();
        assert!(
            text.contains(
                "Host web1\n  HostName web1\n  User deploy\n  \
                 ProxyCommand /usr/bin/postern access ssh --server https://p.example --ca /c.pem --app %n\n\
                 Match originalhost web1 exec \"/usr/bin/postern ssh-cert --server https://p.example --ca /c.pem --app web1 --principal %r --quiet\"\n  \
                 IdentityFile /home/a/.config/postern/ssh/p.example_443/web1\n  \
                 CertificateFile /home/a/.config/postern/ssh/p.example_443/web1-cert.pub\n  \
                 IdentitiesOnly yes\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("Host db\n  HostName db\n  ProxyCommand"),
            "{text}"
        );
    }

    #[test]
    fn words_and_values_are_quoted_only_when_needed() {
        assert_eq!(command_word("/usr/bin/postern"), "/usr/bin/postern");
        assert_eq!(command_word("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(command_word("/100%/x"), "/100%%/x");
        assert_eq!(config_value("/home/a/key"), "/home/a/key");
        assert_eq!(config_value("/my keys/k"), "\"/my keys/k\"");
        assert_eq!(config_value("/50%/k"), "/50%%/k");
    }

    /// Runs `ssh -G` on generated text for `target`, if OpenSSH is installed.
    fn ssh_g(config: &Path, target: &str) -> Option<String> {
        let output = std::process::Command::new("ssh")
            .arg("-G")
            .arg("-F")
            .arg(config)
            .arg(target)
            .env("HOME", config.parent().unwrap())
            .output()
            .ok()?;
        assert!(
            output.status.success(),
            "ssh -G {target}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(String::from_utf8(output.stdout).unwrap())
    }

    #[test]
    fn openssh_reads_the_certificate_blocks_and_runs_ssh_cert_with_the_remote_user() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in for `postern` in a directory with a space, recording its arguments.
        let bin = dir.path().join("my bin");
        std::fs::create_dir(&bin).unwrap();
        let fake = bin.join("postern");
        let calls = dir.path().join("calls");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nfor arg in \"$@\"; do printf '%s|' \"$arg\"; done >> '{}'\necho >> '{}'\n[ \"$7\" != nope ]\n",
                calls.display(),
                calls.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let config_dir = dir.path().join("config dir");
        let hosts = [
            host(&config_dir, "web1", Some("deploy")),
            host(&config_dir, "db", None),
            host(&config_dir, "nope", None),
        ];
        let text = cert_config_text(
            &invocation(&fake.display().to_string(), Some("/etc/ca 100%.pem")),
            &hosts,
        )
        .unwrap();
        let config = dir.path().join("ssh_config");
        std::fs::write(&config, &text).unwrap();

        let Some(web1) = ssh_g(&config, "web1") else {
            eprintln!("ssh is not installed: checked the text only");
            return;
        };
        let files = &hosts[0].files;
        for line in [
            "user deploy".to_owned(),
            "hostname web1".to_owned(),
            format!("identityfile {}", files.key.display()),
            format!("certificatefile {}", files.certificate.display()),
            "identitiesonly yes".to_owned(),
        ] {
            assert!(web1.lines().any(|l| l == line), "no {line:?} in:\n{web1}");
        }
        let proxy = web1
            .lines()
            .find_map(|l| l.strip_prefix("proxycommand "))
            .unwrap();
        // ssh expands the ProxyCommand's tokens only when it connects.
        assert!(
            proxy.ends_with(
                "access ssh --server https://p.example --ca '/etc/ca 100%%.pem' --app %n"
            ),
            "{proxy}"
        );

        // Several principals: no User line, and ssh passes the user it was given.
        let db = ssh_g(&config, "grace@db").unwrap();
        assert!(db.lines().any(|l| l == "user grace"), "{db}");
        assert!(
            db.lines()
                .any(|l| l == format!("certificatefile {}", hosts[1].files.certificate.display())),
            "{db}"
        );
        // When ssh-cert fails, the certificate lines do not apply (the proxy still does).
        let nope = ssh_g(&config, "nope").unwrap();
        assert!(!nope.contains("certificatefile"), "{nope}");
        assert!(nope.contains("proxycommand"), "{nope}");
        // Other hosts never run ssh-cert.
        let _ = ssh_g(&config, "elsewhere").unwrap();

        let calls = std::fs::read_to_string(&calls).unwrap();
        let calls: Vec<&str> = calls.lines().collect();
        let common = "ssh-cert|--server|https://p.example|--ca|/etc/ca 100%.pem|--app|";
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(
            calls[0],
            format!("{common}web1|--principal|deploy|--quiet|")
        );
        assert_eq!(calls[1], format!("{common}db|--principal|grace|--quiet|"));
        assert!(
            calls[2].starts_with(&format!("{common}nope|--principal|")),
            "{calls:?}"
        );
    }
}
