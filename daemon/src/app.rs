//! Assembling a daemon from its home: lock, assets, catalog, store.

use crate::clock::{Clock, SystemClock};
use crate::clock::{IdGen, TimeIds};
use crate::config::{Catalog, ConfigError, ExecutorChoice, Paths, Settings, materialize_assets};
use crate::events::{Bus, EventSink};
use crate::exec::{DockerExecutor, Executor, ProcessExecutor, UnavailableExecutor};
use crate::notify::deliver::Deliverer;
use crate::notify::escalate_periodically;
use crate::service::Daemon;
use crate::store::{Store, StoreError};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot {what} {path}: {source}{}", io_hint(.source))]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another catteryd already runs on {path} (its lock is held); stop it first, or use another --home"
    )]
    Locked { path: PathBuf },
}

/// What to do about the I/O errors a start meets most.
fn io_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => {
            "; the data dir is on a read-only file system: remount it read-write, or use another --home"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; this user may not write there: fix the owner or mode, or use another --home"
        }
        std::io::ErrorKind::StorageFull => "; the disk is full: free some space, then start again",
        _ => "",
    }
}

/// Holds the home's lock for as long as the daemon lives.
pub struct HomeLock {
    _file: File,
}

/// Takes the exclusive lock on the data dir, so two daemons never share a home.
pub fn lock_home(paths: &Paths) -> Result<HomeLock, StartError> {
    let io = |what, path: &PathBuf| {
        let path = path.clone();
        move |source| StartError::Io { what, path, source }
    };
    std::fs::create_dir_all(&paths.data).map_err(io("create", &paths.data))?;
    let path = paths.pidfile();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open", &path))?;
    match crate::os::try_lock(&file) {
        Ok(true) => {}
        Ok(false) => return Err(StartError::Locked { path }),
        Err(e) => return Err(io("lock", &path)(e)),
    }
    // Written through the locked handle: opening the file again and closing
    // it would drop this process's record lock.
    let mut handle = &file;
    file.set_len(0)
        .and_then(|()| handle.write_all(format!("{}\n", std::process::id()).as_bytes()))
        .map_err(io("write", &path))?;
    Ok(HomeLock { _file: file })
}

/// Makes a home private to its user: directories 0700, files 0600. The
/// daemon creates everything private (`os::private_umask`); this tightens
/// what an older version, or another tool, left readable. Returns how many
/// entries were tightened.
pub fn tighten_home(paths: &Paths) -> usize {
    [&paths.data, &paths.config]
        .into_iter()
        .map(|root| tighten(root, 0))
        .sum()
}

fn tighten(path: &std::path::Path, depth: usize) -> usize {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.file_type().is_symlink() {
        return 0;
    }
    let wanted = if meta.is_dir() { 0o700 } else { 0o600 };
    let mode = meta.permissions().mode() & 0o777;
    let mut changed = 0;
    if mode & !wanted != 0 {
        let tightened = std::fs::Permissions::from_mode(mode & wanted);
        if std::fs::set_permissions(path, tightened).is_ok() {
            changed += 1;
        }
    }
    // Job folders nest two levels below data; nothing is deeper than a few.
    if meta.is_dir()
        && depth < 4
        && let Ok(entries) = std::fs::read_dir(path)
    {
        for entry in entries.flatten() {
            changed += tighten(&entry.path(), depth + 1);
        }
    }
    changed
}

/// This home's daemon id, created on first use: it labels the containers this
/// daemon owns, so daemons of other homes on the same engine are left alone.
pub fn daemon_id(paths: &Paths) -> Result<String, StartError> {
    let path = paths.daemon_id();
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_owned());
        }
    }
    let id = TimeIds::new(SystemClock.now()).mint("d");
    std::fs::create_dir_all(&paths.data)
        .and_then(|()| std::fs::write(&path, &id))
        .map_err(|source| StartError::Io {
            what: "write",
            path: path.clone(),
            source,
        })?;
    Ok(id)
}

/// Picks the executor `settings` ask for. `auto` takes Docker when the
/// engine answers; `docker` with no engine gives an executor that refuses
/// runs and says why, so the daemon keeps serving.
pub async fn choose_executor(
    settings: &Settings,
    paths: &Paths,
) -> Result<Arc<dyn Executor>, StartError> {
    let socket = settings.docker_socket();
    let docker = match settings.executor {
        ExecutorChoice::Process => return Ok(Arc::new(ProcessExecutor)),
        ExecutorChoice::Auto | ExecutorChoice::Docker => {
            DockerExecutor::connect(&socket, daemon_id(paths)?).await
        }
    };
    Ok(match (docker, settings.executor) {
        (Ok(docker), _) => Arc::new(docker),
        (Err(reason), ExecutorChoice::Docker) => {
            tracing::error!("{reason}");
            Arc::new(UnavailableExecutor::new("docker", reason))
        }
        (Err(reason), _) => {
            tracing::info!("executor auto: {reason}; using local processes");
            Arc::new(ProcessExecutor)
        }
    })
}

/// The async runtime the daemon runs on: half the machine's cores as
/// workers, at least one. The daemon shares the machine with its agents, its
/// SQLite writer thread and its clients; a worker per core oversubscribes
/// the cores, and then the event stream waits on the OS scheduler's time
/// slices (BENCHMARKS.md, the websocket API). Slow reads leave the worker
/// (`server::requests::off_worker`), so one worker is enough on two cores.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads((cores / 2).max(1))
        .enable_all()
        .build()
}

/// The daemon as production runs it, minus the listener: opened, configured,
/// with its alerts going to the desktop deliverer and the escalation sweep
/// running. `main` and the test harness both start the daemon here, so tests
/// exercise the same wiring. Needs a Tokio runtime; resume runs afterwards
/// with [`Daemon::resume_all`].
pub fn boot(
    paths: Paths,
    settings: &Settings,
    executor: Arc<dyn Executor>,
    bus: Arc<Bus>,
) -> Result<Arc<Daemon>, StartError> {
    let secrets = paths.secrets();
    // A relative path is the config dir's.
    let ca_file = settings
        .upstream_ca_file
        .as_ref()
        .map(|f| paths.config.join(f));
    let daemon = open(paths, executor, bus.clone())?;
    daemon.configure(settings);
    let keys = crate::gateway::secrets::keys(&secrets)?;
    let tls = crate::gateway::tls::client_config(ca_file.as_deref())?;
    daemon
        .start_gateway(settings, keys, tls)
        .map_err(|source| StartError::Io {
            what: "listen for the model gateway on",
            path: PathBuf::from("127.0.0.1"),
            source,
        })?;
    let (alerts, alerts_in) = tokio::sync::mpsc::unbounded_channel();
    daemon.attention().send_alerts_to(alerts);
    let deliverer = Deliverer::new(settings.notify.clone(), bus);
    tokio::spawn(deliverer.run(alerts_in));
    tokio::spawn(escalate_periodically(daemon.attention()));
    tokio::spawn(daemon.watch_health());
    tokio::spawn(daemon.serve_wakeups());
    tokio::spawn(daemon.serve_schedules());
    daemon.probe_runners();
    Ok(daemon)
}

/// Opens everything under `paths` and returns a daemon ready to resume
/// runs, with no alert delivery or escalation: [`boot`] adds those. Only a
/// benchmark of the engine alone should start here.
pub fn open(
    paths: Paths,
    executor: Arc<dyn Executor>,
    events: Arc<dyn EventSink>,
) -> Result<Arc<Daemon>, StartError> {
    let assets = paths.assets();
    materialize_assets(&assets).map_err(|source| StartError::Io {
        what: "unpack assets into",
        path: assets.clone(),
        source,
    })?;
    let catalog = Catalog::load(Some(&paths.config), &assets)?;
    let store = Store::open(&paths.database())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids = Arc::new(TimeIds::new(clock.now()));
    Ok(Daemon::new(
        store, catalog, paths, executor, clock, ids, events,
    ))
}
