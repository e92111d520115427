//! Interned symbols: a ticker is a string once, at the edge, and a dense [`SymbolId`]
//! everywhere else, so per-symbol state is a `Vec` index rather than a hash lookup.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Index of a symbol in its [`SymbolTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SymbolId(u32);

impl SymbolId {
    pub const fn new(index: u32) -> Self {
        SymbolId(index)
    }

    /// The dense index, for `Vec`-backed per-symbol state.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for SymbolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What we know about a symbol besides its ticks. Kept out of [`crate::Tick`] so a tick
/// stays a small `Copy` value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolMeta {
    pub name: String,
    pub exchange: String,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolTableError {
    #[error("invalid symbol {0:?}: use 1-32 characters from A-Z, a-z, 0-9 and . - _ ^ =")]
    InvalidName(String),
    #[error("symbol table is full (u32::MAX symbols)")]
    Full,
}

/// Names ↔ ids. Ids are handed out in insertion order; [`SymbolTable::from_names`]
/// sorts first so that id order equals name order, which keeps `(ts_event, symbol)`
/// ordering identical whether it compares names or ids.
///
/// Serialised as its list of symbols; the name index is rebuilt on deserialisation, so a
/// restored table resolves names exactly like the original.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SymbolList", into = "SymbolList")]
pub struct SymbolTable {
    symbols: Vec<SymbolMeta>,
    index: BTreeMap<String, SymbolId>,
}

#[derive(Serialize, Deserialize)]
struct SymbolList {
    symbols: Vec<SymbolMeta>,
}

impl From<SymbolList> for SymbolTable {
    fn from(list: SymbolList) -> Self {
        let mut table = SymbolTable { symbols: list.symbols, index: BTreeMap::new() };
        table.index = table.iter().map(|(id, m)| (m.name.clone(), id)).collect();
        table
    }
}

impl From<SymbolTable> for SymbolList {
    fn from(table: SymbolTable) -> Self {
        SymbolList { symbols: table.symbols }
    }
}

impl SymbolTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// A table whose ids follow the sorted order of `names` (duplicates collapse).
    pub fn from_names<I, S>(names: I) -> Result<Self, SymbolTableError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut sorted: Vec<String> = names.into_iter().map(|s| s.as_ref().to_owned()).collect();
        sorted.sort();
        sorted.dedup();
        let mut table = SymbolTable::new();
        for name in sorted {
            table.intern(&name)?;
        }
        Ok(table)
    }

    pub fn is_valid_name(name: &str) -> bool {
        (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'^' | b'='))
    }

    /// The id of `name`, adding it (with default metadata) when new.
    pub fn intern(&mut self, name: &str) -> Result<SymbolId, SymbolTableError> {
        if let Some(&id) = self.index.get(name) {
            return Ok(id);
        }
        if !Self::is_valid_name(name) {
            return Err(SymbolTableError::InvalidName(name.to_owned()));
        }
        let id = SymbolId(u32::try_from(self.symbols.len()).map_err(|_| SymbolTableError::Full)?);
        self.symbols.push(SymbolMeta { name: name.to_owned(), exchange: String::new(), currency: String::new() });
        self.index.insert(name.to_owned(), id);
        Ok(id)
    }

    /// Interns `name` and records its exchange and currency.
    pub fn intern_with(&mut self, name: &str, exchange: &str, currency: &str) -> Result<SymbolId, SymbolTableError> {
        let id = self.intern(name)?;
        let meta = &mut self.symbols[id.index()];
        if meta.exchange != exchange {
            exchange.clone_into(&mut meta.exchange);
        }
        if meta.currency != currency {
            currency.clone_into(&mut meta.currency);
        }
        Ok(id)
    }

    pub fn get(&self, name: &str) -> Option<SymbolId> {
        self.index.get(name).copied()
    }

    /// The name of `id`. Panics on an id from another table, which is a programming error.
    pub fn name(&self, id: SymbolId) -> &str {
        &self.symbols[id.index()].name
    }

    pub fn meta(&self, id: SymbolId) -> &SymbolMeta {
        &self.symbols[id.index()]
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (SymbolId, &SymbolMeta)> {
        self.symbols.iter().enumerate().map(|(i, m)| (SymbolId(i as u32), m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deserialised_table_resolves_names_like_the_original() {
        let mut table = SymbolTable::new();
        table.intern_with("MSFT", "XNAS", "USD").unwrap();
        table.intern("AAPL").unwrap();
        let bytes = postcard::to_stdvec(&table).unwrap();
        let mut back: SymbolTable = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.get("AAPL"), Some(SymbolId(1)));
        assert_eq!(back.intern("MSFT").unwrap(), SymbolId(0), "no second id for a known name");
    }

    #[test]
    fn ids_follow_name_order_when_built_from_names() {
        let t = SymbolTable::from_names(["MSFT", "AAPL", "GOOG", "AAPL"]).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.get("AAPL"), Some(SymbolId::new(0)));
        assert_eq!(t.name(SymbolId::new(2)), "MSFT");
    }

    #[test]
    fn rejects_names_that_would_break_paths_or_keys() {
        let mut t = SymbolTable::new();
        for bad in ["", "A B", "../etc", "X\n", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"] {
            assert!(t.intern(bad).is_err(), "{bad:?}");
        }
        assert!(t.intern("BRK.B").is_ok());
    }
}
