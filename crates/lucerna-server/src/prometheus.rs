//! A writer of the Prometheus text exposition format (version 0.0.4):
//! each family once, `# HELP` and `# TYPE` first, then its samples
//! `name{label="value",...} value`.
//!
//! ```text
//! # HELP lucerna_docs Live documents in the tenant's searchable view.
//! # TYPE lucerna_docs gauge
//! lucerna_docs{tenant="web"} 1200
//! ```

use std::fmt::Write;

/// The content type of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The kind of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (names end in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// Builds one exposition.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts family `name` with its help text and kind; its samples
    /// follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        self
    }

    /// One sample of the family just started.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.text, "{k}=\"{v}\"");
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", format_value(value));
        self
    }

    /// The text.
    pub fn finish(self) -> String {
        self.text
    }
}

/// A sample value: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_samples_in_the_text_format() {
        let mut e = Exposition::new();
        e.family("x_total", Kind::Counter, "Things.\nMore.")
            .sample("x_total", &[("tenant", "a\"b")], 3.0)
            .sample("x_total", &[], f64::INFINITY)
            .sample("x_total", &[("a", "1"), ("b", "2")], 0.25);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things.\\nMore.\n# TYPE x_total counter\n\
             x_total{tenant=\"a\\\"b\"} 3\nx_total +Inf\nx_total{a=\"1\",b=\"2\"} 0.25\n"
        );
    }
}
