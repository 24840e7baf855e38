use crate::engine::EngineError;
use crate::store::StoreError;

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
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unavailable(String),
    /// A configured limit refuses the operation.
    #[error("{0}")]
    Limit(String),
}

impl ServiceError {
    /// The wire error code: not_found, stale, conflict, invalid or unavailable.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Engine(e) => e.code(),
            Self::Store(StoreError::Conflict { .. }) => "stale",
            Self::Store(StoreError::NotFound { .. }) => "not_found",
            Self::Store(StoreError::Duplicate { .. }) => "conflict",
            Self::Store(StoreError::AlreadyClosed { .. }) => "stale",
            Self::Store(_) => "unavailable",
            Self::Invalid(_) => "invalid",
            Self::Unavailable(_) => "unavailable",
            Self::Limit(_) => "conflict",
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
