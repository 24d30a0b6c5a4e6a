//! The routes: an HTTP request in, checked in this order (API version, auth, table
//! name, id, body), then one backend call, then the protocol's answer out.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value as Json};
use sync_http::wire::batch::{self, BatchOperation, BatchResult, Method};
use sync_http::wire::{API_VERSION_HEADER, accepts_api_version};

use crate::auth::authenticate;
use crate::config::Config;
use crate::error::{ApiError, row_response};
use crate::query::TableQuery;
use crate::schema::TableDecl;
use crate::store::{Answer, BatchOp, Outcome, RowJson, WriteOp};

/// The longest id accepted (in characters).
///
/// ```
/// let id = "x".repeat(sync_server::MAX_ID_LEN + 1);
/// assert!(sync_server::validate_id(&id).is_err());
/// ```
pub const MAX_ID_LEN: usize = 255;

/// The caller's owner key, put in the request by the auth layer.
#[derive(Clone)]
pub(crate) struct Owner(String);

fn state(config: Config) -> Arc<Config> {
    Arc::new(config)
}

pub(crate) fn router(config: Config) -> Router {
    let max_url = config.max_url;
    let st = state(config);
    let tables = Router::new()
        .route("/tables/{table}", get(list).post(insert))
        .route(batch::DISCOVERY_PATH, get(discover))
        .route(batch::BATCH_PATH, axum::routing::post(push_batch))
        .route(
            &format!("{}/{{table}}", sync_http::wire::stream::STREAM_PATH),
            get(crate::stream::rows),
        )
        .route(sync_http::wire::feed::FEED_PATH, get(crate::feed::open))
        .route(
            "/tables/{table}/{id}",
            get(get_one).patch(update).delete(delete).post(undelete),
        )
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .route_layer(middleware::from_fn_with_state(Arc::clone(&st), auth_layer))
        .route_layer(middleware::from_fn(api_version_layer))
        .with_state(st);
    Router::new()
        .merge(tables)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn_with_state(max_url, url_layer))
        .layer(middleware::from_fn(log_layer))
}

/// One line per request at `info`: method, path (never the query, which may hold the
/// app's data), status, latency and the user (the owner key in per-user mode, else
/// empty).
async fn log_layer(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let user = response
        .extensions()
        .get::<Owner>()
        .map_or("", |o| o.0.as_str());
    tracing::info!(
        target: "sync_server::request",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        user,
        "request"
    );
    response
}

/// A URL longer than the limit is a 414 before anything reads it.
async fn url_layer(State(max): State<usize>, req: Request, next: Next) -> Response {
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > max {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the URL is longer than {max} bytes, the server's limit (max-url)"),
        )
        .into_response();
    }
    next.run(req).await
}

async fn api_version_layer(req: Request, next: Next) -> Response {
    let from_header = req
        .headers()
        .get(API_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let from_query = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case(API_VERSION_HEADER))
            .map(|(_, v)| v.into_owned())
    });
    match from_header.or(from_query) {
        Some(v) if accepts_api_version(v.trim()) => next.run(req).await,
        _ => ApiError::bad_request(
            "An invalid API version was specified: send ZUMO-API-VERSION: 2.0.0",
        )
        .into_response(),
    }
}

async fn auth_layer(State(config): State<Arc<Config>>, mut req: Request, next: Next) -> Response {
    match authenticate(&config.auth, req.headers()) {
        Ok(owner) => {
            req.extensions_mut().insert(Owner(owner.clone()));
            let mut response = next.run(req).await;
            // For the request log, outside this layer.
            response.extensions_mut().insert(Owner(owner));
            response
        }
        Err(e) => e.into_response(),
    }
}

pub(crate) fn owner(req_owner: Option<axum::Extension<Owner>>) -> String {
    req_owner.map(|o| o.0.0).unwrap_or_default()
}

/// Checks a table name; an invalid or unserved one is a 404 (it cannot be a table). A
/// declared table is declared to the backend before its first use; with a declared
/// schema that is not dynamic, only the declared tables are served.
pub(crate) async fn table_name<'c>(
    config: &'c Config,
    name: &str,
) -> Result<(String, Option<&'c TableDecl>), ApiError> {
    if let Err(e) = sync_core::validate_table_name(name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such table: {e}"),
        ));
    }
    let decl = config.declared_table(name).await?;
    let listed = config
        .tables
        .as_ref()
        .is_none_or(|allowed| allowed.iter().any(|t| t.eq_ignore_ascii_case(name)));
    let fixed = !config.declared.is_empty() && !config.dynamic_schema_value();
    if decl.is_none() && (!listed || fixed) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("table `{name}` does not exist"),
        ));
    }
    Ok((name.to_owned(), decl))
}

/// Unless the schema is dynamic, a write names only declared columns: the 400 names
/// the column and nothing else, so that it tells a client nothing about what others
/// wrote.
fn check_columns(
    config: &Config,
    table: &str,
    decl: Option<&TableDecl>,
    data: &[(String, Json)],
) -> Result<(), ApiError> {
    if config.dynamic_schema_value() {
        return Ok(());
    }
    match data
        .iter()
        .find(|(c, _)| decl.and_then(|d| d.find(c)).is_none())
    {
        Some((c, _)) => Err(ApiError::bad_request(format!(
            "table `{table}` has no column `{c}`: this server's schema is declared \
             (--schema) and writes cannot add columns (--dynamic-schema)"
        ))),
        None => Ok(()),
    }
}

/// Checks an id: non-empty, at most 255 characters, no control characters.
///
/// ```
/// assert!(sync_server::validate_id("a1").is_ok());
/// assert!(sync_server::validate_id("").is_err());
/// assert!(sync_server::validate_id("a\u{0}b").is_err());
/// ```
pub fn validate_id(id: &str) -> Result<(), ApiError> {
    let reason = if id.is_empty() {
        "it is empty"
    } else if id.chars().count() > MAX_ID_LEN {
        "it is longer than 255 characters"
    } else if id.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(ApiError::bad_request(format!("invalid id: {reason}")))
}

/// The request body as a JSON object, within the size limit.
async fn json_object(body: Body, max: usize) -> Result<Map<String, Json>, ApiError> {
    let bytes = body_bytes(body, max).await?;
    let json: Json = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    exact_integers(&bytes)?;
    match json {
        Json::Object(o) => Ok(o),
        other => Err(ApiError::bad_request(format!(
            "the body must be a JSON object, not {}",
            match other {
                Json::Array(_) => "an array",
                Json::String(_) => "a string",
                Json::Number(_) => "a number",
                Json::Bool(_) => "a bool",
                _ => "null",
            }
        ))),
    }
}

/// The request body, within the size limit (more is a 413).
async fn body_bytes(body: Body, max: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, max).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {max} bytes"),
        )
    })
}

/// A 400 naming the column when valid JSON text holds an integer no 64-bit integer
/// holds (see [`oversized_integer`]).
fn exact_integers(json: &[u8]) -> Result<(), ApiError> {
    // Valid JSON is UTF-8 text.
    match std::str::from_utf8(json).ok().and_then(oversized_integer) {
        Some(n) => Err(ApiError::bad_request(format!(
            "{}the integer {n} cannot be stored exactly: integers must fit in 64 bits",
            column_holding(json, n)
                .map(|c| format!("column `{c}`: "))
                .unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

/// The first integer literal in valid JSON text that no 64-bit integer holds.
///
/// The JSON parser reads such a literal as the nearest float, silently rounded
/// (`18446744073709551617` becomes `18446744073709551616`), so the text itself is looked
/// at: one pass, outside strings.
fn oversized_integer(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                let mut integral = true;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    integral &= b[i].is_ascii_digit();
                    i += 1;
                }
                let n = &text[start..i];
                if integral && n.parse::<i64>().is_err() && n.parse::<u64>().is_err() {
                    return Some(n);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The top-level key of a JSON object whose value holds the integer literal `n`, for
/// an error that names the column.
fn column_holding(body: &[u8], n: &str) -> Option<String> {
    let map: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
        serde_json::from_slice(body).ok()?;
    map.into_iter()
        .find(|(_, raw)| oversized_integer(raw.get()) == Some(n))
        .map(|(k, _)| k)
}

/// A body split into its `id`, `version` and app columns; reserved fields are a 400.
struct Item {
    id: Option<String>,
    version: Option<String>,
    data: Vec<(String, Json)>,
}

fn split_item(table: &str, obj: Map<String, Json>) -> Result<Item, ApiError> {
    let mut item = Item {
        id: None,
        version: None,
        data: Vec::with_capacity(obj.len()),
    };
    for (k, v) in obj {
        match k.as_str() {
            "createdAt" | "updatedAt" | "deleted" => {
                return Err(ApiError::bad_request(format!(
                    "`{k}` is reserved and cannot be written by a client"
                )));
            }
            "id" => match v {
                Json::String(s) => item.id = Some(s),
                Json::Null => {}
                other => {
                    return Err(ApiError::bad_request(format!(
                        "`id` must be a string, not {other}"
                    )));
                }
            },
            "version" => match v {
                Json::String(s) if !s.is_empty() => item.version = Some(s),
                Json::String(_) | Json::Null => {}
                other => {
                    return Err(ApiError::bad_request(format!(
                        "`version` must be a string, not {other}"
                    )));
                }
            },
            _ => {
                // System names in another case would shadow the real ones on SQLite.
                if ["id", "version", "createdat", "updatedat", "deleted"]
                    .contains(&k.to_ascii_lowercase().as_str())
                {
                    return Err(ApiError::bad_request(format!(
                        "`{k}` is reserved and cannot be written by a client"
                    )));
                }
                sync_core::validate_column_name(table, &k)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                item.data.push((k, v));
            }
        }
    }
    Ok(item)
}

fn if_match(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(axum::http::header::IF_MATCH) {
        None => Ok(None),
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| ApiError::bad_request("If-Match is not text"))?;
            Ok(sync_http::wire::etag::parse_if_match(v))
        }
    }
}

/// Tells this instance's feeds that `owner` committed a write to `table` (a refusal
/// wrote nothing); see [`crate::feed`].
fn written(config: &Config, table: &str, owner: &str, outcome: &Outcome) {
    if matches!(outcome, Outcome::Done(_)) {
        config.hub.publish(Some(table), owner);
    }
}

fn answer(outcome: Outcome, ok: StatusCode) -> Response {
    match outcome {
        Outcome::Done(row) => row_response(ok, &row, None),
        Outcome::Conflict(row) => ApiError::with_row(StatusCode::CONFLICT, row).into_response(),
        Outcome::PreconditionFailed(row) => {
            ApiError::with_row(StatusCode::PRECONDITION_FAILED, row).into_response()
        }
        Outcome::NotFound => ApiError::item_not_found().into_response(),
    }
}

fn query_options(config: &Config, raw: Option<&str>) -> Result<TableQuery, ApiError> {
    TableQuery::parse_with(
        raw.unwrap_or(""),
        config.max_page_size,
        &config.filter_limits,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))
}

pub(crate) type TablePath = Result<Path<String>, axum::extract::rejection::PathRejection>;
type ItemPath = Result<Path<(String, String)>, axum::extract::rejection::PathRejection>;

pub(crate) fn path_error(e: axum::extract::rejection::PathRejection) -> ApiError {
    ApiError::bad_request(format!("bad path: {e}"))
}

/// A page with `$inlinecount=allpages`.
#[derive(serde::Serialize)]
struct Counted<'a> {
    results: Vec<RowJson<'a>>,
    count: u64,
}

async fn list(
    State(config): State<Arc<Config>>,
    path: TablePath,
    RawQuery(raw): RawQuery,
    o: Option<axum::Extension<Owner>>,
) -> Result<Response, ApiError> {
    let Path(table) = path.map_err(path_error)?;
    let (table, _) = table_name(&config, &table).await?;
    let q = query_options(&config, raw.as_deref())?;
    let page = config.backend.query(&table, &owner(o), &q).await?;
    let rows: Vec<RowJson<'_>> = page
        .rows
        .iter()
        .map(|r| r.json(q.select.as_deref()))
        .collect();
    Ok(match page.count {
        Some(n) => axum::Json(Counted {
            results: rows,
            count: n,
        })
        .into_response(),
        None => axum::Json(rows).into_response(),
    })
}

async fn get_one(
    State(config): State<Arc<Config>>,
    path: ItemPath,
    RawQuery(raw): RawQuery,
    o: Option<axum::Extension<Owner>>,
) -> Result<Response, ApiError> {
    let Path((table, id)) = path.map_err(path_error)?;
    let (table, _) = table_name(&config, &table).await?;
    validate_id(&id)?;
    let q = query_options(&config, raw.as_deref())?;
    match config.backend.get(&table, &owner(o), &id).await? {
        Some(row) => Ok(row_response(StatusCode::OK, &row, q.select.as_deref())),
        None => Err(ApiError::item_not_found()),
    }
}

async fn insert(
    State(config): State<Arc<Config>>,
    path: TablePath,
    o: Option<axum::Extension<Owner>>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path(table) = path.map_err(path_error)?;
    let (table, decl) = table_name(&config, &table).await?;
    let item = split_item(&table, json_object(req.into_body(), config.max_body).await?)?;
    check_columns(&config, &table, decl, &item.data)?;
    let id = match item.id {
        Some(id) => {
            validate_id(&id)?;
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let op = WriteOp::Insert { data: item.data };
    let owner = owner(o);
    let outcome = config.backend.write(&table, &owner, &id, op).await?;
    written(&config, &table, &owner, &outcome);
    Ok(answer(outcome, StatusCode::CREATED))
}

async fn update(
    State(config): State<Arc<Config>>,
    path: ItemPath,
    o: Option<axum::Extension<Owner>>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path((table, id)) = path.map_err(path_error)?;
    let (table, decl) = table_name(&config, &table).await?;
    validate_id(&id)?;
    let if_match = if_match(req.headers())?;
    let item = split_item(&table, json_object(req.into_body(), config.max_body).await?)?;
    check_columns(&config, &table, decl, &item.data)?;
    if let Some(body_id) = &item.id
        && *body_id != id
    {
        return Err(ApiError::bad_request(format!(
            "the body's id `{body_id}` differs from the URL's `{id}`"
        )));
    }
    let op = WriteOp::Update {
        data: item.data,
        if_match,
        body_version: item.version,
    };
    let owner = owner(o);
    let outcome = config.backend.write(&table, &owner, &id, op).await?;
    written(&config, &table, &owner, &outcome);
    Ok(answer(outcome, StatusCode::OK))
}

async fn delete(
    State(config): State<Arc<Config>>,
    path: ItemPath,
    headers: HeaderMap,
    o: Option<axum::Extension<Owner>>,
) -> Result<Response, ApiError> {
    let Path((table, id)) = path.map_err(path_error)?;
    let (table, _) = table_name(&config, &table).await?;
    validate_id(&id)?;
    let op = WriteOp::Delete {
        if_match: if_match(&headers)?,
    };
    let owner = owner(o);
    let outcome = config.backend.write(&table, &owner, &id, op).await?;
    written(&config, &table, &owner, &outcome);
    Ok(answer(outcome, StatusCode::OK))
}

async fn undelete(
    State(config): State<Arc<Config>>,
    path: ItemPath,
    headers: HeaderMap,
    o: Option<axum::Extension<Owner>>,
) -> Result<Response, ApiError> {
    let Path((table, id)) = path.map_err(path_error)?;
    let (table, _) = table_name(&config, &table).await?;
    validate_id(&id)?;
    let op = WriteOp::Undelete {
        if_match: if_match(&headers)?,
    };
    let owner = owner(o);
    let outcome = config.backend.write(&table, &owner, &id, op).await?;
    written(&config, &table, &owner, &outcome);
    Ok(answer(outcome, StatusCode::CREATED))
}

/// `GET /tablesync/v1`: what this server offers beyond the table protocol.
async fn discover(State(config): State<Arc<Config>>) -> Response {
    axum::Json(batch::Discovery {
        extension: batch::EXTENSION.into(),
        version: batch::VERSION,
        max_page_size: config.max_page_size,
        max_body: config.max_body as u64,
        batch: config.backend.batches().then(|| batch::BatchLimits {
            max_operations: config.max_batch as u64,
            max_bytes: config.max_batch_bytes as u64,
            key_window_seconds: config.key_window.as_secs(),
        }),
        stream: Some(sync_http::wire::stream::StreamLimits {
            max_rows: config.max_stream_rows,
            count: true,
        }),
        feed: Some(sync_http::wire::feed::FeedLimits {
            heartbeat_seconds: config.feed_heartbeat.as_secs().max(1),
            max_tables: config.max_feed_tables as u64,
        }),
    })
    .into_response()
}

/// The longest idempotency key accepted (in characters).
const MAX_KEY_LEN: usize = 255;

/// The request body of a batch: operations as raw JSON, so that each is checked (its
/// size, its integers) on its own text.
#[derive(serde::Deserialize)]
struct RawBatch<'a> {
    #[serde(borrow)]
    operations: Vec<&'a serde_json::value::RawValue>,
}

/// `POST /tablesync/v1/batch`: every operation checked as its single request would be
/// (an invalid one answered on its own), the valid ones applied by the backend in one
/// transaction, the answers in the operations' order.
async fn push_batch(
    State(config): State<Arc<Config>>,
    o: Option<axum::Extension<Owner>>,
    req: Request,
) -> Result<Response, ApiError> {
    if !config.backend.batches() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such route"));
    }
    let bytes = body_bytes(req.into_body(), config.max_batch_bytes).await?;
    let raw: RawBatch<'_> = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "malformed batch: {e} (expected {{\"operations\": [...]}})"
        ))
    })?;
    if raw.operations.len() > config.max_batch {
        return Err(ApiError::bad_request(format!(
            "the batch has {} operations, more than the server's limit of {} (max-batch)",
            raw.operations.len(),
            config.max_batch
        )));
    }
    let mut results: Vec<Option<BatchResult>> = Vec::with_capacity(raw.operations.len());
    let mut ops = Vec::with_capacity(raw.operations.len());
    let mut slots = Vec::with_capacity(raw.operations.len());
    for (n, text) in raw.operations.iter().enumerate() {
        match batch_op(&config, text).await {
            Ok(op) => {
                ops.push(op);
                slots.push(n);
                results.push(None);
            }
            Err(e) => results.push(Some(error_result(e))),
        }
    }
    if !ops.is_empty() {
        let owner = owner(o);
        let tables: Vec<String> = ops.iter().map(|op| op.table.clone()).collect();
        let answers = config.backend.write_batch(&owner, ops).await?;
        let mut poked: Vec<String> = Vec::new();
        for ((slot, answer), table) in slots.into_iter().zip(answers).zip(tables) {
            if let Ok(a) = &answer
                && matches!(a.status, 200 | 201)
                && !a.replayed
                && !poked.iter().any(|t| t.eq_ignore_ascii_case(&table))
            {
                config.hub.publish(Some(&table), &owner);
                poked.push(table);
            }
            results[slot] = Some(match answer {
                Ok(a) => answer_result(a),
                Err(e) => error_result(ApiError::from(e)),
            });
        }
    }
    let results = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                error_result(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "no answer",
                ))
            })
        })
        .collect();
    Ok(axum::Json(batch::BatchResponse { results }).into_response())
}

fn error_result(e: ApiError) -> BatchResult {
    BatchResult {
        status: e.status.as_u16(),
        replayed: false,
        item: None,
        error: Some(e.message),
    }
}

fn answer_result(a: Answer) -> BatchResult {
    if a.has_row() {
        match serde_json::value::RawValue::from_string(a.body) {
            Ok(item) => BatchResult {
                status: a.status,
                replayed: a.replayed,
                item: Some(item),
                error: None,
            },
            Err(e) => error_result(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("a recorded answer is not JSON: {e}"),
            )),
        }
    } else {
        BatchResult {
            status: a.status,
            replayed: a.replayed,
            item: None,
            error: Some(a.body),
        }
    }
}

/// One batch operation checked as its single request would be.
async fn batch_op(
    config: &Config,
    text: &serde_json::value::RawValue,
) -> Result<BatchOp, ApiError> {
    let text = text.get();
    if text.len() > config.max_body {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the operation is larger than {} bytes, the limit of one item (max-body)",
                config.max_body
            ),
        ));
    }
    let op: BatchOperation = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("malformed operation: {e}")))?;
    if op.key.is_empty()
        || op.key.chars().count() > MAX_KEY_LEN
        || op.key.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid key: it must be 1 to 255 characters, without control characters",
        ));
    }
    let (table, decl) = table_name(config, &op.table).await?;
    let item = match op.item {
        Some(obj) => {
            // Only the item holds numbers: one scan of the operation, and on a find
            // the item's own text, to name its column.
            if oversized_integer(text).is_some()
                && let Some(item_text) = item_text(text)
            {
                exact_integers(item_text.as_bytes())?;
            }
            let item = split_item(&table, obj)?;
            check_columns(config, &table, decl, &item.data)?;
            Some(item)
        }
        None => None,
    };
    let id = match (op.method, &op.id, item.as_ref().and_then(|i| i.id.as_ref())) {
        (_, Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request(format!(
                "the item's id `{b}` differs from the operation's `{a}`"
            )));
        }
        (_, Some(id), _) | (Method::Insert, None, Some(id)) => id.clone(),
        (Method::Insert, None, None) => uuid::Uuid::new_v4().to_string(),
        (_, None, _) => {
            return Err(ApiError::bad_request(format!(
                "a {} needs the item's `id`",
                method_name(op.method)
            )));
        }
    };
    validate_id(&id)?;
    let if_match = op
        .version
        .as_deref()
        .and_then(sync_http::wire::etag::parse_if_match);
    let needs_item =
        || ApiError::bad_request(format!("a {} needs an `item`", method_name(op.method)));
    let op_ = match op.method {
        Method::Insert => WriteOp::Insert {
            data: item.ok_or_else(needs_item)?.data,
        },
        Method::Update => {
            let item = item.ok_or_else(needs_item)?;
            WriteOp::Update {
                data: item.data,
                if_match,
                body_version: item.version,
            }
        }
        Method::Delete => WriteOp::Delete { if_match },
        Method::Undelete => WriteOp::Undelete { if_match },
    };
    Ok(BatchOp {
        table,
        id,
        key: op.key,
        op: op_,
    })
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Insert => "insert",
        Method::Update => "update",
        Method::Delete => "delete",
        Method::Undelete => "undelete",
    }
}

/// The text of an operation's `item`, for the integer check.
fn item_text(op: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ItemOnly<'a> {
        #[serde(borrow)]
        item: Option<&'a serde_json::value::RawValue>,
    }
    let parsed: ItemOnly<'_> = serde_json::from_str(op).ok()?;
    parsed.item.map(|i| i.get().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_beyond_64_bits_are_found_outside_strings() {
        assert_eq!(
            oversized_integer(r#"{"a": 18446744073709551617}"#),
            Some("18446744073709551617")
        );
        assert_eq!(
            oversized_integer(r#"{"a": [1, {"b": -9223372036854775809}]}"#),
            Some("-9223372036854775809")
        );
        assert_eq!(
            oversized_integer(r#"{"a": 100000000000000000001, "b": 1}"#),
            Some("100000000000000000001")
        );
        for fine in [
            r#"{"a": 18446744073709551615, "b": -9223372036854775808}"#,
            r#"{"a": "18446744073709551617", "b\"c": "\"99999999999999999999"}"#,
            r#"{"a": 1.8446744073709552e19, "b": 100000000000000000001.5}"#,
            r#"{"a": -0, "b": 0, "c": 1e3}"#,
        ] {
            assert_eq!(oversized_integer(fine), None, "{fine}");
        }
        assert_eq!(
            column_holding(
                br#"{"x": 1, "n": 18446744073709551617}"#,
                "18446744073709551617"
            ),
            Some("n".to_owned())
        );
    }
}
