//! `UPDATE … SET` statements built from optional changes, together with the audit detail that
//! describes them (values of secret columns are never part of it).

use crate::sql::{Arg, Sql};

pub(crate) struct Update {
    sql: Sql,
    sets: usize,
    notes: Vec<String>,
}

impl Update {
    /// Starts `UPDATE table SET `; `table` is always a constant from this crate.
    pub(crate) fn new(table: &'static str) -> Self {
        let mut sql = Sql::new("UPDATE ");
        sql.push(table).push(" SET ");
        Self {
            sql,
            sets: 0,
            notes: Vec::new(),
        }
    }

    /// Sets `col` (a constant) to `value`; `note` describes the change for the audit log.
    pub(crate) fn set(&mut self, col: &'static str, value: impl Into<Arg>, note: String) {
        self.set_quiet(col, value);
        self.notes.push(note);
    }

    /// Sets `col` without a note of its own (a secret, or a column another note describes).
    pub(crate) fn set_quiet(&mut self, col: &'static str, value: impl Into<Arg>) {
        if self.sets > 0 {
            self.sql.push(", ");
        }
        self.sql.push(col).push(" = ").bind(value);
        self.sets += 1;
    }

    /// Whether nothing is to change.
    pub(crate) fn is_empty(&self) -> bool {
        self.sets == 0
    }

    /// The statement so far (to append `WHERE …`) and the audit detail.
    pub(crate) fn finish(self) -> (Sql, String) {
        (self.sql, self.notes.join(", "))
    }
}
