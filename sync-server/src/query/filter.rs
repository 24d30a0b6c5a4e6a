//! The `$filter` parser: OData text in, a [`Filter`] tree out.
//!
//! It accepts everything `sync_http::wire::odata` produces and the common OData v3/v4
//! forms existing clients send:
//!
//! - comparisons `eq ne gt ge lt le` between a column and a literal (either side);
//! - `and`, `or`, `not`, parentheses; the constants `true` and `false`;
//! - literals: strings (`'it''s'`), integers (`-3`, `5L`), decimals (`1.5`, `2e3`,
//!   `1.5M`), `true`/`false`, `null`, `datetimeoffset'…'` and `datetime'…'` (without an
//!   offset, UTC);
//! - text functions `startswith(col,'x')`, `endswith(col,'x')`, `substringof('x',col)`
//!   and `contains(col,'x')`, optionally compared with `eq true` / `eq false`.
//!
//! Anything else is a [`FilterError`] naming the 1-based character position, e.g.
//! ``$filter: unexpected `foo` at position 12``. Column names are checked for their
//! form only: what a name means is the backend's business.
//!
//! A filter comes from a client, so its size is bounded ([`FilterLimits`]): at most
//! so many terms (comparisons, function calls, `true`/`false`) and so deep a nesting of
//! parentheses and `not`. Chains of `and`/`or` are kept flat (one node with many
//! parts), never folded into a tree as deep as the chain, and the parser only recurses
//! per nesting level, which the depth limit bounds: nothing here, nor in the backends
//! that compile the tree, recurses on anything the client can make long.

use sync_core::Value;
use sync_core::model::instant;
use sync_core::store::{CmpOp, Filter};

/// A `$filter` that cannot be parsed, with the position of the offending text.
///
/// ```
/// let e = sync_server::query::parse_filter("done eq").unwrap_err();
/// assert_eq!(e.to_string(), "$filter: unexpected end of input at position 8");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("$filter: {message} at position {position}")]
pub struct FilterError {
    /// What was wrong.
    pub message: String,
    /// 1-based character position in the `$filter` text.
    pub position: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Typed(String, String),
    LParen,
    RParen,
    Comma,
    End,
}

impl Tok {
    fn show(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Num(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Typed(k, s) => format!("`{k}'{s}'`"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::End => "end of input".into(),
        }
    }
}

/// Tokens with their 1-based character positions.
fn lex(text: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |message: String, at: usize| FilterError {
        message,
        position: at + 1,
    };
    // Reads a quoted string starting at the quote at `start`; returns (content, next).
    let quoted = |start: usize| -> Result<(String, usize), FilterError> {
        let mut s = String::new();
        let mut j = start + 1;
        loop {
            match chars.get(j) {
                None => return Err(err("unterminated string".into(), start)),
                Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                    s.push('\'');
                    j += 2;
                }
                Some('\'') => return Ok((s, j + 1)),
                Some(c) => {
                    s.push(*c);
                    j += 1;
                }
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((Tok::LParen, start + 1));
                i += 1;
            }
            ')' => {
                out.push((Tok::RParen, start + 1));
                i += 1;
            }
            ',' => {
                out.push((Tok::Comma, start + 1));
                i += 1;
            }
            '\'' => {
                let (s, next) = quoted(i)?;
                out.push((Tok::Str(s), start + 1));
                i = next;
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                out.push((Tok::Num(chars[start..i].iter().collect()), start + 1));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if chars.get(i) == Some(&'\'') {
                    let (s, next) = quoted(i)?;
                    out.push((Tok::Typed(word, s), start + 1));
                    i = next;
                } else {
                    out.push((Tok::Ident(word), start + 1));
                }
            }
            other => return Err(err(format!("unexpected `{other}`"), start)),
        }
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

/// How large a `$filter` may be. Every field is a server option (`--max-filter-terms`,
/// `--max-filter-depth`).
///
/// ```
/// use sync_server::query::{FilterLimits, parse_filter_with};
/// let limits = FilterLimits { max_terms: 2, max_depth: 1 };
/// assert!(parse_filter_with("a eq 1 or b eq 2", &limits).is_ok());
/// assert_eq!(
///     parse_filter_with("a eq 1 or b eq 2 or c eq 3", &limits).unwrap_err().to_string(),
///     "$filter: more than 2 terms, the server's limit (max-filter-terms) at position 21"
/// );
/// assert_eq!(
///     parse_filter_with("((a eq 1))", &limits).unwrap_err().to_string(),
///     "$filter: nested deeper than 1 level, the server's limit (max-filter-depth) at position 3"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// The most terms: comparisons, text functions and `true`/`false` constants.
    pub max_terms: usize,
    /// The deepest nesting of parentheses and `not`.
    pub max_depth: usize,
}

/// Default `--max-filter-terms`: far more than any sync client sends (a keyset pull
/// filter has three), and few enough that every backend compiles it comfortably.
pub const DEFAULT_MAX_FILTER_TERMS: usize = 1000;
/// Default `--max-filter-depth`.
pub const DEFAULT_MAX_FILTER_DEPTH: usize = 64;

impl Default for FilterLimits {
    fn default() -> FilterLimits {
        FilterLimits {
            max_terms: DEFAULT_MAX_FILTER_TERMS,
            max_depth: DEFAULT_MAX_FILTER_DEPTH,
        }
    }
}

/// Parses `$filter` text into a [`Filter`], within the default [`FilterLimits`].
///
/// ```
/// use sync_core::store::Filter;
/// use sync_server::query::parse_filter;
/// assert_eq!(parse_filter("(complete eq false)").unwrap(), Filter::eq("complete", false));
/// assert_eq!(parse_filter("startswith(text,'it''s')").unwrap(), Filter::starts_with("text", "it's"));
/// assert_eq!(
///     parse_filter("done eq true or foo(x)").unwrap_err().to_string(),
///     "$filter: unknown function `foo` at position 17"
/// );
/// ```
pub fn parse_filter(text: &str) -> Result<Filter, FilterError> {
    parse_filter_with(text, &FilterLimits::default())
}

/// Parses `$filter` text into a [`Filter`] within `limits`; see [`FilterLimits`].
pub fn parse_filter_with(text: &str, limits: &FilterLimits) -> Result<Filter, FilterError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
        terms: 0,
        limits: *limits,
    };
    let f = p.or()?;
    match p.peek() {
        Tok::End => Ok(f),
        _ => Err(p.unexpected()),
    }
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    at: usize,
    depth: usize,
    terms: usize,
    limits: FilterLimits,
}

/// One side of a comparison.
enum Operand {
    Column(String),
    Literal(Value),
    /// A boolean-valued function call (a text function), already a filter.
    Call(Filter),
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.at].0
    }

    fn pos(&self) -> usize {
        self.tokens[self.at].1
    }

    fn next(&mut self) -> (Tok, usize) {
        let t = self.tokens[self.at].clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        t
    }

    fn unexpected(&self) -> FilterError {
        self.error(format!("unexpected {}", self.peek().show()))
    }

    fn error(&self, message: String) -> FilterError {
        FilterError {
            message,
            position: self.pos(),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    fn expect(&mut self, tok: Tok) -> Result<(), FilterError> {
        if *self.peek() == tok {
            self.next();
            Ok(())
        } else {
            Err(self.error(format!(
                "expected {} but found {}",
                tok.show(),
                self.peek().show()
            )))
        }
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.next();
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut parts = vec![self.unary()?];
        while self.keyword("and") {
            self.next();
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    /// Enters one nesting level (a parenthesis or a `not`), the only place the parser
    /// recurses: bounded so that a hostile filter cannot overflow the stack.
    fn deeper(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            let max = self.limits.max_depth;
            return Err(self.error(format!(
                "nested deeper than {max} level{}, the server's limit (max-filter-depth)",
                if max == 1 { "" } else { "s" }
            )));
        }
        Ok(())
    }

    /// Counts one term (a comparison, a function call, a constant).
    fn term(&mut self, pos: usize) -> Result<(), FilterError> {
        self.terms += 1;
        if self.terms > self.limits.max_terms {
            return Err(FilterError {
                message: format!(
                    "more than {} terms, the server's limit (max-filter-terms)",
                    self.limits.max_terms
                ),
                position: pos,
            });
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            self.next();
            self.deeper()?;
            let f = self.unary()?;
            self.depth -= 1;
            return Ok(!f);
        }
        if *self.peek() == Tok::LParen {
            self.next();
            self.deeper()?;
            let f = self.or()?;
            self.depth -= 1;
            self.expect(Tok::RParen)?;
            return self.maybe_compared(Operand::Call(f));
        }
        let pos = self.pos();
        self.term(pos)?;
        let left = self.operand()?;
        self.maybe_compared(left)
    }

    fn maybe_compared(&mut self, left: Operand) -> Result<Filter, FilterError> {
        let op_pos = self.pos();
        let op = match self.peek() {
            Tok::Ident(w) => match w.as_str() {
                "eq" => Some(CmpOp::Eq),
                "ne" => Some(CmpOp::Ne),
                "gt" => Some(CmpOp::Gt),
                "ge" => Some(CmpOp::Ge),
                "lt" => Some(CmpOp::Lt),
                "le" => Some(CmpOp::Le),
                _ => None,
            },
            _ => None,
        };
        let Some(op) = op else {
            return match left {
                Operand::Call(f) => Ok(f),
                Operand::Literal(Value::Bool(true)) => Ok(Filter::And(vec![])),
                Operand::Literal(Value::Bool(false)) => Ok(Filter::Or(vec![])),
                _ => Err(self.error(format!(
                    "expected a comparison operator but found {}",
                    self.peek().show()
                ))),
            };
        };
        self.next();
        let right_pos = self.pos();
        let right = self.operand()?;
        comparison(left, op, right).map_err(|message| FilterError {
            position: if message_is_right(&message) {
                right_pos
            } else {
                op_pos
            },
            message,
        })
    }

    fn operand(&mut self) -> Result<Operand, FilterError> {
        let pos = self.pos();
        let (tok, _) = self.next();
        let bad = |message: String| FilterError {
            message,
            position: pos,
        };
        Ok(match tok {
            Tok::Str(s) if s.contains('\0') => {
                return Err(bad(
                    "a string cannot contain the NUL character (U+0000)".into()
                ));
            }
            Tok::Str(s) => Operand::Literal(Value::Text(s)),
            Tok::Num(n)
                if is_integer_text(&n)
                    && number(&n).is_none_or(|v| matches!(v, Value::Real(_))) =>
            {
                return Err(bad(format!(
                    "the integer `{n}` is too large: integers must fit in 64 bits"
                )));
            }
            Tok::Num(n) => {
                Operand::Literal(number(&n).ok_or_else(|| bad(format!("bad number `{n}`")))?)
            }
            Tok::Typed(kind, s) => match kind.to_ascii_lowercase().as_str() {
                "datetimeoffset" | "datetime" => Operand::Literal(Value::DateTime(
                    instant::parse_lenient(&s)
                        .ok_or_else(|| bad(format!("bad date literal `{kind}'{s}'`")))?,
                )),
                _ => return Err(bad(format!("unknown literal type `{kind}`"))),
            },
            Tok::Ident(w) if *self.peek() == Tok::LParen => {
                self.next();
                Operand::Call(self.call(&w, pos)?)
            }
            Tok::Ident(w) => match w.as_str() {
                "true" => Operand::Literal(Value::Bool(true)),
                "false" => Operand::Literal(Value::Bool(false)),
                "null" => Operand::Literal(Value::Null),
                "and" | "or" | "not" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" => {
                    return Err(bad(format!("unexpected `{w}`")));
                }
                _ => Operand::Column(w),
            },
            other => return Err(bad(format!("unexpected {}", other.show()))),
        })
    }

    /// A text function call; the opening parenthesis is consumed.
    fn call(&mut self, name: &str, pos: usize) -> Result<Filter, FilterError> {
        let op = match name {
            "startswith" => CmpOp::StartsWith,
            "endswith" => CmpOp::EndsWith,
            "substringof" | "contains" => CmpOp::Contains,
            _ => {
                return Err(FilterError {
                    message: format!("unknown function `{name}`"),
                    position: pos,
                });
            }
        };
        let first = self.fn_arg()?;
        self.expect(Tok::Comma)?;
        let second = self.fn_arg()?;
        self.expect(Tok::RParen)?;
        // substringof takes (needle, column); the others (column, needle).
        let (col, needle) = if name == "substringof" {
            (second, first)
        } else {
            (first, second)
        };
        match (col, needle) {
            (Operand::Column(c), Operand::Literal(Value::Text(s))) => Ok(Filter::cmp(c, op, s)),
            _ => Err(FilterError {
                message: format!("`{name}` takes a column and a string"),
                position: pos,
            }),
        }
    }

    fn fn_arg(&mut self) -> Result<Operand, FilterError> {
        let pos = self.pos();
        match self.operand()? {
            Operand::Call(_) => Err(FilterError {
                message: "nested function calls are not supported".into(),
                position: pos,
            }),
            o => Ok(o),
        }
    }
}

fn message_is_right(message: &str) -> bool {
    message.starts_with("compare")
}

/// Builds `left op right` for a column and a literal (either order), or a function
/// result compared with a bool.
fn comparison(left: Operand, op: CmpOp, right: Operand) -> Result<Filter, String> {
    let flip = |op: CmpOp| match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    };
    match (left, right) {
        (Operand::Column(c), Operand::Literal(v)) => Ok(column_cmp(c, op, v)),
        (Operand::Literal(v), Operand::Column(c)) => Ok(column_cmp(c, flip(op), v)),
        (Operand::Call(f), Operand::Literal(Value::Bool(b)))
        | (Operand::Literal(Value::Bool(b)), Operand::Call(f)) => match op {
            CmpOp::Eq if b => Ok(f),
            CmpOp::Ne if !b => Ok(f),
            CmpOp::Eq | CmpOp::Ne => Ok(!f),
            _ => Err("compare a condition with `eq` or `ne` only".into()),
        },
        (Operand::Column(_), Operand::Column(_)) => {
            Err("comparing two columns is not supported".into())
        }
        _ => Err("compare a column with a literal".into()),
    }
}

fn column_cmp(column: String, op: CmpOp, value: Value) -> Filter {
    match (op, value) {
        (CmpOp::Eq, Value::Null) => Filter::IsNull(column),
        (CmpOp::Ne, Value::Null) => !Filter::IsNull(column),
        (op, v) => Filter::cmp(column, op, v),
    }
}

/// Digits only, with an optional sign or `L` suffix: an integer literal, which must
/// not be taken as a rounded float.
fn is_integer_text(text: &str) -> bool {
    let t = text.strip_suffix(['L', 'l']).unwrap_or(text);
    let t = t.strip_prefix('-').unwrap_or(t);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

/// An OData number: an integer (optionally `L`), else a decimal (optionally `M`, `D`,
/// `F`).
fn number(text: &str) -> Option<Value> {
    let t = text.strip_suffix(['L', 'l']).unwrap_or(text);
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::Integer(i));
    }
    let t = text
        .strip_suffix(['M', 'm', 'D', 'd', 'F', 'f'])
        .unwrap_or(text);
    // Only plain decimal forms: Rust's parser would also take `inf` and `NaN`.
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
    {
        return None;
    }
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::Real)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::store::Watermark;
    use sync_http::wire::odata::{filter_to_odata, keyset};

    fn t(s: &str) -> Value {
        Value::DateTime(s.parse().unwrap())
    }

    #[test]
    fn keyset_filter_of_the_client_parses_to_its_meaning() {
        let w = Watermark {
            updated_at: "2026-11-21T12:50:52.847Z".into(),
            id: "a'1".into(),
        };
        let f = parse_filter(&keyset(&w)).unwrap();
        let at = t("2026-11-21T12:50:52.847Z");
        assert_eq!(
            f,
            Filter::Or(vec![
                Filter::gt("updatedAt", at.clone()),
                Filter::And(vec![Filter::eq("updatedAt", at), Filter::gt("id", "a'1")]),
            ])
        );
    }

    #[test]
    fn round_trips_every_form_the_client_produces() {
        let filters = vec![
            Filter::eq("complete", false),
            Filter::ne("n", -3i64),
            Filter::lt("r", 1.5),
            Filter::le("r", 1e300),
            Filter::gt("r", 2.0),
            Filter::ge("due", t("2026-01-01T00:00:00.000Z")),
            Filter::starts_with("text", "it's"),
            Filter::ends_with("text", "%_"),
            Filter::contains("text", "O'Neil"),
            Filter::is_null("dueDate"),
            !Filter::is_null("dueDate"),
            Filter::And(vec![]),
            Filter::Or(vec![]),
            Filter::eq("a", 1i64)
                .and(Filter::eq("b", "x").or(!Filter::contains("c", "y")))
                .and(!(Filter::gt("d", 0i64).or(Filter::lt("d", -1i64)))),
        ];
        for f in filters {
            let text = filter_to_odata(&f).unwrap();
            let back = parse_filter(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back, f, "{text}");
        }
    }

    #[test]
    fn literals_of_every_kind() {
        assert_eq!(parse_filter("n eq 5L").unwrap(), Filter::eq("n", 5i64));
        assert_eq!(parse_filter("n eq 1.5M").unwrap(), Filter::eq("n", 1.5));
        assert_eq!(
            parse_filter("n eq -2.5e3").unwrap(),
            Filter::eq("n", -2500.0)
        );
        assert_eq!(parse_filter("s eq ''''").unwrap(), Filter::eq("s", "'"));
        assert_eq!(parse_filter("s eq ''").unwrap(), Filter::eq("s", ""));
        assert_eq!(
            parse_filter("d gt datetime'2026-01-01T00:00:00'").unwrap(),
            Filter::gt("d", t("2026-01-01T00:00:00Z"))
        );
        assert_eq!(
            parse_filter("d gt datetimeoffset'2026-01-01T02:00:00+02:00'").unwrap(),
            Filter::gt("d", t("2026-01-01T00:00:00Z"))
        );
        assert_eq!(parse_filter("5 lt n").unwrap(), Filter::gt("n", 5i64));
        assert_eq!(parse_filter("true").unwrap(), Filter::And(vec![]));
        assert_eq!(parse_filter("false").unwrap(), Filter::Or(vec![]));
    }

    #[test]
    fn functions_compared_with_bools_and_v4_contains() {
        assert_eq!(
            parse_filter("substringof('x', text) eq true").unwrap(),
            Filter::contains("text", "x")
        );
        assert_eq!(
            parse_filter("startswith(text,'x') eq false").unwrap(),
            !Filter::starts_with("text", "x")
        );
        assert_eq!(
            parse_filter("contains(text,'x')").unwrap(),
            Filter::contains("text", "x")
        );
    }

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        assert_eq!(
            parse_filter("a eq 1 or b eq 2 and c eq 3").unwrap(),
            Filter::Or(vec![
                Filter::eq("a", 1i64),
                Filter::And(vec![Filter::eq("b", 2i64), Filter::eq("c", 3i64)]),
            ])
        );
    }

    #[test]
    fn errors_name_the_position() {
        let cases = [
            ("", "$filter: unexpected end of input at position 1"),
            ("done eq", "$filter: unexpected end of input at position 8"),
            (
                "(a eq 1",
                "$filter: expected `)` but found end of input at position 8",
            ),
            ("a eq 1)", "$filter: unexpected `)` at position 7"),
            ("a eq 1 foo", "$filter: unexpected `foo` at position 8"),
            ("a eq 'x", "$filter: unterminated string at position 6"),
            (
                "a eq 1 ; drop table t",
                "$filter: unexpected `;` at position 8",
            ),
            (
                "tolower(a) eq 'x'",
                "$filter: unknown function `tolower` at position 1",
            ),
            (
                "a eq guid'x'",
                "$filter: unknown literal type `guid` at position 6",
            ),
            (
                "a eq datetimeoffset'yesterday'",
                "$filter: bad date literal `datetimeoffset'yesterday'` at position 6",
            ),
            ("a eq 1x", "$filter: bad number `1x` at position 6"),
            (
                "a eq b",
                "$filter: comparing two columns is not supported at position 3",
            ),
            (
                "a",
                "$filter: expected a comparison operator but found end of input at position 2",
            ),
            (
                "a eq nan",
                "$filter: comparing two columns is not supported at position 3",
            ),
            ("a/b eq 1", "$filter: unexpected `/` at position 2"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_filter(text).unwrap_err().to_string(), want, "{text}");
        }
    }

    #[test]
    fn long_chains_are_refused_by_name_and_never_folded_deep() {
        // The filters that used to overflow the server's stack.
        let ors = vec!["n eq 0"; 5000].join(" or ");
        let e = parse_filter(&ors).unwrap_err();
        assert_eq!(
            e.to_string(),
            "$filter: more than 1000 terms, the server's limit (max-filter-terms) at position 10001"
        );
        let ands = vec!["true"; 7000].join(" and ");
        assert!(
            parse_filter(&ands)
                .unwrap_err()
                .message
                .contains("more than 1000 terms")
        );
        // At the limit, one flat node.
        let at_limit = vec!["n eq 0"; 1000].join(" or ");
        match parse_filter(&at_limit).unwrap() {
            Filter::Or(parts) => assert_eq!(parts.len(), 1000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn integers_beyond_64_bits_and_nul_are_refused() {
        for (text, want) in [
            (
                "n eq 18446744073709551617",
                "$filter: the integer `18446744073709551617` is too large: integers must fit in 64 bits at position 6",
            ),
            (
                "n eq -9223372036854775809",
                "$filter: the integer `-9223372036854775809` is too large: integers must fit in 64 bits at position 6",
            ),
            (
                "s eq 'a\u{0}'",
                "$filter: a string cannot contain the NUL character (U+0000) at position 6",
            ),
        ] {
            assert_eq!(parse_filter(text).unwrap_err().to_string(), want, "{text}");
        }
        assert_eq!(
            parse_filter("n eq -9223372036854775808").unwrap(),
            Filter::eq("n", i64::MIN)
        );
        assert_eq!(parse_filter("n eq 1e30").unwrap(), Filter::eq("n", 1e30));
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}a eq 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_filter(&deep).is_err());
        let nots = format!("{}a eq 1", "not ".repeat(10_000));
        assert!(parse_filter(&nots).is_err());
    }
}
