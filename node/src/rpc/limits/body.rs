//! The bodies the HTTP layer passes on (see the [parent module](super)): a request's, kept to
//! its method's limit and deadline; a blob download's answer, handed to hyper in frames of at
//! most [`ANSWER_FRAME_BYTES`] while the transfer's budget is held, and its connection closed
//! if the client has not taken it by the transfer's deadline ([`close_if_late`]).

use super::*;
use tokio::sync::oneshot;

/// The largest frame of a download's answer handed to hyper at a time, each a copy. hyper
/// polls a body for its next frame only while its write buffer has room, so what it holds of
/// an answer the client is slow to take is bounded by its buffer and one frame — not the whole
/// ~128 MiB answer, which before went over as one frame and was queued whole while the
/// transfer's budget, turn and deadline ended at once. A copy, not a view into the answer: a
/// view would keep the whole answer's allocation alive for as long as hyper (or h2's send
/// buffer) held the last frame, after the transfer had ended.
pub(super) const ANSWER_FRAME_BYTES: usize = 64 * 1024;

/// Why a request's body failed, as [`Gated`] records it.
pub(super) const BODY_OK: u8 = 0;
/// It missed its deadline.
pub(super) const BODY_LATE: u8 = 1;
/// It grew past its limit.
pub(super) const BODY_TOO_LARGE: u8 = 2;

/// A body passed on: the bytes read ahead first, then the rest, refused past `limit`, failed
/// past its deadline, holding a transfer's slots until it ends or is dropped; with a frame
/// bound ([`Gated::in_frames_of`]), its data goes out in copied frames of at most that size.
pub(super) struct Gated {
    ahead: Option<Bytes>,
    rest: HttpBody,
    limit: u64,
    seen: u64,
    deadline: Option<Pin<Box<Sleep>>>,
    transfer: Option<Transfer>,
    /// Set when the deadline fails the body.
    failed: Option<Arc<AtomicU8>>,
    /// The largest data frame passed on; a larger one is split.
    frame: Option<usize>,
    /// Dropped when the body ends or is dropped: tells [`close_if_late`] it is done.
    sent: Option<oneshot::Sender<()>>,
}

impl Gated {
    pub(super) fn new(ahead: Bytes, rest: HttpBody, limit: u64) -> Gated {
        Gated {
            seen: ahead.len() as u64,
            ahead: (!ahead.is_empty()).then_some(ahead),
            rest,
            limit,
            deadline: None,
            transfer: None,
            failed: None,
            frame: None,
            sent: None,
        }
    }

    /// Fails the body if all of its `bytes` have not moved in time.
    pub(super) fn with_deadline(self, bytes: u64) -> Gated {
        self.within(Duration::from_secs(transfer_deadline_secs(bytes)))
    }

    /// Fails the body if it has not ended within `time`.
    pub(super) fn within(self, time: Duration) -> Gated {
        self.until(Instant::now() + time)
    }

    /// Fails the body if it has not ended by `deadline` (and is polled: see [`close_if_late`]
    /// for a body nobody polls).
    pub(super) fn until(mut self, deadline: Instant) -> Gated {
        self.deadline = Some(Box::pin(tokio::time::sleep_until(deadline)));
        self
    }

    /// Passes data on in frames of at most `bytes`.
    pub(super) fn in_frames_of(mut self, bytes: usize) -> Gated {
        self.frame = Some(bytes.max(1));
        self
    }

    /// The body, and what resolves (with an error: nothing is sent on it) when the body ends
    /// or is dropped.
    pub(super) fn watched(mut self) -> (Gated, oneshot::Receiver<()>) {
        let (sent, done) = oneshot::channel();
        self.sent = Some(sent);
        (self, done)
    }

    /// `data` as the next frame: with a frame bound, a copy of at most that many bytes, the
    /// rest kept (as a view) to go next; without one, `data` itself.
    fn framed(&mut self, data: Bytes) -> Bytes {
        let Some(bound) = self.frame else {
            return data;
        };
        let piece = Bytes::copy_from_slice(data.get(..bound).unwrap_or(&data));
        if piece.len() < data.len() {
            debug_assert!(
                self.ahead.is_none(),
                "the rest of one frame is kept at a time"
            );
            self.ahead = Some(data.slice(piece.len()..));
        }
        piece
    }

    /// Records in `failed` why the body failed ([`BODY_LATE`], [`BODY_TOO_LARGE`]).
    pub(super) fn flagging(mut self, failed: Arc<AtomicU8>) -> Gated {
        self.failed = Some(failed);
        self
    }

    fn fail(&mut self, why: u8) {
        self.finish();
        if let Some(failed) = &self.failed {
            failed.store(why, Ordering::Relaxed);
        }
    }

    pub(super) fn holding(mut self, transfer: Transfer) -> Gated {
        self.transfer = Some(transfer);
        self
    }

    fn finish(&mut self) {
        self.deadline = None;
        self.transfer = None;
        self.sent = None;
    }
}

impl http_body::Body for Gated {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                this.fail(BODY_LATE);
                return Poll::Ready(Some(Err(
                    "the body moved too slowly and missed its deadline".into(),
                )));
            }
        }
        if let Some(ahead) = this.ahead.take() {
            return Poll::Ready(Some(Ok(Frame::data(this.framed(ahead)))));
        }
        match Pin::new(&mut this.rest).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.seen > this.limit {
                        this.fail(BODY_TOO_LARGE);
                        return Poll::Ready(Some(Err(format!(
                            "the body grew past its limit of {} bytes",
                            this.limit
                        )
                        .into())));
                    }
                }
                match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(Frame::data(this.framed(data))))),
                    Err(frame) => Poll::Ready(Some(Ok(frame))),
                }
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ahead.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let ahead = self.ahead.as_ref().map_or(0, |a| a.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(ahead));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(ahead));
        }
        hint
    }
}

/// Closes the connection of a download whose answer its client has not taken by `deadline`
/// (`done` resolves when the answer's body ends or is dropped), and counts a strike.
///
/// Why a task of its own: the body's own deadline is looked at only when the body is polled,
/// and hyper polls it only when it has room for a frame — over HTTP/1, when its write buffer
/// is under its bound (with the buffer full at the deadline, it only tries to flush); over
/// HTTP/2, when the stream has send window (a client that keeps it at zero is never polled
/// again). Then the transfer — its turn, its bytes of the node's budget, and the answer in
/// memory — would be held for as long as the client kept the connection open. Closing the
/// connection drops the body, and with it all three.
pub(super) async fn close_if_late(
    deadline: Instant,
    done: oneshot::Receiver<()>,
    closer: Closer,
    (gate, client): (Arc<Gate>, IpAddr),
) {
    tokio::select! {
        // The body ended (or failed at its own deadline, a strike already) first if both are.
        biased;
        _ = done => {}
        () = tokio::time::sleep_until(deadline) => {
            tracing::debug!(
                target: "rpc",
                "closed a connection of {}: its download was not taken by its deadline",
                client_name(client)
            );
            closer.close();
            gate.strike(client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_rpc_api::method::BLOB_GET;
    use serde_json::json;
    use std::net::Ipv4Addr;

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    /// The blob every download asks for, registered and held, of [`SIZE`] bytes.
    const BLOB: Hash = Hash([7; 32]);
    const SIZE: u64 = 1 << 20;

    /// The HTTP layer over a server that answers a download with `2 × SIZE` bytes, and a
    /// connection of [`CLIENT`]'s admitted to the gate.
    fn served() -> (
        Arc<Gate>,
        ConnectionSlot,
        impl FnMut() -> BoxFuture<'static, HttpResponse>,
    ) {
        let gate = Gate::new();
        let slot = gate.admit(CLIENT).expect("a first connection");
        let registry: Registry = Arc::new(|h: &Hash| {
            (*h == BLOB).then_some(Registered {
                size: SIZE,
                stored: true,
            })
        });
        let inner = tower::service_fn(|_request: HttpRequest| async {
            let answer = vec![b'0'; usize::try_from(2 * SIZE).unwrap_or(0)];
            Ok::<_, BoxError>(HttpResponse::new(HttpBody::from(answer)))
        });
        let mut service = HttpLimitsLayer {
            gate: gate.clone(),
            registry,
        }
        .layer(inner);
        let closer = slot.closer();
        let get = move || {
            let body =
                json!({"jsonrpc": "2.0", "id": 1, "method": BLOB_GET, "params": [BLOB.to_hex()]});
            let mut request = HttpRequest::new(HttpBody::from(body.to_string()));
            *request.method_mut() = http::Method::POST;
            request.extensions_mut().insert(ClientAddr(CLIENT));
            request.extensions_mut().insert(closer.clone());
            let response = service.call(request);
            Box::pin(async move { response.await.expect("an answer") })
                as BoxFuture<'static, HttpResponse>
        };
        (gate, slot, get)
    }

    async fn next_frame(body: &mut HttpBody) -> Option<Bytes> {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        Some(frame.expect("a frame").into_data().expect("data"))
    }

    /// Found in review (docs/reliability.md): a download's answer went to hyper as one frame
    /// of ~128 MiB, which over HTTP/1 it queued whole, so the transfer's budget, turn and
    /// deadline ended while the answer still sat in memory for a client that might never read
    /// it. Now the answer goes a bounded frame at a time and the budget is held to the last.
    #[tokio::test]
    async fn a_downloads_answer_goes_in_bounded_frames_holding_its_budget_to_the_last() {
        let (gate, _slot, mut get) = served();
        let full = gate.budget.available_permits();
        let mut body = get().await.into_body();
        let mut taken = 0usize;
        while let Some(data) = next_frame(&mut body).await {
            assert!(
                data.len() <= ANSWER_FRAME_BYTES,
                "a frame of {} bytes",
                data.len()
            );
            taken += data.len();
            if taken < usize::try_from(2 * SIZE).unwrap_or(0) {
                assert!(
                    gate.budget.available_permits() < full,
                    "the budget is held while {taken} bytes of the answer have gone"
                );
            }
        }
        assert_eq!(taken as u64, 2 * SIZE);
        assert_eq!(
            gate.budget.available_permits(),
            full,
            "and freed at its end"
        );
    }

    /// Found in the same review: a body hyper does not poll (an HTTP/2 stream with no send
    /// window, an HTTP/1 write buffer full at the deadline) never looked at the transfer's
    /// deadline, and the transfer was held as long as the connection stayed open. Now the
    /// connection is closed at the deadline (a strike against the client); one whose answer
    /// was taken in time is not.
    #[tokio::test]
    async fn a_download_its_client_stops_taking_closes_its_connection_at_the_deadline() {
        let answer = || HttpBody::from(vec![b'0'; 1 << 20]);
        let soon = || Instant::now() + Duration::from_millis(200);
        let gate = Gate::new();
        let slot = gate.admit(CLIENT).expect("a first connection");
        let (stalled, done) = Gated::new(Bytes::new(), answer(), u64::MAX)
            .in_frames_of(ANSWER_FRAME_BYTES)
            .watched();
        let watch = (gate.clone(), CLIENT);
        tokio::spawn(close_if_late(soon(), done, slot.closer(), watch));
        let closed = tokio::time::timeout(Duration::from_secs(10), slot.closed()).await;
        assert!(
            closed.is_ok(),
            "the stalled download's connection is closed"
        );
        assert_eq!(gate.clients().get(&CLIENT).map(|u| u.strikes), Some(1));
        drop(stalled);

        let gate = Gate::new();
        let slot = gate.admit(CLIENT).expect("a first connection");
        let (taken, done) = Gated::new(Bytes::new(), answer(), u64::MAX)
            .in_frames_of(ANSWER_FRAME_BYTES)
            .watched();
        let watch = (gate.clone(), CLIENT);
        tokio::spawn(close_if_late(soon(), done, slot.closer(), watch));
        let mut taken = HttpBody::new(taken);
        while next_frame(&mut taken).await.is_some() {}
        let closed = tokio::time::timeout(Duration::from_millis(600), slot.closed()).await;
        assert!(
            closed.is_err(),
            "nothing closes a connection whose answer was taken"
        );
        assert_eq!(gate.clients().get(&CLIENT).map(|u| u.strikes), Some(0));
    }

    /// Found in review of the frames above: the frames were views into the answer, so hyper,
    /// holding the last of them after the transfer had ended, kept the whole answer's
    /// allocation alive for as long as the client left it unread. Each frame is now a copy.
    #[test]
    fn a_frame_handed_on_is_a_copy_not_a_view_into_the_answer() {
        let answer = Bytes::from(vec![7u8; 10]);
        let range = answer.as_ptr_range();
        let mut body =
            Gated::new(Bytes::new(), HttpBody::from(Vec::new()), u64::MAX).in_frames_of(4);
        let mut pieces = vec![body.framed(answer.clone())];
        while let Some(rest) = body.ahead.take() {
            pieces.push(body.framed(rest));
        }
        let lengths: Vec<usize> = pieces.iter().map(Bytes::len).collect();
        assert_eq!(lengths, [4, 4, 2]);
        assert_eq!(pieces.concat(), answer.to_vec());
        for piece in &pieces {
            assert!(
                !range.contains(&piece.as_ptr()),
                "a frame shares the answer's memory"
            );
        }
    }

    /// What the HTTP layer does with a download nobody takes: at the transfer's deadline
    /// (here 12 s, for a 2 MiB answer) its connection is told to close.
    #[tokio::test]
    async fn the_http_layer_closes_a_download_nobody_takes_at_its_deadline() {
        let (gate, slot, mut get) = served();
        let _stalled = get().await.into_body();
        let deadline = Duration::from_secs(transfer_deadline_secs(2 * SIZE + 200) + 3);
        let closed = tokio::time::timeout(deadline, slot.closed()).await;
        assert!(closed.is_ok(), "the connection is told to close");
        assert_eq!(gate.clients().get(&CLIENT).map(|u| u.strikes), Some(1));
    }
}
