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
        let proposed = runtime.block_on(chain.propose(genesis, 0, 1)).unwrap();
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
            .block_on(chain.propose(chain.genesis_hash(), 0, 1))
            .unwrap();
        let second = runtime.block_on(chain.propose(first, 0, 2)).unwrap();
        (first, second)
        // Dropped here without `finalized`: the crash.
    };
    let chain = open_chain(dir.path());
    let third = runtime.block_on(chain.propose(second, 0, 3));
    assert!(
        third.is_some(),
        "cannot build on a block reloaded after a crash"
    );
    drop(chain);
    let chain = open_chain(dir.path());
    assert!(
        runtime.block_on(chain.verify(first, second, 0, dev_key("Alice"))),
        "cannot verify a child of a block reloaded after a crash"
    );
    runtime.block_on(chain.finalized(third.unwrap(), Vec::new()));
    assert_eq!(chain.finalized_head().0, third.unwrap());
}

/// The consensus key of a development name.
fn dev_key(name: &str) -> [u8; 32] {
    let seed = agora_runtime::genesis::dev_consensus_seed(name);
    let pair: sp_core::ed25519::Pair = sp_core::Pair::from_seed(&seed);
    sp_core::Pair::public(&pair).0
}

/// The beacon of a block is its proposer's VRF, and consensus holds the view's leader to it:
/// a block that names another proposer than the leader of the view it is proposed in is not
/// voted for, so no validator can put a colluding member's beacon in its own view.
#[test]
fn a_block_naming_a_proposer_other_than_the_views_leader_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = multi_thread_runtime();
    let chain = open_chain(dir.path());
    let genesis = chain.genesis_hash();
    let block = runtime.block_on(chain.propose(genesis, 0, 1)).unwrap();
    assert!(
        !runtime.block_on(chain.verify(genesis, block, 0, dev_key("Bob"))),
        "a block of Alice's accepted in a view Bob leads"
    );
    assert!(runtime.block_on(chain.verify(genesis, block, 0, dev_key("Alice"))));
}

/// A block on a fork that lost is forgotten once a sibling is finalized, in memory and on disk.
#[test]
fn an_abandoned_fork_is_forgotten_on_finalization() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = multi_thread_runtime();
    let chain = open_chain(dir.path());
    let genesis = chain.genesis_hash();
    let first = runtime.block_on(chain.propose(genesis, 0, 1)).unwrap();
    // A second proposal on the same parent (a later view) makes a sibling.
    std::thread::sleep(Duration::from_millis(5));
    let second = runtime.block_on(chain.propose(genesis, 0, 2)).unwrap();
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

/// A relayed batch is checked in parallel but admitted in order with each extrinsic's own
/// verdict: a forged signature in the middle is refused alone, and the nonces after it still
/// chain; the block built from the pool carries exactly the good ones.
#[test]
fn a_relayed_batch_admits_each_good_extrinsic_and_refuses_a_forged_one() {
    use agora_node::txpool::PoolError;
    use agora_runtime::executive::{immortal_extra, TransactionError};
    use agora_runtime::extrinsic::{Extrinsic, ExtrinsicError};
    use parity_scale_codec::{Compact, Encode};
    use sp_core::Pair;
    let dir = tempfile::tempdir().unwrap();
    let runtime = multi_thread_runtime();
    let chain = open_chain(dir.path());
    let genesis = chain.genesis_hash();
    let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
    let bob = agora_runtime::genesis::dev_account("Bob");
    let transfer = |value: u128| {
        agora_runtime::RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: bob,
            value: Compact(value),
        })
    };
    let mut batch: Vec<Vec<u8>> = (0..300u32)
        .map(|nonce| {
            Extrinsic::sign(
                &alice,
                transfer(1_000_000),
                immortal_extra(nonce, 0),
                &genesis,
                &genesis,
            )
            .encode()
        })
        .collect();
    // A forgery (nonce 150, its call changed after signing) just before the true nonce-150
    // transfer: refused alone, and the nonces after it still chain.
    let mut forged = Extrinsic::sign(
        &alice,
        transfer(1_000_000),
        immortal_extra(150, 0),
        &genesis,
        &genesis,
    );
    forged.call = transfer(999_000_000);
    batch.insert(150, forged.encode());
    let results = chain.submit_relayed_batch(&batch);
    assert_eq!(results.len(), 301);
    assert!(matches!(
        &results[150],
        Err(PoolError::Invalid(TransactionError::Extrinsic(
            ExtrinsicError::BadSignature { .. }
        )))
    ));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 300);
    assert_eq!(chain.pool_len(), 300);
    let block = runtime.block_on(chain.propose(genesis, 0, 1)).unwrap();
    let body = chain.block(&block).unwrap().unwrap().block;
    assert_eq!(
        body.extrinsics.len(),
        300,
        "every good transfer is in the block"
    );
    assert!(body
        .extrinsics
        .iter()
        .all(|xt| xt.call == transfer(1_000_000)));
}

/// An extrinsic already pooled, or repeated within a relayed batch, is answered as known
/// without being validated again: before, every copy's signature was checked first, so an
/// extrinsic a client sent to k nodes cost every validator k checks, and a peer repeating one
/// extrinsic a thousand times in a batch cost a thousand.
#[test]
fn known_and_repeated_relayed_extrinsics_are_not_validated_again() {
    use agora_node::txpool::PoolError;
    use agora_runtime::executive::immortal_extra;
    use agora_runtime::extrinsic::Extrinsic;
    use parity_scale_codec::{Compact, Encode};
    use sp_core::Pair;
    let dir = tempfile::tempdir().unwrap();
    let chain = open_chain(dir.path());
    let genesis = chain.genesis_hash();
    let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
    let transfer = |nonce: u32| {
        let call = agora_runtime::RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: agora_runtime::genesis::dev_account("Bob"),
            value: Compact(1_000_000),
        });
        Extrinsic::sign(&alice, call, immortal_extra(nonce, 0), &genesis, &genesis).encode()
    };
    let (first, second) = (transfer(0), transfer(1));
    let validated = || chain.metrics().txpool_validated.get();
    assert!(chain.submit_relayed_batch(std::slice::from_ref(&first))[0].is_ok());
    assert_eq!(validated(), 1);
    let batch = vec![first.clone(), second.clone(), second.clone(), first];
    let results = chain.submit_relayed_batch(&batch);
    assert!(matches!(results[0], Err(PoolError::AlreadyImported(_))));
    assert!(results[1].is_ok());
    assert!(matches!(results[2], Err(PoolError::AlreadyImported(_))));
    assert!(matches!(results[3], Err(PoolError::AlreadyImported(_))));
    assert_eq!(validated(), 2, "only the new extrinsic was validated");
    assert_eq!(chain.pool_len(), 2);
}

/// A repeat in one batch gets its first copy's verdict: refused as the first was refused, and
/// "already imported" only when the first was admitted. Before, every repeat was answered
/// "already imported", also when the first copy was refused and nothing was pooled.
#[test]
fn a_repeat_in_a_batch_gets_its_first_copys_verdict() {
    use agora_node::txpool::PoolError;
    use agora_runtime::executive::{immortal_extra, TransactionError};
    use agora_runtime::extrinsic::{Extrinsic, ExtrinsicError};
    use parity_scale_codec::{Compact, Encode};
    use sp_core::Pair;
    let dir = tempfile::tempdir().unwrap();
    let chain = open_chain(dir.path());
    let genesis = chain.genesis_hash();
    let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
    let transfer = |value: u128| {
        agora_runtime::RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: agora_runtime::genesis::dev_account("Bob"),
            value: Compact(value),
        })
    };
    let good = Extrinsic::sign(
        &alice,
        transfer(1_000_000),
        immortal_extra(0, 0),
        &genesis,
        &genesis,
    );
    let mut forged = good.clone();
    forged.call = transfer(999_000_000);
    let (good, forged) = (good.encode(), forged.encode());
    let batch = vec![forged.clone(), forged, good.clone(), good];
    let results = chain.submit_relayed_batch(&batch);
    for at in [0, 1] {
        assert!(
            matches!(
                &results[at],
                Err(PoolError::Invalid(TransactionError::Extrinsic(
                    ExtrinsicError::BadSignature { .. }
                )))
            ),
            "copy {at} of the forgery: {:?}",
            results[at]
        );
    }
    assert!(results[2].is_ok(), "{:?}", results[2]);
    assert!(matches!(results[3], Err(PoolError::AlreadyImported(_))));
    assert_eq!(chain.pool_len(), 1);
}

/// An extrinsic the block builder finds invalid (here its fee, once the same signer's
/// `transfer_all` just before it emptied the account) is dropped together with every later
/// nonce of its signer. Before, only it was dropped: the later ones stayed ready for ever (each
/// build skipped them as future nonces, pruning never reached them, ready extrinsics never
/// expire) and a fresh extrinsic at the dropped nonce was refused as a nonce gap — a few
/// accounts could hold the pool's bytes for good for one fee each.
#[test]
fn an_extrinsic_the_builder_drops_takes_its_signers_later_nonces_with_it() {
    use agora_runtime::executive::immortal_extra;
    use agora_runtime::extrinsic::Extrinsic;
    use parity_scale_codec::{Compact, Encode};
    use sp_core::Pair;
    let dir = tempfile::tempdir().unwrap();
    let runtime = multi_thread_runtime();
    let chain = open_chain(dir.path());
    let genesis = chain.genesis_hash();
    let ferdie = sp_core::sr25519::Pair::from_string("//Ferdie", None).unwrap();
    let bob = agora_runtime::genesis::dev_account("Bob");
    let sign = |nonce: u32, call: agora_runtime::RuntimeCall| {
        Extrinsic::sign(&ferdie, call, immortal_extra(nonce, 0), &genesis, &genesis).encode()
    };
    let mut batch = vec![sign(
        0,
        agora_runtime::RuntimeCall::Balances(pallet_balances::Call::TransferAll { dest: bob }),
    )];
    batch.extend((1..=3).map(|nonce| {
        sign(
            nonce,
            agora_runtime::RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
                dest: bob,
                value: Compact(1_000_000),
            }),
        )
    }));
    let results = chain.submit_relayed_batch(&batch);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(chain.pool_len(), 4);
    let block = runtime.block_on(chain.propose(genesis, 0, 1)).unwrap();
    let body = chain.block(&block).unwrap().unwrap().block;
    assert_eq!(
        body.extrinsics.len(),
        1,
        "only the transfer_all is included"
    );
    assert_eq!(
        chain.pool_len(),
        1,
        "nonce 1 is dropped, and nonces 2 and 3 with it; the included nonce 0 stays until final"
    );
    runtime.block_on(chain.finalized(block, Vec::new()));
    assert_eq!(chain.pool_len(), 0);
}

/// A node that sees a validator equivocate and holds a report key submits the evidence; the
/// next block slashes the validator (the dev chain's //Alice) and pays the reporter (//Bob).
#[test]
fn seen_equivocation_is_reported_and_slashed_in_the_next_block() {
    use agora_primitives::{Hash, AGR};
    use agora_runtime::genesis::{dev_account, dev_consensus_seed, GENESIS_VALIDATOR_BOND};
    use pallet_staking::equivocation::{signed_bytes, Equivocation, SignedVote, Vote};
    use sp_core::Pair as _;

    let dir = tempfile::tempdir().unwrap();
    let runtime = multi_thread_runtime();
    let chain = open_chain(dir.path());
    chain.set_reporter(sp_core::sr25519::Pair::from_string("//Bob", None).unwrap());
    let first = runtime
        .block_on(chain.propose(chain.genesis_hash(), 0, 1))
        .unwrap();
    runtime.block_on(chain.finalized(first, Vec::new()));

    // Alice's consensus key signs two notarize votes for different blocks in view 7.
    let alice = sp_core::ed25519::Pair::from_seed(&dev_consensus_seed("Alice"));
    let namespace = agora_node::chain::consensus_namespace("agora_dev", &chain.genesis_hash());
    let signed = |block: u8| {
        let vote = Vote::Notarize {
            parent_view: 6,
            block: Hash([block; 32]),
        };
        let signature = alice.sign(&signed_bytes(&namespace, 0, 7, &vote)).0;
        SignedVote { vote, signature }
    };
    chain.equivocation(Equivocation {
        offender: Hash(alice.public().0),
        epoch: 0,
        view: 7,
        first: signed(1),
        second: signed(2),
    });
    assert_eq!(chain.pool_len(), 1, "the report is pooled");
    let second = runtime.block_on(chain.propose(first, 0, 2)).unwrap();
    runtime.block_on(chain.finalized(second, Vec::new()));
    let events =
        agora_runtime::decode_events(&chain.block(&second).unwrap().unwrap().events).unwrap();
    let slashed = GENESIS_VALIDATOR_BOND / 2;
    assert!(
        events.iter().any(|record| record.event
            == agora_runtime::RuntimeEvent::Staking(pallet_staking::Event::Equivocated {
                who: dev_account("Alice"),
                epoch: 0,
                view: 7,
                slashed,
                reporter: dev_account("Bob"),
                rewarded: slashed / 10,
            })),
        "{events:?}"
    );
    assert!(slashed / 10 >= AGR);
}

/// A full node builds no blocks, so an extrinsic submitted to it reaches a leader only through
/// its relay. Before, that relay happened once: lost (a peer restarting, a lossy link, a full
/// relay queue), the extrinsic sat in the full node's pool for good, and the client resending
/// it was told it was already pooled. Now the node relays it again while it stays pooled, here
/// after four finalized blocks that did not include it, then eight more; once a block includes
/// it, never again.
#[test]
fn a_submission_whose_relay_was_lost_is_relayed_again_until_a_block_includes_it() {
    use agora_node::consensus::BlockSource;
    use agora_runtime::executive::immortal_extra;
    use agora_runtime::extrinsic::Extrinsic;
    use parity_scale_codec::{Compact, Encode};
    use sp_core::Pair;
    let (full_dir, validator_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let runtime = multi_thread_runtime();
    let (full, validator) = (
        open_chain(full_dir.path()),
        open_chain(validator_dir.path()),
    );
    let genesis = full.genesis_hash();
    let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
    let call = agora_runtime::RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
        dest: agora_runtime::genesis::dev_account("Bob"),
        value: Compact(1_000_000),
    });
    let transfer = Extrinsic::sign(&alice, call, immortal_extra(0, 0), &genesis, &genesis).encode();
    let mut relay = full.relay_queue();
    full.submit(&transfer).unwrap();
    assert_eq!(relay.try_recv().unwrap(), transfer, "relayed at submission");
    // That relay is lost: the validator finalizes blocks without it, the full node follows.
    let mut parent = genesis;
    let finalize_next = |parent: &mut agora_primitives::Hash| {
        let view = validator.finalized_height() + 1;
        let block = runtime
            .block_on(validator.propose(*parent, 0, view))
            .unwrap();
        runtime.block_on(validator.finalized(block, Vec::new()));
        let bytes = validator.block_bytes(block).unwrap();
        let leader = dev_key("Alice");
        assert_eq!(
            full.receive_block(bytes, BlockSource::Peer(leader)),
            Some(block)
        );
        assert!(runtime.block_on(full.verify(*parent, block, 0, leader)));
        runtime.block_on(full.finalized(block, Vec::new()));
        *parent = block;
        block
    };
    let mut relayed_after = Vec::new();
    for finalized in 1..=12 {
        let block = finalize_next(&mut parent);
        let body = validator.block(&block).unwrap().unwrap().block;
        assert!(
            body.extrinsics.is_empty(),
            "the validator never saw the transfer"
        );
        match relay.try_recv() {
            Ok(bytes) => {
                assert_eq!(bytes, transfer);
                relayed_after.push(finalized);
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {}
            Err(error) => panic!("{error}"),
        }
    }
    assert_eq!(
        relayed_after,
        vec![4, 12],
        "relayed again after 4, then 8 more, blocks"
    );
    // This time the relay arrives: the validator includes it, the full node prunes it.
    assert!(validator.submit_relayed_batch(&[transfer])[0].is_ok());
    let block = finalize_next(&mut parent);
    assert_eq!(
        validator
            .block(&block)
            .unwrap()
            .unwrap()
            .block
            .extrinsics
            .len(),
        1
    );
    assert_eq!(full.pool_len(), 0);
    for _ in 0..16 {
        finalize_next(&mut parent);
    }
    assert!(
        relay.try_recv().is_err(),
        "an included extrinsic was relayed again"
    );
}

/// Exploit: the block builder skipped the signature check of pooled extrinsics, which the pool
/// verified on admission, holding that a signature never changes. A mortal era's birth block
/// does: an extrinsic valid for blocks 1 to 3 signs a message naming genesis, but in block 7
/// its era names block 4. Parked behind a missing nonce while the chain moved on, then let in
/// by that nonce, it went into a block every other validator refused, and every leader holding
/// it built the same block again: the chain stalled, and the attacker paid no fee. Now the
/// builder verifies a signature again wherever the era gives another hash than it was
/// verified with, and drops the extrinsic.
#[test]
fn exploit_a_pooled_extrinsic_past_its_era_is_not_built_into_a_block_others_refuse() {
    use agora_node::consensus::BlockSource;
    use agora_runtime::executive::immortal_extra;
    use agora_runtime::extrinsic::{Era, Extrinsic, SignedExtra};
    use parity_scale_codec::{Compact, Encode};
    use sp_core::Pair;
    let (leader_dir, follower_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let runtime = multi_thread_runtime();
    let (leader, follower) = (
        open_chain(leader_dir.path()),
        open_chain(follower_dir.path()),
    );
    let genesis = leader.genesis_hash();
    let alice_key = dev_key("Alice");
    let follow = |parent, block| {
        let bytes = leader.block_bytes(block).unwrap();
        assert_eq!(
            follower.receive_block(bytes, BlockSource::Peer(alice_key)),
            Some(block)
        );
        runtime.block_on(follower.verify(parent, block, 0, alice_key))
    };
    // Six blocks, none final yet: the pool still validates against genesis.
    let mut parent = genesis;
    for view in 1..=6 {
        let block = runtime.block_on(leader.propose(parent, 0, view)).unwrap();
        assert!(follow(parent, block));
        parent = block;
    }
    let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
    let sign = |extra: SignedExtra| {
        let call = agora_runtime::RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: agora_runtime::genesis::dev_account("Bob"),
            value: Compact(1_000_000),
        });
        Extrinsic::sign(&alice, call, extra, &genesis, &genesis).encode()
    };
    let mortal = sign(SignedExtra {
        era: Era::mortal(4, 0),
        nonce: Compact(1),
        tip: Compact(0),
    });
    leader.submit(&mortal).unwrap(); // Waits for nonce 0.
    leader.submit(&sign(immortal_extra(0, 0))).unwrap();
    assert_eq!(leader.pool_len(), 2, "nonce 1 entered behind nonce 0");
    let block = runtime.block_on(leader.propose(parent, 0, 7)).unwrap();
    assert!(
        follow(parent, block),
        "the leader built a block the other validators refuse"
    );
    let body = leader.block(&block).unwrap().unwrap().block;
    assert_eq!(body.extrinsics.len(), 1, "only nonce 0 is included");
    assert_eq!(
        leader.pool_len(),
        1,
        "nonce 1 is dropped; nonce 0 stays until final"
    );
}
