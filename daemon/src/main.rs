//! catteryd: runs the engine in the foreground. Thin over the library.

use anyhow::{Context, Result};
use cattery_daemon::app;
use cattery_daemon::config::{Paths, Settings, platform_paths};
use cattery_daemon::events::Bus;
use cattery_daemon::server;
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;

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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Forward TCP connections to the gateway's unix socket. The Docker
    /// executor runs this in the relay container on the agents' network;
    /// it is not for people.
    #[command(hide = true)]
    Relay {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long)]
        to: PathBuf,
    },
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
    if let Some(Command::Relay { listen, to }) = args.command {
        return relay(listen, to);
    }
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
        None => platform_paths().context("no home directory found; pass --home DIR")?,
    };
    cattery_daemon::os::private_umask();
    cattery_daemon::git::trust_named_clones();
    cattery_daemon::git::recover::note_process_start();
    // Held until the process ends, after the runtime's shutdown: a client
    // that sees the lock free knows this daemon is gone, not finishing.
    let _lock = app::lock_home(&paths)?;
    let runtime = app::runtime().context("cannot start the async runtime")?;
    let served = runtime.block_on(serve(paths));
    // A notification server that never answers holds a blocking thread;
    // it must not hold the daemon's exit too.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    served
}

async fn serve(paths: Paths) -> Result<()> {
    let tightened = app::tighten_home(&paths);
    if tightened > 0 {
        tracing::warn!(
            tightened,
            "made {} private to its user (directories 0700, files 0600)",
            paths.data.display()
        );
    }
    match cattery_daemon::os::raise_file_limit() {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
    let bus = Arc::new(Bus::new(4096));
    let settings = Settings::load(&paths.config)?;
    let executor = app::choose_executor(&settings, &paths).await?;
    let daemon = app::boot(paths.clone(), &settings, executor, bus.clone())?;
    // Before the API listens, so no job starts before containers can reach
    // the gateway.
    daemon
        .connect_gateway_network(&settings.docker_gateway_subnet)
        .await;
    let token = server::load_or_create_token(&paths.token())
        .with_context(|| format!("cannot create the API token at {}", paths.token().display()))?;
    let read_only_token =
        server::load_or_create_token(&paths.read_only_token()).with_context(|| {
            format!(
                "cannot create the read-only token at {}",
                paths.read_only_token().display()
            )
        })?;
    let listener = server::bind(settings.port).await.with_context(|| {
        format!(
            "cannot listen on 127.0.0.1:{}; set another port in config.toml",
            settings.port
        )
    })?;
    let port = listener.local_addr().context("no local address")?.port();
    // Atomic: a client reading it during a restart sees a whole port or none.
    cattery_daemon::os::write_atomically(&paths.port_file(), port.to_string().as_bytes())
        .with_context(|| format!("cannot write {}", paths.port_file().display()))?;
    let shared = Arc::new(server::Shared {
        daemon: daemon.clone(),
        bus: bus.clone(),
        token,
        read_only_token,
        shutdown: tokio::sync::Notify::new(),
    });
    tokio::spawn(server::serve(listener, shared.clone()));
    let resumed = daemon.resume_all().await?;
    // At warn, so the chosen executor shows at the default log level.
    tracing::warn!(
        resumed,
        executor = daemon.executor_name(),
        "catteryd started on {}",
        paths.data.display()
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate() => {}
        () = shared.shutdown.notified() => {}
    }
    // A stopped daemon leaves no port behind for clients to try.
    let _ = std::fs::remove_file(paths.port_file());
    daemon.release_gateway_network().await;
    tracing::warn!("{}", cattery_protocol::home::CLEAN_STOP);
    Ok(())
}

fn relay(listen: std::net::SocketAddr, to: PathBuf) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the relay's runtime")?;
    runtime
        .block_on(cattery_daemon::gateway::relay::forward(listen, to.clone()))
        .with_context(|| format!("the relay cannot forward {listen} to {}", to.display()))
}

async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
