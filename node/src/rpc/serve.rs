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

use super::limits::{
    client_name, client_of, CallLimitsLayer, ClientAddr, ConnectionSlot, Gate, HttpLimitsLayer,
    Registry, WatchBudget,
};
use super::sever::severable;
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
        let client = client_of(remote.ip());
        let Some(slot) = gate.admit(client) else {
            let client = client_name(client);
            tracing::debug!(target: "rpc", "refused a connection from {client}: at its bound");
            drop(socket);
            continue;
        };
        // Small requests and answers go out at once rather than waiting for a full segment.
        let _ = socket.set_nodelay(true);
        // Shared with an upgraded WebSocket's task (`Router::call`): hyper's connection ends
        // when it hands the socket over, and the slot must last as long as the socket.
        let slot = Arc::new(slot);
        let router = Router {
            slot: slot.clone(),
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
        let (socket, cut) = severable(socket);
        tokio::spawn(async move {
            // The ban notice is made once, before anything is served, and the ban checked after
            // it: a ban before the notice is seen by the check, one after it wakes the notice
            // (`Notify::notify_waiters` wakes only notices that exist), whichever wait it meets.
            let banned = slot.banned();
            tokio::pin!(banned);
            let served = serve_with_graceful_shutdown(socket, router, stopped);
            let end = if gate.is_banned(client) {
                End::Banned
            } else {
                tokio::select! {
                    served = served => match served {
                        Ok(()) => End::Served,
                        Err(e) => {
                            // Bytes that are not HTTP: a strike against the client.
                            let name = client_name(client);
                            tracing::debug!(target: "rpc", "connection from {name} ended: {e}");
                            gate.strike(client);
                            End::Served
                        }
                    },
                    () = &mut banned => End::Banned,
                    // A download its client stopped taking, at its deadline (logged there).
                    () = slot.closed() => End::Closed,
                }
            };
            // A WebSocket outlives `served`, in jsonrpsee's task: it is cut too if its client
            // is banned while it lasts (its subscriptions would go on otherwise).
            let end = match end {
                End::Served => tokio::select! {
                    () = &mut banned => End::Banned,
                    () = slot.closed() => End::Closed,
                    () = cut.released() => End::Served,
                },
                end => end,
            };
            if end != End::Served {
                cut.sever();
            }
            if end == End::Banned {
                let client = client_name(client);
                tracing::debug!(target: "rpc", "closed a connection of banned {client}");
            }
            // `slot` goes with the task: the connection's place is freed here.
        });
    }
}

/// How a connection's task ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client's socket is gone (closed, or never upgraded past its HTTP requests).
    Served,
    /// Its client was banned.
    Banned,
    /// Something served on it asked for it to be closed ([`ConnectionSlot::closed`]).
    Closed,
}

type HttpService = TowerServiceBuilder<Stack<CallLimitsLayer, Identity>, Identity>;

/// A WebSocket connection's slot, held by its task until the connection ends (see `accept`).
#[derive(Clone)]
struct UpgradedSlot(#[allow(dead_code)] Arc<ConnectionSlot>);

/// One connection's requests, routed by kind: a WebSocket handshake to the service with small
/// messages, anything else through the dashboard and the HTTP limits to the one with large
/// bodies.
#[derive(Clone)]
struct Router {
    /// This connection's place in the client's and the node's connection bounds.
    slot: Arc<ConnectionSlot>,
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
        request.extensions_mut().insert(self.slot.closer());
        request.extensions_mut().insert(WatchBudget {
            watched: self.gate.watched.clone(),
            client: self.client,
        });
        if ws::is_upgrade_request(&request) {
            // jsonrpsee's WebSocket task keeps the upgrade request's extensions for the
            // connection's life: so does it keep the slot.
            request
                .extensions_mut()
                .insert(UpgradedSlot(self.slot.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use agora_rpc_api::limits::{MAX_SCANS, MAX_SCANS_PER_CLIENT};
    use agora_rpc_api::method::{AGORA_JOBS, SYSTEM_HEALTH};
    use jsonrpsee::core::client::ClientT;
    use jsonrpsee::rpc_params;
    use jsonrpsee::RpcModule;
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpSocket;
    use tokio::sync::Semaphore;

    /// How many calls of the stand-in scan run now and the most that ever ran at once; each
    /// runs until the test releases it.
    struct Running {
        now: AtomicUsize,
        most: AtomicUsize,
        release: Semaphore,
    }

    impl Running {
        /// Waits until `count` scans run (10 s at most), then a moment more, in which a scan
        /// past the bounds would have started too; says how many run then.
        async fn settle_at(&self, count: usize) -> usize {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while self.now.load(Ordering::SeqCst) < count && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            self.now.load(Ordering::SeqCst)
        }
    }

    /// A server whose `agora_jobs` (a scan) counts how many run at once and runs until
    /// released, and whose `system_health` (not a scan) answers at once.
    async fn server() -> (SocketAddr, ServerHandle, Arc<Running>) {
        let running = Arc::new(Running {
            now: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            release: Semaphore::new(0),
        });
        let mut module = RpcModule::new(running.clone());
        module
            .register_async_method(AGORA_JOBS, |_, running, _| async move {
                let now = running.now.fetch_add(1, Ordering::SeqCst) + 1;
                running.most.fetch_max(now, Ordering::SeqCst);
                running.release.acquire().await.unwrap().forget();
                running.now.fetch_sub(1, Ordering::SeqCst);
                "scanned"
            })
            .unwrap();
        module
            .register_method(SYSTEM_HEALTH, |_, _, _| "healthy")
            .unwrap();
        let registry: Registry = Arc::new(|_| None);
        let (addr, handle) = start(
            module.into(),
            (Ipv4Addr::LOCALHOST, 0).into(),
            false,
            registry,
        )
        .await
        .unwrap();
        (addr, handle, running)
    }

    /// `method` over HTTP from loopback address `from`: the answer's body.
    async fn post_from(from: Ipv4Addr, to: SocketAddr, method: &str) -> String {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind((from, 0).into()).unwrap();
        let mut stream = socket.connect(to).await.unwrap();
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":[]}}"#);
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or(answer)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scans_run_one_per_client_and_at_most_the_nodes_share_at_once() {
        assert_eq!(
            (MAX_SCANS, MAX_SCANS_PER_CLIENT),
            (2, 1),
            "the test's premise"
        );
        let (addr, handle, running) = server().await;
        let client = Ipv4Addr::new(127, 0, 0, 2);
        let scans_from = |clients: Vec<Ipv4Addr>| {
            let running = running.clone();
            tokio::spawn(async move {
                let posts = clients
                    .into_iter()
                    .map(|from| post_from(from, addr, AGORA_JOBS));
                let answers = futures::future::join_all(posts).await;
                for answer in &answers {
                    assert!(answer.contains("scanned"), "{answer}");
                }
                running.most.load(Ordering::SeqCst)
            })
        };

        // One client over four HTTP connections: one scan at a time.
        let one_client = scans_from(vec![client; 4]);
        assert_eq!(
            running.settle_at(1).await,
            1,
            "one client, one scan at a time"
        );
        running.release.add_permits(4);
        assert_eq!(one_client.await.unwrap(), 1);

        // One client firing three scans over one WebSocket (loopback 127.0.0.1): the same.
        let ws = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(format!("ws://{addr}"))
            .await
            .unwrap();
        let calls = futures::future::join_all(
            (0..3).map(|_| ws.request::<String, _>(AGORA_JOBS, rpc_params![])),
        );
        let release = async {
            assert_eq!(
                running.settle_at(1).await,
                1,
                "one at a time over WebSocket too"
            );
            running.release.add_permits(3);
        };
        let (answers, ()) = tokio::join!(calls, release);
        for answer in answers {
            assert_eq!(answer.unwrap(), "scanned");
        }
        assert_eq!(running.most.load(Ordering::SeqCst), 1);

        // Four clients at once: the node runs its share, MAX_SCANS, and no more …
        let four = scans_from((3..7).map(|last| Ipv4Addr::new(127, 0, 0, last)).collect());
        assert_eq!(running.settle_at(MAX_SCANS).await, MAX_SCANS);
        // … and a method that is not a scan waits for no turn while scans hold the node's.
        let answer = post_from(client, addr, SYSTEM_HEALTH).await;
        assert!(answer.contains("healthy"), "{answer}");
        assert_eq!(
            running.now.load(Ordering::SeqCst),
            MAX_SCANS,
            "answered while both ran"
        );
        running.release.add_permits(4);
        assert_eq!(four.await.unwrap(), MAX_SCANS);
        handle.stop().unwrap();
    }
}
