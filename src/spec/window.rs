//! Deployment windows (`serin.io/window`): 6-field cron expressions with seconds, in UTC,
//! `;`-separated. An instant is inside a window when its second matches one of them.

use std::time::SystemTime;

/// A set of cron patterns; empty means "always".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windows {
    patterns: Vec<String>,
}

impl Windows {
    /// Parses `;`-separated cron expressions; each bad one is reported.
    pub fn parse(text: &str) -> Result<Windows, Vec<String>> {
        let _ = text;
        Err(vec!["windows are not parsed yet".into()])
    }

    pub fn always() -> Windows {
        Windows::default()
    }

    pub fn is_always(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when progress is allowed at `t`.
    pub fn allows(&self, t: SystemTime) -> bool {
        let _ = t;
        self.patterns.is_empty()
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}
