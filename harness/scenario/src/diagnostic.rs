//! Problems found in scenario files and the spec, each with the file, the `line:column` and
//! what was expected. Rendered as one `file:line:column: message` line (for editors and grep)
//! followed by the offending source lines with the spot labelled.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use crate::yaml::Location;

/// One problem in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// Where in it, when known.
    pub location: Option<Location>,
    /// What is wrong and what was expected.
    pub message: String,
    /// The file's text, for showing the offending lines.
    pub source: Option<Arc<str>>,
}

impl Diagnostic {
    /// A problem at a location in a file whose text is `source`.
    pub fn at(file: &Path, source: &Arc<str>, location: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_owned(),
            location: Some(location),
            message: message.into(),
            source: Some(source.clone()),
        }
    }

    /// A problem with a whole file.
    pub fn file(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic { file: file.to_owned(), location: None, message: message.into(), source: None }
    }

    /// `file:line:column`, or just the file.
    pub fn position(&self) -> String {
        match self.location {
            Some(l) => format!("{}:{}:{}", self.file.display(), l.line, l.column),
            None => self.file.display().to_string(),
        }
    }

    /// The headline and, when the source is known, the offending lines with the spot labelled.
    pub fn render(&self, color: bool) -> String {
        let mut out = format!("error: {}: {}\n", self.position(), self.message);
        if let (Some(source), Some(location)) = (&self.source, self.location) {
            let snippet = Snippet {
                source: NamedSource::new(self.file.display().to_string(), source.to_string()),
                span: clamp(location, source),
            };
            let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
            let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1).with_width(100);
            let mut rendered = String::new();
            if handler.render_report(&mut rendered, &snippet).is_ok() {
                // The first line repeats the message; the headline above already says it.
                for line in rendered.lines().skip(1) {
                    out.push_str(line.trim_end());
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position(), self.message)
    }
}

fn clamp(location: Location, source: &str) -> SourceSpan {
    let start = location.offset.min(source.len());
    let mut len = location.len.min(source.len() - start);
    // Label the token, not the rest of the line.
    if let Some(end) = source[start..start + len].find('\n') {
        len = end.max(1).min(source.len() - start);
    }
    SourceSpan::new(start.into(), len)
}

#[derive(Debug)]
struct Snippet {
    source: NamedSource<String>,
    span: SourceSpan,
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("scenario error")
    }
}

impl std::error::Error for Snippet {}

impl miette::Diagnostic for Snippet {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some("here".to_owned()), self.span))))
    }
}
