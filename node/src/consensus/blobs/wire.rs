//! The blob channel's messages: every message is a one-byte tag and the blob's 32-byte hash,
//! then
//! - `Get` (tag 0): the offset (u64, little-endian) and length (u32, little-endian) asked for;
//! - `Data` (tag 1): the offset (u64, little-endian) and the chunk's bytes, the rest of the
//!   message;
//! - `Missing` (tag 2): nothing more.

use agora_primitives::Hash;

const TAG_GET: u8 = 0;
const TAG_DATA: u8 = 1;
const TAG_MISSING: u8 = 2;

/// A request for `length` bytes of `hash` at `offset`.
pub(in crate::consensus) fn get_message(hash: Hash, offset: u64, length: u32) -> Vec<u8> {
    let mut message = Vec::with_capacity(45);
    message.push(TAG_GET);
    message.extend_from_slice(&hash.0);
    message.extend_from_slice(&offset.to_le_bytes());
    message.extend_from_slice(&length.to_le_bytes());
    message
}

/// A chunk of `hash` at `offset`.
pub(in crate::consensus) fn data_message(hash: Hash, offset: u64, bytes: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(bytes.len().saturating_add(41));
    data.push(TAG_DATA);
    data.extend_from_slice(&hash.0);
    data.extend_from_slice(&offset.to_le_bytes());
    data.extend_from_slice(bytes);
    data
}

/// The answer that this node does not hold `hash`.
pub(in crate::consensus) fn missing_message(hash: Hash) -> Vec<u8> {
    [&[TAG_MISSING][..], &hash.0].concat()
}

/// A decoded message of the blob channel.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::consensus) enum Message<'a> {
    Get {
        hash: Hash,
        offset: u64,
        length: u32,
    },
    Data {
        hash: Hash,
        offset: u64,
        bytes: &'a [u8],
    },
    Missing(Hash),
}

/// Decodes a message of the blob channel; `None` for anything malformed (an unknown tag, a
/// short header, a `Missing` with trailing bytes, a `Get` of the wrong length).
pub(in crate::consensus) fn decode(message: &[u8]) -> Option<Message<'_>> {
    let (&tag, body) = message.split_first()?;
    let (hash, rest) = body.split_first_chunk::<32>()?;
    let hash = Hash(*hash);
    match tag {
        TAG_GET => {
            let (offset, rest) = rest.split_first_chunk::<8>()?;
            let length = <[u8; 4]>::try_from(rest).ok()?;
            Some(Message::Get {
                hash,
                offset: u64::from_le_bytes(*offset),
                length: u32::from_le_bytes(length),
            })
        }
        TAG_DATA => {
            let (offset, bytes) = rest.split_first_chunk::<8>()?;
            Some(Message::Data {
                hash,
                offset: u64::from_le_bytes(*offset),
                bytes,
            })
        }
        TAG_MISSING if rest.is_empty() => Some(Message::Missing(hash)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_malformed_ones_are_refused() {
        let hash = Hash::of(b"blob");
        let get = get_message(hash, 7, 9);
        assert_eq!(
            decode(&get),
            Some(Message::Get {
                hash,
                offset: 7,
                length: 9
            })
        );
        assert_eq!(decode(&get[..get.len() - 1]), None);
        let missing = missing_message(hash);
        assert_eq!(decode(&missing), Some(Message::Missing(hash)));
        assert_eq!(decode(&[&missing[..], &[0]].concat()), None);
        let data = data_message(hash, 3, b"abc");
        assert_eq!(
            decode(&data),
            Some(Message::Data {
                hash,
                offset: 3,
                bytes: b"abc"
            })
        );
        assert_eq!(decode(&[9u8; 41]), None, "unknown tag");
    }
}
