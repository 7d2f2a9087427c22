//! YAML with locations. A scenario file is parsed into a [`Node`] tree that remembers where
//! every value and key came from, so any later error (a serde error deep in a step, an unknown
//! capability, a bad matcher) can point at `file:line:column`. YAML 1.2 core rules apply:
//! `no`, `on` and `yes` stay strings, duplicate keys are errors.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// A position in a source text: 1-based line and column, and the byte span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte offset of the start.
    pub offset: usize,
    /// Length in bytes (at least 1 where the source has anything there).
    pub len: usize,
}

impl Location {
    fn from_saphyr(loc: &serde_saphyr::Location) -> Location {
        let span = loc.span();
        let offset = span.byte_offset().unwrap_or(span.offset()) as usize;
        let len = span.byte_len().unwrap_or(span.len()) as usize;
        Location { line: loc.line() as usize, column: loc.column() as usize, offset, len: len.max(1) }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A YAML value with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub location: Location,
    /// The value.
    pub value: NodeValue,
}

/// The shapes a YAML value can take.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `~`, `null` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order; each key with its own location.
    Map(Vec<(Key, Node)>),
}

/// A mapping key and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key is.
    pub location: Location,
}

/// One step of a path into a tree: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A YAML syntax error.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where, when the parser knows.
    pub location: Option<Location>,
    /// What went wrong.
    pub message: String,
}

/// Parses YAML text into a node tree.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    // Unknown tags (`!foo`) are errors rather than silently dropped; the budget's defaults bound
    // depth (64), nodes, aliases and scalar bytes, so no file can exhaust memory or the stack.
    // YAML 1.2 has no merge keys: `<<` is an ordinary key (and an unknown one in a scenario).
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        reject_unsupported_tags: true,
        merge_keys: serde_saphyr::MergeKeyPolicy::AsOrdinary,
    };
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|e| {
        let location = e.location().map(|l| Location::from_saphyr(&l));
        // `with_snippet: false` above: the message alone, no source excerpt.
        let rendered = e.render_with_formatter(&Wording);
        SyntaxError { location, message: bare_message(&rendered) }
    })
}

/// The reader's messages in a scenario author's words: the developer wording names the
/// crate's options and APIs, and prints its limits as Rust values.
struct Wording;

impl serde_saphyr::MessageFormatter for Wording {
    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> Cow<'a, str> {
        use serde_saphyr::Error as E;
        use serde_saphyr::budget::BudgetBreach as B;
        let limits = serde_saphyr::Budget::default();
        let too_big = |what: String| Cow::Owned(format!("{what}: too large or too complex for a scenario file"));
        match err {
            E::Budget { breach: B::Depth { .. }, .. } => {
                too_big(format!("nested more than {} levels deep", limits.max_depth))
            }
            E::Budget { breach: B::Nodes { .. }, .. } => {
                too_big(format!("more than {} values, aliases expanded", limits.max_nodes))
            }
            E::Budget { breach: B::Aliases { .. }, .. } => too_big(format!("more than {} aliases", limits.max_aliases)),
            E::Budget { breach: B::Anchors { .. }, .. } => too_big(format!("more than {} anchors", limits.max_anchors)),
            E::Budget { breach: B::Events { .. }, .. } => {
                too_big(format!("more than {} YAML events", limits.max_events))
            }
            E::Budget { breach: B::ScalarBytes { .. }, .. } => {
                too_big(format!("more than {} bytes of text", limits.max_total_scalar_bytes))
            }
            E::DuplicateMappingKey { key: Some(key), .. } => {
                Cow::Owned(format!("duplicate key `{key}`: a key appears once in a map"))
            }
            E::DuplicateMappingKey { key: None, .. } => Cow::Borrowed("duplicate key: a key appears once in a map"),
            E::MultipleDocuments { .. } => {
                Cow::Borrowed("a second YAML document (after `---`): a scenario file holds one document")
            }
            E::NonFiniteFloat { value, .. } => Cow::Owned(format!(
                "`{value}` is not a number a scenario can hold (NaN and infinities are not JSON numbers): quote it for a string"
            )),
            E::UnknownAnchor { .. } => Cow::Borrowed("an alias (`*name`) names no anchor (`&name`) defined before it"),
            other => match serde_saphyr::UserMessageFormatter.format_message(other) {
                // The parser's words for two mistakes a scenario author makes, with what to do.
                m if m == "simple key expected ':'" => {
                    Cow::Borrowed("a key must be followed by `:` on the same line, within 1024 characters")
                }
                m if m == "expected string scalar" => {
                    Cow::Borrowed("a key is a plain string here, not a list, a map or a `?` complex key")
                }
                m => m,
            },
        }
    }
}

/// A rendered message without the positions the renderer adds (`error: line L column C: `
/// before, ` at line L, column C` and `(defined at ...)` after): the caller prints the location.
fn bare_message(rendered: &str) -> String {
    let mut message = rendered.lines().next().unwrap_or_default().trim();
    if let Some((head, rest)) = message.split_once(": ")
        && head.starts_with("error")
    {
        message = rest;
    }
    if let Some((head, rest)) = message.split_once(": ")
        && head.starts_with("line ")
    {
        message = rest;
    }
    // Cut at the first position the renderer appended.
    for marker in [" at line ", " (defined at line ", " (used at line "] {
        if let Some(i) = message.find(marker)
            && message[i + marker.len()..].starts_with(|c: char| c.is_ascii_digit())
        {
            message = &message[..i];
        }
    }
    message.trim_end().to_owned()
}

impl Node {
    /// The value as plain JSON (locations dropped).
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = Map::new();
                for (key, node) in entries {
                    map.insert(key.name.clone(), node.to_json());
                }
                Value::Object(map)
            }
        }
    }

    /// The entry for `key`, if this is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<(&Key, &Node)> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The location of the value at `path`, or of the deepest node on the way there. With
    /// `key_of_last`, a final key segment resolves to the key itself rather than its value
    /// (for "unknown key" errors).
    pub fn locate(&self, path: &[Segment], key_of_last: bool) -> Location {
        let mut node = self;
        for (i, segment) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            match (segment, &node.value) {
                (Segment::Key(name), NodeValue::Map(entries)) => match entries.iter().find(|(k, _)| &k.name == name) {
                    Some((key, _)) if last && key_of_last => return key.location,
                    Some((_, value)) => node = value,
                    None => return node.location,
                },
                (Segment::Index(index), NodeValue::Seq(items)) => match items.get(*index) {
                    Some(item) => node = item,
                    None => return node.location,
                },
                _ => return node.location,
            }
        }
        node.location
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeValue>::deserialize(deserializer)?;
        Ok(Node { location: Location::from_saphyr(&spanned.referenced), value: spanned.value })
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }

    fn visit_none<E>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<NodeValue, E> {
        Ok(NodeValue::Number(n.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<NodeValue, E> {
        Number::from_f64(n)
            .map(NodeValue::Number)
            .ok_or_else(|| E::custom(format!("{n} is not a JSON number (NaN and infinities are not allowed)")))
    }

    fn visit_str<E>(self, s: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<NodeValue, E> {
        Ok(NodeValue::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeValue::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Node>()?;
            entries.push((Key { name: key.value, location: Location::from_saphyr(&key.referenced) }, value));
        }
        Ok(NodeValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_locations_and_yaml_1_2_scalars() {
        let node = parse("a: no\nb:\n  - 1\n  - {c: 9007199254740993}\n").unwrap();
        assert_eq!(node.to_json(), serde_json::json!({"a": "no", "b": [1, {"c": 9007199254740993u64}]}));
        let path = [Segment::Key("b".into()), Segment::Index(1), Segment::Key("c".into())];
        assert_eq!(node.locate(&path, false).line, 4);
        assert_eq!(node.locate(&path, true).column, 6);
    }

    #[test]
    fn duplicate_keys_and_bad_syntax_are_errors() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.location.map(|l| l.line), Some(2));
        assert!(err.message.contains("duplicate"), "{}", err.message);
        assert!(parse("a: [1, 2\n").is_err());
    }
}
