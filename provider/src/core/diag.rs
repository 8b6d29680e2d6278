//! Diagnostics with attribute paths: the one way errors reach the Terraform user.

use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Stops the operation.
    Error,
    /// Shown, but the operation goes on.
    Warning,
}

/// One step of an attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An attribute or nested block by name.
    Attr(String),
    /// A map element by key.
    Key(String),
    /// A list element by index.
    Index(i64),
}

/// The path to an attribute inside a resource's configuration, e.g. `driver[0].memory`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttrPath(pub Vec<PathStep>);

impl AttrPath {
    /// The empty path (the resource itself).
    pub fn root() -> Self {
        AttrPath(Vec::new())
    }
    /// This path extended by an attribute name.
    pub fn attr(&self, name: &str) -> Self {
        let mut p = self.clone();
        p.0.push(PathStep::Attr(name.to_owned()));
        p
    }
    /// This path extended by a map key.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(PathStep::Key(key.to_owned()));
        p
    }
    /// This path extended by a list index.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(PathStep::Index(i64::try_from(i).unwrap_or(i64::MAX)));
        p
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Attr(a) if i == 0 => write!(f, "{a}")?,
                PathStep::Attr(a) => write!(f, ".{a}")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A short headline.
    pub summary: String,
    /// The full explanation; names the attribute and what is wrong with it.
    pub detail: String,
    /// The attribute it is about, when there is one.
    pub path: Option<AttrPath>,
}

/// Diagnostics collected by one operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an error about the whole resource or provider.
    pub fn error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Diagnostic { severity: Severity::Error, summary: summary.into(), detail: detail.into(), path: None });
    }

    /// Adds an error about one attribute; the detail is prefixed with the attribute's path so it
    /// is named even where Terraform cannot point at a source line.
    pub fn attr_error(&mut self, path: &AttrPath, summary: impl Into<String>, detail: impl AsRef<str>) {
        let detail = if path.0.is_empty() { detail.as_ref().to_owned() } else { format!("{path}: {}", detail.as_ref()) };
        self.0.push(Diagnostic { severity: Severity::Error, summary: summary.into(), detail, path: Some(path.clone()) });
    }

    /// Adds a warning.
    pub fn warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Diagnostic { severity: Severity::Warning, summary: summary.into(), detail: detail.into(), path: None });
    }

    /// True when any error was added.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Appends all diagnostics of another collection.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_terraform_addresses() {
        let p = AttrPath::root().attr("worker_pool").index(0).attr("labels").key("team");
        assert_eq!(p.to_string(), r#"worker_pool[0].labels["team"]"#);
    }

    #[test]
    fn attribute_errors_name_the_attribute() {
        let mut d = Diagnostics::new();
        d.attr_error(&AttrPath::root().attr("driver").index(0).attr("memory"), "Invalid memory size", "\"4gg\" is not a size");
        assert!(d.has_errors());
        assert_eq!(d.0[0].detail, "driver[0].memory: \"4gg\" is not a size");
    }
}
