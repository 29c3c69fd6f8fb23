//! socketbox's text configuration → `RouteTable`.

use super::table::RouteTable;

/// A config error: 1-based line number and what was wrong ("line 7: unknown keyword 'i:'").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

pub fn parse(text: &str) -> Result<RouteTable, TextError> {
    todo!("socketbox::text owner")
}
