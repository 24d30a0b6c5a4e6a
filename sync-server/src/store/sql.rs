//! Every statement both backends run over the layout, built with sea-query: registry
//! reads, clock, idempotency keys, rows, and the compilation of a [`Filter`] against a
//! table's columns (the statements that create and grow the layout are in `layout`).
//! Values are always bound parameters; names are the physical names the catalog
//! generated.

use sea_query::{
    Alias, Asterisk, CommonTableExpression, Expr, ExprTrait, Func, InsertStatement, LockType,
    NullOrdering, OnConflict, Order as SqlOrder, Query, SelectStatement, SubQueryStatement,
    UpdateStatement, Value as Sql, WithClause, WithQuery,
};
use sync_core::Value;
use sync_core::store::{CmpOp, Filter, Order};

use super::catalog::{Cell, Kind, TableMeta, cell_to_json};
use super::{Row, StoreError};
use crate::query::TableQuery;

/// Which SQL dialect a statement is for, where the two differ (functions, collation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Sqlite,
    Postgres,
}

pub(crate) const TABLES: &str = "__tablesync_tables";
/// Batch operations' idempotency keys and their recorded answers.
pub(crate) const KEYS: &str = "__tablesync_keys";
pub(crate) const COLUMNS: &str = "__tablesync_columns";

pub(crate) const ID: &str = "id";
pub(crate) const OWNER: &str = "owner";
pub(crate) const VERSION: &str = "version";
pub(crate) const CREATED: &str = "created_at";
pub(crate) const UPDATED: &str = "updated_at";
pub(crate) const DELETED: &str = "deleted";

pub(super) fn a(s: &str) -> Alias {
    Alias::new(s)
}

// ---- idempotency keys ----

/// Claims a key for an operation about to run (status 0 until [`record_key`]): inserts
/// it, or takes over a record older than `cutoff`. Changes no row when a live record
/// exists; on PostgreSQL it first waits for a transaction holding the same key.
pub(crate) fn claim_key(owner: &str, key: &str, now: i64, cutoff: i64) -> InsertStatement {
    Query::insert()
        .into_table(a(KEYS))
        .columns([a(OWNER), a("key"), a("at_ms"), a("status"), a("body")])
        .values_panic([owner.into(), key.into(), now.into(), 0i32.into(), "".into()])
        .on_conflict(
            OnConflict::columns([a(OWNER), a("key")])
                .update_columns([a("at_ms"), a("status"), a("body")])
                .action_and_where(Expr::col((a(KEYS), a("at_ms"))).lt(cutoff))
                .to_owned(),
        )
        .to_owned()
}

/// The recorded answer under a key: `status`, `body`.
pub(crate) fn select_key(owner: &str, key: &str) -> SelectStatement {
    Query::select()
        .columns([a("status"), a("body")])
        .from(a(KEYS))
        .and_where(Expr::col(a(OWNER)).eq(owner))
        .and_where(Expr::col(a("key")).eq(key))
        .to_owned()
}

/// Records the answer of a claimed key.
pub(crate) fn record_key(owner: &str, key: &str, status: u16, body: &str) -> UpdateStatement {
    Query::update()
        .table(a(KEYS))
        .values([
            (a("status"), i32::from(status).into()),
            (a("body"), body.into()),
        ])
        .and_where(Expr::col(a(OWNER)).eq(owner))
        .and_where(Expr::col(a("key")).eq(key))
        .to_owned()
}

/// Forgets keys recorded before `cutoff`.
pub(crate) fn prune_keys(cutoff: i64) -> sea_query::DeleteStatement {
    Query::delete()
        .from_table(a(KEYS))
        .and_where(Expr::col(a("at_ms")).lt(cutoff))
        .to_owned()
}

// ---- registry ----

pub(crate) fn select_table(key: &str) -> SelectStatement {
    Query::select()
        .column(a("phys"))
        .from(a(TABLES))
        .and_where(Expr::col(a("name")).eq(key))
        .to_owned()
}

pub(crate) fn select_columns(key: &str) -> SelectStatement {
    Query::select()
        .columns([a("display"), a("kind"), a("phys")])
        .from(a(COLUMNS))
        .and_where(Expr::col(a("tbl")).eq(key))
        .order_by(a("ord"), SqlOrder::Asc)
        .to_owned()
}

pub(crate) fn count_tables() -> SelectStatement {
    Query::select()
        .expr(Func::count(Expr::col(Asterisk)))
        .from(a(TABLES))
        .to_owned()
}

/// Advances a table's clock: the new `updatedAt`, strictly after the last one; also
/// the lock that orders the table's writes (see the module docs of `store`).
pub(crate) fn tick(key: &str, now: Expr) -> UpdateStatement {
    Query::update()
        .table(a(TABLES))
        .value(a("last_ms"), Func::greatest([Expr::col(a("last_ms")), now]))
        .and_where(Expr::col(a("name")).eq(key))
        .returning_col(a("last_ms"))
        .to_owned()
}

/// The newest stamp of any table (`NULL` when there is none).
pub(crate) fn newest_clock() -> SelectStatement {
    Query::select()
        .expr(Func::max(Expr::col(a("last_ms"))))
        .from(a(TABLES))
        .to_owned()
}

/// PostgreSQL's clock in milliseconds since the epoch: every instance of a server on
/// one database stamps with it (and readers compare with it), so that their own clocks'
/// differences cannot put a later commit before an earlier one's horizon.
pub(crate) fn db_now_ms() -> Expr {
    Expr::cust("(extract(epoch from clock_timestamp()) * 1000)::bigint")
}

/// A table's clock and the database's time, locked for share: the statement waits for
/// the writes holding the clock (from their last statement to commit), so that no write
/// stamped at or before the clock it returns is still uncommitted (PostgreSQL).
pub(crate) fn read_clock(key: &str) -> SelectStatement {
    Query::select()
        .column(a("last_ms"))
        .expr(db_now_ms())
        .from(a(TABLES))
        .and_where(Expr::col(a("name")).eq(key))
        .lock_shared()
        .to_owned()
}

// ---- rows ----

pub(crate) fn select_row(meta: &TableMeta, owner: &str, id: &str) -> SelectStatement {
    Query::select()
        .column(Asterisk)
        .from(a(&meta.phys))
        .and_where(Expr::col(a(OWNER)).eq(owner))
        .and_where(Expr::col(a(ID)).eq(id))
        .to_owned()
}

/// Inserts a row stamped `now` (a value, or [`clock_value`]), returning it. An id
/// that exists by then inserts nothing (and returns nothing).
pub(crate) fn insert_row(
    meta: &TableMeta,
    owner: &str,
    id: &str,
    now: Expr,
    data: &[(String, Sql)],
) -> InsertStatement {
    let mut cols = vec![
        a(ID),
        a(OWNER),
        a(VERSION),
        a(CREATED),
        a(UPDATED),
        a(DELETED),
    ];
    let mut vals: Vec<Expr> = vec![
        Expr::val(id),
        Expr::val(owner),
        Expr::val(1i64),
        now.clone(),
        now,
        Expr::val(false),
    ];
    for (phys, v) in data {
        cols.push(a(phys));
        vals.push(Expr::val(v.clone()));
    }
    Query::insert()
        .into_table(a(&meta.phys))
        .columns(cols)
        .values_panic(vals)
        .on_conflict(
            OnConflict::columns([a(OWNER), a(ID)])
                .do_nothing()
                .to_owned(),
        )
        .returning_all()
        .to_owned()
}

/// The compare-and-swap: changes the row only while it still has `expected`, stamped
/// `now` (a value, or [`clock_value`]), returning it.
pub(crate) fn update_row(
    meta: &TableMeta,
    owner: &str,
    id: &str,
    expected: i64,
    now: Expr,
    deleted: Option<bool>,
    data: &[(String, Sql)],
) -> UpdateStatement {
    let mut q = Query::update();
    q.table(a(&meta.phys))
        .value(a(VERSION), expected + 1)
        .value(a(UPDATED), now);
    if let Some(d) = deleted {
        q.value(a(DELETED), d);
    }
    for (phys, v) in data {
        q.value(a(phys), v.clone());
    }
    q.and_where(Expr::col(a(OWNER)).eq(owner))
        .and_where(Expr::col(a(ID)).eq(id))
        .and_where(Expr::col(a(VERSION)).eq(expected))
        .returning_all()
        .to_owned()
}

/// [`select_row`] that also locks the row until commit (PostgreSQL).
pub(crate) fn select_row_locked(meta: &TableMeta, owner: &str, id: &str) -> SelectStatement {
    select_row(meta, owner, id)
        .lock(LockType::Update)
        .to_owned()
}

/// The CTE that [`clocked`] names the clock's new value by.
const CLOCK: &str = "clock";

/// The table clock's new value inside a [`clocked`] write.
pub(crate) fn clock_value() -> Expr {
    let q = Query::select()
        .column(a("last_ms"))
        .from(a(CLOCK))
        .to_owned();
    Expr::SubQuery(None, Box::new(q.into()))
}

/// A write that advances the table's clock ([`tick`]) in the same statement and is
/// stamped with its new value ([`clock_value`]): the clock row's lock is taken by the
/// write's last statement, so it is held only from there to commit.
pub(crate) fn clocked(key: &str, write: impl Into<SubQueryStatement>) -> WithQuery {
    let clock = CommonTableExpression::new()
        .query(tick(key, db_now_ms()))
        .table_name(a(CLOCK))
        .to_owned();
    WithClause::new().cte(clock).to_owned().query(write)
}

// ---- values of cached statements ----
//
// A write's statements differ only in the table and in which columns they set, so a
// backend builds each shape's text once (with the builders above) and binds these
// values to it; each list is in the order its builder binds them, which
// `cached_values_are_in_the_builders_order` checks.

/// The values [`tick`] binds.
pub(crate) fn tick_values(key: &str, now_ms: i64) -> Vec<Sql> {
    vec![now_ms.into(), key.into()]
}

/// The values [`select_row`] binds.
pub(crate) fn select_row_values(owner: &str, id: &str) -> Vec<Sql> {
    vec![owner.into(), id.into()]
}

/// The values [`insert_row`] binds.
pub(crate) fn insert_row_values(
    owner: &str,
    id: &str,
    now_ms: i64,
    data: &[(String, Sql)],
) -> Vec<Sql> {
    let mut v: Vec<Sql> = Vec::with_capacity(6 + data.len());
    v.extend([
        id.into(),
        owner.into(),
        1i64.into(),
        now_ms.into(),
        now_ms.into(),
        false.into(),
    ]);
    v.extend(data.iter().map(|(_, x)| x.clone()));
    v
}

/// The values [`update_row`] binds.
pub(crate) fn update_row_values(
    owner: &str,
    id: &str,
    expected: i64,
    now_ms: i64,
    deleted: Option<bool>,
    data: &[(String, Sql)],
) -> Vec<Sql> {
    let mut v: Vec<Sql> = Vec::with_capacity(6 + data.len());
    v.push((expected + 1).into());
    v.push(now_ms.into());
    if let Some(d) = deleted {
        v.push(d.into());
    }
    v.extend(data.iter().map(|(_, x)| x.clone()));
    v.extend([owner.into(), id.into(), expected.into()]);
    v
}

/// What the text of a write statement depends on besides its table: the key under
/// which a backend caches it. Column names are ASCII letters, digits and `_` (see
/// `phys_name`), so a space separates them unambiguously.
pub(crate) fn shape_key(kind: &str, phys: &str, data: &[(String, Sql)]) -> String {
    let mut key = String::with_capacity(kind.len() + phys.len() + 16 * (data.len() + 1));
    key.push_str(kind);
    key.push(' ');
    key.push_str(phys);
    for (c, _) in data {
        key.push(' ');
        key.push_str(c);
    }
    key
}

/// Whether [`decode_row`] knows a physical column of `meta`'s table: a system column
/// or one in the catalog entry.
pub(crate) fn knows_column(meta: &TableMeta, phys: &str) -> bool {
    [ID, OWNER, VERSION, CREATED, UPDATED, DELETED].contains(&phys)
        || meta.columns.iter().any(|c| c.phys == phys)
}

/// A stored row's columns with the catalog: `Err(())` when a physical column is not in
/// `meta` (another instance added it), so the caller reloads the catalog and decodes
/// again.
pub(crate) fn decode_row<'n>(
    meta: &TableMeta,
    cells: impl IntoIterator<Item = (&'n str, Cell)>,
) -> Result<Row, ()> {
    let mut row = Row {
        id: String::new(),
        version: 0,
        created_ms: 0,
        updated_ms: 0,
        deleted: false,
        data: Vec::new(),
    };
    let int = |c: &Cell| match c {
        Cell::Int(i) => *i,
        _ => 0,
    };
    let mut data: Vec<(usize, String, serde_json::Value)> = Vec::new();
    for (name, cell) in cells {
        match name {
            ID => {
                if let Cell::Text(s) = cell {
                    row.id = s;
                }
            }
            OWNER => {}
            VERSION => row.version = int(&cell),
            CREATED => row.created_ms = int(&cell),
            UPDATED => row.updated_ms = int(&cell),
            DELETED => row.deleted = matches!(cell, Cell::Bool(true) | Cell::Int(1)),
            phys => {
                let Some(pos) = meta.columns.iter().position(|c| c.phys == phys) else {
                    return Err(());
                };
                if cell != Cell::Null {
                    let col = &meta.columns[pos];
                    data.push((pos, col.name.clone(), cell_to_json(col.kind, cell)));
                }
            }
        }
    }
    data.sort_by_key(|(pos, _, _)| *pos);
    row.data = data.into_iter().map(|(_, n, v)| (n, v)).collect();
    Ok(row)
}

// ---- queries ----

/// Names a list request uses that the catalog entry does not know: the caller reloads
/// the entry once before compiling, in case another instance added them.
pub(crate) fn unknown_names<'q>(meta: &TableMeta, q: &'q TableQuery) -> Vec<&'q str> {
    let mut names: Vec<&str> = q.filter.as_ref().map(Filter::columns).unwrap_or_default();
    names.extend(q.order_by.iter().map(|(c, _)| c.as_str()));
    if let Some(s) = &q.select {
        names.extend(s.iter().map(String::as_str));
    }
    names
        .into_iter()
        .filter(|n| system(n).is_none() && meta.column(n).is_none())
        .collect()
}

/// A system column by wire name: physical name and kind.
fn system(name: &str) -> Option<(&'static str, Kind)> {
    Some(match name {
        "id" => (ID, Kind::Text),
        "version" => (VERSION, Kind::Text),
        "createdAt" => (CREATED, Kind::DateTime),
        "updatedAt" => (UPDATED, Kind::DateTime),
        "deleted" => (DELETED, Kind::Bool),
        _ => return None,
    })
}

/// A column in a query: physical name and kind, or `None` for a column no row has yet
/// (it behaves as all `NULL`, as a column added on the fly later would).
fn resolve(meta: &TableMeta, name: &str) -> Option<(String, Kind)> {
    if let Some((phys, kind)) = system(name) {
        return Some((phys.to_owned(), kind));
    }
    meta.column(name).map(|c| (c.phys.clone(), c.kind))
}

/// The page query and, when asked for, the count query. With a `horizon`, only rows
/// stamped at or before it: the backend's guarantee that no write stamped at or before
/// it is still to commit (see the `store` module docs).
pub(crate) fn list(
    flavor: Flavor,
    meta: &TableMeta,
    owner: &str,
    q: &TableQuery,
    horizon: Option<i64>,
) -> Result<(SelectStatement, Option<SelectStatement>), StoreError> {
    let mut cond = Expr::col(a(OWNER)).eq(owner);
    if let Some(h) = horizon {
        cond = cond.and(Expr::col(a(UPDATED)).lte(h));
    }
    if !q.include_deleted {
        cond = cond.and(Expr::col(a(DELETED)).eq(false));
    }
    if let Some(f) = &q.filter {
        cond = cond.and(compile(flavor, meta, f)?);
    }
    let mut page = Query::select();
    page.column(Asterisk)
        .from(a(&meta.phys))
        .and_where(cond.clone());
    let mut has_id = false;
    for (name, order) in &q.order_by {
        let Some((phys, _)) = resolve(meta, name) else {
            continue;
        };
        has_id |= phys == ID;
        let (o, nulls) = match order {
            Order::Asc => (SqlOrder::Asc, NullOrdering::First),
            Order::Desc => (SqlOrder::Desc, NullOrdering::Last),
        };
        page.order_by_with_nulls(a(&phys), o, nulls);
    }
    if !has_id {
        // Deterministic pages: rows equal on every key come in id order.
        page.order_by(a(ID), SqlOrder::Asc);
    }
    page.limit(q.top).offset(q.skip);
    let count = q.count.then(|| {
        Query::select()
            .expr(Func::count(Expr::col(Asterisk)))
            .from(a(&meta.phys))
            .and_where(cond)
            .to_owned()
    });
    Ok((page, count))
}

fn bad(msg: String) -> StoreError {
    StoreError::BadRequest(format!("$filter: {msg}"))
}

/// SQL's unknown: matches nothing, and `not` of it matches nothing either.
fn unknown() -> Expr {
    Expr::val(Sql::Bool(None))
}

/// A filter as a SQL condition over `meta`'s physical columns.
///
/// This recurses once per nesting level of the filter, which the `$filter` parser
/// bounds ([`crate::query::FilterLimits`]); the parts of one `and`/`or` become a
/// balanced tree ([`balanced`]), so a long chain costs only its logarithm in depth here,
/// in sea-query's writer and in the database's own parser.
pub(crate) fn compile(flavor: Flavor, meta: &TableMeta, f: &Filter) -> Result<Expr, StoreError> {
    Ok(match f {
        Filter::And(parts) => {
            let parts = parts
                .iter()
                .map(|p| compile(flavor, meta, p))
                .collect::<Result<Vec<_>, _>>()?;
            balanced(parts, |l, r| l.and(r)).unwrap_or_else(|| Expr::val(true))
        }
        Filter::Or(parts) => {
            let floor = common_floor(parts);
            let parts = parts
                .iter()
                .map(|p| compile(flavor, meta, p))
                .collect::<Result<Vec<_>, _>>()?;
            let any = balanced(parts, |l, r| l.or(r)).unwrap_or_else(|| Expr::val(false));
            match floor {
                // `c >= v` and-ed in: the same rows, but a range the index can seek to.
                Some((column, value)) => {
                    let at_least = Filter::cmp(column, CmpOp::Ge, value.clone());
                    Expr::tuple([compile(flavor, meta, &at_least)?]).and(Expr::tuple([any]))
                }
                None => any,
            }
        }
        Filter::Not(inner) => compile(flavor, meta, inner)?.not(),
        Filter::IsNull(c) => match resolve(meta, c) {
            Some((phys, _)) => Expr::col(a(&phys)).is_null(),
            None => Expr::val(true),
        },
        Filter::Cmp { column, op, value } => match resolve(meta, column) {
            None => unknown(),
            Some((phys, kind)) => compare(flavor, column, &phys, kind, *op, value)?,
        },
    })
}

/// The lower bound `column >= value` every part of an `or` implies, when they share
/// one: the keyset condition of a pull, `(updatedAt > T) or (updatedAt = T and id > I)`,
/// implies `updatedAt >= T`. Said outright, it lets the database seek the index to T;
/// left implied, SQLite (with bound parameters) scans the index from the table's first
/// row on every page, so a pull of N rows in pages costs N²/page row visits.
fn common_floor(parts: &[Filter]) -> Option<(&str, &Value)> {
    fn floor(f: &Filter) -> Option<(&str, &Value)> {
        match f {
            Filter::Cmp {
                column,
                op: CmpOp::Gt | CmpOp::Ge | CmpOp::Eq,
                value,
            } if !value.is_null() => Some((column.as_str(), value)),
            Filter::And(parts) => parts.iter().find_map(floor),
            _ => None,
        }
    }
    let (first, rest) = parts.split_first()?;
    let bound = floor(first)?;
    rest.iter()
        .all(|p| match p {
            // The part implies the bound when one of its own bounds is it.
            Filter::And(inner) => inner.iter().any(|q| floor(q) == Some(bound)),
            other => floor(other) == Some(bound),
        })
        .then_some(bound)
}

/// Joins `parts` with `join` into a balanced tree, each inner pair in parentheses, so
/// that `a or b or c or d` is `(a OR b) OR (c OR d)`: its depth is the logarithm of the
/// number of parts, not their number. Without the parentheses sea-query would write a
/// flat chain, which SQLite's parser folds into a left-deep tree again (and refuses
/// past 1000 levels). `None` for no parts.
fn balanced(parts: Vec<Expr>, join: fn(Expr, Expr) -> Expr) -> Option<Expr> {
    // Each part with whether it is a join of this chain (and so needs parentheses).
    let mut level: Vec<(Expr, bool)> = parts.into_iter().map(|p| (p, false)).collect();
    let wrap = |(e, joined): (Expr, bool)| if joined { Expr::tuple([e]) } else { e };
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut it = level.into_iter();
        while let Some(left) = it.next() {
            next.push(match it.next() {
                Some(right) => (join(wrap(left), wrap(right)), true),
                None => left,
            });
        }
        level = next;
    }
    level.pop().map(|(e, _)| e)
}

fn compare(
    flavor: Flavor,
    name: &str,
    phys: &str,
    kind: Kind,
    op: CmpOp,
    value: &Value,
) -> Result<Expr, StoreError> {
    let col = || Expr::col(a(phys));
    if value.is_null() {
        return Ok(match op {
            CmpOp::Eq => col().is_null(),
            CmpOp::Ne => col().is_not_null(),
            _ => unknown(),
        });
    }
    if matches!(op, CmpOp::StartsWith | CmpOp::EndsWith | CmpOp::Contains) {
        let (Kind::Text, Value::Text(needle)) = (kind, value) else {
            return Err(bad(format!(
                "text functions need a text column and a string; `{name}` is {}",
                kind_name(kind)
            )));
        };
        return Ok(text_function(flavor, phys, op, needle));
    }
    if phys == VERSION {
        // Versions are opaque text on the wire: only equality means something.
        let Value::Text(v) = value else {
            return Err(bad("`version` compares with a string".into()));
        };
        let n = super::parse_version(v);
        return Ok(match (op, n) {
            (CmpOp::Eq, Some(n)) => col().eq(n),
            (CmpOp::Eq, None) => col().is_null(),
            (CmpOp::Ne, Some(n)) => col().ne(n),
            (CmpOp::Ne, None) => col().is_not_null(),
            _ => return Err(bad("`version` compares with `eq` or `ne` only".into())),
        });
    }
    let mismatch = || {
        bad(format!(
            "`{name}` is {}; it cannot be compared with {} {}",
            kind_name(kind),
            article(value.kind()),
            value.kind()
        ))
    };
    let operand: Sql = match (kind, value) {
        (Kind::Text, Value::Text(s)) => s.clone().into(),
        (Kind::Text, Value::DateTime(t)) => sync_core::model::instant::to_wire(t).into(),
        (Kind::Number, Value::Integer(i)) => (*i as f64).into(),
        (Kind::Number, Value::Real(r)) => (*r).into(),
        (Kind::Bool, Value::Bool(b)) => (*b).into(),
        (Kind::DateTime, Value::DateTime(t)) => return Ok(instant_cmp(phys, op, *t)),
        (Kind::DateTime, Value::Text(s)) => match sync_core::model::instant::parse(s) {
            Some(t) => return Ok(instant_cmp(phys, op, t)),
            None => return Err(mismatch()),
        },
        (Kind::Json, _) => {
            return Err(bad(format!(
                "`{name}` holds JSON and cannot be filtered on"
            )));
        }
        _ => return Err(mismatch()),
    };
    Ok(cmp(col(), op, operand))
}

fn cmp(col: Expr, op: CmpOp, v: Sql) -> Expr {
    match op {
        CmpOp::Eq => col.eq(v),
        CmpOp::Ne => col.ne(v),
        CmpOp::Lt => col.lt(v),
        CmpOp::Le => col.lte(v),
        CmpOp::Gt => col.gt(v),
        _ => col.gte(v),
    }
}

/// Instants are stored as whole milliseconds; a literal with finer digits is compared
/// exactly all the same (`x >= 1.0005` is `x > 1.000`), so that dates compare as
/// instants.
fn instant_cmp(phys: &str, op: CmpOp, t: chrono::DateTime<chrono::Utc>) -> Expr {
    let col = Expr::col(a(phys));
    let ms = t.timestamp_millis();
    let exact = t.timestamp_subsec_nanos().is_multiple_of(1_000_000);
    if exact {
        return cmp(col, op, ms.into());
    }
    match op {
        // No stored instant equals it: false, or unknown for NULL, like any comparison.
        CmpOp::Eq => col.clone().ne(col),
        CmpOp::Ne => col.clone().eq(col),
        CmpOp::Lt | CmpOp::Le => col.lte(ms),
        _ => col.gt(ms),
    }
}

/// Case-sensitive text functions that treat `%` and `_` as plain characters (no LIKE).
fn text_function(flavor: Flavor, phys: &str, op: CmpOp, needle: &str) -> Expr {
    let col = || Expr::col(a(phys));
    if needle.is_empty() {
        return col().is_not_null();
    }
    let len = needle.chars().count() as i32;
    let call = |name: &str| Func::cust(a(name)).arg(col());
    match (flavor, op) {
        (Flavor::Sqlite, CmpOp::StartsWith) => {
            Expr::expr(call("substr").arg(Expr::val(1i32)).arg(Expr::val(len))).eq(needle)
        }
        (Flavor::Sqlite, CmpOp::EndsWith) => {
            Expr::expr(call("substr").arg(Expr::val(-len))).eq(needle)
        }
        (Flavor::Sqlite, _) => Expr::expr(call("instr").arg(Expr::val(needle))).gt(0i32),
        (Flavor::Postgres, CmpOp::StartsWith) => {
            Expr::expr(call("left").arg(Expr::val(len))).eq(needle)
        }
        (Flavor::Postgres, CmpOp::EndsWith) => {
            Expr::expr(call("right").arg(Expr::val(len))).eq(needle)
        }
        (Flavor::Postgres, _) => Expr::expr(call("strpos").arg(Expr::val(needle))).gt(0i32),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "a text column",
        Kind::Number => "a number column",
        Kind::Bool => "a bool column",
        Kind::DateTime => "a date column",
        Kind::Json => "a JSON column",
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalog::ColumnMeta;
    use super::*;
    use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
    use sea_query_rusqlite::RusqliteBinder;

    #[test]
    fn cached_values_are_in_the_builders_order() {
        fn check<B: sea_query::QueryBuilder + Default>() {
            let m = meta();
            let data: Vec<(String, Sql)> = vec![
                ("c2_n".into(), Sql::Double(Some(2.5))),
                ("c1_text".into(), Sql::String(Some("milk".into()))),
            ];
            assert_eq!(
                tick("todo", Expr::val(7i64)).build(B::default()).1.0,
                tick_values("todo", 7)
            );
            assert_eq!(
                select_row(&m, "o", "a1").build(B::default()).1.0,
                select_row_values("o", "a1")
            );
            for d in [&data[..], &[]] {
                assert_eq!(
                    insert_row(&m, "o", "a1", Expr::val(7i64), d)
                        .build(B::default())
                        .1
                        .0,
                    insert_row_values("o", "a1", 7, d)
                );
                for deleted in [None, Some(true), Some(false)] {
                    assert_eq!(
                        update_row(&m, "o", "a1", 3, Expr::val(7i64), deleted, d)
                            .build(B::default())
                            .1
                            .0,
                        update_row_values("o", "a1", 3, 7, deleted, d)
                    );
                }
            }
        }
        check::<SqliteQueryBuilder>();
        check::<PostgresQueryBuilder>();
    }

    #[test]
    fn a_clocked_write_takes_the_clock_in_its_own_statement() {
        let m = meta();
        let data: Vec<(String, Sql)> = vec![("c2_n".into(), Sql::Double(Some(2.5)))];
        let write = update_row(&m, "o", "a1", 3, clock_value(), None, &data);
        assert_eq!(
            clocked("todo", write).to_string(PostgresQueryBuilder),
            "WITH \"clock\" AS (UPDATE \"__tablesync_tables\" SET \"last_ms\" = \
             GREATEST(\"last_ms\", (extract(epoch from clock_timestamp()) * 1000)::bigint) \
             WHERE \"name\" = 'todo' RETURNING \"last_ms\") \
             UPDATE \"t1_todo\" SET \"version\" = 4, \"updated_at\" = (SELECT \"last_ms\" FROM \"clock\"), \"c2_n\" = 2.5 \
             WHERE \"owner\" = 'o' AND \"id\" = 'a1' AND \"version\" = 3 RETURNING *"
        );
    }

    fn meta() -> TableMeta {
        TableMeta {
            key: "todo".into(),
            phys: "t1_todo".into(),
            columns: vec![
                ColumnMeta {
                    name: "text".into(),
                    phys: "c1_text".into(),
                    kind: Kind::Text,
                },
                ColumnMeta {
                    name: "n".into(),
                    phys: "c2_n".into(),
                    kind: Kind::Number,
                },
            ],
        }
    }

    #[test]
    fn values_are_bound_never_inlined() {
        let f = Filter::eq("text", "x'); drop table t; --").and(Filter::gt("n", 3i64));
        let e = compile(Flavor::Sqlite, &meta(), &f).unwrap();
        let q = Query::select()
            .column(Asterisk)
            .from(a("t"))
            .and_where(e)
            .to_owned();
        let (sql, values) = q.build(SqliteQueryBuilder);
        assert!(!sql.contains("drop"), "{sql}");
        assert_eq!(
            sql,
            r#"SELECT * FROM "t" WHERE "c1_text" = ? AND "c2_n" > ?"#
        );
        assert_eq!(values.0.len(), 2);
    }

    fn where_of(f: &Filter) -> (String, sea_query::Values) {
        let e = compile(Flavor::Sqlite, &meta(), f).unwrap();
        Query::select()
            .column(Asterisk)
            .from(a("t"))
            .and_where(e)
            .to_owned()
            .build(SqliteQueryBuilder)
    }

    #[test]
    fn a_keyset_condition_says_its_range_outright() {
        let keyset = Filter::Or(vec![
            Filter::gt("n", 5i64),
            Filter::eq("n", 5i64).and(Filter::gt("text", "b")),
        ]);
        assert_eq!(
            where_of(&keyset).0,
            r#"SELECT * FROM "t" WHERE ("c2_n" >= ?) AND ("c2_n" > ? OR ("c2_n" = ? AND "c1_text" > ?))"#
        );
        // No bound every part shares: as written.
        for f in [
            Filter::Or(vec![Filter::gt("n", 5i64), Filter::eq("n", 6i64)]),
            Filter::Or(vec![Filter::gt("n", 5i64), Filter::gt("text", "b")]),
            Filter::Or(vec![Filter::lt("n", 5i64), Filter::eq("n", 5i64)]),
            Filter::Or(vec![Filter::gt("n", 5i64), Filter::is_null("n")]),
        ] {
            assert!(!where_of(&f).0.contains(">="), "{f:?}: {}", where_of(&f).0);
        }
    }

    /// With bound parameters SQLite does not derive the range from the `or`: without the
    /// floor said outright, the plan seeks only `updated_at<?` (the horizon) and scans
    /// from the first row on every page.
    #[test]
    fn sqlite_seeks_the_pull_index_to_the_watermark() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t1 (id TEXT NOT NULL, owner TEXT NOT NULL, updated_at INTEGER NOT NULL, \
             PRIMARY KEY (owner, id)); CREATE INDEX i1 ON t1 (owner, updated_at, id);",
        )
        .unwrap();
        let meta = TableMeta {
            key: "t".into(),
            phys: "t1".into(),
            columns: vec![],
        };
        let keyset = crate::query::parse_filter(
            "(updatedAt gt datetimeoffset'2026-01-01T00:00:00.000Z') or \
             (updatedAt eq datetimeoffset'2026-01-01T00:00:00.000Z' and id gt 'a')",
        )
        .unwrap();
        let q = crate::query::TableQuery {
            filter: Some(keyset),
            order_by: vec![("updatedAt".into(), Order::Asc), ("id".into(), Order::Asc)],
            top: 100,
            skip: 0,
            select: None,
            count: false,
            include_deleted: true,
        };
        let (page, _) = list(Flavor::Sqlite, &meta, "", &q, Some(i64::MAX - 1)).unwrap();
        let (sql, values) = page.build_rusqlite(SqliteQueryBuilder);
        let plan: String = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(&*values.as_params(), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ");
        assert!(plan.contains("updated_at>?"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn chains_compile_to_balanced_parenthesized_trees() {
        let f = Filter::Or((1..=5).map(|i| Filter::eq("n", i as i64)).collect());
        let e = compile(Flavor::Sqlite, &meta(), &f).unwrap();
        let q = Query::select()
            .column(Asterisk)
            .from(a("t"))
            .and_where(e)
            .to_owned();
        assert_eq!(
            q.build(SqliteQueryBuilder).0,
            r#"SELECT * FROM "t" WHERE (("c2_n" = ? OR "c2_n" = ?) OR ("c2_n" = ? OR "c2_n" = ?)) OR "c2_n" = ?"#
        );
        // Far more parts than the parser lets through: building, writing and dropping
        // the expression recurses only as deep as the tree's logarithm.
        let wide = Filter::And((0..200_000).map(|i| Filter::gt("n", i as i64)).collect());
        let e = compile(Flavor::Postgres, &meta(), &wide).unwrap();
        let q = Query::select()
            .column(Asterisk)
            .from(a("t"))
            .and_where(e)
            .to_owned();
        assert_eq!(q.build(PostgresQueryBuilder).1.0.len(), 200_000);
    }

    #[test]
    fn text_functions_per_dialect() {
        let f = Filter::starts_with("text", "a%");
        let e = compile(Flavor::Postgres, &meta(), &f).unwrap();
        let q = Query::select()
            .column(Asterisk)
            .from(a("t"))
            .and_where(e)
            .to_owned();
        assert_eq!(
            q.build(PostgresQueryBuilder).0,
            r#"SELECT * FROM "t" WHERE left("c1_text", $1) = $2"#
        );
    }

    #[test]
    fn kind_mismatches_are_client_errors() {
        let e = compile(Flavor::Sqlite, &meta(), &Filter::eq("n", "x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "$filter: `n` is a number column; it cannot be compared with a text"
        );
        assert!(compile(Flavor::Sqlite, &meta(), &Filter::contains("n", "x")).is_err());
        // Unknown columns are all-NULL, not errors.
        assert!(compile(Flavor::Sqlite, &meta(), &Filter::eq("later", 1i64)).is_ok());
    }
}
