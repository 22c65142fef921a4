//! The node's `Chain` as consensus drives it, without processes: the crash windows between
//! consensus and storage.

use crate::support::{multi_thread_runtime, open_chain};
use agora_node::consensus::Chain as _;
use std::time::Duration;

/// Consensus journals a finalization before the chain commits the block. If the process dies
/// in between, the restarted chain must still have the block consensus reports again.
#[test]
fn a_proposed_block_survives_a_crash_before_its_finalization() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = multi_thread_runtime();
    let (genesis, proposed) = {
        let chain = open_chain(dir.path());
        let genesis = chain.genesis_hash();
        let proposed = runtime.block_on(chain.propose(genesis, 1)).unwrap();
        (genesis, proposed)
        // Dropped here without `finalized`: the crash.
    };
    let chain = open_chain(dir.path());
    assert_eq!(chain.finalized_head().0, genesis);
    assert!(
        chain.has_block(proposed),
        "the proposed block was lost in the crash"
    );
    runtime.block_on(chain.finalized(proposed, Vec::new()));
    assert_eq!(chain.finalized_head().0, proposed);
    // Reported again after another restart: idempotent.
    drop(chain);
    let chain = open_chain(dir.path());
    runtime.block_on(chain.finalized(proposed, Vec::new()));
    assert_eq!(chain.finalized_head().0, proposed);
}

/// A block on a fork that lost is forgotten once a sibling is finalized, in memory and on disk.
#[test]
fn an_abandoned_fork_is_forgotten_on_finalization() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = multi_thread_runtime();
    let chain = open_chain(dir.path());
    let genesis = chain.genesis_hash();
    let first = runtime.block_on(chain.propose(genesis, 1)).unwrap();
    // A second proposal on the same parent (a later view) makes a sibling.
    std::thread::sleep(Duration::from_millis(5));
    let second = runtime.block_on(chain.propose(genesis, 2)).unwrap();
    assert_ne!(first, second);
    runtime.block_on(chain.finalized(second, Vec::new()));
    assert!(!chain.has_block(first), "the losing sibling is still kept");
    drop(chain);
    let chain = open_chain(dir.path());
    assert!(
        !chain.has_block(first),
        "the losing sibling came back from disk"
    );
    assert_eq!(chain.finalized_head().0, second);
}
