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

/// After a restart consensus resumes at the view after the last it notarized: the next leader
/// builds on, and the others verify children of, blocks only the unfinalized store still has.
/// Those come back unexecuted; building or verifying must execute them first (a dev chain
/// SIGKILLed between notarization and finalization once stalled here: "block … is unknown").
#[test]
fn blocks_reloaded_after_a_crash_can_be_built_on_and_verified_on() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = multi_thread_runtime();
    let (first, second) = {
        let chain = open_chain(dir.path());
        let first = runtime
            .block_on(chain.propose(chain.genesis_hash(), 1))
            .unwrap();
        let second = runtime.block_on(chain.propose(first, 2)).unwrap();
        (first, second)
        // Dropped here without `finalized`: the crash.
    };
    let chain = open_chain(dir.path());
    let third = runtime.block_on(chain.propose(second, 3));
    assert!(
        third.is_some(),
        "cannot build on a block reloaded after a crash"
    );
    drop(chain);
    let chain = open_chain(dir.path());
    assert!(
        runtime.block_on(chain.verify(first, second)),
        "cannot verify a child of a block reloaded after a crash"
    );
    runtime.block_on(chain.finalized(third.unwrap(), Vec::new()));
    assert_eq!(chain.finalized_head().0, third.unwrap());
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
