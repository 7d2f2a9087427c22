//! SQL identifiers: checked once, then always quoted, so no table, schema or column name can
//! change what a statement does. Values never go through here: they are bound parameters.

use sessionspec_contract::{ErrorKind, Result, StoreError};

/// A checked SQL identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

impl Ident {
    /// Accepts 1-63 characters without control characters. Anything else (quotes, spaces, dots)
    /// is kept literally inside the quotes.
    pub fn new(name: &str) -> Result<Ident> {
        let usable = !name.is_empty() && name.chars().count() <= 63 && !name.chars().any(char::is_control);
        if !usable {
            return Err(StoreError::new(
                ErrorKind::Invalid,
                format!(
                    "`{}` is not a usable SQL identifier: 1-63 characters, no control characters",
                    name.escape_debug()
                ),
            ));
        }
        Ok(Ident(name.to_owned()))
    }

    /// [`Ident::new`], and at most 63 bytes: PostgreSQL would cut a longer name short without
    /// saying so.
    pub fn postgres(name: &str) -> Result<Ident> {
        let ident = Ident::new(name)?;
        if name.len() > 63 {
            return Err(unusable(name, "PostgreSQL names are at most 63 bytes"));
        }
        Ok(ident)
    }

    /// [`Ident::new`], and not ending in a space, which MySQL refuses.
    pub fn mysql(name: &str) -> Result<Ident> {
        let ident = Ident::new(name)?;
        if name.ends_with(' ') {
            return Err(unusable(name, "MySQL names cannot end with a space"));
        }
        Ok(ident)
    }

    /// The name as given.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The name in double quotes, inner double quotes doubled (standard SQL: PostgreSQL, SQLite).
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }

    /// The name in backticks, inner backticks doubled (MySQL, without assuming `ANSI_QUOTES`).
    pub fn backquoted(&self) -> String {
        format!("`{}`", self.0.replace('`', "``"))
    }
}

fn unusable(name: &str, why: &str) -> StoreError {
    StoreError::new(ErrorKind::Invalid, format!("`{}` is not a usable identifier: {why}", name.escape_debug()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_not_trusted() {
        assert_eq!(Ident::new("sessions").unwrap().quoted(), "\"sessions\"");
        assert_eq!(Ident::new("a\"; DROP TABLE x; --").unwrap().quoted(), "\"a\"\"; DROP TABLE x; --\"");
        assert_eq!(Ident::mysql("a`; DROP TABLE x; --").unwrap().backquoted(), "`a``; DROP TABLE x; --`");
        assert_eq!(Ident::new("a\"b").unwrap().backquoted(), "`a\"b`");
        for bad in ["", "a\0b", "tab\there", &"x".repeat(64)] {
            assert_eq!(Ident::new(bad).unwrap_err().kind(), ErrorKind::Invalid, "{bad:?}");
        }
        assert!(Ident::mysql("trailing ").is_err());
        assert!(Ident::new(&"é".repeat(40)).is_ok());
        assert!(Ident::postgres(&"é".repeat(40)).is_err());
    }
}
