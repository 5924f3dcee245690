//! A small statement builder: text with `$n` placeholders plus the values to bind, so that
//! optional filters and scope predicates compose without ever formatting a value into SQL.
//!
//! `$n` placeholders work on both back ends: PostgreSQL natively, SQLite as numbered parameters.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use crate::Scope;

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    I64(i64),
    OptI64(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bool(bool),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::I64(v)
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Self::OptI64(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Self::OptText(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(crate) fn bind(&mut self, arg: impl Into<Arg>) -> &mut Self {
        self.args.push(arg.into());
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    /// Appends a predicate that holds only for rows whose tenant column `col` lies in `scope`.
    /// `col` is always a constant from this crate, never input.
    pub(crate) fn scope(&mut self, col: &'static str, scope: Scope) -> &mut Self {
        match scope {
            Scope::Platform => self.push("1 = 1"),
            Scope::Reseller(r) => self
                .push("(")
                .push(col)
                .push(" = ")
                .bind(r.0)
                .push(" OR ")
                .push(col)
                .push(" IN (SELECT t.id FROM tenants t WHERE t.parent_id = ")
                .bind(r.0)
                .push("))"),
            Scope::Customer(c) => self.push(col).push(" = ").bind(c.0),
        }
    }

    /// Ends a list query with keyset pagination: rows after `page.after` by `id_col`, in id
    /// order, at most `page.limit` of them (checked first).
    pub(crate) fn page(
        &mut self,
        id_col: &'static str,
        page: crate::Page,
    ) -> Result<&mut Self, crate::StoreError> {
        let limit = page.checked_limit()?;
        if let Some(after) = page.after {
            self.push(" AND ").push(id_col).push(" > ").bind(after);
        }
        self.push(" ORDER BY ")
            .push(id_col)
            .push(" LIMIT ")
            .bind(limit);
        Ok(self)
    }

    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::I64(v) => q.bind(*v),
                Arg::OptI64(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
                Arg::OptText(v) => q.bind(v.as_deref()),
                Arg::Bool(v) => q.bind(*v),
            };
        }
        q
    }
}
