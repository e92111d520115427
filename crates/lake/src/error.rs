use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: parquet: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// A remote store refused or failed a request.
    #[error("{path}: {reason}")]
    Storage { path: PathBuf, reason: String },
    #[error("{path}: json: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl LakeError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LakeError {
        let path = path.into();
        move |source| LakeError::Io { path, source }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>) -> impl FnOnce(parquet::errors::ParquetError) -> LakeError {
        let path = path.into();
        move |source| LakeError::Parquet { path, source }
    }

    /// For [`ObjectStore`](crate::ObjectStore) implementations outside this crate.
    pub fn storage(path: impl Into<PathBuf>, reason: impl Into<String>) -> LakeError {
        LakeError::Storage { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> LakeError {
        LakeError::Invalid { path: path.into(), reason: reason.into() }
    }
}
