//! `capcrm serve` and `capcrm demo`.

use super::Resolved;
use crate::api::{AppState, router};
use crate::app::App;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long, env = "CAPCRM_LISTEN")]
    listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS.
    #[arg(long, env = "CAPCRM_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "CAPCRM_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Make (once) and use a self-signed certificate in <data-dir>/tls, for a trial.
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,
    /// A reverse proxy (address or CIDR range, repeatable, or comma-separated in the
    /// environment) whose `X-Forwarded-For` names the client; without one the header is ignored.
    #[arg(long = "trusted-proxy", env = "CAPCRM_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<String>,
    /// Where mail from the outbox goes: `smtp://user:password@host:587?tls=required`,
    /// `smtps://host:465`, or `dir:PATH` (one .eml file per message). Without it, messages wait.
    #[arg(long, env = "CAPCRM_MAIL", hide_env_values = true)]
    mail: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// How many demo contacts to create (with accounts, leads, deals and activities).
    #[arg(long, default_value_t = 3000)]
    contacts: usize,
    /// The plugin workspace (`plugins/`, built for wasm32-wasip2): its first-party plugins are
    /// installed and approved.
    #[arg(long)]
    plugins: Option<std::path::PathBuf>,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub async fn serve_app(r: &Resolved, app: App, a: ServeArgs, banner: Option<String>) -> anyhow::Result<()> {
    let listen = a.listen.or(r.file.listen).unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid address"));
    let tls = match (a.tls_cert.or(r.file.tls_cert.clone()), a.tls_key.or(r.file.tls_key.clone()), a.tls_self_signed) {
        (Some(c), Some(k), _) => Some(crate::tls::load_server_config(&c, &k)?),
        (_, _, true) => {
            let dir = r.data_dir.join("tls");
            let (c, k) = crate::tls::generate_self_signed(&dir, &[])?;
            Some(crate::tls::load_server_config(&c, &k)?)
        }
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut trusted = Vec::new();
    for p in a.trusted_proxies.iter().chain(r.file.trusted_proxies.iter()) {
        let net = p
            .parse::<ipnet::IpNet>()
            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| anyhow::anyhow!("--trusted-proxy `{p}` is not an address or CIDR range"))?;
        trusted.push(net);
    }
    let state = AppState { gate: app.gate.clone(), auth: app.auth.clone(), plugins: app.plugins.clone(), trusted_proxies: std::sync::Arc::new(trusted) };
    let routes = router(state);
    if let Some(n) = std::env::var("CAPCRM_PLUGIN_PUBLIC_PER_MINUTE").ok().and_then(|v| v.parse().ok()) {
        app.plugins.public_cap.set_per_minute(n);
    }
    let retry_ms: u64 = std::env::var("CAPCRM_EVENT_RETRY_BASE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let dispatcher = crate::plugin::dispatch::Dispatcher::new(app.plugins.clone(), app.db.clone(), std::time::Duration::from_millis(retry_ms));
    tokio::spawn(dispatcher.run());
    tokio::spawn(crate::alerts::run(app.db.clone(), app.gate.audit().clone()));
    match a.mail.as_deref().map(crate::mail::Transport::parse) {
        Some(Ok(t)) => {
            let from = crate::mail::sender().map_err(|e| anyhow::anyhow!(e))?;
            tracing::info!("mail goes to a {}", t.describe());
            tokio::spawn(crate::mail::run(app.gate.clone(), t, from));
        }
        Some(Err(e)) => anyhow::bail!("--mail: {e}"),
        None => tracing::warn!("no mail transport configured (--mail or CAPCRM_MAIL): messages wait in the outbox"),
    }
    if let Some(dir) = r.backup_dir.clone() {
        let tick: u64 = std::env::var("CAPCRM_SCRUB_TICK_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(60_000);
        tokio::spawn(crate::backup::scrub::run(app.db.clone(), r.settings.root_key.clone(), dir, std::time::Duration::from_millis(tick)));
    }
    println!("capcrm listening on {scheme}://{addr} ({})", r.settings.location.describe());
    if let Some(b) = banner {
        println!("{b}");
    }
    match tls {
        Some(cfg) => crate::tls::serve_tls(listener, routes, cfg, shutdown_signal()).await?,
        None => {
            axum::serve(listener, routes.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(shutdown_signal())
                .await?
        }
    }
    app.db.close().await;
    Ok(())
}

pub async fn serve(r: &Resolved, a: ServeArgs) -> anyhow::Result<()> {
    let app = App::open(&r.settings).await?;
    serve_app(r, app, a, None).await
}

pub async fn demo(r: &Resolved, a: DemoArgs) -> anyhow::Result<()> {
    let mut banner = None;
    let fresh = !App::is_initialised(&r.settings).await?;
    if fresh {
        let pw = super::init(r, "admin", std::env::var("CAPCRM_ADMIN_PASSWORD").ok()).await?;
        banner = Some(match pw {
            Some(pw) => format!("sign in as `admin` with password `{pw}` (shown once)"),
            None => "sign in as `admin` with the password from CAPCRM_ADMIN_PASSWORD".into(),
        });
    }
    let app = App::open(&r.settings).await?;
    let started = std::time::Instant::now();
    let demo_pw = std::env::var("CAPCRM_DEMO_PASSWORD").unwrap_or_else(|_| super::generate_password());
    let n = crate::demo::seed(&app, a.contacts, 42, &demo_pw).await?;
    if n > 0 {
        eprintln!("seeded {n} demo records in {:.1} s", started.elapsed().as_secs_f64());
        let people: Vec<String> = crate::demo::DEMO_USERS.iter().map(|(u, role, _)| format!("{u} ({role})")).collect();
        let line = format!("demo people, each with password `{demo_pw}` (shown once): {}", people.join(", "));
        banner = Some(match banner {
            Some(b) => format!("{b}\n{line}"),
            None => line,
        });
    }
    if let Some(dir) = &a.plugins {
        let running = crate::demo::plugins::install_first_party(&app, dir).await?;
        let line = format!("first-party plugins: {}", if running.is_empty() { "none found".into() } else { running.join(", ") });
        banner = Some(match banner {
            Some(b) => format!("{b}\n{line}"),
            None => line,
        });
    }
    serve_app(r, app, a.serve, banner).await
}
