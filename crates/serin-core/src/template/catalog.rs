//! Loading templates: the shipped ones (compiled in) and a directory of `*.yaml`.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Template, schema};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name}: {message}")]
    Invalid { name: String, message: String },
    #[error("unknown analysis template {name:?} (known: {known})")]
    Unknown { name: String, known: String },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Any of the above, in a file: the message starts with the file's path.
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: Box<TemplateError>,
    },
}

/// The shipped templates as (file name, text); compiled in so `serin` needs no files at
/// run time, and parsed on demand so a test can prove each one is valid.
pub const BUILTIN_SOURCES: &[(&str, &str)] = &[
    ("analysis-templates/nginx-canary.yaml", include_str!("../../../../analysis-templates/nginx-canary.yaml")),
    ("analysis-templates/http-slo.yaml", include_str!("../../../../analysis-templates/http-slo.yaml")),
    ("analysis-templates/app-canary.yaml", include_str!("../../../../analysis-templates/app-canary.yaml")),
    ("analysis-templates/istio-canary.yaml", include_str!("../../../../analysis-templates/istio-canary.yaml")),
    ("analysis-templates/kgateway-canary.yaml", include_str!("../../../../analysis-templates/kgateway-canary.yaml")),
];

/// Templates by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    templates: BTreeMap<String, Template>,
}

impl Catalog {
    /// The templates shipped in `analysis-templates/`, compiled into the binary.
    ///
    /// A shipped template that fails to parse is logged and left out rather than a panic;
    /// `builtin_templates_parse` in the tests makes that a build failure in practice.
    pub fn builtin() -> Catalog {
        let mut catalog = Catalog::default();
        for (file, text) in BUILTIN_SOURCES {
            match schema::parse(text, file) {
                Ok(t) => catalog.insert(t),
                Err(e) => tracing::error!(file, error = %e, "shipped analysis template is invalid"),
            }
        }
        catalog
    }

    /// Loads every `*.yaml`/`*.yml` of `dir` on top of the current templates (same name =
    /// override). Two files of `dir` defining the same name is an error: which one wins
    /// would depend on the directory order. A `kustomization.yaml` is not a template: the
    /// shipped directory has one that turns it into the ConfigMap `deploy/` mounts.
    pub fn with_dir(mut self, dir: &Path) -> Result<Catalog, TemplateError> {
        let io = |source| TemplateError::Io { path: dir.display().to_string(), source };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .filter(|p| p.file_stem().is_none_or(|stem| stem != "kustomization"))
            .collect();
        files.sort();
        let mut from_dir: BTreeMap<String, String> = BTreeMap::new();
        for file in files {
            let path = file.display().to_string();
            let text =
                std::fs::read_to_string(&file).map_err(|source| TemplateError::Io { path: path.clone(), source })?;
            let template = schema::parse(&text, &path)
                .map_err(|e| TemplateError::File { path: path.clone(), source: Box::new(e) })?;
            if let Some(other) = from_dir.insert(template.name.clone(), path.clone()) {
                let message = format!("template {:?} is also defined in {other}", template.name);
                return Err(TemplateError::Invalid { name: path, message });
            }
            self.insert(template);
        }
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

    pub fn contains(&self, name: &str) -> bool {
        self.templates.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_parse() {
        for (file, text) in BUILTIN_SOURCES {
            if let Err(e) = schema::parse(text, file) {
                panic!("{file}: {e}");
            }
        }
        let catalog = Catalog::builtin();
        let names = ["app-canary", "http-slo", "istio-canary", "kgateway-canary", "nginx-canary"];
        assert_eq!(catalog.names().collect::<Vec<_>>(), names);
        assert!(matches!(catalog.get("nope"), Err(TemplateError::Unknown { .. })));
    }

    #[test]
    fn with_dir_overrides_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let own = BUILTIN_SOURCES[0].1.replace("name: nginx-canary", "name: mine");
        std::fs::write(dir.path().join("mine.yml"), &own).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a template").unwrap();
        std::fs::write(dir.path().join("kustomization.yaml"), "configMapGenerator: []\n").unwrap();
        let catalog = Catalog::builtin().with_dir(dir.path()).unwrap();
        assert!(catalog.contains("mine") && catalog.contains("nginx-canary"));

        std::fs::write(dir.path().join("broken.yaml"), "name: x\nmetrics: []\nbogus: 1\n").unwrap();
        let e = Catalog::builtin().with_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("broken.yaml") && e.contains("bogus"), "{e}");

        std::fs::remove_file(dir.path().join("broken.yaml")).unwrap();
        std::fs::write(dir.path().join("twin.yaml"), &own).unwrap();
        let e = Catalog::builtin().with_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("also defined"), "{e}");

        assert!(Catalog::default().with_dir(&dir.path().join("missing")).is_err());
    }
}
