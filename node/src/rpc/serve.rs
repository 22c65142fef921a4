//! The RPC port's accept loop: one listener, two jsonrpsee services behind it.
//!
//! jsonrpsee's own server has one body limit for both transports, and blob transfers need 160
//! MiB while nothing else needs more than 1 MiB. So the node accepts connections itself,
//! admits each through the [`Gate`] (connections per client and in total), and routes every
//! request: a WebSocket handshake to a service whose messages are limited to
//! [`MAX_CALL_BYTES`](agora_rpc_api::limits::MAX_CALL_BYTES), anything else through the
//! dashboard and [`HttpLimitsLayer`] to a service whose bodies may be
//! [`MAX_BODY_BYTES`](agora_rpc_api::MAX_BODY_BYTES). Both serve the same methods behind a
//! [`CallLimitsLayer`].

use super::limits::{CallLimitsLayer, ClientAddr, Gate, HttpLimitsLayer, Registry};
use super::DashboardLayer;
use agora_rpc_api::limits::{
    MAX_CALL_BYTES, MAX_CONNECTIONS, MAX_SUBSCRIPTIONS_PER_CONNECTION, MAX_WS_RESPONSE_BYTES,
};
use agora_rpc_api::MAX_BODY_BYTES;
use futures::future::BoxFuture;
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::HttpResponse;
use jsonrpsee::server::TowerServiceBuilder;
use jsonrpsee::server::{
    serve_with_graceful_shutdown, stop_channel, ws, BatchRequestConfig, HttpBody, Methods, Server,
    ServerConfig, ServerHandle, StopHandle,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Messages one WebSocket connection may have waiting to be sent before the node stops reading
/// its requests (a slow reader holds at most this many answers).
const WS_MESSAGE_BUFFER: u32 = 256;

fn config(max_request: usize, max_response: usize) -> ServerConfig {
    let bytes = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    ServerConfig::builder()
        .max_request_body_size(bytes(max_request))
        .max_response_body_size(bytes(max_response))
        .max_connections(u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX))
        // Each storage subscription reads up to MAX_KEYS_PER_CALL keys at every new best
        // block: bounding subscriptions per connection bounds that work per client (a
        // polkadot.js app holds a handful; jsonrpsee's default is 1,024).
        .max_subscriptions_per_connection(MAX_SUBSCRIPTIONS_PER_CONNECTION)
        .set_batch_request_config(BatchRequestConfig::Disabled)
        .set_message_buffer_capacity(WS_MESSAGE_BUFFER)
        .build()
}

/// Binds `addr` and serves `methods` there until the returned handle is stopped; uploads are
/// admitted by the blob sizes `registry` gives.
pub(super) async fn start(
    methods: Methods,
    addr: SocketAddr,
    dashboard: bool,
    registry: Registry,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let (stop, handle) = stop_channel();
    tokio::spawn(accept(listener, (methods, registry), stop, dashboard));
    Ok((bound, handle))
}

async fn accept(
    listener: TcpListener,
    (methods, registry): (Methods, Registry),
    stop: StopHandle,
    dashboard: bool,
) {
    let gate = Gate::new();
    let limits = |websocket: bool| {
        RpcServiceBuilder::new().layer(CallLimitsLayer {
            websocket,
            gate: gate.clone(),
        })
    };
    let http = Server::builder()
        .set_config(config(MAX_BODY_BYTES as usize, MAX_BODY_BYTES as usize))
        .set_rpc_middleware(limits(false))
        .to_service_builder();
    let websocket = Server::builder()
        .set_config(config(MAX_CALL_BYTES, MAX_WS_RESPONSE_BYTES))
        .set_rpc_middleware(limits(true))
        .to_service_builder();
    loop {
        let (socket, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: the next accept may succeed.
                    tracing::debug!(target: "rpc", "accept failed: {e}");
                    continue;
                }
            },
            () = stop.clone().shutdown() => break,
        };
        let client = remote.ip();
        let Some(slot) = gate.admit(client) else {
            tracing::debug!(target: "rpc", "refused a connection from {client}: at its bound");
            drop(socket);
            continue;
        };
        // Small requests and answers go out at once rather than waiting for a full segment.
        let _ = socket.set_nodelay(true);
        let router = Router {
            http: http.clone(),
            websocket: websocket.clone(),
            methods: methods.clone(),
            stop: stop.clone(),
            gate: gate.clone(),
            registry: registry.clone(),
            client,
            dashboard,
        };
        let stopped = stop.clone().shutdown();
        let gate = gate.clone();
        tokio::spawn(async move {
            tokio::select! {
                served = serve_with_graceful_shutdown(socket, router, stopped) => {
                    if let Err(e) = served {
                        // Bytes that are not HTTP: a strike against the client.
                        tracing::debug!(target: "rpc", "connection from {client} ended: {e}");
                        gate.strike(client);
                    }
                }
                () = slot.banned() => {
                    tracing::debug!(target: "rpc", "closed a connection of banned {client}");
                }
            }
            drop(slot);
        });
    }
}

type HttpService = TowerServiceBuilder<Stack<CallLimitsLayer, Identity>, Identity>;

/// One connection's requests, routed by kind: a WebSocket handshake to the service with small
/// messages, anything else through the dashboard and the HTTP limits to the one with large
/// bodies.
#[derive(Clone)]
struct Router {
    http: HttpService,
    websocket: HttpService,
    methods: Methods,
    stop: StopHandle,
    gate: Arc<Gate>,
    registry: Registry,
    client: IpAddr,
    dashboard: bool,
}

impl Service<http::Request<hyper::body::Incoming>> for Router {
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        let mut request = request.map(HttpBody::new);
        request.extensions_mut().insert(ClientAddr(self.client));
        if ws::is_upgrade_request(&request) {
            let mut service = self
                .websocket
                .clone()
                .build(self.methods.clone(), self.stop.clone());
            return service.call(request);
        }
        let limits = HttpLimitsLayer {
            gate: self.gate.clone(),
            registry: self.registry.clone(),
        };
        let inner = self
            .http
            .clone()
            .build(self.methods.clone(), self.stop.clone());
        let mut service = DashboardLayer {
            enabled: self.dashboard,
        }
        .layer(limits.layer(inner));
        Box::pin(async move { service.call(request).await })
    }
}
