use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the database {path}: {source}; if the file is corrupt or not a cattery database, move it aside and start again"
    )]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "the database {path} has schema version {found}, newer than this cattery understands ({supported}); upgrade cattery, or use another --home"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error(
        "the database {path} is damaged (SQLite's check says: {found}); it was left as it is: restore it from a backup, or move it aside and start again"
    )]
    Corrupt { path: String, found: String },
    #[error("run {run_id} was changed by someone else (expected rev {expected}, found {})", found_rev(.found))]
    Conflict {
        run_id: String,
        expected: u64,
        /// The rev the store holds; `None` when the run is gone.
        found: Option<u64>,
    },
    #[error(
        "block {block_id} already has a live run, {holder}, and a block holds one live run at a time; stop or cancel it, or start again to replace it"
    )]
    LiveRun { block_id: String, holder: String },
    #[error(
        "frame {frame_id} is at its limit of {limit} live run(s) ({setting} in config.toml), held by run(s) {}; wait for one to finish, stop one, or raise the limit",
        .holders.join(", ")
    )]
    FrameFull {
        frame_id: String,
        setting: String,
        limit: u32,
        holders: Vec<String>,
    },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("notification {id} is already {status}; nothing changed")]
    AlreadyClosed { id: String, status: String },
    #[error("{what} {id} already exists")]
    Duplicate { what: &'static str, id: String },
    #[error("database error while trying to {context}: {source}")]
    Sql {
        context: &'static str,
        source: rusqlite::Error,
    },
    #[error("the shared transaction this write was part of failed: {message}")]
    Batch { message: String },
    #[error(
        "the disk holding the database is full, so the daemon could not {context}; nothing already saved was lost: free some space and the daemon goes on by itself"
    )]
    DiskFull { context: &'static str },
    #[error("stored {what} is unreadable: {source}")]
    Decode {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl StoreError {
    pub(crate) fn open(path: &Path, source: rusqlite::Error) -> Self {
        if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt) {
            return Self::Corrupt {
                path: path.display().to_string(),
                found: source.to_string(),
            };
        }
        Self::Open {
            path: path.display().to_string(),
            source,
        }
    }

    /// Wraps a rusqlite error with what the store was doing.
    pub(crate) fn sql(context: &'static str) -> impl Fn(rusqlite::Error) -> Self {
        move |source| {
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
                return Self::DiskFull { context };
            }
            Self::Sql { context, source }
        }
    }

    /// A write refused for want of disk space: worth trying again later.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::DiskFull { .. })
    }
}

fn found_rev(found: &Option<u64>) -> String {
    match found {
        Some(rev) => format!("rev {rev}"),
        None => "no such run".to_owned(),
    }
}
