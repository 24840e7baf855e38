use crate::engine::EngineError;
use crate::store::StoreError;
use cattery_protocol::wire::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what} `{id}` not found{hint}")]
    NotFound {
        what: &'static str,
        id: String,
        hint: String,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// git refused or could not read the run's repository.
    #[error(transparent)]
    Git(#[from] crate::git::RepoError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unavailable(String),
    /// A configured limit refuses the operation.
    #[error("{0}")]
    Limit(String),
    /// The operation does not fit the current state of what it names.
    #[error("{0}")]
    Conflict(String),
}

impl ServiceError {
    /// The wire error code a client sees for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Engine(e) => e.code(),
            Self::Store(StoreError::Conflict { .. }) => ErrorCode::Stale,
            Self::Store(StoreError::NotFound { .. }) => ErrorCode::NotFound,
            Self::Store(
                StoreError::Duplicate { .. }
                | StoreError::LiveRun { .. }
                | StoreError::FrameFull { .. },
            ) => ErrorCode::Conflict,
            Self::Store(StoreError::AlreadyClosed { .. }) => ErrorCode::Stale,
            Self::Store(_) => ErrorCode::Unavailable,
            Self::Invalid(_) => ErrorCode::Invalid,
            Self::Git(_) => ErrorCode::Conflict,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Limit(_) | Self::Conflict(_) => ErrorCode::Conflict,
        }
    }

    pub(crate) fn not_found(what: &'static str, id: &str, hint: &str) -> Self {
        Self::NotFound {
            what,
            id: id.to_owned(),
            hint: if hint.is_empty() {
                String::new()
            } else {
                format!("; {hint}")
            },
        }
    }
}
