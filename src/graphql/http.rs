//! GraphQL over HTTP on plain actix routes: `POST /api/graphql` (one operation or a bounded batch,
//! `application/json`, read like every REST body by `ApiJson`), `GET /api/graphql` (queries only),
//! and the schema as SDL at `GET /api/graphql/schema.graphql`.
//! Invariant: the caller is authenticated exactly as REST authenticates (`api::auth::authenticate`:
//! bearer token or session cookie, and a cookie-authenticated POST needs the CSRF header), and only
//! after the request has passed its bounds: `AuthGate` holds execution until then, so a refused
//! request has cost no store call.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{BatchRequest, BatchResponse, Data, Response, ServerError};
use certautopilot_config::GraphqlConfig;
use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::api::AppState;
use crate::api::auth::{Caller, authenticate};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::json::ApiJson;
use crate::graphql::errors::GqlError;
use crate::graphql::limits::ReadOnly;
use crate::graphql::schema::{AppSchema, build_schema, sdl};
use crate::graphql::{RequestContext, loaders};

pub const PATH: &str = "/api/graphql";
pub const SCHEMA_PATH: &str = "/api/graphql/schema.graphql";

/// Mounts the GraphQL routes with a schema bounded by `config`.
pub fn configure(cfg: &mut web::ServiceConfig, config: &GraphqlConfig) {
    cfg.app_data(web::Data::new(build_schema(config)))
        .route(PATH, web::post().to(post))
        .route(PATH, web::get().to(get))
        .route(PATH, web::route().to(method_not_allowed))
        .route(SCHEMA_PATH, web::get().to(schema_sdl))
        .route(SCHEMA_PATH, web::route().to(method_not_allowed));
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::MethodNotAllowed, "this method is not allowed on this path"))
}

/// The schema as SDL (public, like the OpenAPI document).
async fn schema_sdl() -> HttpResponse {
    static SDL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(SDL.get_or_init(sdl).clone())
}

async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    schema: web::Data<AppSchema>,
    ApiJson(body): ApiJson<Value>,
) -> Result<HttpResponse, ApiError> {
    let max = state.graphql.max_batch_size;
    let batch = match body {
        Value::Array(items) if (1..=max).contains(&items.len()) => {
            BatchRequest::Batch(items.into_iter().map(request).collect::<Result<_, _>>()?)
        }
        Value::Array(_) => {
            return Err(ApiError::new(ErrorCode::BadRequest, format!("a batch holds 1 to {max} operations")));
        }
        single => BatchRequest::Single(request(single)?),
    };
    Ok(execute(&req, state, &schema, batch).await)
}

/// One operation of a POST body: `{ query, operationName?, variables? }`.
fn request(body: Value) -> Result<async_graphql::Request, ApiError> {
    if !body.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "a GraphQL request is an object: { query, operationName, variables }",
        ));
    }
    serde_json::from_value(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, crate::api::json::describe_decode_error(&e.to_string())))
}

async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    schema: web::Data<AppSchema>,
) -> Result<HttpResponse, ApiError> {
    let request = async_graphql::http::parse_query_string(req.query_string()).map_err(|_| {
        ApiError::new(ErrorCode::BadRequest, "invalid GraphQL query string (query, operationName, variables)")
    })?;
    Ok(execute(&req, state, &schema, BatchRequest::Single(request.data(ReadOnly))).await)
}

/// Who the caller is, once known: `Ok(None)` for no credentials at all.
type Outcome = Result<Option<Caller>, ApiError>;

/// Holds a request's execution until it has passed its bounds and the caller is known.
struct Gate {
    state: web::Data<AppState>,
    validated: Notify,
    outcome: watch::Receiver<Option<Outcome>>,
}

/// Runs `batch`, authenticating the caller as soon as the first operation has passed parsing and
/// validation (never before, never for a refused request). A failed authentication answers with
/// its REST status (401 bad credentials, 403 a cookie POST without the CSRF header).
async fn execute(
    req: &HttpRequest,
    state: web::Data<AppState>,
    schema: &AppSchema,
    batch: BatchRequest,
) -> HttpResponse {
    let (tell, outcome) = watch::channel(None);
    let gate = Arc::new(Gate { state: state.clone(), validated: Notify::new(), outcome });
    let execution = schema.execute_batch(batch.data(gate.clone()));
    tokio::pin!(execution);
    let mut refused = None;
    let response = tokio::select! {
        response = &mut execution => response,
        _ = gate.validated.notified() => {
            let caller = authenticate(&state, req).await;
            refused = caller.as_ref().err().cloned();
            let _ = tell.send(Some(caller));
            execution.await
        }
    };
    let status = refused.map_or(StatusCode::OK, |e| e.code.status());
    HttpResponse::build(status).content_type("application/json").json(with_codes(&response))
}

/// The response with `extensions.code` on every error: async-graphql's own request errors
/// (syntax, validation, depth, complexity) carry none, and are the client's (`bad_request`).
fn with_codes(response: &BatchResponse) -> Value {
    let mut body = serde_json::to_value(response).unwrap_or(Value::Null);
    let responses: Vec<&mut Value> = match &mut body {
        Value::Array(items) => items.iter_mut().collect(),
        single => vec![single],
    };
    for response in responses {
        if let Some(Value::Array(errors)) = response.get_mut("errors") {
            for error in errors {
                let extensions = error
                    .as_object_mut()
                    .map(|e| e.entry("extensions").or_insert_with(|| Value::Object(Default::default())));
                if let Some(Value::Object(extensions)) = extensions {
                    extensions.entry("code").or_insert_with(|| Value::String("bad_request".into()));
                }
            }
        }
    }
    body
}

/// The extension that keeps `Gate`'s promise: it runs after parsing and validation.
pub struct AuthGate;

impl ExtensionFactory for AuthGate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuthGate)
    }
}

fn server_error(e: ApiError) -> ServerError {
    let error: async_graphql::Error = GqlError(e).into();
    let mut server = ServerError::new(error.message, None);
    server.extensions = error.extensions;
    server
}

#[async_trait::async_trait]
impl Extension for AuthGate {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let Some(gate) = ctx.data_opt::<Arc<Gate>>() else {
            return Response::from_errors(vec![server_error(ApiError::internal("graphql", &"request without a gate"))]);
        };
        gate.validated.notify_one();
        let mut outcome = gate.outcome.clone();
        let known = match outcome.wait_for(Option::is_some).await {
            Ok(known) => known.clone(),
            Err(_) => None,
        };
        match known {
            Some(Ok(caller)) => {
                let mut data = Data::default();
                data.insert(loaders::for_request(gate.state.clone(), caller.as_ref().map(Caller::org_scope)));
                data.insert(RequestContext::new(gate.state.clone(), caller));
                next.run_with_data(ctx, operation_name, data).await
            }
            Some(Err(e)) => Response::from_errors(vec![server_error(e)]),
            None => Response::from_errors(vec![server_error(ApiError::internal("graphql", &"caller never resolved"))]),
        }
    }
}
