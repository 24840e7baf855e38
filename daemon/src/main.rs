//! catteryd: runs the engine in the foreground. Thin over the library.

use anyhow::{Context, Result};
use cattery_daemon::app;
use cattery_daemon::config::{Paths, Settings};
use cattery_daemon::events::Bus;
use cattery_daemon::seed;
use cattery_daemon::server;
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod console;

#[derive(Parser, Debug)]
#[command(
    name = "catteryd",
    version,
    about = "The cattery daemon: pipeline engine, store and agent execution"
)]
struct Args {
    /// Keep every file (database, logs, config) under this folder.
    #[arg(long, env = "CATTERY_HOME")]
    home: Option<PathBuf>,
    /// Seed the demo workspace on first start and print runs as they go.
    #[arg(long)]
    demo: bool,
    /// Seed blocks (and start their pipelines) from this TOML file on first start.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Decide every gate automatically after this many seconds (a stand-in
    /// for a human until the TUI exists; recorded in the audit log as `autopilot`).
    #[arg(long, value_name = "SECS")]
    autopilot: Option<u64>,
    /// Exit once no run is left running (parked runs stay parked).
    #[arg(long)]
    exit_when_idle: bool,
    /// Print runs, steps and gates as they change.
    #[arg(long)]
    print: bool,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("catteryd: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CATTERY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let paths = match &args.home {
        Some(home) => Paths::under(home),
        None => Paths::platform().context("no home directory found; pass --home DIR")?,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(args, paths))
}

async fn serve(args: Args, paths: Paths) -> Result<()> {
    let _lock = app::lock_home(&paths)?;
    let bus = Arc::new(Bus::new(4096));
    let settings = Settings::load(&paths.config)?;
    let executor = app::choose_executor(&settings, &paths).await?;
    let daemon = app::open(paths.clone(), executor, bus.clone())?;
    let token = server::load_or_create_token(&paths.token())
        .with_context(|| format!("cannot create the API token at {}", paths.token().display()))?;
    let listener = server::bind(settings.port).await.with_context(|| {
        format!(
            "cannot listen on 127.0.0.1:{}; set another port in config.toml",
            settings.port
        )
    })?;
    let port = listener.local_addr().context("no local address")?.port();
    std::fs::write(paths.port_file(), port.to_string())
        .with_context(|| format!("cannot write {}", paths.port_file().display()))?;
    let shared = Arc::new(server::Shared {
        daemon: daemon.clone(),
        bus: bus.clone(),
        token,
        shutdown: tokio::sync::Notify::new(),
    });
    tokio::spawn(server::serve(listener, shared.clone()));
    if args.print || args.demo {
        tokio::spawn(console::print_events(bus.subscribe()));
    }
    let autopilot = args.autopilot.or(args.demo.then_some(3));
    if let Some(secs) = autopilot {
        tokio::spawn(console::autopilot(
            bus.subscribe(),
            daemon.clone(),
            Duration::from_secs(secs),
        ));
    }
    let resumed = daemon.resume_all().await?;
    // At warn, so the chosen executor shows at the default log level.
    tracing::warn!(
        resumed,
        executor = daemon.executor.name(),
        "catteryd started on {}",
        paths.data.display()
    );
    // A seed that cannot start its runs (no Docker engine, say) is reported,
    // and the daemon goes on serving what it has.
    if args.demo {
        report_seed(seed::seed(&daemon, "assets/demo.toml (built in)", seed::DEMO).await);
    }
    if let Some(file) = &args.seed {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the seed file {}", file.display()))?;
        report_seed(seed::seed(&daemon, &file.display().to_string(), &text).await);
    }
    let idle = console::wait_idle(&daemon, args.exit_when_idle);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate() => {}
        _ = idle => {}
        () = shared.shutdown.notified() => {}
    }
    // A stopped daemon leaves no port behind for clients to try.
    let _ = std::fs::remove_file(paths.port_file());
    Ok(())
}

fn report_seed(seeded: Result<usize, seed::SeedError>) {
    if let Err(e) = seeded {
        tracing::error!("seeding failed: {e}");
    }
}

async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
