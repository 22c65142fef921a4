//! Blob transfers over HTTP: a client's turn, the bytes of the node's budget a transfer holds,
//! and what the HTTP layer reads of a transfer's request to decide them (see the [parent
//! module](super)).

use super::*;

/// A running blob transfer: its client's turn and, once its size is known, its bytes of the
/// node's budget.
pub(super) struct Transfer {
    _turn: OwnedSemaphorePermit,
    _place: ClientPlace,
    budget: Option<OwnedSemaphorePermit>,
}

impl Transfer {
    /// The bytes of the node's budget it holds.
    pub(super) fn held(&self) -> u64 {
        self.budget
            .as_ref()
            .map_or(0, |permit| permit.num_permits() as u64 * BUDGET_UNIT)
    }

    /// Holds at least `bytes` of the node's budget, waiting in order until `until` for what it
    /// lacks; `false` if the budget stayed full.
    pub(super) async fn hold(&mut self, gate: &Gate, bytes: u64, until: Instant) -> bool {
        let lacking = bytes.saturating_sub(self.held());
        if lacking == 0 {
            return true;
        }
        let Some(more) = reserve_until(gate, lacking, until).await else {
            return false;
        };
        match &mut self.budget {
            Some(budget) => budget.merge(more),
            None => self.budget = Some(more),
        }
        true
    }
}

/// How long a transfer may wait for its client's turn and for its bytes of the budget.
pub(super) fn queue_deadline() -> Instant {
    Instant::now() + Duration::from_secs(TRANSFER_QUEUE_WAIT_SECS)
}

/// How large a `blob_put` body may be: the hex of the blob its [`BLOB_HASH_HEADER`] names,
/// which must be registered on chain; without the header, [`MAX_UNNAMED_UPLOAD_BYTES`] (and
/// `true`: the upload is unnamed). Decided from the headers alone, before the upload holds any
/// of the node's budget.
pub(super) fn upload_limit(
    registry: &Registry,
    headers: &http::HeaderMap,
) -> Result<(u64, bool), Refusal> {
    let Some(value) = headers.get(BLOB_HASH_HEADER) else {
        return Ok((MAX_UNNAMED_UPLOAD_BYTES, true));
    };
    let hash = value
        .to_str()
        .ok()
        .and_then(|text| Hash::from_hex(text).ok())
        .ok_or_else(|| Refusal {
            status: 400,
            error: Error::invalid_params(format!(
                "the {BLOB_HASH_HEADER} header {value:?} is not a blob hash (0x and 64 hex digits)"
            )),
        })?;
    let size = registry(&hash)
        .ok_or_else(|| Refusal::unregistered(&hash))?
        .size;
    Ok((max_upload_bytes(size).min(MAX_BODY_BYTES.into()), false))
}

pub(super) fn busy_transfer(method: &str, why: &str) -> Refusal {
    Refusal::busy(200, format!("{method}: {why}; retry later"))
}

/// The rest of a small request's body after `ahead`, all of it; `Err(size)` once it grows past
/// `limit` bytes. A body that cannot be read ends where it broke: the method answers that.
pub(super) async fn read_rest(body: &mut HttpBody, ahead: Bytes, limit: u64) -> Result<Bytes, u64> {
    let mut whole = BytesMut::from(ahead.as_ref());
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        let Ok(data) = frame.map(Frame::into_data) else {
            break;
        };
        whole.extend_from_slice(&data.unwrap_or_default());
        if whole.len() as u64 > limit {
            return Err(whole.len() as u64);
        }
    }
    Ok(whole.freeze())
}

/// The blob a `blob_get` request names (by position or as `hash`), if it is one request that
/// does.
pub(super) fn requested_blob(request: &[u8]) -> Option<Hash> {
    let request: serde_json::Value = serde_json::from_slice(request).ok()?;
    let params = request.get("params")?;
    let hash = params.get(0).or_else(|| params.get("hash"))?;
    Hash::from_hex(hash.as_str()?).ok()
}

/// The most bytes the answer to a `blob_get` of a `size`-byte blob takes: its hex and the
/// JSON around it, whose id is no longer than the `request` bytes that carried it.
pub(super) fn download_bytes(size: u64, request: u64) -> u64 {
    size.saturating_mul(2)
        .saturating_add(request)
        .saturating_add(64)
}

/// `client`'s turn for a transfer by `method`, and, when its size is known (an upload's, or a
/// download of a registered blob's answer), `budget` bytes of the node's budget; waits in order
/// until `until`.
pub(super) async fn acquire_transfer(
    gate: &Arc<Gate>,
    client: IpAddr,
    method: &str,
    budget: Option<u64>,
    until: Instant,
) -> Result<Transfer, Refusal> {
    let place = gate.client_transfer(client).ok_or_else(|| {
        busy_transfer(
            method,
            &format!(
                "this client already has {} blob transfers running or queued, its limit",
                MAX_TRANSFERS_PER_CLIENT + MAX_QUEUED_TRANSFERS_PER_CLIENT
            ),
        )
    })?;
    let waited = || {
        busy_transfer(
            method,
            &format!("no turn for this transfer within {TRANSFER_QUEUE_WAIT_SECS} s"),
        )
    };
    let turn = tokio::time::timeout_at(until, place.turn.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(waited)?;
    let mut transfer = Transfer {
        _turn: turn,
        _place: place,
        budget: None,
    };
    if let Some(bytes) = budget {
        transfer.budget = Some(reserve_until(gate, bytes, until).await.ok_or_else(waited)?);
    }
    Ok(transfer)
}

pub(super) async fn reserve_until(
    gate: &Gate,
    bytes: u64,
    until: Instant,
) -> Option<OwnedSemaphorePermit> {
    tokio::time::timeout_at(until, gate.reserve(bytes))
        .await
        .ok()
        .and_then(Result::ok)
}
