//! Lists that refuse an insert past their bound.

use parity_scale_codec::{Encode, Output};
use std::ops::Deref;

/// An insert was refused: the list is at its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundExceeded;

/// A `Vec<T>` with a bound on its length, enforced on every insert.
///
/// The bound is a runtime parameter (a pallet's `Config::MAX_…`), so it travels with the value
/// rather than in the type; storage keeps the plain `Vec<T>` (this type encodes exactly like
/// it) and a pallet wraps what it reads with [`BoundedVec::with_bound`] before changing it.
/// A list read from storage is taken as it is, even if a lower bound has since been configured:
/// the bound refuses growth, it never drops stored entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundedVec<T> {
    items: Vec<T>,
    bound: usize,
}

impl<T> BoundedVec<T> {
    /// An empty list that takes at most `bound` items.
    pub fn new(bound: u32) -> Self {
        Self::with_bound(Vec::new(), bound)
    }

    /// `items` (typically as read from storage) under `bound`.
    pub fn with_bound(items: Vec<T>, bound: u32) -> Self {
        BoundedVec {
            items,
            bound: crate::to_usize(bound),
        }
    }

    /// Whether another insert would be refused.
    pub fn is_full(&self) -> bool {
        self.items.len() >= self.bound
    }

    /// Appends `item`, or refuses (changing nothing) when the list is full.
    pub fn try_push(&mut self, item: T) -> Result<(), BoundExceeded> {
        if self.is_full() {
            return Err(BoundExceeded);
        }
        self.items.push(item);
        Ok(())
    }

    /// Appends `items`, dropping the oldest entries so that at most `bound` remain: the
    /// behaviour of a history that keeps the last `bound` records.
    pub fn push_evicting(&mut self, items: impl IntoIterator<Item = T>) {
        self.items.extend(items);
        let excess = self.items.len().saturating_sub(self.bound);
        self.items.drain(..excess);
    }

    /// Keeps only the items for which `keep` holds.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.items.retain(keep);
    }

    /// The items as the `Vec<T>` storage keeps.
    pub fn as_vec(&self) -> &Vec<T> {
        &self.items
    }

    /// The items.
    pub fn into_inner(self) -> Vec<T> {
        self.items
    }
}

impl<T> Deref for BoundedVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

/// Exactly the encoding of `Vec<T>`: compact length, then the items.
impl<T: Encode> Encode for BoundedVec<T> {
    fn size_hint(&self) -> usize {
        self.items.size_hint()
    }
    fn encode_to<O: Output + ?Sized>(&self, dest: &mut O) {
        self.items.encode_to(dest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_past_the_bound_are_refused_and_change_nothing() {
        let mut list = BoundedVec::new(2);
        list.try_push(1u64).expect("room for the first");
        list.try_push(2).expect("room for the second");
        assert!(list.is_full());
        assert_eq!(list.try_push(3), Err(BoundExceeded));
        assert_eq!(&list[..], &[1, 2]);
        list.retain(|item| *item != 1);
        assert_eq!(list.try_push(3), Ok(()));
        assert_eq!(list.into_inner(), vec![2, 3]);
    }

    #[test]
    fn a_stored_list_over_a_lowered_bound_is_kept_but_cannot_grow() {
        let mut list = BoundedVec::with_bound(vec![1u8, 2, 3], 2);
        assert_eq!(list.len(), 3);
        assert_eq!(list.try_push(4), Err(BoundExceeded));
    }

    #[test]
    fn histories_keep_the_newest() {
        let mut history = BoundedVec::with_bound(vec![1u8, 2], 3);
        history.push_evicting([3, 4, 5]);
        assert_eq!(history.as_vec(), &vec![3, 4, 5]);
    }

    #[test]
    fn encodes_exactly_like_a_vec() {
        let items: Vec<u64> = (0..70).collect();
        let bounded = BoundedVec::with_bound(items.clone(), 100);
        assert_eq!(bounded.encode(), items.encode());
        assert_eq!(BoundedVec::<u8>::new(1).encode(), Vec::<u8>::new().encode());
    }
}
