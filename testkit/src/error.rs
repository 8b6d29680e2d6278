//! The one error of the fixtures: what could not start or answered unexpectedly (tests turn it
//! into a panic with that context).

/// A fixture could not start or answered unexpectedly.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// What failed, with its context.
    #[error("{0}")]
    Failed(String),
}

/// A fixture's result.
pub type Result<T> = std::result::Result<T, FixtureError>;

/// A [`FixtureError`] saying `msg`.
pub(crate) fn fail(msg: impl std::fmt::Display) -> FixtureError {
    FixtureError::Failed(msg.to_string())
}
