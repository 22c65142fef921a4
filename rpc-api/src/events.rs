//! A block's events, as JSON for people (`agora_events`) and SCALE-encoded for programs
//! (`agora_encodedEvents`), decoded with the runtime's own types.

use crate::api::AgoraApiClient;
use crate::types::Hex;
use agora_primitives::storage::RawEvent;
use agora_primitives::{Hash, HexError};
use agora_runtime::EventRecord;
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The answer of `agora_events`: the runtime's event records rendered as JSON by the runtime's
/// own `Serialize` (`[{"phase": …, "event": {"Balances": {"Transfer": {…}}}}, …]`), carried as
/// text so that u128 amounts stay exact. For people and scripts; programs use
/// [`EncodedEvents`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventsJson(Box<RawValue>);

impl EventsJson {
    /// Renders `records` as the runtime serializes them.
    pub fn from_records(records: &[EventRecord]) -> Result<EventsJson, serde_json::Error> {
        serde_json::value::to_raw_value(records).map(EventsJson)
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

/// The answer of `agora_encodedEvents`: hex of the block's event records exactly as the node
/// stores them and the header commits to them (SCALE `Vec<RawEvent>`: each record's phase and
/// its runtime event's encoding).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EncodedEvents(Hex);

/// Why events could not be fetched or decoded.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The call failed.
    #[error("agora_encodedEvents failed: {0}")]
    Rpc(#[from] jsonrpsee::core::client::Error),
    /// The answer is not hex.
    #[error("the encoded events are not hex: {0}")]
    Hex(#[from] HexError),
    /// The bytes are not this runtime's events.
    #[error("the events do not decode with this runtime's types: {0}")]
    Decode(#[from] parity_scale_codec::Error),
}

impl EncodedEvents {
    /// Encodes raw records as the node sends them.
    pub fn from_raw(records: &[RawEvent]) -> EncodedEvents {
        EncodedEvents(Hex::encode(&records.encode()))
    }

    /// The SCALE bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, HexError> {
        self.0.decode()
    }

    /// blake3 of the bytes: equal to the block header's `eventsRoot` if these are its events.
    pub fn hash(&self) -> Result<Hash, HexError> {
        Ok(Hash::of(&self.bytes()?))
    }

    /// The records as stored, each event still encoded.
    pub fn raw(&self) -> Result<Vec<RawEvent>, EventsError> {
        let bytes = self.bytes()?;
        let mut input = &bytes[..];
        let records = Vec::<RawEvent>::decode(&mut input)?;
        if !input.is_empty() {
            return Err(EventsError::Decode(
                "trailing bytes after the events".into(),
            ));
        }
        Ok(records)
    }

    /// The records decoded with the runtime's own types ([`agora_runtime::decode_events`]).
    pub fn decode(&self) -> Result<Vec<EventRecord>, EventsError> {
        Ok(agora_runtime::decode_events(&self.raw()?)?)
    }

    /// The hex text.
    pub fn as_hex(&self) -> &Hex {
        &self.0
    }
}

/// The events of block `at` (default: the finalized head), decoded with the runtime's types:
/// `agora_encodedEvents` then [`EncodedEvents::decode`].
pub async fn block_events<C>(client: &C, at: Option<Hash>) -> Result<Vec<EventRecord>, EventsError>
where
    C: AgoraApiClient + Sync,
{
    client.encoded_events(at).await?.decode()
}
