//! The YAML schema of a template file and its validation into [`Template`](super::Template).

use super::{Template, TemplateError};

/// Parses one template file's text.
pub fn parse(text: &str, origin: &str) -> Result<Template, TemplateError> {
    let _ = text;
    Err(TemplateError::Invalid { name: origin.to_string(), message: "not implemented yet".into() })
}
