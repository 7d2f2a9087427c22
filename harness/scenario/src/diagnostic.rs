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
        if let (Some(source), Some(location)) = (&self.source, self.location)
            && line_around(source, location.offset).chars().count() <= MAX_SNIPPET_LINE
        {
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

/// Lines longer than this are not shown under the headline (the renderer cannot lay out very
/// long lines, and nobody reads them): the headline's `line:column` still points at the spot.
const MAX_SNIPPET_LINE: usize = 400;

/// The line of `source` holding byte `offset`.
fn line_around(source: &str, offset: usize) -> &str {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = source[offset..].find('\n').map_or(source.len(), |i| offset + i);
    &source[start..end]
}

fn clamp(location: Location, source: &str) -> SourceSpan {
    let boundary = |mut i: usize| {
        i = i.min(source.len());
        while !source.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = boundary(location.offset);
    let mut len = boundary(start + location.len.min(source.len() - start)) - start;
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
