//! The meter's errors. Each renders as one line naming what failed (the flag, the database, the
//! object), and never carries a secret: database URLs are shown with their password replaced.

/// Everything that can make a meter command fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeterError {
    /// A flag or its value is wrong.
    #[error("{flag}: {detail}")]
    Usage {
        /// The flag, e.g. `--since`.
        flag: &'static str,
        /// What is wrong with its value.
        detail: String,
    },
    /// The database refused, could not be reached, or a query failed.
    #[error("--database {url}: {detail}")]
    Database {
        /// The database URL, password replaced by `***`.
        url: String,
        /// What failed (with any password scrubbed).
        detail: String,
    },
    /// The Kubernetes API could not be reached or refused a call.
    #[error("kubernetes: {0}")]
    Kube(String),
    /// The Kubernetes API refused the meter's credentials what it cannot work without (403):
    /// retrying changes nothing until someone changes RBAC or the meter's flags.
    #[error("kubernetes refused to {action} (403 Forbidden: {message}). {advice}")]
    Forbidden {
        /// What was refused, e.g. `list and watch pods in every namespace`.
        action: String,
        /// The API server's message, naming the user and the permission.
        message: String,
        /// What would make it work.
        advice: String,
    },
    /// Writing or reading an archived driver log failed.
    #[error("log archive {uri}: {detail}")]
    Archive {
        /// The `oss://` URI involved.
        uri: String,
        /// What failed.
        detail: String,
    },
    /// Something asked for does not exist (e.g. no archived log for a job).
    #[error("{0}")]
    NotFound(String),
    /// Local I/O (the listen socket, an output file).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl MeterError {
    /// A wrapper for I/O errors that says what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MeterError {
        let what = what.into();
        move |source| MeterError::Io { what, source }
    }
}
