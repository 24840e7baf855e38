//! Assembling a daemon from its home: lock, assets, catalog, store.

use crate::clock::{Clock, SystemClock};
use crate::config::{Catalog, ConfigError, Paths, materialize_assets};
use crate::engine::TimeIds;
use crate::events::EventSink;
use crate::exec::Executor;
use crate::service::Daemon;
use crate::store::{Store, StoreError};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot {what} {path}: {source}")]
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
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(StartError::Locked { path }),
        Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", &path)(e)),
    }
    file.set_len(0).map_err(io("write", &path))?;
    std::fs::write(&path, format!("{}\n", std::process::id())).map_err(io("write", &path))?;
    Ok(HomeLock { _file: file })
}

/// Opens everything under `paths` and returns a daemon ready to resume runs.
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
