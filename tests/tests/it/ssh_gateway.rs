//! The browser terminal's gateway, driven the way the web app drives it: a WebSocket with the
//! Session cookie, to a real sshd that trusts nothing but Postern's SSH CA.

use std::time::Duration;

use protocol::api::AppSummary;
use protocol::ssh::{RecordingSummary, TerminalEvent, TerminalInput, close_code};
use sha2::{Digest, Sha256};
use tests::ssh_fixture::{APP, SshFixture};
use tests::terminal::{Terminal, Upgrade};

const LIMIT: Duration = Duration::from_secs(20);

async fn open(fixture: &SshFixture, cols: u16, rows: u16, upgrade: Upgrade) -> Terminal {
    Terminal::open(&fixture.server, APP, cols, rows, upgrade)
        .await
        .unwrap()
        .unwrap_or_else(|refused| panic!("refused: {refused:?}"))
}

#[tokio::test]
async fn a_terminal_runs_commands_resizes_takes_a_long_paste_and_is_recorded() {
    tests::init_logging();
    let fixture = SshFixture::start("pt-ada", None).await.unwrap();
    let mut terminal = open(&fixture, 100, 30, fixture.upgrade()).await;
    let TerminalEvent::Connected {
        principal,
        pinned_now,
        recorded,
        host_key_fingerprint,
    } = terminal.connected().await.unwrap()
    else {
        unreachable!()
    };
    assert_eq!(principal, "pt-ada");
    assert!(pinned_now, "the first connection pins the host key");
    assert!(recorded);
    assert_eq!(
        host_key_fingerprint,
        fixture.sshd.host_key_fingerprint().unwrap()
    );

    // The echo of the command shows `6*7`, never `42`: only the shell's answer matches.
    terminal.type_text("echo $((6*7))\r").await.unwrap();
    terminal.expect("42\r\n", LIMIT).await.unwrap();

    terminal.type_text("stty size\r").await.unwrap();
    terminal.expect("30 100", LIMIT).await.unwrap();
    terminal
        .control(&TerminalInput::Resize {
            cols: 132,
            rows: 43,
        })
        .await
        .unwrap();
    terminal.type_text("stty size\r").await.unwrap();
    terminal.expect("43 132", LIMIT).await.unwrap();

    // A 10 kB line, longer than the tty's canonical line buffer, so read it raw.
    let line: String = (0..10_000)
        .map(|i| char::from(b'a' + u8::try_from(i % 26).unwrap()))
        .collect();
    let digest: String = Sha256::digest(line.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // The shell reads the whole command line before running it, so once `PASTE-2` is printed
    // the rest of the input goes to head.
    terminal
        .type_text("stty -icanon; echo PASTE-$((1+1)); head -c 10000 | sha256sum; stty icanon\r")
        .await
        .unwrap();
    terminal.expect("PASTE-2", LIMIT).await.unwrap();
    terminal.type_text(&line).await.unwrap();
    terminal.expect(&digest, LIMIT).await.unwrap();

    terminal.type_text("exit\r").await.unwrap();
    let (code, reason) = terminal.closed_with(LIMIT).await.unwrap();
    assert_eq!(code, close_code::EXITED, "{reason}");
    assert!(reason.contains("status 0"), "{reason}");

    // The recording: listed for admins, valid asciicast v2, with the output and the resize.
    let recordings: Vec<RecordingSummary> =
        tests::process::wait_for("the recording to end", LIMIT, || async {
            let list: Vec<RecordingSummary> = fixture
                .admin
                .get("/api/admin/recordings")
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            list.iter().all(|r| r.ended_at.is_some()).then_some(list)
        })
        .await
        .unwrap();
    assert_eq!(recordings.len(), 1);
    let recording = &recordings[0];
    assert_eq!(recording.app, APP);
    assert_eq!(recording.actor, "user:ada");
    assert_eq!(recording.principal, "pt-ada");
    assert!(!recording.input_recorded);
    assert!(recording.size_bytes > 0);
    let cast = fixture
        .admin
        .get(&protocol::ssh::recording_cast_path(&recording.id))
        .await
        .unwrap();
    assert_eq!(cast.status(), 200);
    let cast = cast.text().await.unwrap();
    assert_eq!(cast.len() as u64, recording.size_bytes);
    let mut lines = cast.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(header["width"], 100);
    assert_eq!(header["height"], 30);
    let mut output = String::new();
    let mut last_time = 0.0;
    let mut resized = false;
    for line in lines {
        let (time, kind, data): (f64, String, String) = serde_json::from_str(line).unwrap();
        assert!(time >= last_time, "event times never go back");
        last_time = time;
        match kind.as_str() {
            "o" => output.push_str(&data),
            "r" => resized |= data == "132x43",
            other => panic!("unexpected event kind {other}: input is not recorded by default"),
        }
    }
    assert!(output.contains("42\r\n"), "{output}");
    assert!(resized);
    // People cannot read recordings.
    let denied = fixture
        .user
        .get(&protocol::ssh::recording_cast_path(&recording.id))
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    fixture.stop().await;
}

#[tokio::test]
async fn terminal_refusals_say_why_and_open_nothing() {
    tests::init_logging();
    let fixture = SshFixture::start("pt-refused", None).await.unwrap();
    let server = &fixture.server;

    // Before any upgrade: foreign or missing Origin, no or a bad cookie, a bad query.
    for (upgrade, status) in [
        (
            Upgrade {
                origin: Some("https://evil.example".into()),
                ..fixture.upgrade()
            },
            403,
        ),
        (
            Upgrade {
                origin: None,
                ..fixture.upgrade()
            },
            403,
        ),
        (
            Upgrade {
                session: None,
                ..fixture.upgrade()
            },
            401,
        ),
        (
            Upgrade {
                session: Some("not-a-token".into()),
                ..fixture.upgrade()
            },
            401,
        ),
        (
            Upgrade {
                raw_query: Some("cols=0&rows=24".into()),
                ..fixture.upgrade()
            },
            400,
        ),
        (
            Upgrade {
                raw_query: Some("cols=abc".into()),
                ..fixture.upgrade()
            },
            400,
        ),
        (
            Upgrade {
                raw_query: Some("cols=80&rows=99999".into()),
                ..fixture.upgrade()
            },
            400,
        ),
    ] {
        let refused = Terminal::open(server, APP, 80, 24, upgrade.clone())
            .await
            .unwrap()
            .err()
            .unwrap_or_else(|| panic!("{upgrade:?} was upgraded"));
        assert_eq!(refused.status, status, "{upgrade:?}: {}", refused.body);
    }

    // After the upgrade, refusals arrive as a Closed event the page can show.
    let closed = |app: &'static str, upgrade: Upgrade| async move {
        let mut terminal = Terminal::open(server, app, 80, 24, upgrade)
            .await
            .unwrap()
            .unwrap();
        terminal.closed_with(LIMIT).await.unwrap()
    };
    let (code, reason) = closed("nope", fixture.upgrade()).await;
    assert_eq!(code, close_code::UNKNOWN_APP, "{reason}");
    let (code, reason) = closed(
        APP,
        Upgrade {
            principal: Some("root".into()),
            ..fixture.upgrade()
        },
    )
    .await;
    assert_eq!(code, close_code::PRINCIPAL_NOT_ALLOWED);
    assert_eq!(reason, "you may not log in as root; you may use pt-refused");

    // An unknown control message ends the terminal as bad input.
    let mut terminal = open(&fixture, 80, 24, fixture.upgrade()).await;
    terminal.connected().await.unwrap();
    terminal
        .send_text(r#"{"type":"exec","command":"id"}"#)
        .await
        .unwrap();
    let (code, _) = terminal.closed_with(LIMIT).await.unwrap();
    assert_eq!(code, close_code::BAD_INPUT);

    // Someone the App does not allow.
    let (_, token) = fixture.outsider("mallory").await.unwrap();
    let (code, reason) = closed(
        APP,
        Upgrade {
            session: Some(token),
            ..fixture.upgrade()
        },
    )
    .await;
    assert_eq!(code, close_code::ACCESS_DENIED);
    assert!(reason.contains("matches no allow rule"), "{reason}");

    // Every refusal after the upgrade is in the audit log with its reason.
    fixture
        .assert_denials_audited(&[
            "no app is called nope",
            "you may not log in as root",
            "mallory@elsewhere.test matches no allow rule",
        ])
        .await
        .unwrap();
    // Only the one accepted terminal was recorded.
    let recordings: Vec<RecordingSummary> = fixture
        .admin
        .get("/api/admin/recordings")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recordings.len(), 1);
    fixture.stop().await;
}

#[tokio::test]
async fn a_changed_host_key_is_refused_naming_both_keys_until_an_admin_re_pins() {
    tests::init_logging();
    let mut fixture = SshFixture::start("pt-hostkey", None).await.unwrap();
    let first = fixture.sshd.host_key_fingerprint().unwrap();
    let mut terminal = open(&fixture, 80, 24, fixture.upgrade()).await;
    terminal.connected().await.unwrap();
    terminal.type_text("exit\r").await.unwrap();
    terminal.closed_with(LIMIT).await.unwrap();
    let pinned = |apps: Vec<AppSummary>| {
        apps.into_iter()
            .find(|app| app.name == APP)
            .and_then(|app| app.host_key_fingerprint)
    };
    let apps: Vec<AppSummary> = fixture
        .admin
        .get("/api/admin/apps")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pinned(apps).as_deref(), Some(first.as_str()));

    fixture.sshd.restart_with_new_host_key().await.unwrap();
    let second = fixture.sshd.host_key_fingerprint().unwrap();
    assert_ne!(first, second);
    let mut terminal = open(&fixture, 80, 24, fixture.upgrade()).await;
    let (code, reason) = terminal.closed_with(LIMIT).await.unwrap();
    assert_eq!(code, close_code::HOST_KEY_CHANGED);
    assert!(
        reason.contains(&first) && reason.contains(&second),
        "{reason}"
    );

    // People cannot re-pin; an admin can, and the next connection pins the new key.
    let refused = fixture
        .user
        .delete(&format!("/api/admin/apps/{APP}/host-key"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let unpinned = fixture
        .admin
        .delete(&format!("/api/admin/apps/{APP}/host-key"))
        .await
        .unwrap();
    assert_eq!(unpinned.status(), 200);
    let mut terminal = open(&fixture, 80, 24, fixture.upgrade()).await;
    let TerminalEvent::Connected {
        pinned_now,
        host_key_fingerprint,
        ..
    } = terminal.connected().await.unwrap()
    else {
        unreachable!()
    };
    assert!(pinned_now);
    assert_eq!(host_key_fingerprint, second);
    fixture.stop().await;
}

#[tokio::test]
async fn revoking_the_session_ends_the_terminal() {
    tests::init_logging();
    let fixture = SshFixture::start("pt-revoke", None).await.unwrap();
    let mut terminal = open(&fixture, 80, 24, fixture.upgrade()).await;
    terminal.connected().await.unwrap();
    fixture.revoke_session_of("ada").await.unwrap();
    let (code, _) = terminal.closed_with(Duration::from_secs(10)).await.unwrap();
    assert_eq!(code, close_code::REVOKED);
    fixture.stop().await;
}

#[tokio::test]
async fn taking_the_person_off_the_app_ends_the_terminal() {
    tests::init_logging();
    let fixture = SshFixture::start("pt-withdraw", None).await.unwrap();
    let mut terminal = open(&fixture, 80, 24, fixture.upgrade()).await;
    terminal.connected().await.unwrap();
    fixture.withdraw_access().await.unwrap();
    let (code, reason) = terminal.closed_with(Duration::from_secs(10)).await.unwrap();
    assert_eq!(code, close_code::ACCESS_DENIED);
    fixture.assert_withdrawn(&reason).await.unwrap();
    fixture.stop().await;
}

#[tokio::test]
async fn an_app_can_record_keystrokes_too() {
    tests::init_logging();
    let settings = protocol::ssh::SshSettings {
        record_input: true,
        ..protocol::ssh::SshSettings::default()
    };
    let fixture = SshFixture::start("pt-typist", Some(settings))
        .await
        .unwrap();
    let mut terminal = open(&fixture, 80, 24, fixture.upgrade()).await;
    terminal.connected().await.unwrap();
    terminal.type_text("echo typed-by-hand\r").await.unwrap();
    terminal.expect("typed-by-hand\r\n", LIMIT).await.unwrap();
    terminal.type_text("exit\r").await.unwrap();
    terminal.closed_with(LIMIT).await.unwrap();
    let recording = tests::process::wait_for("the recording to end", LIMIT, || async {
        let list: Vec<RecordingSummary> =
            fixture.admin.get_json("/api/admin/recordings").await.ok()?;
        list.into_iter().find(|r| r.ended_at.is_some())
    })
    .await
    .unwrap();
    assert!(recording.input_recorded);
    let cast = fixture
        .admin
        .get(&protocol::ssh::recording_cast_path(&recording.id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let typed: String = cast
        .lines()
        .skip(1)
        .map(|line| serde_json::from_str::<(f64, String, String)>(line).unwrap())
        .filter(|(_, kind, _)| kind == "i")
        .map(|(_, _, data)| data)
        .collect();
    assert_eq!(typed, "echo typed-by-hand\rexit\r");
    fixture.stop().await;
}
