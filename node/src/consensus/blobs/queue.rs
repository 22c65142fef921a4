//! The queue of fetches ahead of need waiting for a slot (see "Who gets a slot" in the
//! parent module): kept per requester, at most [`MAX_QUEUED_PER_REQUESTER`] places each and
//! [`MAX_QUEUE_PLACES`] in all, [`MAX_QUEUED`] blobs; [`AheadQueue::next`] serves the
//! requesters in turn, each one's oldest first. A blob several requesters asked for holds a
//! place in each one's queue and leaves all of them when it starts. Time comes in as an
//! argument: the queue reads no clock.

use super::{
    FetchError, Reply, Requester, MAX_QUEUED, MAX_QUEUED_PER_REQUESTER, MAX_QUEUE_PLACES,
    QUEUE_PATIENCE,
};
use agora_primitives::Hash;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::time::SystemTime;

/// A fetch ahead of need waiting for a slot.
pub(super) struct Queued {
    /// The requesters holding a place for it in their queues.
    requesters: BTreeSet<Requester>,
    pub(super) size: u64,
    /// When the last requester took a place for it ([`QUEUE_PATIENCE`]).
    since: SystemTime,
    pub(super) waiters: Vec<Reply>,
}

/// Queued fetches ahead of need. Invariant: a hash is in a requester's queue exactly when
/// that requester is among its entry's `requesters`, and no requester's queue is empty.
#[derive(Default)]
pub(super) struct AheadQueue {
    /// Each requester's places, oldest first.
    queues: BTreeMap<Requester, VecDeque<Hash>>,
    /// The requester whose queued fetch started last: the next goes to the one after it.
    last_started: Option<Requester>,
    /// The queued blobs.
    queued: BTreeMap<Hash, Queued>,
}

impl AheadQueue {
    pub(super) fn contains(&self, hash: &Hash) -> bool {
        self.queued.contains_key(hash)
    }

    /// Whether `requester` may take one more place.
    fn has_place(&self, requester: &Requester) -> bool {
        let queue = self.queues.get(requester).map_or(0, VecDeque::len);
        let places: usize = self.queues.values().map(VecDeque::len).sum();
        queue < MAX_QUEUED_PER_REQUESTER && places < MAX_QUEUE_PLACES
    }

    /// Queues blob `hash` (not queued yet) of `size` bytes for `requester`, answering
    /// `reply` when it ends; hands `reply` back when the queue, or the requester's share of
    /// it, is full.
    pub(super) fn enqueue(
        &mut self,
        hash: Hash,
        size: u64,
        requester: Requester,
        reply: Reply,
        now: SystemTime,
    ) -> Result<(), Reply> {
        debug_assert!(!self.contains(&hash), "a queued blob takes a place instead");
        if self.queued.len() >= MAX_QUEUED || !self.has_place(&requester) {
            return Err(reply);
        }
        self.queues.entry(requester).or_default().push_back(hash);
        let queued = Queued {
            requesters: BTreeSet::from([requester]),
            size,
            since: now,
            waiters: vec![reply],
        };
        self.queued.insert(hash, queued);
        Ok(())
    }

    /// Gives `requester` a place for the queued blob `hash` too, if it has none and may take
    /// one: the blob starts at the turn of whichever requester holding a place comes first,
    /// so naming another's blob first cannot pull it into one's own turns. Its patience
    /// starts again: a new requester waits for its own turn.
    pub(super) fn add_place(&mut self, hash: Hash, requester: Requester, now: SystemTime) {
        let may = self.has_place(&requester);
        let Some(queued) = self.queued.get_mut(&hash) else {
            return;
        };
        if !may || !queued.requesters.insert(requester) {
            return;
        }
        queued.since = now;
        self.queues.entry(requester).or_default().push_back(hash);
    }

    /// Removes the queued blob `hash` and every place held for it.
    pub(super) fn take(&mut self, hash: Hash) -> Option<Queued> {
        let queued = self.queued.remove(&hash)?;
        for requester in &queued.requesters {
            if let Some(queue) = self.queues.get_mut(requester) {
                queue.retain(|queued| *queued != hash);
                if queue.is_empty() {
                    self.queues.remove(requester);
                }
            }
        }
        Some(queued)
    }

    /// Takes the next blob to start: the oldest of the requester after the one served last
    /// (in key order, wrapping), with that requester.
    pub(super) fn next(&mut self) -> Option<(Hash, Requester, Queued)> {
        let after = self.last_started.map_or(Bound::Unbounded, Bound::Excluded);
        let next = self.queues.range((after, Bound::Unbounded)).next();
        let (requester, queue) = next.or_else(|| self.queues.iter().next())?;
        let (requester, hash) = (*requester, *queue.front()?);
        self.last_started = Some(requester);
        let queued = self.take(hash)?;
        Some((hash, requester, queued))
    }

    /// Refuses ([`FetchError::Busy`]) the blobs queued past [`QUEUE_PATIENCE`] and forgets
    /// those nobody waits for any more.
    pub(super) fn prune(&mut self, now: SystemTime) {
        let mut gone = Vec::new();
        for (hash, queued) in &mut self.queued {
            let waited = now.duration_since(queued.since).unwrap_or_default();
            if waited >= QUEUE_PATIENCE {
                for waiter in queued.waiters.drain(..) {
                    let _ = waiter.send(Err(FetchError::Busy));
                }
            }
            queued.waiters.retain(|waiter| !waiter.is_closed());
            if queued.waiters.is_empty() {
                gone.push(*hash);
            }
        }
        for hash in gone {
            self.take(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_utils::channel::oneshot;
    use std::time::Duration;

    fn blob(name: &str) -> Hash {
        Hash::of(name.as_bytes())
    }

    /// Queues `names` for `requester` at `now`, each accepted; returns the answer receivers.
    fn enqueue_all(
        queue: &mut AheadQueue,
        requester: u8,
        names: &[&str],
        now: SystemTime,
    ) -> Vec<oneshot::Receiver<Result<std::sync::Arc<[u8]>, FetchError>>> {
        names
            .iter()
            .map(|name| {
                let (reply, answer) = oneshot::channel();
                let queued = queue.enqueue(blob(name), 1, [requester; 32], reply, now);
                assert!(queued.is_ok(), "{name} queued");
                answer
            })
            .collect()
    }

    /// Takes every blob in the order the queue starts them, with its requester.
    fn drain(queue: &mut AheadQueue) -> Vec<(Hash, u8)> {
        std::iter::from_fn(|| queue.next())
            .take(MAX_QUEUE_PLACES)
            .map(|(hash, requester, _)| (hash, requester[0]))
            .collect()
    }

    /// Checks the invariant: places and entries agree, no queue is empty.
    fn check(queue: &AheadQueue) {
        for (requester, places) in &queue.queues {
            assert!(!places.is_empty(), "an empty queue is kept");
            for hash in places {
                let entry = queue.queued.get(hash).expect("a place of a queued blob");
                assert!(entry.requesters.contains(requester));
            }
        }
        for (hash, entry) in &queue.queued {
            for requester in &entry.requesters {
                assert!(queue
                    .queues
                    .get(requester)
                    .is_some_and(|q| q.contains(hash)));
            }
        }
    }

    #[test]
    fn requesters_are_served_in_turn_each_oldest_first() {
        let (mut queue, now) = (AheadQueue::default(), SystemTime::UNIX_EPOCH);
        let _a = enqueue_all(&mut queue, 1, &["a1", "a2", "a3"], now);
        let _b = enqueue_all(&mut queue, 2, &["b1"], now);
        let _c = enqueue_all(&mut queue, 3, &["c1", "c2"], now);
        check(&queue);
        let order = [
            ("a1", 1),
            ("b1", 2),
            ("c1", 3),
            ("a2", 1),
            ("c2", 3),
            ("a3", 1),
        ];
        let expected: Vec<(Hash, u8)> = order.iter().map(|(n, r)| (blob(n), *r)).collect();
        assert_eq!(drain(&mut queue), expected);
        check(&queue);
        assert!(queue.queued.is_empty() && queue.queues.is_empty());
    }

    #[test]
    fn a_requester_s_share_is_bounded_and_others_still_queue() {
        let (mut queue, now) = (AheadQueue::default(), SystemTime::UNIX_EPOCH);
        let names: Vec<String> = (0..MAX_QUEUED_PER_REQUESTER)
            .map(|i| format!("{i}"))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let _full = enqueue_all(&mut queue, 1, &names, now);
        let (reply, _answer) = oneshot::channel();
        assert!(queue.enqueue(blob("more"), 1, [1; 32], reply, now).is_err());
        let _other = enqueue_all(&mut queue, 2, &["more"], now);
        check(&queue);
    }

    #[test]
    fn a_blob_two_requesters_asked_for_starts_at_the_first_turn_and_leaves_both_queues() {
        let (mut queue, now) = (AheadQueue::default(), SystemTime::UNIX_EPOCH);
        let _a = enqueue_all(&mut queue, 1, &["a1", "a2", "x"], now);
        queue.add_place(blob("x"), [2; 32], now);
        check(&queue);
        let order = [("a1", 1), ("x", 2), ("a2", 1)];
        let expected: Vec<(Hash, u8)> = order.iter().map(|(n, r)| (blob(n), *r)).collect();
        assert_eq!(drain(&mut queue), expected);
        check(&queue);
    }

    #[test]
    fn a_blob_queued_past_its_patience_is_refused_and_a_new_requester_restarts_it() {
        let (mut queue, start) = (AheadQueue::default(), SystemTime::UNIX_EPOCH);
        let mut answers = enqueue_all(&mut queue, 1, &["old", "renewed"], start);
        let later = start + QUEUE_PATIENCE / 2;
        queue.add_place(blob("renewed"), [2; 32], later);
        queue.prune(start + QUEUE_PATIENCE);
        check(&queue);
        assert_eq!(answers[0].try_recv().ok(), Some(Err(FetchError::Busy)));
        assert!(!queue.contains(&blob("old")));
        assert!(
            queue.contains(&blob("renewed")),
            "its patience started again"
        );
        queue.prune(later + QUEUE_PATIENCE + Duration::from_millis(1));
        assert_eq!(answers[1].try_recv().ok(), Some(Err(FetchError::Busy)));
        assert!(queue.queued.is_empty() && queue.queues.is_empty());
    }
}
