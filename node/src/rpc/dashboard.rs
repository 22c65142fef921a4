//! The dashboard: a read-only web page served at `/` of the RPC port, so that a user of
//! `scripts/dev.sh` opens <http://127.0.0.1:9944/> and sees the chain, the market, the jobs
//! and any account, live. `agora-node --no-dashboard` turns it off.
//!
//! Every asset is embedded in the binary (no network access, no build step): one HTML page,
//! one script and one style sheet under `node/src/rpc/dashboard/`. The page talks to the node
//! over the same port's WebSocket: `chain_subscribeNewHeads` and
//! `chain_subscribeFinalizedHeads` drive its updates, and the views of
//! [`agora_rpc_api::views`] (`agora_chain`, `agora_market`, `agora_jobs`, `agora_job`,
//! `agora_account`) give its figures, so it shows exactly what `agora market` and
//! `agora job status` show.
//!
//! The middleware answers `GET` and `HEAD` of the asset paths when the request is not a
//! WebSocket upgrade; everything else (JSON-RPC over HTTP `POST`, WebSocket upgrades on any
//! path) goes on to the RPC server untouched.

use futures::future::Either;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use std::future::{ready, Ready};
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// One embedded file.
struct Asset {
    /// The paths it is served at.
    paths: &'static [&'static str],
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes.
    body: &'static str,
}

/// Everything the dashboard needs.
const ASSETS: [Asset; 4] = [
    Asset {
        paths: &["/", "/index.html"],
        content_type: "text/html; charset=utf-8",
        body: include_str!("dashboard/index.html"),
    },
    Asset {
        paths: &["/app.js"],
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("dashboard/app.js"),
    },
    Asset {
        paths: &["/style.css"],
        content_type: "text/css; charset=utf-8",
        body: include_str!("dashboard/style.css"),
    },
    Asset {
        paths: &["/favicon.svg", "/favicon.ico"],
        content_type: "image/svg+xml",
        body: include_str!("dashboard/favicon.svg"),
    },
];

/// The page may load only its own assets and talk only to this node.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The asset `request` asks for, if it is a plain `GET`/`HEAD` of one.
fn asset_for<B>(request: &HttpRequest<B>) -> Option<&'static Asset> {
    let method = request.method().as_str();
    if method != "GET" && method != "HEAD" {
        return None;
    }
    // A WebSocket handshake is a GET too (of `/` for most clients): it is the RPC server's.
    if request.headers().contains_key("upgrade") {
        return None;
    }
    let path = request.uri().path();
    ASSETS.iter().find(|asset| asset.paths.contains(&path))
}

fn respond(asset: &Asset, head: bool) -> HttpResponse {
    let body = if head {
        HttpBody::from("")
    } else {
        HttpBody::from(asset.body)
    };
    let response = HttpResponse::builder()
        .status(200)
        .header("content-type", asset.content_type)
        .header("content-length", asset.body.len())
        .header("cache-control", "no-cache")
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .body(body);
    // Every part above is a constant or a number: building cannot fail.
    response.unwrap_or_else(|_| HttpResponse::new(HttpBody::from("")))
}

/// Serves the dashboard in front of the RPC server when `enabled`.
#[derive(Clone, Copy, Debug)]
pub struct DashboardLayer {
    /// Whether to serve it (`--no-dashboard` turns it off).
    pub enabled: bool,
}

impl<S> Layer<S> for DashboardLayer {
    type Service = Dashboard<S>;

    fn layer(&self, inner: S) -> Dashboard<S> {
        Dashboard {
            inner,
            enabled: self.enabled,
        }
    }
}

/// The middleware of [`DashboardLayer`].
#[derive(Clone, Debug)]
pub struct Dashboard<S> {
    inner: S,
    enabled: bool,
}

impl<S, B> Service<HttpRequest<B>> for Dashboard<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
{
    type Response = HttpResponse;
    type Error = S::Error;
    /// The RPC server's answer, or an asset answered at once.
    type Future = Either<S::Future, Ready<Result<HttpResponse, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        if self.enabled {
            if let Some(asset) = asset_for(&request) {
                let head = request.method().as_str() == "HEAD";
                return Either::Right(ready(Ok(respond(asset, head))));
            }
        }
        Either::Left(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, upgrade: bool) -> HttpRequest<HttpBody> {
        let mut builder = HttpRequest::builder().method(method).uri(path);
        if upgrade {
            builder = builder.header("Upgrade", "websocket");
        }
        builder
            .body(HttpBody::from(""))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn plain_gets_of_asset_paths_are_the_dashboards() {
        let page = asset_for(&request("GET", "/", false)).map(|a| a.content_type);
        assert_eq!(page, Some("text/html; charset=utf-8"));
        let script = asset_for(&request("HEAD", "/app.js", false)).map(|a| a.content_type);
        assert_eq!(script, Some("text/javascript; charset=utf-8"));
    }

    #[test]
    fn websocket_upgrades_posts_and_other_paths_go_to_the_rpc_server() {
        assert!(asset_for(&request("GET", "/", true)).is_none());
        assert!(asset_for(&request("POST", "/", false)).is_none());
        assert!(asset_for(&request("GET", "/metrics", false)).is_none());
        assert!(asset_for(&request("GET", "/../Cargo.toml", false)).is_none());
    }

    #[test]
    fn the_page_links_only_assets_the_node_serves() {
        let page = ASSETS[0].body;
        for link in ["/app.js", "/style.css", "/favicon.svg"] {
            assert!(page.contains(link), "index.html does not use {link}");
        }
    }
}
