//! The protocol's write rules: whether an insert, update, delete or undelete of one item
//! goes ahead against the row the server holds, or which refusal it gets (404, 409,
//! 412). One pure function, [`decide`], that the tablesync server (`sync-server`) and
//! [`MemoryRemote`](super::MemoryRemote) both call, so that the in-process server the
//! engine is tested against refuses exactly what the real one refuses.
//!
//! A server reads the item's current row (soft-deleted or not), asks [`decide`], and
//! then either answers the [`Refusal`] with that row (409 and 412 carry it, 404 does
//! not) or writes, as a compare-and-swap on the version it read. The rules are those of
//! Microsoft's server (see `PROTOCOL.md`):
//!
//! | request | no row | soft-deleted row | live row |
//! |---|---|---|---|
//! | insert | go (201) | 409 | 409 |
//! | update | 404 | 404 | stale `If-Match`: 412; else stale body `version`: 409; else go (200) |
//! | delete | 404 | 404 | stale `If-Match`: 412; else go (200) |
//! | undelete | 404 | stale `If-Match`: 412; else go (201) | as soft-deleted |
//!
//! A precondition that is absent never refuses. `If-Match: *` is not a wildcard: it
//! names a version no row has, so it is a 412 like any stale one. When an update has
//! both, `If-Match` decides and the body's `version` is not looked at.
//!
//! Versions are the caller's type `V`, compared with `==`: the server compares the
//! counters its version texts stand for, [`MemoryRemote`](super::MemoryRemote) its own
//! opaque texts. What the client sent is turned into a `V` before the rules see it
//! (a text that can name no version becomes a `V` that equals none).
//!
//! ```
//! use sync_core::transport::protocol::{decide, Current, Refusal, Request};
//! let live = Current { version: "v2", deleted: false };
//! assert_eq!(decide(&Request::<&str>::Insert, None), Ok(()));
//! assert_eq!(decide(&Request::Insert, Some(&live)), Err(Refusal::Conflict));
//! let stale = Request::Delete { if_match: Some("v1") };
//! assert_eq!(decide(&stale, Some(&live)).map_err(Refusal::status), Err(412));
//! ```

/// What a client asks of one item, with the preconditions it sent.
///
/// ```
/// use sync_core::transport::protocol::Request;
/// let r: Request<&str> = Request::Update { if_match: None, body_version: Some("v3") };
/// assert_eq!(r.if_match(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<V> {
    /// Insert a new item (`POST /tables/{table}`).
    Insert,
    /// Change a live item (`PATCH /tables/{table}/{id}`).
    Update {
        /// `If-Match`: a mismatch is a 412.
        if_match: Option<V>,
        /// `version` in the body, used only without `If-Match`: a mismatch is a 409.
        body_version: Option<V>,
    },
    /// Soft-delete a live item (`DELETE /tables/{table}/{id}`).
    Delete {
        /// `If-Match`: a mismatch is a 412.
        if_match: Option<V>,
    },
    /// Undelete an item (`POST /tables/{table}/{id}`); a live one stays live.
    Undelete {
        /// `If-Match`: a mismatch is a 412.
        if_match: Option<V>,
    },
}

impl<V> Request<V> {
    /// The `If-Match` precondition, if the request has one.
    pub fn if_match(&self) -> Option<&V> {
        match self {
            Request::Insert => None,
            Request::Update { if_match, .. }
            | Request::Delete { if_match }
            | Request::Undelete { if_match } => if_match.as_ref(),
        }
    }
}

/// The row the server holds for the item: its version and whether it is soft-deleted.
///
/// ```
/// let held = sync_core::transport::protocol::Current { version: 7_i64, deleted: true };
/// assert!(held.deleted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current<V> {
    /// The row's version.
    pub version: V,
    /// Soft-deleted.
    pub deleted: bool,
}

/// Why a write does not go ahead.
///
/// ```
/// use sync_core::transport::protocol::Refusal;
/// assert_eq!(Refusal::PreconditionFailed.status(), 412);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 409: an insert of an id the server holds (a soft-deleted one too), or an update
    /// whose body `version` is stale (without `If-Match`). Answered with the server's
    /// row.
    Conflict,
    /// 412: a stale `If-Match`. Answered with the server's row.
    PreconditionFailed,
    /// 404: an update or delete of an id with no live row, or an undelete of an id
    /// with no row at all.
    NotFound,
}

impl Refusal {
    /// The HTTP status the protocol answers it with.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Conflict => 409,
            Refusal::PreconditionFailed => 412,
            Refusal::NotFound => 404,
        }
    }
}

/// Decides a write against the row the server holds for its id (`None`: no row, not
/// even a soft-deleted one): `Ok` when it goes ahead as asked (an insert inserts; an
/// update, delete or undelete changes `current`, a compare-and-swap on its version),
/// else the [`Refusal`]. See the [module docs](self) for the table.
///
/// ```
/// use sync_core::transport::protocol::{decide, Current, Refusal, Request};
/// let gone = Current { version: 2, deleted: true };
/// assert_eq!(decide(&Request::Update { if_match: None, body_version: None }, Some(&gone)),
///     Err(Refusal::NotFound));
/// assert_eq!(decide(&Request::Undelete { if_match: Some(2) }, Some(&gone)), Ok(()));
/// ```
pub fn decide<V: PartialEq>(
    request: &Request<V>,
    current: Option<&Current<V>>,
) -> Result<(), Refusal> {
    let stale =
        |wanted: &Option<V>, row: &Current<V>| wanted.as_ref().is_some_and(|v| *v != row.version);
    match (request, current) {
        (Request::Insert, None) => Ok(()),
        (Request::Insert, Some(_)) => Err(Refusal::Conflict),
        (Request::Update { .. } | Request::Delete { .. } | Request::Undelete { .. }, None) => {
            Err(Refusal::NotFound)
        }
        (Request::Update { .. } | Request::Delete { .. }, Some(row)) if row.deleted => {
            Err(Refusal::NotFound)
        }
        (
            Request::Update {
                if_match,
                body_version,
            },
            Some(row),
        ) => {
            if stale(if_match, row) {
                Err(Refusal::PreconditionFailed)
            } else if if_match.is_none() && stale(body_version, row) {
                Err(Refusal::Conflict)
            } else {
                Ok(())
            }
        }
        (Request::Delete { if_match } | Request::Undelete { if_match }, Some(row)) => {
            if stale(if_match, row) {
                Err(Refusal::PreconditionFailed)
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: Current<&str> = Current {
        version: "v2",
        deleted: false,
    };
    const GONE: Current<&str> = Current {
        version: "v2",
        deleted: true,
    };

    fn update(
        if_match: Option<&'static str>,
        body_version: Option<&'static str>,
    ) -> Request<&'static str> {
        Request::Update {
            if_match,
            body_version,
        }
    }

    #[test]
    fn an_insert_goes_ahead_only_for_an_id_never_seen() {
        assert_eq!(decide(&Request::<&str>::Insert, None), Ok(()));
        assert_eq!(
            decide(&Request::Insert, Some(&LIVE)),
            Err(Refusal::Conflict)
        );
        // A soft-deleted row still holds its id.
        assert_eq!(
            decide(&Request::Insert, Some(&GONE)),
            Err(Refusal::Conflict)
        );
    }

    #[test]
    fn an_update_is_refused_by_if_match_first_then_by_the_body_version() {
        assert_eq!(decide(&update(Some("v2"), None), Some(&LIVE)), Ok(()));
        assert_eq!(decide(&update(None, None), Some(&LIVE)), Ok(()));
        assert_eq!(
            decide(&update(Some("v1"), None), Some(&LIVE)),
            Err(Refusal::PreconditionFailed)
        );
        assert_eq!(
            decide(&update(None, Some("v1")), Some(&LIVE)),
            Err(Refusal::Conflict)
        );
        assert_eq!(decide(&update(None, Some("v2")), Some(&LIVE)), Ok(()));
        // If-Match decides when both are present: the body's version is not looked at.
        assert_eq!(decide(&update(Some("v2"), Some("v1")), Some(&LIVE)), Ok(()));
        assert_eq!(
            decide(&update(Some("v1"), Some("v2")), Some(&LIVE)),
            Err(Refusal::PreconditionFailed)
        );
    }

    #[test]
    fn if_match_star_is_not_a_wildcard() {
        for request in [
            update(Some("*"), None),
            Request::Delete {
                if_match: Some("*"),
            },
            Request::Undelete {
                if_match: Some("*"),
            },
        ] {
            assert_eq!(
                decide(&request, Some(&LIVE)),
                Err(Refusal::PreconditionFailed),
                "{request:?}"
            );
        }
    }

    #[test]
    fn updates_and_deletes_of_missing_or_soft_deleted_rows_are_not_found() {
        for request in [update(None, None), Request::Delete { if_match: None }] {
            assert_eq!(
                decide(&request, None),
                Err(Refusal::NotFound),
                "{request:?}"
            );
            assert_eq!(
                decide(&request, Some(&GONE)),
                Err(Refusal::NotFound),
                "{request:?}"
            );
        }
        // Not even a matching If-Match finds a soft-deleted row.
        assert_eq!(
            decide(
                &Request::Delete {
                    if_match: Some("v2")
                },
                Some(&GONE)
            ),
            Err(Refusal::NotFound)
        );
    }

    #[test]
    fn a_delete_is_refused_by_a_stale_if_match_only() {
        assert_eq!(
            decide(&Request::Delete { if_match: None }, Some(&LIVE)),
            Ok(())
        );
        assert_eq!(
            decide(
                &Request::Delete {
                    if_match: Some("v2")
                },
                Some(&LIVE)
            ),
            Ok(())
        );
        assert_eq!(
            decide(
                &Request::Delete {
                    if_match: Some("v1")
                },
                Some(&LIVE)
            ),
            Err(Refusal::PreconditionFailed)
        );
    }

    #[test]
    fn an_undelete_needs_a_row_deleted_or_not() {
        let undelete = |if_match| Request::Undelete { if_match };
        assert_eq!(decide(&undelete(None), Some(&GONE)), Ok(()));
        assert_eq!(decide(&undelete(None), Some(&LIVE)), Ok(()));
        assert_eq!(decide(&undelete(Some("v2")), Some(&GONE)), Ok(()));
        assert_eq!(
            decide(&undelete(Some("v1")), Some(&GONE)),
            Err(Refusal::PreconditionFailed)
        );
        assert_eq!(decide(&undelete(None), None), Err(Refusal::NotFound));
    }

    #[test]
    fn refusals_carry_their_status() {
        assert_eq!(
            [
                Refusal::Conflict,
                Refusal::PreconditionFailed,
                Refusal::NotFound
            ]
            .map(Refusal::status),
            [409, 412, 404]
        );
    }
}
