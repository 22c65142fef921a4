//! [`CallLimitsLayer`]: the per-call half of the limits, in front of every method on both
//! transports (see the [parent module](super)).

use agora_rpc_api::limits::{
    is_scan, is_subscribe, is_transfer, BAN_SECS, MAX_CALLS_IN_FLIGHT, MAX_CALL_BYTES, MAX_SCANS,
    MAX_SCANS_PER_CLIENT, MAX_STRIKES, METHOD_PREFIX_BYTES, SCAN_QUEUE_WAIT_SECS,
    SUBSCRIBES_PER_SEC, SUBSCRIBE_BURST,
};
use agora_rpc_api::{Error, ErrorCode};
use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::types::{ErrorObjectOwned, Request};
use jsonrpsee::MethodResponse;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::Layer;

use super::{AdmittedTransfer, ClientAddr, Gate, Scan};

/// Bounds every method call on one connection; see the module documentation.
#[derive(Clone)]
pub(crate) struct CallLimitsLayer {
    /// Whether the connection is a WebSocket (blob transfers are refused there).
    pub(crate) websocket: bool,
    /// Where refusals are counted against their client.
    pub(crate) gate: Arc<Gate>,
}

impl<S> Layer<S> for CallLimitsLayer {
    type Service = CallLimits<S>;

    /// Called once per WebSocket connection (once per request over HTTP): the counts below are
    /// the connection's.
    fn layer(&self, inner: S) -> CallLimits<S> {
        CallLimits {
            inner,
            websocket: self.websocket,
            gate: self.gate.clone(),
            connection: Arc::new(ConnectionUse {
                in_flight: AtomicUsize::new(0),
                subscribes: Mutex::new(Bucket::full()),
            }),
        }
    }
}

/// What one connection has asked for.
struct ConnectionUse {
    in_flight: AtomicUsize,
    subscribes: Mutex<Bucket>,
}

/// A token bucket: [`SUBSCRIBE_BURST`] tokens, refilled at [`SUBSCRIBES_PER_SEC`].
pub(super) struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub(super) fn full() -> Bucket {
        Bucket {
            tokens: f64::from(SUBSCRIBE_BURST),
            at: Instant::now(),
        }
    }

    pub(super) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * f64::from(SUBSCRIBES_PER_SEC)).min(f64::from(SUBSCRIBE_BURST));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One call in flight; leaving frees its place.
struct InFlight(Arc<ConnectionUse>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `request`'s turn if its method is a scan ([`Gate::scan`]; `None` for any other method), or
/// why it got none within [`SCAN_QUEUE_WAIT_SECS`].
async fn scan_turn(gate: &Arc<Gate>, request: &Request<'_>) -> Result<Option<Scan>, Error> {
    let method = request.method_name();
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let Some(client) = client.filter(|_| is_scan(method)) else {
        return Ok(None);
    };
    let until = Instant::now() + Duration::from_secs(SCAN_QUEUE_WAIT_SECS);
    match gate.scan(client, until).await {
        Some(turn) => Ok(Some(turn)),
        None => Err(Error::new(
            ErrorCode::Busy,
            format!(
                "{method}: no turn to scan within {SCAN_QUEUE_WAIT_SECS} s ({MAX_SCANS_PER_CLIENT} \
                 at a time per client, {MAX_SCANS} on this node)"
            ),
        )),
    }
}

/// The middleware of [`CallLimitsLayer`].
#[derive(Clone)]
pub(crate) struct CallLimits<S> {
    inner: S,
    websocket: bool,
    gate: Arc<Gate>,
    connection: Arc<ConnectionUse>,
}

impl<S> CallLimits<S> {
    /// Admits `method` on this connection, or says why not; `admitted`: the transfer the HTTP
    /// layer admitted the request as, if it did.
    fn admit(&self, method: &str, admitted: Option<AdmittedTransfer>) -> Result<InFlight, Error> {
        // Over HTTP a transfer gets its turn, budget and deadline from the HTTP layer, which
        // knows it by the method its first bytes name; one they hid it from (an `"id"` of
        // "method" before the method, an escaped key, another transfer's name nested first)
        // would have had none, or the other transfer's.
        if !self.websocket && is_transfer(method) && admitted.map(|a| a.0) != Some(method) {
            return Err(Error::invalid_params(format!(
                "{method}: name the method in the request's first {METHOD_PREFIX_BYTES} bytes, \
                 as a plain \"method\" key before any other string \"method\""
            )));
        }
        if self.websocket && is_transfer(method) {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!(
                    "{method} moves a blob of up to {} MiB: call it over HTTP (POST to this \
                     port), not WebSocket, whose messages are limited to {MAX_CALL_BYTES} bytes",
                    crate::blobs::MAX_BLOB_SIZE >> 20
                ),
            ));
        }
        if is_subscribe(method) {
            let mut bucket = self
                .connection
                .subscribes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !bucket.take(Instant::now()) {
                return Err(Error::new(
                    ErrorCode::Busy,
                    format!(
                        "{method}: this connection opens subscriptions faster than \
                         {SUBSCRIBES_PER_SEC} per second (after a burst of {SUBSCRIBE_BURST})"
                    ),
                ));
            }
        }
        let before = self.connection.in_flight.fetch_add(1, Ordering::Relaxed);
        let entered = InFlight(self.connection.clone());
        if before >= MAX_CALLS_IN_FLIGHT {
            return Err(Error::new(
                ErrorCode::Busy,
                format!(
                    "{method}: this connection has {MAX_CALLS_IN_FLIGHT} calls unanswered, its \
                     limit"
                ),
            ));
        }
        Ok(entered)
    }
}

impl<S> RpcServiceT for CallLimits<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let transfer = request.extensions().get::<AdmittedTransfer>().copied();
        let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
        let admitted = if client.is_some_and(|client| self.gate.is_banned(client)) {
            Err(Error::new(
                ErrorCode::Busy,
                format!("this client is banned for {BAN_SECS} s after {MAX_STRIKES} refusals"),
            ))
        } else {
            self.admit(request.method_name(), transfer)
        };
        if admitted.is_err() {
            if let Some(client) = request.extensions().get::<ClientAddr>() {
                self.gate.strike(client.0);
            }
        }
        let inner = self.inner.clone();
        let gate = self.gate.clone();
        async move {
            let held = match admitted {
                Ok(in_flight) => scan_turn(&gate, &request)
                    .await
                    .map(|turn| (in_flight, turn)),
                Err(error) => Err(error),
            };
            match held {
                // Held until the answer is made: the call's place and, for a scan, its turn.
                Ok(_held) => inner.call(request).await,
                Err(error) => MethodResponse::error(request.id(), ErrorObjectOwned::from(error)),
            }
        }
    }

    /// Batches are turned off in the server's configuration and never reach this.
    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.batch(batch)
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.notification(notification)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_past_the_burst_wait_for_the_rate() {
        let mut bucket = Bucket::full();
        let start = bucket.at;
        for _ in 0..SUBSCRIBE_BURST {
            assert!(bucket.take(start));
        }
        assert!(!bucket.take(start), "the burst is spent");
        let later = start + Duration::from_millis(1000 / u64::from(SUBSCRIBES_PER_SEC) + 1);
        assert!(bucket.take(later), "one token back after 1/rate seconds");
        assert!(!bucket.take(later));
    }
}
