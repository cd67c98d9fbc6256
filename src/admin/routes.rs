//! The admin surface as warp filters: one per path, each answering its
//! methods and a 405 with `Allow` for the others; anything else is 404.
//! The guard ([`super::guard`]) has run before them.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::Method;
use warp::path::FullPath;
use warp::reply::Response;
use warp::Filter;

use super::holds::Holds;
use super::{api, catalogue, live, page, Ctx, RawBody, Refused};
use crate::app::App;
use crate::http::response::{method_not_allowed, not_found};

/// Answers `m` with `f` if it is one of `allowed`, else chi's 405.
fn on(
    m: &Method,
    allowed: &[&'static str],
    f: impl FnOnce() -> Result<Response, Refused>,
) -> Response {
    if !allowed.contains(&m.as_str()) {
        return method_not_allowed(allowed, false);
    }
    f().unwrap_or_else(Refused::into_response)
}

/// The whole admin surface, built once per server.
pub(crate) fn all(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let ctx = Arc::new(Ctx {
        app,
        holds: Holds::default(),
    });
    let ctx = warp::any().map(move || Arc::clone(&ctx)).boxed();
    let query = warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .boxed();
    pages(query.clone())
        .or(writes(ctx.clone()))
        .unify()
        .or(reads(ctx.clone(), query))
        .unify()
        .or(holds(ctx.clone()))
        .unify()
        .or(live(ctx))
        .unify()
        .or(warp::any().map(not_found))
        .unify()
        .boxed()
}

type Extract<T> = BoxedFilter<(T,)>;

/// The page (`/__admin/`, and `/__admin` redirected to it) and its assets.
fn pages(query: Extract<String>) -> Extract<Response> {
    let page = warp::path("__admin")
        .and(warp::path::end())
        .and(warp::path::full())
        .and(warp::method())
        .and(query)
        .map(|full: FullPath, m: Method, q: String| {
            on(&m, &["GET"], || {
                Ok(match full.as_str() {
                    page::PAGE => page::index(&q),
                    _ => page::see_other(page::PAGE),
                })
            })
        });
    let asset = warp::path!("__admin" / "assets" / String)
        .and(warp::method())
        .map(|name: String, m: Method| on(&m, &["GET"], || Ok(page::asset(&name))));
    page.or(asset).unify().boxed()
}

/// The endpoints that change state: reset, chats, messages, faults, and
/// the orders to the open streams.
fn writes(ctx: Extract<Arc<Ctx>>) -> Extract<Response> {
    let m = warp::method();
    let body = warp::ext::get::<RawBody>();
    let reset = warp::path!("__admin" / "reset")
        .and(m)
        .and(ctx.clone())
        .map(|m: Method, c: Arc<Ctx>| on(&m, &["POST"], || api::reset(&c)));
    let chats = warp::path!("__admin" / "chats")
        .and(m)
        .and(ctx.clone())
        .and(body)
        .map(|m: Method, c: Arc<Ctx>, b: RawBody| on(&m, &["POST"], || api::add_chat(&c, &b)));
    let inject = warp::path!("__admin" / "chats" / String / "messages")
        .and(m)
        .and(ctx.clone())
        .and(body)
        .map(|id: String, m: Method, c: Arc<Ctx>, b: RawBody| {
            on(&m, &["POST"], || api::inject(&c, &id, &b))
        });
    let faults = warp::path!("__admin" / "faults")
        .and(m)
        .and(ctx.clone())
        .and(body)
        .and(warp::header::optional::<String>("accept"))
        .map(
            |m: Method, c: Arc<Ctx>, b: RawBody, accept: Option<String>| {
                on(&m, &["GET", "POST", "PUT"], || match m {
                    Method::GET => Ok(api::plan(&c)),
                    Method::POST => api::force(&c, &b),
                    _ => Ok(api::put_plan(&c, &b, accept.as_deref())),
                })
            },
        );
    let streams = warp::path!("__admin" / "streams" / String)
        .and(m)
        .and(ctx)
        .map(
            |order: String, m: Method, c: Arc<Ctx>| match order.as_str() {
                "end" | "cut" => on(&m, &["POST"], || Ok(api::streams(&c, order == "cut"))),
                _ => not_found(),
            },
        );
    reset
        .or(chats)
        .unify()
        .or(inject)
        .unify()
        .or(faults)
        .unify()
        .or(streams)
        .unify()
        .boxed()
}

/// `GET /__admin/live`.
fn live(ctx: Extract<Arc<Ctx>>) -> Extract<Response> {
    warp::path!("__admin" / "live")
        .and(warp::method())
        .and(ctx)
        .map(|m: Method, c: Arc<Ctx>| on(&m, &["GET"], || Ok(live::open(&c))))
        .boxed()
}

/// The endpoints that only read: `GET /__admin/{name}`, and one request
/// by its number.
fn reads(ctx: Extract<Arc<Ctx>>, query: Extract<String>) -> Extract<Response> {
    let one = warp::path!("__admin" / "requests" / String)
        .and(warp::method())
        .and(ctx.clone())
        .map(|seq: String, m: Method, c: Arc<Ctx>| on(&m, &["GET"], || api::request(&c, &seq)));
    let named = warp::path!("__admin" / String)
        .and(warp::method())
        .and(ctx)
        .and(query)
        .and_then(
            |name: String, m: Method, c: Arc<Ctx>, q: String| async move {
                let answer: fn(&Ctx, &str) -> Response = match name.as_str() {
                    "journal" => api::journal,
                    "script" => api::script,
                    "requests" => |c, _| api::requests(c),
                    "diagnostics" => |c, _| api::diagnostics(c),
                    "seed" => |c, _| api::seed(c),
                    "catalogue" => |_, _| api::ok_json(&catalogue::catalogue()),
                    _ => return Err(warp::reject::not_found()),
                };
                Ok(on(&m, &["GET"], || Ok(answer(&c, &q))))
            },
        );
    one.or(named).unify().boxed()
}

/// `GET /__admin/holds`, `POST /__admin/holds/{route}`,
/// `DELETE /__admin/holds/{id}`.
fn holds(ctx: Extract<Arc<Ctx>>) -> Extract<Response> {
    let list = warp::path!("__admin" / "holds")
        .and(warp::method())
        .and(ctx.clone())
        .map(|m: Method, c: Arc<Ctx>| on(&m, &["GET"], || Ok(api::holds(&c))));
    let one = warp::path!("__admin" / "holds" / String)
        .and(warp::method())
        .and(ctx)
        .and(warp::ext::get::<RawBody>())
        .map(|what: String, m: Method, c: Arc<Ctx>, b: RawBody| {
            on(&m, &["POST", "DELETE"], || match m {
                Method::POST => api::hold(&c, &what, &b),
                _ => api::release(&c, &what),
            })
        });
    list.or(one).unify().boxed()
}
