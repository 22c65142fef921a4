//! Length-prefixed framing shared by the sync and relay messages: a sequence of parts, each a
//! `u32` little-endian length followed by that many bytes.

/// Appends `parts` to `message`, each length-prefixed; `None` if a part exceeds `u32::MAX`.
pub(super) fn encode<'a>(
    message: &mut Vec<u8>,
    parts: impl IntoIterator<Item = &'a [u8]>,
) -> Option<()> {
    for part in parts {
        message.extend_from_slice(&u32::try_from(part.len()).ok()?.to_le_bytes());
        message.extend_from_slice(part);
    }
    Some(())
}

/// Splits `body` into its parts; `None` if it is malformed or holds more than `max_parts`.
pub(super) fn decode(mut body: &[u8], max_parts: usize) -> Option<Vec<Vec<u8>>> {
    let mut parts = Vec::new();
    while !body.is_empty() {
        if parts.len() >= max_parts {
            return None;
        }
        let (length, rest) = body.split_first_chunk::<4>()?;
        let length = usize::try_from(u32::from_le_bytes(*length)).ok()?;
        if rest.len() < length {
            return None;
        }
        let (part, rest) = rest.split_at(length);
        parts.push(part.to_vec());
        body = rest;
    }
    Some(parts)
}
