//! `serin.io/*` annotations → [`RolloutSpec`](super::RolloutSpec).

use std::collections::BTreeMap;
use std::fmt;

use super::RolloutSpec;

/// One bad annotation: which, what it held, what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub annotation: String,
    pub value: Option<String>,
    pub expected: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}: {:?} is invalid: expected {}", self.annotation, v, self.expected),
            None => write!(f, "{}: missing: expected {}", self.annotation, self.expected),
        }
    }
}

/// Every problem found in one Deployment's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

/// Parses and validates the annotations of the Deployment `deployment`.
pub fn parse(deployment: &str, annotations: &BTreeMap<String, String>) -> Result<RolloutSpec, SpecErrors> {
    let _ = (deployment, annotations);
    Err(SpecErrors(vec![SpecError {
        annotation: "serin.io/strategy".into(),
        value: None,
        expected: "not implemented yet".into(),
    }]))
}
