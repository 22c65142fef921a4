//! The node's side of [`agora_rpc_api::limits`]: who may hold what, refused as early as the
//! request shows it.
//!
//! - [`Gate`] counts connections and blob transfers per client (IP address) and in total;
//!   the accept loop ([`super::serve`]) asks it before serving a connection.
//! - [`HttpLimitsLayer`] sits in front of JSON-RPC over HTTP. It reads at most
//!   [`METHOD_PREFIX_BYTES`] of a body to learn its method, refuses a body over that method's
//!   limit from its `Content-Length` (or as soon as it grows past it), and gives a blob
//!   transfer a client slot and a node slot, which it holds until the answer's body has been
//!   sent, under a deadline that a slow reader or writer misses: a download's answer goes to
//!   hyper a bounded frame at a time, and its connection is closed if the client has not taken
//!   it all by the deadline ([`body`]). An upload's bytes of the
//!   node's budget are held before its body is read (its size is the registered blob's); a
//!   download's before its answer is built, when the (small) request names a registered blob
//!   this node holds, and otherwise (a blob fetched from peers first) once the answer's size is
//!   known.
//! - [`CallLimitsLayer`] sits in front of every method, on both transports: it refuses blob
//!   transfers over WebSocket, subscriptions over the connection's rate and calls past the
//!   connection's in-flight bound, and holds a scan until its client's turn and the node's
//!   ([`Gate::scan`]).
//!
//! These read the clock (`tokio::time`) to bound rates and deadlines: they decide only what
//! the RPC port serves, never what the chain records.

use agora_primitives::Hash;
use agora_rpc_api::limits::{
    is_transfer, max_request_bytes, max_upload_bytes, method_in_prefix, transfer_deadline_secs,
    BAN_SECS, BLOB_HASH_HEADER, CALL_BODY_SECS, MAX_CALL_BYTES, MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_CLIENT, MAX_QUEUED_TRANSFERS_PER_CLIENT, MAX_REQUESTS_PER_CLIENT,
    MAX_SCANS, MAX_SCANS_PER_CLIENT, MAX_STRIKES, MAX_TRACKED_CLIENTS, MAX_TRANSFERS_PER_CLIENT,
    MAX_TRANSFER_BYTES, MAX_UNNAMED_UPLOAD_BYTES, METHOD_PREFIX_BYTES, STRIKE_WINDOW_SECS,
    TRANSFER_GRACE_SECS, TRANSFER_METHODS, TRANSFER_QUEUE_WAIT_SECS,
};
use agora_rpc_api::{Error, ErrorCode, MAX_BODY_BYTES};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use http_body::{Body as _, Frame, SizeHint};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use jsonrpsee::types::ErrorObjectOwned;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::futures::Notified;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

mod body;
mod calls;
mod transfer;
mod watch;

use body::{close_if_late, Gated, ANSWER_FRAME_BYTES, BODY_LATE, BODY_OK, BODY_TOO_LARGE};
pub(crate) use calls::CallLimitsLayer;
use transfer::{
    acquire_transfer, busy_transfer, download_bytes, queue_deadline, read_rest, requested_blob,
    upload_limit, Transfer,
};
pub(crate) use watch::{WatchBudget, Watched};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A blob registered on chain (best state), `None` if it is not: its size is what an upload
/// that names it in [`BLOB_HASH_HEADER`] may send, decided before any budget is held; whether
/// this node holds it decides whether a download's budget is held before its answer is built.
pub(crate) type Registry = Arc<dyn Fn(&Hash) -> Option<Registered> + Send + Sync>;

/// What [`Registry`] says of a blob.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Registered {
    /// Its registered size, bytes.
    pub(crate) size: u64,
    /// Whether this node holds its bytes (a download of one it lacks fetches it from peers
    /// first, which may take minutes: no budget is held meanwhile).
    pub(crate) stored: bool,
}

/// Put into an HTTP request's extensions when [`HttpLimitsLayer`] admitted it as a blob
/// transfer by this method, with a turn, a budget and a deadline; the call layer refuses a
/// transfer over HTTP without it, or admitted as the other one (a body whose first `"method"`
/// is not the one the server calls, nested in another field: a download admitted as an
/// unnamed upload held a few bytes of budget for a ~128 MiB answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AdmittedTransfer(pub(crate) &'static str);

/// The client a connection from `ip` counts as, for every per-client bound: the address itself
/// for IPv4, and for IPv6 its /64 network — one subscriber's allocation, whose 2⁶⁴ addresses
/// would otherwise each get a share of their own (an IPv4 address mapped into IPv6 counts as
/// that IPv4 address).
pub(crate) fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                if let Some(host) = octets.get_mut(8..) {
                    host.fill(0);
                }
                IpAddr::V6(Ipv6Addr::from(octets))
            }
        },
    }
}

/// How logs name `client` (a [`client_of`] value): an IPv4 address as it is, an IPv6 client
/// as the /64 network it stands for.
pub(crate) fn client_name(client: IpAddr) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/64"),
    }
}

/// The client a request came from ([`client_of`] its IP address); the accept loop puts it in
/// every request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

/// What one client holds now, and how it has behaved.
struct Usage {
    connections: usize,
    /// Transfers running or waiting for the client's turn.
    transfers: usize,
    /// The client's turn: [`MAX_TRANSFERS_PER_CLIENT`] permits, waiters served in order.
    turn: Arc<Semaphore>,
    /// Scans running or waiting for the client's turn.
    scans: usize,
    /// HTTP requests in flight ([`MAX_REQUESTS_PER_CLIENT`]).
    requests: usize,
    /// The client's turn to scan: [`MAX_SCANS_PER_CLIENT`] permits, waiters served in order.
    scan_turn: Arc<Semaphore>,
    /// Refusals since `window`.
    strikes: u32,
    /// When the current strike window began.
    window: Option<Instant>,
    /// Refused until then.
    banned_until: Option<Instant>,
    /// Closes the client's connections when it is banned.
    kill: Arc<Notify>,
}

impl Default for Usage {
    fn default() -> Usage {
        Usage {
            connections: 0,
            transfers: 0,
            turn: Arc::new(Semaphore::new(MAX_TRANSFERS_PER_CLIENT)),
            scans: 0,
            requests: 0,
            scan_turn: Arc::new(Semaphore::new(MAX_SCANS_PER_CLIENT)),
            strikes: 0,
            window: None,
            banned_until: None,
            kill: Arc::new(Notify::new()),
        }
    }
}

impl Usage {
    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|until| until > now)
    }

    /// Whether a strike window is open: strikes counted now add to the ones before.
    fn striking(&self, now: Instant) -> bool {
        let window = Duration::from_secs(STRIKE_WINDOW_SECS);
        self.window
            .is_some_and(|start| now.saturating_duration_since(start) < window)
    }

    /// Whether the entry still says something: held resources, recent strikes, a ban.
    fn live(&self, now: Instant) -> bool {
        self.connections > 0
            || self.transfers > 0
            || self.scans > 0
            || self.requests > 0
            || self.banned(now)
            || self.striking(now)
    }
}

/// The node's transfer budget counts KiB, so that [`MAX_TRANSFER_BYTES`] fits a semaphore.
const BUDGET_UNIT: u64 = 1024;

/// Connections and blob transfers, per client and in total. Shared by every connection.
pub(crate) struct Gate {
    /// The bytes of transfer bodies the node may hold, in [`BUDGET_UNIT`]s; waiters are served
    /// in arrival order.
    budget: Arc<Semaphore>,
    /// Usage per client; an entry is removed when its client holds nothing, so there are at
    /// most [`MAX_CONNECTIONS`] entries.
    clients: Mutex<HashMap<IpAddr, Usage>>,
    /// Connections held, all clients.
    connections: AtomicUsize,
    /// Scans the node may run now ([`MAX_SCANS`]); waiters served in order.
    scans: Arc<Semaphore>,
    /// The keys storage subscriptions watch, per client and in all.
    pub(crate) watched: Arc<Watched>,
    /// How long the body of a request other than a transfer may take ([`CALL_BODY_SECS`]).
    call_body: Duration,
}

impl Gate {
    pub(crate) fn new() -> Arc<Gate> {
        let units = usize::try_from(MAX_TRANSFER_BYTES / BUDGET_UNIT).unwrap_or(usize::MAX);
        Arc::new(Gate {
            budget: Arc::new(Semaphore::new(units)),
            clients: Mutex::new(HashMap::new()),
            connections: AtomicUsize::new(0),
            scans: Arc::new(Semaphore::new(MAX_SCANS)),
            watched: Arc::new(Watched::default()),
            call_body: Duration::from_secs(CALL_BODY_SECS),
        })
    }

    /// A gate whose calls' bodies must arrive within `call_body` (tests).
    #[cfg(test)]
    fn with_call_body(call_body: Duration) -> Arc<Gate> {
        let mut gate = Gate::new();
        if let Some(gate) = Arc::get_mut(&mut gate) {
            gate.call_body = call_body;
        }
        gate
    }

    fn clients(&self) -> MutexGuard<'_, HashMap<IpAddr, Usage>> {
        // A panic while holding the lock leaves counts that are still counts: go on with them.
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `client` is banned now. A ban closes the client's connections, WebSockets
    /// included (`serve::accept` cuts them), but a call already read from one asks this too.
    pub(crate) fn is_banned(&self, client: IpAddr) -> bool {
        let now = Instant::now();
        self.clients()
            .get(&client)
            .is_some_and(|usage| usage.banned(now))
    }

    /// A connection from `client`, unless it is banned or it or the node is at its bound.
    pub(crate) fn admit(self: &Arc<Gate>, client: IpAddr) -> Option<ConnectionSlot> {
        let mut clients = self.clients();
        let usage = clients.entry(client).or_default();
        if usage.banned(Instant::now())
            || usage.connections >= MAX_CONNECTIONS_PER_CLIENT
            || self.connections.load(Ordering::Relaxed) >= MAX_CONNECTIONS
        {
            forget_if_idle(&mut clients, client);
            return None;
        }
        usage.connections += 1;
        self.connections.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionSlot {
            gate: self.clone(),
            client,
            kill: usage.kill.clone(),
            close: Arc::new(Notify::new()),
        })
    }

    /// Counts a refusal against `client`; the [`MAX_STRIKES`]th within the window bans it and
    /// closes its connections.
    pub(crate) fn strike(&self, client: IpAddr) {
        let now = Instant::now();
        let mut clients = self.clients();
        if clients.len() >= MAX_TRACKED_CLIENTS && !clients.contains_key(&client) {
            clients.retain(|_, usage| usage.live(now));
            if clients.len() >= MAX_TRACKED_CLIENTS {
                return;
            }
        }
        let usage = clients.entry(client).or_default();
        if !usage.striking(now) {
            usage.window = Some(now);
            usage.strikes = 0;
        }
        usage.strikes = usage.strikes.saturating_add(1);
        if usage.strikes >= MAX_STRIKES && !usage.banned(now) {
            usage.banned_until = Some(now + Duration::from_secs(BAN_SECS));
            usage.kill.notify_waiters();
            tracing::info!(
                target: "rpc",
                "banned {} for {BAN_SECS} s: {MAX_STRIKES} requests refused within \
                 {STRIKE_WINDOW_SECS} s",
                client_name(client)
            );
        }
    }

    /// Connections held now, all clients.
    #[cfg(test)]
    fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// A place in `client`'s `queue`, unless it holds `bound` already.
    fn place(self: &Arc<Gate>, client: IpAddr, queue: Queue, bound: usize) -> Option<ClientPlace> {
        let mut clients = self.clients();
        let usage = clients.entry(client).or_default();
        let (held, turn) = queue.of(usage);
        if *held >= bound {
            return None;
        }
        *held += 1;
        Some(ClientPlace {
            gate: self.clone(),
            client,
            queue,
            turn,
        })
    }

    /// A place in `client`'s queue of transfers, unless the queue is full.
    fn client_transfer(self: &Arc<Gate>, client: IpAddr) -> Option<ClientPlace> {
        let bound = MAX_TRANSFERS_PER_CLIENT + MAX_QUEUED_TRANSFERS_PER_CLIENT;
        self.place(client, Queue::Transfers, bound)
    }

    /// A turn to scan for `client`: its own turn first ([`MAX_SCANS_PER_CLIENT`]), then the
    /// node's ([`MAX_SCANS`]), each waited for in order; `None` if not given by `until`. A
    /// client waits for the node only once its own turn has come, so the node's queue holds at
    /// most one scan of each client: clients take turns, however many scans one fires.
    pub(crate) async fn scan(self: &Arc<Gate>, client: IpAddr, until: Instant) -> Option<Scan> {
        // Unbounded here: a client's scans are bounded by its calls in flight.
        let place = self.place(client, Queue::Scans, usize::MAX)?;
        let turns = async {
            let own = place.turn.clone().acquire_owned().await.ok()?;
            let node = self.scans.clone().acquire_owned().await.ok()?;
            Some((node, own))
        };
        let (node, own) = tokio::time::timeout_at(until, turns).await.ok()??;
        Some(Scan {
            _node: node,
            _own: own,
            _place: place,
        })
    }

    /// `bytes` of the node's budget, waiting in order for them.
    async fn reserve(&self, bytes: u64) -> Result<OwnedSemaphorePermit, ()> {
        let units = bytes
            .div_ceil(BUDGET_UNIT)
            .clamp(1, MAX_TRANSFER_BYTES / BUDGET_UNIT);
        let units = u32::try_from(units).map_err(|_| ())?;
        self.budget
            .clone()
            .acquire_many_owned(units)
            .await
            .map_err(|_| ())
    }
}

fn forget_if_idle(clients: &mut HashMap<IpAddr, Usage>, client: IpAddr) {
    let now = Instant::now();
    if clients.get(&client).is_some_and(|usage| !usage.live(now)) {
        clients.remove(&client);
    }
}

/// A scan's turn, the node's and its client's; dropping it (after the answer) gives both to
/// the next in line. Fields drop in order: the turns before the place that keeps them.
pub(crate) struct Scan {
    _node: OwnedSemaphorePermit,
    _own: OwnedSemaphorePermit,
    _place: ClientPlace,
}

/// One admitted connection; dropping it frees the place.
pub(crate) struct ConnectionSlot {
    gate: Arc<Gate>,
    client: IpAddr,
    kill: Arc<Notify>,
    /// Closes this connection alone ([`Closer`]).
    close: Arc<Notify>,
}

impl ConnectionSlot {
    /// Resolves when the connection's client is banned after this call. The notice exists
    /// from the call on (not from its first poll, as an `async fn`'s would): a ban between this
    /// call and the caller's first wait is not missed. A ban before it is [`Gate::is_banned`].
    pub(crate) fn banned(&self) -> Notified<'_> {
        self.kill.notified()
    }

    /// Resolves when something served on the connection asks for it to be closed.
    pub(crate) async fn closed(&self) {
        self.close.notified().await;
    }

    /// What closes this connection; the accept loop puts it into every request's extensions.
    pub(crate) fn closer(&self) -> Closer {
        Closer(self.close.clone())
    }
}

/// Closes one connection ([`ConnectionSlot::closed`] resolves): how a download the client
/// stopped taking ends at its deadline ([`body::close_if_late`]).
#[derive(Clone)]
pub(crate) struct Closer(Arc<Notify>);

impl Closer {
    fn close(&self) {
        // A permit, kept if the connection's task is not waiting at this moment.
        self.0.notify_one();
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut clients = self.gate.clients();
        if let Some(usage) = clients.get_mut(&self.client) {
            usage.connections = usage.connections.saturating_sub(1);
        }
        forget_if_idle(&mut clients, self.client);
        self.gate.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A client's queues: its transfers and its scans, each with its turn.
#[derive(Clone, Copy)]
enum Queue {
    Transfers,
    Scans,
    /// Not a queue: a request past the client's share is refused, never waits (its turn is
    /// the transfers', unused).
    Requests,
}

impl Queue {
    /// The count of `usage`'s places in this queue, and its turn.
    fn of(self, usage: &mut Usage) -> (&mut usize, Arc<Semaphore>) {
        match self {
            Queue::Transfers => (&mut usage.transfers, usage.turn.clone()),
            Queue::Scans => (&mut usage.scans, usage.scan_turn.clone()),
            Queue::Requests => (&mut usage.requests, usage.turn.clone()),
        }
    }
}

/// A place in one of a client's queues, running or waiting: counted so that the client's
/// entry (and with it its turn) is kept while the place is held.
struct ClientPlace {
    gate: Arc<Gate>,
    client: IpAddr,
    queue: Queue,
    turn: Arc<Semaphore>,
}

impl Drop for ClientPlace {
    fn drop(&mut self) {
        let mut clients = self.gate.clients();
        if let Some(usage) = clients.get_mut(&self.client) {
            let (held, _) = self.queue.of(usage);
            *held = held.saturating_sub(1);
        }
        forget_if_idle(&mut clients, self.client);
    }
}

/// Why a request was refused before it reached its method.
#[derive(Debug)]
struct Refusal {
    status: u16,
    error: Error,
}

impl Refusal {
    fn too_large(method: Option<&str>, size: u64, limit: u64) -> Refusal {
        let what = method.map_or_else(
            || "a request whose method is not named in its first bytes".to_owned(),
            |m| format!("a {m} request"),
        );
        Refusal {
            status: 413,
            error: Error::new(
                ErrorCode::TooLarge,
                format!("{what} of {size} bytes is over its limit of {limit} bytes"),
            ),
        }
    }

    fn busy(status: u16, message: String) -> Refusal {
        Refusal {
            status,
            error: Error::new(ErrorCode::Busy, message),
        }
    }

    fn response(self) -> HttpResponse {
        let object = ErrorObjectOwned::from(self.error);
        let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": object});
        let response = HttpResponse::builder()
            .status(self.status)
            .header("content-type", "application/json; charset=utf-8")
            .body(HttpBody::from(body.to_string()));
        // A status from the list above and a constant header: building cannot fail.
        let mut response = response.unwrap_or_else(|_| HttpResponse::new(HttpBody::from("")));
        response.extensions_mut().insert(Refused);
        response
    }

    /// An upload of a blob the chain has not registered, refused before its body is read:
    /// answered as the method would answer it (status 200, so every client reads the code).
    fn unregistered(hash: &Hash) -> Refusal {
        Refusal {
            status: 200,
            error: Error::new(
                ErrorCode::BlobNotRegistered,
                format!("blob {hash} is not registered on chain; register it first"),
            ),
        }
    }
}

/// Bounds JSON-RPC over HTTP; see the module documentation.
#[derive(Clone)]
pub(crate) struct HttpLimitsLayer {
    pub(crate) gate: Arc<Gate>,
    pub(crate) registry: Registry,
}

impl<S> Layer<S> for HttpLimitsLayer {
    type Service = HttpLimits<S>;

    fn layer(&self, inner: S) -> HttpLimits<S> {
        HttpLimits {
            inner,
            gate: self.gate.clone(),
            registry: self.registry.clone(),
        }
    }
}

/// The middleware of [`HttpLimitsLayer`].
#[derive(Clone)]
pub(crate) struct HttpLimits<S> {
    inner: S,
    gate: Arc<Gate>,
    registry: Registry,
}

impl<S> Service<HttpRequest> for HttpLimits<S>
where
    S: Service<HttpRequest, Response = HttpResponse, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        // WebSocket handshakes and the dashboard's GETs carry no JSON-RPC body.
        if request.method() != http::Method::POST {
            return Box::pin(self.inner.call(request));
        }
        let mut inner = self.inner.clone();
        let (gate, registry) = (self.gate.clone(), self.registry.clone());
        let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
        Box::pin(async move {
            // Held until the answer is made: every HTTP request takes one of the server's
            // permits while its body is read, and HTTP/2 carries many on one connection.
            let place = client.map(|c| gate.place(c, Queue::Requests, MAX_REQUESTS_PER_CLIENT));
            let response = match place {
                Some(None) => Ok(Refusal::busy(
                    429,
                    format!(
                        "this client has {MAX_REQUESTS_PER_CLIENT} HTTP requests in flight, its \
                         limit"
                    ),
                )
                .response()),
                _ => serve_admitted((&gate, &registry), &mut inner, request).await,
            };
            drop(place);
            // A request the node refused, or could not read as HTTP or JSON, is a strike.
            let refused = response
                .as_ref()
                .map_or(true, |r| r.status().is_client_error() || is_refusal(r));
            if let (true, Some(client)) = (refused, client) {
                gate.strike(client);
            }
            response
        })
    }
}

/// Whether `response` is one of the node's own refusals ([`Refusal::response`]), whatever its
/// status: a busy answer or an unregistered upload goes out with 200, so that every JSON-RPC
/// client reads its code, and is a strike all the same.
fn is_refusal(response: &HttpResponse) -> bool {
    response.extensions().get::<Refused>().is_some()
}

/// Marks a refusal's response for [`is_refusal`].
#[derive(Clone, Copy)]
struct Refused;

/// Answers a POST: refused, or served by `inner` within its limits.
async fn serve_admitted<S>(
    (gate, registry): (&Arc<Gate>, &Registry),
    inner: &mut S,
    request: HttpRequest,
) -> Result<HttpResponse, BoxError>
where
    S: Service<HttpRequest, Response = HttpResponse, Error = BoxError>,
{
    // Set when the request's body fails its deadline or its limit: the server then answers 500
    // (and logs it); the client is told why, and it is a strike like any refusal.
    let failed = Arc::new(AtomicU8::new(BODY_OK));
    let refused = || match failed.load(Ordering::Relaxed) {
        BODY_LATE => Some(Refusal::busy(
            408,
            "the request's body did not arrive in time (a call's within CALL_BODY_SECS, a \
             transfer's at MIN_TRANSFER_BYTES_PER_SEC after its grace)"
                .to_owned(),
        )),
        BODY_TOO_LARGE => Some(Refusal {
            status: 413,
            error: Error::new(
                ErrorCode::TooLarge,
                "the request's body grew past its method's limit",
            ),
        }),
        _ => None,
    };
    let (request, transfer) = match admit(gate, registry, request, &failed).await {
        Ok(admitted) => admitted,
        Err(refusal) => return Ok(refusal.response()),
    };
    let closer = request.extensions().get::<Closer>().cloned();
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let response = inner.call(request).await;
    if let Some(refusal) = refused() {
        return Ok(refusal.response());
    }
    let Some(mut transfer) = transfer else {
        return response;
    };
    let (parts, body) = response?.into_parts();
    let size = body.size_hint().upper().unwrap_or(MAX_BODY_BYTES.into());
    // A download of a registered blob this node holds has its answer's bytes already
    // (`admit`); any other's size is known only now that it is made.
    if !transfer.hold(gate, size, queue_deadline()).await {
        let why = "the node's transfer budget stayed full";
        return Ok(busy_transfer(agora_rpc_api::method::BLOB_GET, why).response());
    }
    // Handed over a frame at a time, holding the transfer until the last; a client that stops
    // taking it has its connection closed at the deadline, which drops the rest.
    let deadline = Instant::now() + Duration::from_secs(transfer_deadline_secs(size));
    let (body, done) = Gated::new(Bytes::new(), body, u64::MAX)
        .until(deadline)
        .in_frames_of(ANSWER_FRAME_BYTES)
        .holding(transfer)
        .watched();
    if let (Some(closer), Some(client)) = (closer, client) {
        tokio::spawn(close_if_late(
            deadline,
            done,
            closer,
            (gate.clone(), client),
        ));
    }
    Ok(HttpResponse::from_parts(parts, HttpBody::new(body)))
}

/// Reads a POST's first bytes, names its method and decides: refused, or passed on with a
/// body that keeps to the method's limit, and a transfer's slots if it is one.
async fn admit(
    gate: &Arc<Gate>,
    registry: &Registry,
    request: HttpRequest,
    failed: &Arc<AtomicU8>,
) -> Result<(HttpRequest, Option<Transfer>), Refusal> {
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if let Some(size) = declared.filter(|size| *size > u64::from(MAX_BODY_BYTES)) {
        return Err(Refusal::too_large(None, size, MAX_BODY_BYTES.into()));
    }
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let (mut parts, mut body) = request.into_parts();
    let grace = Duration::from_secs(TRANSFER_GRACE_SECS);
    let prefix = tokio::time::timeout(grace, read_prefix(&mut body))
        .await
        .map_err(|_| {
            Refusal::busy(
                408,
                format!("the request's first bytes did not arrive within {grace:?}"),
            )
        })?
        .map_err(|e| Refusal {
            status: 400,
            error: Error::invalid_params(format!("the request body could not be read: {e}")),
        })?;
    // Only the first bytes count: a frame may have brought more.
    let method = method_in_prefix(&prefix[..prefix.len().min(METHOD_PREFIX_BYTES)]);
    let (limit, unnamed_upload) = match method {
        Some(agora_rpc_api::method::BLOB_PUT) => upload_limit(registry, &parts.headers)?,
        Some(method) => (max_request_bytes(method) as u64, false),
        None => (MAX_CALL_BYTES as u64, false),
    };
    let size = declared.unwrap_or(prefix.len() as u64);
    if size > limit {
        let mut refusal = Refusal::too_large(method, size, limit);
        if unnamed_upload {
            refusal.error.message = format!(
                "{}: name the blob in the {BLOB_HASH_HEADER} header to upload more",
                refusal.error.message
            );
        }
        return Err(refusal);
    }
    // The bytes a transfer's body counts for its budget and its deadline: as declared, or its
    // method's limit when it does not say.
    let expected = declared.unwrap_or(limit);
    let mut ahead = prefix.clone();
    // The method as one of the transfers' own names (`'static`), if it is one.
    let transfer_method = method.and_then(|m| TRANSFER_METHODS.into_iter().find(|t| *t == m));
    let transfer = match (method, client) {
        (Some(method), Some(client)) if is_transfer(method) => {
            let budget = if method == agora_rpc_api::method::BLOB_PUT {
                Some(expected)
            } else {
                // A download's answer is its blob as hex: hold those bytes before the answer
                // is built, not after (a 64 MiB blob's is ~128 MiB, which waited, built, for
                // the budget while slow readers held it).
                ahead = tokio::time::timeout(grace, read_rest(&mut body, ahead, limit))
                    .await
                    .map_err(|_| {
                        Refusal::busy(408, format!("the request did not arrive within {grace:?}"))
                    })?
                    .map_err(|size| Refusal::too_large(Some(method), size, limit))?;
                let hash = requested_blob(&ahead).ok_or_else(|| Refusal {
                    status: 400,
                    error: Error::invalid_params(format!(
                        "a {method} request must be one JSON-RPC request naming its blob's hash"
                    )),
                })?;
                registry(&hash)
                    .filter(|blob| blob.stored)
                    .map(|blob| download_bytes(blob.size, ahead.len() as u64))
            };
            Some(acquire_transfer(gate, client, method, budget, queue_deadline()).await?)
        }
        _ => None,
    };
    let mut body = Gated::new(ahead, body, limit).flagging(failed.clone());
    body = if let (Some(_), Some(method)) = (&transfer, transfer_method) {
        parts.extensions.insert(AdmittedTransfer(method));
        body.with_deadline(expected)
    } else {
        // A body that stalls would hold one of the server's request permits for ever.
        body.within(gate.call_body)
    };
    Ok((
        HttpRequest::from_parts(parts, HttpBody::new(body)),
        transfer,
    ))
}

/// The first bytes of `body`: until they name the method, the body ends or
/// [`METHOD_PREFIX_BYTES`] have come (a frame may carry a few more).
async fn read_prefix(body: &mut HttpBody) -> Result<Bytes, BoxError> {
    let mut prefix = BytesMut::new();
    while prefix.len() < METHOD_PREFIX_BYTES && method_in_prefix(&prefix).is_none() {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    prefix.extend_from_slice(&data);
                }
            }
        }
    }
    Ok(prefix.freeze())
}

#[cfg(test)]
mod tests {
    use super::transfer::reserve_until;
    use super::*;
    use agora_rpc_api::method::{self, BLOB_GET};
    use serde_json::json;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    /// Found in review (docs/reliability.md): every per-address bound was per IPv6 address,
    /// and one /64 holds 2⁶⁴ of them, so one subscriber had as many shares as it liked. Now an
    /// IPv6 client is its /64: two addresses in it share one client's connections.
    #[test]
    fn an_ipv6_client_is_its_64_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::7".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_of(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_eq!(client_of(a), client_of(b));
        assert_ne!(client_of(a), client_of(elsewhere));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_of(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_name(client_of(a)), "2001:db8:1:2::/64");
        assert_eq!(client_name(client_of(mapped)), "192.0.2.7");
        assert_eq!(client_of(ip(9)), ip(9));
        let gate = Gate::new();
        let held: Vec<_> = (0..MAX_CONNECTIONS_PER_CLIENT)
            .map(|_| gate.admit(client_of(a)).expect("under the bound"))
            .collect();
        assert!(
            gate.admit(client_of(b)).is_none(),
            "another address of the /64 is the same client"
        );
        assert!(gate.admit(client_of(elsewhere)).is_some());
        drop(held);
    }

    #[test]
    fn a_client_holds_at_most_its_share_of_connections_and_frees_them() {
        let gate = Gate::new();
        let held: Vec<_> = (0..MAX_CONNECTIONS_PER_CLIENT)
            .map(|_| gate.admit(ip(2)).expect("under the bound"))
            .collect();
        assert!(gate.admit(ip(2)).is_none(), "one past the client's bound");
        let other = gate.admit(ip(3)).expect("another client is not affected");
        drop(held);
        assert!(gate.admit(ip(2)).is_some());
        drop(other);
        assert_eq!(gate.clients().len(), 0, "idle clients are forgotten");
        assert_eq!(gate.connections(), 0);
    }

    #[test]
    fn the_node_holds_at_most_its_total_of_connections() {
        let gate = Gate::new();
        let mut held = Vec::new();
        for n in 0..MAX_CONNECTIONS {
            let client = ip(u8::try_from(n / MAX_CONNECTIONS_PER_CLIENT).unwrap_or(u8::MAX) + 2);
            held.push(gate.admit(client).expect("under the bounds"));
        }
        assert!(gate.admit(ip(250)).is_none(), "a new client past the total");
        held.pop();
        assert!(gate.admit(ip(250)).is_some());
    }

    #[tokio::test]
    async fn a_client_refused_too_often_is_banned_and_its_connections_closed() {
        let gate = Gate::new();
        let held = gate.admit(ip(2)).expect("an honest start");
        let closed = tokio::spawn(async move {
            held.banned().await;
        });
        tokio::task::yield_now().await;
        for _ in 1..MAX_STRIKES {
            gate.strike(ip(2));
        }
        assert!(gate.admit(ip(2)).is_some(), "one strike short of a ban");
        assert!(!gate.is_banned(ip(2)));
        gate.strike(ip(2));
        assert!(gate.admit(ip(2)).is_none(), "banned");
        // What each call of a WebSocket that outlived its accept task asks.
        assert!(gate.is_banned(ip(2)) && !gate.is_banned(ip(3)));
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("its open connection is told to close")
            .expect("the waiter ran");
        assert!(gate.admit(ip(3)).is_some(), "others are not banned");
        // The ban outlives the client's connections.
        assert!(gate.clients().contains_key(&ip(2)));
    }

    #[tokio::test]
    async fn a_client_runs_one_transfer_at_a_time_and_queues_a_few() {
        let gate = Gate::new();
        let soon = || Instant::now() + Duration::from_millis(200);
        let first = acquire_transfer(&gate, ip(2), BLOB_GET, None, soon())
            .await
            .expect("its first");
        // Its second waits for the first and, given no turn in time, is busy.
        let second = acquire_transfer(&gate, ip(2), BLOB_GET, None, soon()).await;
        assert_eq!(second.err().map(|r| r.error.code), Some(ErrorCode::Busy));
        // Another client is not held up.
        let other = acquire_transfer(&gate, ip(3), BLOB_GET, None, soon()).await;
        assert!(other.is_ok(), "another client waits for nobody");
        // A full queue is refused at once.
        let queued: Vec<_> = (0..MAX_QUEUED_TRANSFERS_PER_CLIENT)
            .map(|_| gate.client_transfer(ip(2)).expect("a place in the queue"))
            .collect();
        assert!(gate.client_transfer(ip(2)).is_none(), "past the queue");
        drop(queued);
        // When the first ends, the next in line runs.
        let next = tokio::spawn({
            let gate = gate.clone();
            async move {
                let until = Instant::now() + Duration::from_secs(10);
                acquire_transfer(&gate, ip(2), BLOB_GET, None, until)
                    .await
                    .is_ok()
            }
        });
        drop(first);
        assert!(next.await.expect("the waiter ran"));
    }

    #[tokio::test]
    async fn the_budget_bounds_the_bytes_of_transfers_held() {
        let gate = Gate::new();
        let all = gate
            .reserve(MAX_TRANSFER_BYTES)
            .await
            .expect("the whole budget");
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(
            reserve_until(&gate, 1, soon).await.is_none(),
            "nothing left"
        );
        drop(all);
        let later = Instant::now() + Duration::from_secs(1);
        assert!(reserve_until(&gate, MAX_TRANSFER_BYTES, later)
            .await
            .is_some());
    }

    async fn next_frame(body: &mut Gated) -> Option<Result<Frame<Bytes>, BoxError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
    }

    #[tokio::test]
    async fn a_stalled_transfer_fails_at_its_deadline_and_frees_its_place() {
        let gate = Gate::new();
        let until = Instant::now() + Duration::from_secs(1);
        let transfer = acquire_transfer(&gate, ip(2), BLOB_GET, Some(1 << 20), until)
            .await
            .expect("a free node");
        let mut body = Gated::new(
            Bytes::from_static(b"{\"a\""),
            HttpBody::new(StallsAfter(None)),
            1 << 20,
        )
        .within(Duration::from_millis(50))
        .holding(transfer);
        // The bytes read ahead come first.
        let first = next_frame(&mut body).await.expect("a frame").expect("data");
        assert_eq!(first.into_data().ok(), Some(Bytes::from_static(b"{\"a\"")));
        // Then nothing, until the deadline fails it.
        let error = next_frame(&mut body).await.expect("an end").unwrap_err();
        assert!(error.to_string().contains("deadline"), "{error}");
        // Its client's turn and its bytes of the budget are free again.
        assert!(gate.client_transfer(ip(2)).is_some());
        let whole = Instant::now() + Duration::from_millis(100);
        assert!(reserve_until(&gate, MAX_TRANSFER_BYTES, whole)
            .await
            .is_some());
    }

    #[tokio::test]
    async fn a_body_that_grows_past_its_limit_fails() {
        let rest = HttpBody::from("0123456789");
        let mut body = Gated::new(Bytes::from_static(b"abc"), rest, 8);
        assert!(next_frame(&mut body).await.expect("ahead").is_ok());
        let error = next_frame(&mut body).await.expect("the rest").unwrap_err();
        assert!(error.to_string().contains("limit of 8 bytes"), "{error}");
    }

    /// What `task` returns if it ends within a moment (the waiters it depends on served).
    async fn within_a_moment<T>(task: &mut tokio::task::JoinHandle<T>) -> Option<T> {
        match tokio::time::timeout(Duration::from_millis(100), task).await {
            Ok(ended) => Some(ended.expect("the task ran")),
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn a_client_scans_one_at_a_time_and_clients_take_turns() {
        assert_eq!(
            (MAX_SCANS, MAX_SCANS_PER_CLIENT),
            (2, 1),
            "the test's premise"
        );
        let gate = Gate::new();
        let later = || Instant::now() + Duration::from_secs(10);
        let first = gate.scan(ip(2), later()).await.expect("a free node");
        let other = gate.scan(ip(3), later()).await.expect("a free node");
        // The node is full. Client 2 fires a second scan, then client 4 its first; each task
        // ends holding its turn.
        let spawn = |client| {
            let gate = gate.clone();
            tokio::spawn(async move { gate.scan(client, later()).await })
        };
        let mut second = spawn(ip(2));
        let mut fourth = spawn(ip(4));
        assert!(within_a_moment(&mut second).await.is_none());
        assert!(within_a_moment(&mut fourth).await.is_none());
        // While it waits, client 2's second scan keeps its entry (and so its turn).
        assert_eq!(gate.clients().get(&ip(2)).map(|u| u.scans), Some(2));
        // Client 2's first ends: client 4, which waited for the node only, goes first —
        // client 2's second had to wait for its own turn before it could queue for the node.
        drop(first);
        let fourth = within_a_moment(&mut fourth)
            .await
            .expect("client 4 had the next turn");
        assert!(fourth.is_some());
        assert!(
            within_a_moment(&mut second).await.is_none(),
            "client 2 waits behind client 4"
        );
        // A scan given no turn by its deadline is refused.
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(gate.scan(ip(5), soon).await.is_none());
        drop(other);
        let second = within_a_moment(&mut second)
            .await
            .expect("client 2's turn came");
        assert!(second.is_some());
        drop((second, fourth));
        // Nothing is held now: every entry is forgotten.
        assert_eq!(gate.clients().len(), 0, "idle clients are forgotten");
        assert_eq!(gate.scans.available_permits(), MAX_SCANS);
    }

    #[test]
    fn a_download_request_names_its_blob_by_position_or_by_name() {
        let hash = Hash([7; 32]);
        let hex = hash.to_hex();
        let by_position = json!({"jsonrpc": "2.0", "id": 1, "method": BLOB_GET, "params": [hex]});
        let by_name = json!({"id": "x", "method": BLOB_GET, "params": {"hash": hex}});
        assert_eq!(
            requested_blob(by_position.to_string().as_bytes()),
            Some(hash)
        );
        assert_eq!(requested_blob(by_name.to_string().as_bytes()), Some(hash));
        for garbage in [
            &b"{\"method\":\"blob_get\",\"params\":[\"0x12\"]}"[..],
            b"{\"method\":\"blob_get\"}",
            b"[{\"method\":\"blob_get\"}]",
            b"not json",
        ] {
            assert_eq!(requested_blob(garbage), None);
        }
    }

    /// Found in review (2026-12-04): a download's answer was built before its bytes of the
    /// budget were reserved, so while slow readers held the budget each further `blob_get` of
    /// a 64 MiB blob held its ~128 MiB answer for up to 30 s. A download of a registered blob
    /// now waits for its bytes first; its answer is not built until they are free.
    #[tokio::test]
    async fn a_download_holds_its_budget_before_its_answer_is_built() {
        let gate = Gate::new();
        let (stored, lacking) = (Hash([7; 32]), Hash([8; 32]));
        let size = 1u64 << 20;
        let registry: Registry = Arc::new(move |h: &Hash| {
            let stored = *h == stored;
            (stored || *h == lacking).then_some(Registered { size, stored })
        });
        let built = Arc::new(AtomicUsize::new(0));
        let inner = tower::service_fn({
            let built = built.clone();
            move |_request: HttpRequest| {
                built.fetch_add(1, Ordering::SeqCst);
                let answer = vec![b'0'; usize::try_from(2 * size).unwrap_or(0)];
                async move { Ok::<_, BoxError>(HttpResponse::new(HttpBody::from(answer))) }
            }
        });
        let mut service = HttpLimitsLayer {
            gate: gate.clone(),
            registry,
        }
        .layer(inner);
        let mut get = |from: u8, body: String| {
            let mut request = HttpRequest::new(HttpBody::from(body));
            *request.method_mut() = http::Method::POST;
            request.extensions_mut().insert(ClientAddr(ip(from)));
            let response = service.call(request);
            tokio::spawn(async move { response.await.map(|r| (r.status(), is_refusal(&r))) })
        };
        let of = |hash: Hash| {
            json!({"jsonrpc": "2.0", "id": 1, "method": BLOB_GET, "params": [hash.to_hex()]})
                .to_string()
        };
        let all = gate
            .reserve(MAX_TRANSFER_BYTES)
            .await
            .expect("slow readers hold it all");
        let mut held = get(2, of(stored));
        assert!(
            within_a_moment(&mut held).await.is_none(),
            "it waits for the budget"
        );
        assert_eq!(
            built.load(Ordering::SeqCst),
            0,
            "and builds nothing meanwhile"
        );
        // A blob this node lacks is fetched from peers first, which may take minutes: no budget
        // is held for that, so its answer is made, and only then waits for its bytes.
        let mut fetched = get(3, of(lacking));
        assert!(
            within_a_moment(&mut fetched).await.is_none(),
            "it waits for the budget"
        );
        assert_eq!(built.load(Ordering::SeqCst), 1, "after its answer was made");
        drop(all);
        for task in [held, fetched] {
            let served = task.await.expect("the task ran").expect("an answer");
            assert_eq!(served, (http::StatusCode::OK, false));
        }
        assert_eq!(built.load(Ordering::SeqCst), 2);
        // A request the layer cannot read for its hash is refused, not served unbudgeted.
        let unreadable = of(stored).replace(r#""id":1"#, r#""id":1,"x":"\ud800""#);
        assert!(unreadable.contains("ud800"), "{unreadable}");
        let refused = get(4, unreadable)
            .await
            .expect("the task ran")
            .expect("an answer");
        assert_eq!(refused, (http::StatusCode::BAD_REQUEST, true));
        assert_eq!(built.load(Ordering::SeqCst), 2);
    }

    /// A body that sends `first` (if any) and then nothing: a peer that stopped mid-request.
    struct StallsAfter(Option<Bytes>);

    impl http_body::Body for StallsAfter {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            match self.get_mut().0.take() {
                Some(first) => Poll::Ready(Some(Ok(Frame::data(first)))),
                None => Poll::Pending,
            }
        }
    }

    /// Found in review (2026-12-04): the server takes one of its `MAX_CONNECTIONS` permits for
    /// every HTTP request while reading its body, and only transfers had a body deadline, so 256
    /// HTTP/2 streams from one address that sent a few bytes and stopped made every other HTTP
    /// request busy. A client now has at most `MAX_REQUESTS_PER_CLIENT` requests in flight, and
    /// a call's body that stalls fails at its deadline, letting its permit go.
    #[tokio::test]
    async fn a_client_holds_at_most_its_share_of_requests_and_a_stalled_body_lets_go() {
        // Long enough that the stalled requests are still in flight when the one past the
        // share comes, however slow the machine; short enough for a test.
        let gate = Gate::with_call_body(Duration::from_secs(2));
        let registry: Registry = Arc::new(|_: &Hash| None);
        // Reads the whole body, as the server does holding a permit, then answers.
        let inner = tower::service_fn(|request: HttpRequest| async move {
            let mut body = request.into_body();
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {
                frame?;
            }
            Ok::<_, BoxError>(HttpResponse::new(HttpBody::from("{}")))
        });
        let mut service = HttpLimitsLayer {
            gate: gate.clone(),
            registry,
        }
        .layer(inner);
        let call =
            json!({"jsonrpc": "2.0", "id": 1, "method": method::SYSTEM_HEALTH, "params": []})
                .to_string();
        let mut send = |from: u8, body: HttpBody| {
            let mut request = HttpRequest::new(body);
            *request.method_mut() = http::Method::POST;
            request.extensions_mut().insert(ClientAddr(ip(from)));
            tokio::spawn(service.call(request))
        };
        let prefix = Bytes::from(call[..call.len() - 2].to_owned());
        let stalled: Vec<_> = (0..MAX_REQUESTS_PER_CLIENT)
            .map(|_| send(2, HttpBody::new(StallsAfter(Some(prefix.clone())))))
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let answer = |response: Result<HttpResponse, BoxError>| {
            response.map(|r| (r.status(), is_refusal(&r))).ok()
        };
        let over = send(2, HttpBody::from(call.clone())).await.expect("ran");
        assert_eq!(
            answer(over),
            Some((http::StatusCode::TOO_MANY_REQUESTS, true))
        );
        let other = send(3, HttpBody::from(call.clone())).await.expect("ran");
        assert_eq!(
            answer(other),
            Some((http::StatusCode::OK, false)),
            "another client"
        );
        for request in stalled {
            let ended = tokio::time::timeout(Duration::from_secs(10), request).await;
            let response = ended.expect("a stalled body fails at its deadline");
            // Refused (a strike), not the server's 500 for a body it could not read.
            let late = (http::StatusCode::REQUEST_TIMEOUT, true);
            assert_eq!(answer(response.expect("ran")), Some(late));
        }
        // A body that grows past its method's limit (no length declared) is refused too.
        let oversized = call.clone() + &" ".repeat(MAX_CALL_BYTES);
        let over = send(4, HttpBody::from(oversized)).await.expect("ran");
        let large = (http::StatusCode::PAYLOAD_TOO_LARGE, true);
        assert_eq!(answer(over), Some(large));
        let again = send(2, HttpBody::from(call)).await.expect("ran");
        assert_eq!(
            answer(again),
            Some((http::StatusCode::OK, false)),
            "its share is free"
        );
    }
}
