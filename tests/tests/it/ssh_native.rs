//! OpenSSH with Postern's short-lived certificates: `postern ssh-cert` and
//! `postern ssh-config --short-lived-cert` against an sshd that trusts nothing but Postern's
//! SSH CA (no authorized_keys), reached through `postern access ssh`; and what must be
//! refused: principals the user may not use, Apps they may not reach, bare keys, expired
//! certificates, a changed host key.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use protocol::api::{
    AllowList, AppKind, AppRequest, AuditEvent, CliApproval, CliApproveRequest, ConnectorToken,
    CreateConnectorRequest, CreateLocalUserRequest, Decision, Role,
};
use tests::idp::ADA;
use tests::postern::{self, Postern};
use tests::process::{wait_for, workspace_binary};
use tests::server::{TestClient, TestServer};
use tests::sshd::{Sshd, ensure_unix_user};
use tokio::process::Command;

const PASSWORD: &str = "correct horse battery staple";

/// The remote user Ada may log in as: the local part of her email, the default principal.
fn ada_principal() -> &'static str {
    ADA.email.split('@').next().unwrap()
}

/// The CA line `postern-server ssh-ca` prints for the server's data directory.
async fn ca_public_key(server: &TestServer) -> String {
    let output = Command::new(workspace_binary("postern-server").unwrap())
        .arg("ssh-ca")
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
    line
}

async fn create_app(admin: &TestClient, name: &str, url: &str, allow: AllowList) {
    let request = AppRequest {
        name: name.into(),
        kind: AppKind::Ssh,
        connector: "office".into(),
        service_url: url.into(),
        session_duration_seconds: None,
        allow,
        ssh: None,
    };
    let response = admin.post_json("/api/admin/apps", &request).await.unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// A laptop: the `postern` CLI with its own config directory, signed in (when asked) as Ada
/// by a "browser" that is a script recording the link, approved by the test in Ada's
/// browser Session.
struct Laptop {
    home: tempfile::TempDir,
    config_dir: PathBuf,
    link_file: PathBuf,
    browser_script: PathBuf,
    ada: TestClient,
    origin: String,
    ca: PathBuf,
}

impl Laptop {
    async fn new(server: &TestServer, admin: &TestClient) -> Laptop {
        let user = CreateLocalUserRequest {
            username: ADA.login.into(),
            name: ADA.name.into(),
            email: Some(ADA.email.into()),
            password: PASSWORD.into(),
            role: Role::User,
        };
        let response = admin.post_json("/api/admin/users", &user).await.unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let ada = server.client().unwrap();
        let response = ada.sign_in_local(ADA.login, PASSWORD).await.unwrap();
        assert_eq!(response.status(), 200);
        let home = tempfile::tempdir().unwrap();
        let link_file = home.path().join("link");
        let browser_script = home.path().join("browser.sh");
        std::fs::write(
            &browser_script,
            format!("#!/bin/sh\nprintf '%s' \"$1\" > {}\n", link_file.display()),
        )
        .unwrap();
        std::fs::set_permissions(&browser_script, PermissionsExt::from_mode(0o755)).unwrap();
        Laptop {
            config_dir: home.path().join("config"),
            home,
            link_file,
            browser_script,
            ada,
            origin: server.origin.clone(),
            ca: server.report.cert_path.clone(),
        }
    }

    /// `postern ARGS --server … --ca …` with this laptop's config directory and browser.
    fn postern(&self, args: &[&str]) -> Command {
        let mut command = Command::new(workspace_binary("postern").unwrap());
        command
            .args(args)
            .args(["--server", &self.origin, "--ca"])
            .arg(&self.ca)
            .env("POSTERN_CONFIG_DIR", &self.config_dir)
            .env("BROWSER", &self.browser_script)
            .stdin(Stdio::null());
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.postern(args).output().await.unwrap()
    }

    /// Runs `postern ARGS` while approving the sign-in it starts, as Ada would.
    async fn run_signing_in(&self, args: &[&str]) -> Output {
        let (output, ()) = tokio::join!(self.run(args), self.approve());
        output
    }

    /// Waits for the CLI to open the sign-in link, approves it in Ada's browser Session and
    /// follows the redirect to the CLI's loopback callback.
    async fn approve(&self) {
        let link = wait_for(
            "the CLI to open the browser",
            Duration::from_secs(20),
            || async {
                std::fs::read_to_string(&self.link_file)
                    .ok()
                    .filter(|link| !link.is_empty())
            },
        )
        .await
        .unwrap();
        std::fs::remove_file(&self.link_file).unwrap();
        let link = url::Url::parse(&link).unwrap();
        let query: std::collections::HashMap<String, String> =
            link.query_pairs().into_owned().collect();
        let approval: CliApproval = self
            .ada
            .post_json(
                "/api/cli/approve",
                &CliApproveRequest {
                    challenge: query["challenge"].clone(),
                    state: query["state"].clone(),
                    callback: Some(query["callback"].clone()),
                    hostname: query.get("hostname").cloned(),
                },
            )
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let landed = reqwest::get(approval.redirect.unwrap()).await.unwrap();
        assert_eq!(landed.status(), 200);
    }

    /// Where `ssh-cert` keeps the files for `app` (`<config>/ssh/<host>_<port>/`).
    fn key_dir(&self) -> PathBuf {
        let url = url::Url::parse(&self.origin).unwrap();
        self.config_dir.join("ssh").join(format!(
            "{}_{}",
            url.host_str().unwrap(),
            url.port_or_known_default().unwrap()
        ))
    }

    /// `ssh` with `args`, this laptop's config directory in its environment (for the
    /// ProxyCommand and `Match exec`).
    async fn ssh(&self, args: &[String]) -> Output {
        Command::new("ssh")
            .args(args)
            .env("POSTERN_CONFIG_DIR", &self.config_dir)
            .env("BROWSER", "/bin/false")
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap()
    }

    fn proxy_command(&self, app: &str) -> String {
        format!(
            "{} access ssh --server {} --ca {} --app {app}",
            workspace_binary("postern").unwrap().display(),
            self.origin,
            self.ca.display()
        )
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn audit(admin: &TestClient) -> Vec<AuditEvent> {
    admin
        .get("/api/admin/audit?limit=100")
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A server with a first admin and a connector `office`, its token, and an sshd that lets
/// Ada's principal in with the server's certificates only.
async fn certificate_origin() -> (TestServer, TestClient, String, Sshd) {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    let created: ConnectorToken = admin
        .post_json(
            "/api/admin/connectors",
            &CreateConnectorRequest {
                name: "office".into(),
            },
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ensure_unix_user(ada_principal()).unwrap();
    let sshd = Sshd::start_with_ca(&ca_public_key(&server).await, ada_principal())
        .await
        .unwrap();
    (server, admin, created.token, sshd)
}

fn example_test() -> AllowList {
    AllowList {
        email_domains: vec!["example.test".into()],
        ..AllowList::default()
    }
}

#[tokio::test]
async fn a_certificate_from_postern_logs_in_where_only_its_ca_is_trusted() {
    let (server, admin, token, sshd) = certificate_origin().await;
    create_app(
        &admin,
        "shell",
        &format!("ssh://127.0.0.1:{}", sshd.port),
        example_test(),
    )
    .await;
    let connector: Postern =
        postern::connector(&server, &token, &format!("127.0.0.1:{}", sshd.port), 1).unwrap();
    admin.wait_for_connector_links(1).await.unwrap();
    let laptop = Laptop::new(&server, &admin).await;

    // Not signed in yet: ssh-cert signs in through the browser, then gets the certificate.
    let output = laptop.run_signing_in(&["ssh-cert", "--app", "shell"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let key = laptop.key_dir().join("shell");
    let cert = laptop.key_dir().join("shell-cert.pub");
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with(&format!(
            "New certificate for {} on shell, valid until ",
            ada_principal()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  key:         {}\n", key.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  certificate: {}\n", cert.display())),
        "{stdout}"
    );
    for path in [&key, &key.with_extension("pub"), &cert] {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    let issued = std::fs::read_to_string(&cert).unwrap();
    assert!(
        issued.starts_with("ssh-ed25519-cert-v01@openssh.com "),
        "{issued}"
    );

    // OpenSSH logs in with it through Postern, with no authorized_keys anywhere.
    let mut args = vec![
        "-i".to_owned(),
        key.display().to_string(),
        "-o".to_owned(),
        format!("CertificateFile={}", cert.display()),
        "-o".to_owned(),
        "IdentitiesOnly=yes".to_owned(),
        "-o".to_owned(),
        format!("ProxyCommand={}", laptop.proxy_command("shell")),
    ];
    args.extend(sshd.trust_options());
    args.extend([
        format!("{}@shell", ada_principal()),
        "echo $((6*7))".to_owned(),
    ]);
    let output = laptop.ssh(&args).await;
    assert!(output.status.success(), "ssh: {}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), "42");

    // A certificate with minutes left is reused without asking the server.
    let output = laptop.run(&["ssh-cert", "--app", "shell", "--quiet"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), issued);
    let output = laptop.run(&["ssh-cert", "--app", "shell"]).await;
    assert!(
        text(&output.stdout).starts_with("Cached certificate for "),
        "{}",
        text(&output.stdout)
    );

    // The key alone (no certificate) gets nowhere.
    let mut bare = sshd.client_options(&laptop.proxy_command("shell"));
    bare.extend([format!("{}@shell", ada_principal()), "true".to_owned()]);
    let output = laptop.ssh(&bare).await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("Permission denied"),
        "{}",
        text(&output.stderr)
    );

    // Without --app, ssh-config covers every SSH App the person may reach.
    let output = laptop.run(&["ssh-config"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plain = text(&output.stdout);
    assert!(plain.contains("Host shell\n"), "{plain}");
    assert!(plain.contains("access ssh"), "{plain}");
    assert!(!plain.contains("CertificateFile"), "{plain}");

    // ssh-config --short-lived-cert (every App, as above): plain `ssh shell` renews the
    // certificate through `Match exec` (here: there is none, so it must ask), and logs in as
    // the one principal.
    let output = laptop.run(&["ssh-config", "--short-lived-cert"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let config_text = text(&output.stdout);
    assert!(
        config_text.contains(&format!("  User {}\n", ada_principal())),
        "{config_text}"
    );
    assert!(
        config_text.contains("Match originalhost shell exec \""),
        "{config_text}"
    );
    let config = laptop.home.path().join("ssh_config");
    std::fs::write(&config, &config_text).unwrap();
    std::fs::remove_file(&cert).unwrap();
    let mut args = vec!["-F".to_owned(), config.display().to_string()];
    args.extend(sshd.trust_options());
    args.extend(["shell".to_owned(), "echo $((6*7))".to_owned()]);
    let output = laptop.ssh(&args).await;
    assert!(
        output.status.success(),
        "ssh -F: {}\n{config_text}",
        text(&output.stderr)
    );
    assert_eq!(text(&output.stdout).trim(), "42");
    assert_ne!(std::fs::read_to_string(&cert).unwrap(), issued);

    let issued: Vec<AuditEvent> = audit(&admin)
        .await
        .into_iter()
        .filter(|e| e.action == "ssh.certificate")
        .collect();
    assert_eq!(issued.len(), 2, "{issued:#?}");
    assert!(issued.iter().all(|e| e.decision == Some(Decision::Allow)
        && e.app.as_deref() == Some("shell")
        && e.actor == format!("user:{}", ADA.login)));
    connector.stop().await;
    sshd.stop().await;
}

#[tokio::test]
async fn refused_certificates_say_why_and_leave_no_certificate_file() {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    let created = admin
        .post_json(
            "/api/admin/connectors",
            &CreateConnectorRequest {
                name: "office".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // Certificates are issued without dialling the origin, so nothing listens here.
    create_app(&admin, "shell", "ssh://127.0.0.1:22", example_test()).await;
    create_app(
        &admin,
        "locked",
        "ssh://127.0.0.1:22",
        AllowList {
            emails: vec!["someone@elsewhere.test".into()],
            ..AllowList::default()
        },
    )
    .await;
    let laptop = Laptop::new(&server, &admin).await;

    // Not signed in, and no way to sign in (no browser, nothing typed).
    let output = laptop
        .run(&["ssh-cert", "--app", "shell", "--no-browser"])
        .await;
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("not signed in to {}", laptop.origin)),
        "{stderr}"
    );

    // A principal Ada may not use: refused with the one she may use, and no certificate.
    let output = laptop
        .run_signing_in(&["ssh-cert", "--app", "shell", "--principal", "root"])
        .await;
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("access to shell denied"), "{stderr}");
    assert!(stderr.contains("root"), "{stderr}");
    assert!(stderr.contains(ada_principal()), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(!laptop.key_dir().join("shell-cert.pub").exists());

    let cases: &[(&[&str], &str)] = &[
        (&["--app", "locked"], "access to locked denied"),
        (
            &["--app", "nope"],
            &format!("no SSH app is called nope on {}", laptop.origin),
        ),
        (&["--app", "../escape"], "is not an App name"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["ssh-cert"];
        all.extend_from_slice(args);
        let output = laptop.run(&all).await;
        assert!(!output.status.success(), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(!laptop.key_dir().join("locked-cert.pub").exists());
    assert!(!laptop.key_dir().join("nope-cert.pub").exists());

    let output = laptop
        .run(&["ssh-config", "--short-lived-cert", "--app", "locked"])
        .await;
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(
        text(&output.stderr).contains("access to locked denied"),
        "{}",
        text(&output.stderr)
    );

    let audit = audit(&admin).await;
    assert!(
        audit.iter().any(|e| e.app.as_deref() == Some("shell")
            && e.decision == Some(Decision::Deny)
            && e.reason.contains("root")),
        "{audit:#?}"
    );
    assert!(!audit.iter().any(|e| e.action == "ssh.certificate"));
}

/// Signs `key.pub` with the CA key at `ca` for `principal`, valid over `window` (ssh-keygen's
/// `-V`); returns the certificate file.
fn sign(ca: &Path, key: &Path, principal: &str, window: &str) -> PathBuf {
    let output = std::process::Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(ca)
        .args(["-I", "postern-test", "-n", principal, "-V", window])
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut cert = key.as_os_str().to_owned();
    cert.push("-cert.pub");
    PathBuf::from(cert)
}

fn user_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    key
}

/// `ssh` straight to `sshd` (no Postern) with `key` and its certificate `cert`.
async fn direct_ssh(sshd: &Sshd, key: &Path, cert: &Path) -> Output {
    let mut args = vec![
        "-p".to_owned(),
        sshd.port.to_string(),
        "-i".to_owned(),
        key.display().to_string(),
        "-o".to_owned(),
        format!("CertificateFile={}", cert.display()),
        "-o".to_owned(),
        "IdentitiesOnly=yes".to_owned(),
    ];
    args.extend(sshd.trust_options());
    args.extend([
        format!("{}@127.0.0.1", sshd.user),
        "echo $((6*7))".to_owned(),
    ]);
    Command::new("ssh")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn sshd_refuses_an_expired_certificate_from_postern_s_ca() {
    let server = TestServer::start().await.unwrap();
    let ca_line = ca_public_key(&server).await;
    let ca_key = server.data_dir().join("ssh/ca_ed25519");
    assert_eq!(
        std::fs::read_to_string(ca_key.with_extension("pub"))
            .unwrap()
            .trim(),
        ca_line
    );
    ensure_unix_user(ada_principal()).unwrap();
    let sshd = Sshd::start_with_ca(&ca_line, ada_principal())
        .await
        .unwrap();

    // Signed by the same CA for the same principal, inside its window: let in.
    let fresh = user_key(sshd.dir(), "fresh");
    let cert = sign(&ca_key, &fresh, ada_principal(), "-5m:+1h");
    let output = direct_ssh(&sshd, &fresh, &cert).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), "42");

    // The same, but its window ended years ago: refused.
    let stale = user_key(sshd.dir(), "stale");
    let cert = sign(&ca_key, &stale, ada_principal(), "20200101:20200102");
    let output = direct_ssh(&sshd, &stale, &cert).await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("Permission denied"),
        "{}",
        text(&output.stderr)
    );
    wait_for(
        "sshd to log the refusal",
        Duration::from_secs(5),
        || async { sshd.log().contains("expired").then_some(()) },
    )
    .await
    .unwrap_or_else(|error| panic!("{error}\n{}", sshd.log()));
    sshd.stop().await;
}

#[tokio::test]
async fn sshd_restarts_on_its_port_with_a_new_host_key() {
    // A CA of the test's own: this is about the harness, not the server.
    let dir = tempfile::tempdir().unwrap();
    let ca = user_key(dir.path(), "ca");
    let ca_line = std::fs::read_to_string(ca.with_extension("pub")).unwrap();
    ensure_unix_user(ada_principal()).unwrap();
    let mut sshd = Sshd::start_with_ca(&ca_line, ada_principal())
        .await
        .unwrap();
    let key = user_key(dir.path(), "user");
    let cert = sign(&ca, &key, ada_principal(), "-5m:+1h");

    let before = sshd.host_key_fingerprint().unwrap();
    let printed = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(sshd.dir().join("host_key.pub"))
        .output()
        .unwrap();
    assert!(
        text(&printed.stdout).contains(&format!(" {before} ")),
        "{before} vs {}",
        text(&printed.stdout)
    );
    let old_known_hosts = std::fs::read(&sshd.known_hosts).unwrap();
    let port = sshd.port;

    sshd.restart_with_new_host_key().await.unwrap();
    assert_eq!(sshd.port, port);
    assert_ne!(sshd.host_key_fingerprint().unwrap(), before);
    let output = direct_ssh(&sshd, &key, &cert).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), "42");
    // A client that pinned the old key sees the change and refuses.
    std::fs::write(&sshd.known_hosts, old_known_hosts).unwrap();
    let output = direct_ssh(&sshd, &key, &cert).await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("Host key verification failed"),
        "{}",
        text(&output.stderr)
    );
    sshd.stop().await;
}
