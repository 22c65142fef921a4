//! Due lists: a storage map `BlockNumber → Vec<V>` of what happens in a block's hooks (a
//! deadline, a settlement, an expiry, a verifier draw), with a bound on each block's list.
//!
//! A bound per block keeps a block's `on_initialize` and `on_finalize` work bounded; an entry that finds its
//! block full spills into the first later block with room. Spilling is bounded too
//! ([`MAX_SPILL`] blocks); past it the bound yields to correctness and the entry is added
//! anyway, because dropping a deadline would leave money locked for ever.

use agora_primitives::storage::{Ext, StorageInstance, StorageMap};
use agora_primitives::BlockNumber;
use parity_scale_codec::{Decode, Encode};

/// Most blocks a due entry is pushed forward when its block's list is full.
pub const MAX_SPILL: u64 = 1024;

/// Appends `item` to the due list (the map `P`) of block `at`, or of the first later block with
/// room (up to [`MAX_SPILL`] blocks on, after which nothing is dropped). Returns the block it
/// landed in, which the caller records as the entry's actual deadline.
pub fn schedule<P: StorageInstance, V: Encode + Decode>(
    ext: &mut Ext<'_>,
    at: BlockNumber,
    item: V,
    max_per_block: u32,
) -> BlockNumber {
    let max = crate::to_usize(max_per_block);
    let mut block = at;
    for _ in 0..MAX_SPILL {
        let mut list = StorageMap::<P, BlockNumber, Vec<V>>::get(ext, &block).unwrap_or_default();
        if list.len() < max {
            list.push(item);
            StorageMap::<P, BlockNumber, Vec<V>>::insert(ext, &block, &list);
            return block;
        }
        block = block.saturating_add(1);
    }
    let mut list = StorageMap::<P, BlockNumber, Vec<V>>::get(ext, &block).unwrap_or_default();
    list.push(item);
    StorageMap::<P, BlockNumber, Vec<V>>::insert(ext, &block, &list);
    block
}

/// Removes one `item` from the due list of block `at` (the block [`schedule`] returned),
/// deleting the list when it empties: an entry moved to another block. Returns whether it was
/// there. Bounded by the list, at most the per-block bound (or the spill past it).
pub fn unschedule<P: StorageInstance, V: Encode + Decode + PartialEq>(
    ext: &mut Ext<'_>,
    at: BlockNumber,
    item: &V,
) -> bool {
    let mut list = StorageMap::<P, BlockNumber, Vec<V>>::get(ext, &at).unwrap_or_default();
    let Some(position) = list.iter().position(|entry| entry == item) else {
        return false;
    };
    list.remove(position);
    if list.is_empty() {
        StorageMap::<P, BlockNumber, Vec<V>>::remove(ext, &at);
    } else {
        StorageMap::<P, BlockNumber, Vec<V>>::insert(ext, &at, &list);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    crate::storage_instance!("Test", DuePrefix = "Due");
    type Due = StorageMap<DuePrefix, BlockNumber, Vec<u32>>;

    #[test]
    fn full_blocks_spill_into_the_next() {
        let backend = BTreeMap::new();
        let mut ext = Ext::new(&backend);
        let landed: Vec<BlockNumber> = (0..5)
            .map(|item| schedule::<DuePrefix, u32>(&mut ext, 10, item, 2))
            .collect();
        assert_eq!(landed, vec![10, 10, 11, 11, 12]);
        assert_eq!(Due::get(&ext, &11), Some(vec![2, 3]));
    }

    #[test]
    fn an_unscheduled_entry_leaves_only_its_own_list() {
        let backend = BTreeMap::new();
        let mut ext = Ext::new(&backend);
        for item in 0..3 {
            schedule::<DuePrefix, u32>(&mut ext, 10, item, 2);
        }
        assert!(unschedule::<DuePrefix, u32>(&mut ext, 10, &1));
        assert_eq!(Due::get(&ext, &10), Some(vec![0]));
        assert!(
            !unschedule::<DuePrefix, u32>(&mut ext, 10, &2),
            "it spilled to 11"
        );
        assert!(unschedule::<DuePrefix, u32>(&mut ext, 11, &2));
        assert_eq!(Due::get(&ext, &11), None, "an emptied list is deleted");
    }

    #[test]
    fn past_the_spill_limit_nothing_is_dropped() {
        let backend = BTreeMap::new();
        let mut ext = Ext::new(&backend);
        let first = schedule::<DuePrefix, u32>(&mut ext, 0, 1, 0);
        assert_eq!(first, MAX_SPILL);
        assert_eq!(Due::get(&ext, &MAX_SPILL), Some(vec![1]));
    }
}
