//! What a person sees, in headless Chromium: signing in through the identity provider, the
//! first-admin setup link, local sign-in, sign-out, the admin area and the not-found page.

use std::future::Future;

use tests::browser::Browser;
use tests::idp::ADA;
use tests::server::TestServer;

/// Runs `body`; on failure saves a screenshot named `name` before passing the error on.
async fn with_screenshot<F, Fut>(browser: &Browser, name: &str, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if let Err(error) = body().await {
        let shot = browser.screenshot(name).await;
        panic!("{error:#}\nscreenshot: {shot:?}");
    }
}

#[tokio::test]
async fn oidc_sign_in_ends_on_the_launcher_with_name_and_groups() {
    let (idp, server) = tests::idp::server_with_idp(&[ADA]).await.unwrap();
    // An App the IdP's `engineering` group may reach, and one nobody may.
    let store = server.store().as_ref();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    server::provision::create_connector(store, "test", "office", now)
        .await
        .unwrap();
    for (name, groups) in [("shell", vec!["engineering".to_owned()]), ("vault", vec![])] {
        let request = protocol::api::AppRequest {
            name: name.into(),
            kind: protocol::api::AppKind::Ssh,
            connector: "office".into(),
            service_url: "ssh://127.0.0.1:22".into(),
            session_duration_seconds: None,
            allow: protocol::api::AllowList {
                groups,
                ..Default::default()
            },
            ssh: None,
        };
        server::provision::create_app(store, "test", request, now)
            .await
            .unwrap();
    }
    let browser = Browser::start().await.unwrap();
    with_screenshot(&browser, "oidc-sign-in", || async {
        // Signed out, the launcher sends the person to the sign-in page.
        browser.goto(&server.url("/")).await?;
        browser.find("a[data-provider=\"test\"]").await?;
        assert_eq!(browser.url().await?.path(), "/login");
        browser.click("a[data-provider=\"test\"]").await?;
        // The provider's own login form.
        browser.fill("input[name=\"login\"]", ADA.login).await?;
        browser
            .fill("input[name=\"password\"]", ADA.password)
            .await?;
        browser.click("button[type=\"submit\"]").await?;
        browser
            .wait_for_text("[data-testid=\"user-name\"]", "Ada Lovelace")
            .await?;
        let groups = browser
            .wait_for_text("[data-testid=\"user-groups\"]", "admins")
            .await?;
        assert!(groups.contains("engineering"), "{groups}");
        let card = "[data-testid=\"app-card\"][data-app=\"shell\"]";
        browser.wait_for_text(card, "SSH").await?;
        let command = browser
            .wait_for_text(
                &format!("{card} [data-testid=\"app-setup-command\"]"),
                "postern ssh-config",
            )
            .await?;
        assert!(command.contains(&server.origin), "{command}");
        let vault = browser
            .client
            .find(fantoccini::Locator::Css("[data-app=\"vault\"]"))
            .await;
        assert!(vault.is_err(), "an App the user may not reach is listed");
        assert_eq!(browser.url().await?.path(), "/");
        browser.screenshot("launcher").await?;

        browser.click("#sign-out").await?;
        browser.find("a[data-provider=\"test\"]").await?;
        assert_eq!(server.live_sessions().await?, 0);
        Ok(())
    })
    .await;
    browser.close().await;
    idp.stop().await;
}

#[tokio::test]
async fn first_admin_setup_then_local_sign_in_admin_area_and_not_found() {
    let server = TestServer::start().await.unwrap();
    let setup_url = server.report.setup_url.clone().unwrap();
    let browser = Browser::start().await.unwrap();
    with_screenshot(&browser, "setup", || async {
        browser.goto(&setup_url).await?;
        browser.fill("#setup-username", "root").await?;
        browser.fill("#setup-name", "Root Admin").await?;
        browser.fill("#setup-email", "root@example.test").await?;
        browser
            .fill("#setup-password", "correct horse battery staple")
            .await?;
        browser
            .fill("#setup-confirm", "correct horse battery staple")
            .await?;
        browser.click("form#setup button[type=\"submit\"]").await?;
        browser
            .wait_for_text("[data-testid=\"user-name\"]", "Root Admin")
            .await?;

        browser.click("#sign-out").await?;
        browser.find("form#local-sign-in").await?;
        browser.fill("#username", "root").await?;
        browser.fill("#password", "wrong password here").await?;
        browser
            .click("form#local-sign-in button[type=\"submit\"]")
            .await?;
        browser
            .wait_for_text("[role=\"alert\"]", "wrong username or password")
            .await?;
        browser
            .fill("#password", "correct horse battery staple")
            .await?;
        browser
            .click("form#local-sign-in button[type=\"submit\"]")
            .await?;
        browser
            .wait_for_text("[data-testid=\"user-name\"]", "Root Admin")
            .await?;

        browser.goto(&server.url("/admin/sessions")).await?;
        browser.find("button[data-revoke]").await?;
        browser.screenshot("admin-sessions").await?;

        browser.goto(&server.url("/no/such/page")).await?;
        browser.find("[data-testid=\"not-found\"]").await?;
        Ok(())
    })
    .await;
    browser.close().await;
}
