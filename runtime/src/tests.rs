//! Block-execution tests. Every test ends by checking the balances invariants on the final
//! state.

#![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]

use crate::block::Block;
use crate::executive::{
    execute_block, extrinsic_fee, immortal_extra, validate_transaction, BlockBuilder, BlockError,
    TransactionError, ValidTransaction,
};
use crate::extrinsic::{
    Era, Extrinsic, ExtrinsicError, ExtrinsicSigner, SignedExtra, MAX_EXTRINSIC_LEN,
};
use crate::genesis::{dev_account, ChainSpec, DEV_ENDOWMENT, GENESIS_VALIDATOR_BOND};
use crate::{decode_events, Balances, RuntimeCall, RuntimeEvent, System, AGR};
use agora_primitives::smt::{self, MemoryNodeStore};
use agora_primitives::storage::apply_changes;
use agora_primitives::{AccountId, Balance, Hash};
use parity_scale_codec::{Compact, Encode};
use sp_core::{ed25519, sr25519, Pair};
use std::collections::BTreeMap;

pub(crate) fn signer(name: &str) -> sr25519::Pair {
    sr25519::Pair::from_string(&format!("//{name}"), None).unwrap()
}

/// The beacon signer of Alice, the development chain's one validator.
pub(crate) fn alice_proposes() -> pallet_staking::beacon::BeaconSigner {
    let seed = crate::genesis::dev_consensus_seed("Alice");
    pallet_staking::beacon::BeaconSigner::from_consensus_seed(&seed)
}

/// The dev accounts of these names, in order.
pub(crate) fn dev_accounts<const N: usize>(names: [&str; N]) -> [AccountId; N] {
    names.map(dev_account)
}

fn transfer(dest: AccountId, value: Balance) -> RuntimeCall {
    RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
        dest,
        value: Compact(value),
    })
}

/// A chain in memory: state, tree, head.
#[derive(Clone)]
pub(crate) struct Chain {
    pub(crate) genesis_hash: Hash,
    pub(crate) state: BTreeMap<Vec<u8>, Vec<u8>>,
    store: MemoryNodeStore,
    pub(crate) head: Block,
    /// The timestamp of the head; the next block is a second later.
    pub(crate) time: u64,
    /// The referee blocks are built and imported with: by default one that holds every blob
    /// and has no engine (`pallet_support::mock::NoEngine`).
    pub(crate) referee: Option<std::sync::Arc<dyn agora_primitives::referee::Referee>>,
}

impl Chain {
    pub(crate) fn new() -> Chain {
        Chain::with_spec(&ChainSpec::development())
    }

    /// A chain from `spec`'s genesis.
    pub(crate) fn with_spec(spec: &ChainSpec) -> Chain {
        let genesis = spec.genesis();
        let mut state = BTreeMap::new();
        apply_changes(&mut state, &genesis.changes);
        let mut store = MemoryNodeStore::new();
        store.insert_nodes(genesis.nodes);
        Chain {
            genesis_hash: genesis.block.hash(),
            state,
            store,
            head: genesis.block,
            time: 0,
            referee: Some(std::sync::Arc::new(
                pallet_support::mock::NoEngine::default(),
            )),
        }
    }

    pub(crate) fn sign(&self, who: &str, call: RuntimeCall, nonce: u32) -> Extrinsic {
        Extrinsic::sign(
            &signer(who),
            call,
            immortal_extra(nonce, 0),
            &self.genesis_hash,
            &self.genesis_hash,
        )
    }

    /// Builds a block with `xts` (each must be includable), seals it, and returns it.
    /// Alice, the development chain's one validator, proposes it.
    pub(crate) fn build(&mut self, xts: Vec<Extrinsic>) -> Block {
        self.try_build(xts).unwrap()
    }

    /// Builds a block with `xts`, or says why one of them is not includable.
    pub(crate) fn try_build(&mut self, xts: Vec<Extrinsic>) -> Result<Block, TransactionError> {
        self.time += 1_000;
        let mut builder = BlockBuilder::new(
            &self.state,
            self.referee.clone(),
            self.genesis_hash,
            self.head.hash(),
            self.time,
            dev_account("Ferdie"),
            &alice_proposes(),
        )
        .unwrap();
        for xt in xts {
            builder.push(xt)?;
        }
        let built = builder.finish();
        let root = smt::update(&self.store, self.head.header.state_root, &built.changes)
            .unwrap()
            .root;
        Ok(built.seal(root))
    }

    /// Validates `xt` as the pool would, against the head's post-state.
    fn validate(&self, xt: &Extrinsic) -> Result<ValidTransaction, TransactionError> {
        validate_transaction(
            &self.state,
            &self.genesis_hash,
            self.head.hash(),
            xt,
            xt.encoded_size(),
        )
    }

    /// Executes `block` and, if valid, makes it the head.
    pub(crate) fn import(&mut self, block: &Block) -> Result<Vec<RuntimeEvent>, BlockError> {
        let executed = execute_block(
            &self.state,
            self.referee.clone(),
            &self.genesis_hash,
            self.head.hash(),
            block,
        )?;
        let update =
            smt::update(&self.store, self.head.header.state_root, &executed.changes).unwrap();
        assert_eq!(
            update.root, block.header.state_root,
            "state root differs after execution"
        );
        self.store.insert_nodes(update.new_nodes);
        apply_changes(&mut self.state, &executed.changes);
        self.head = block.clone();
        crate::try_state(&self.state).unwrap();
        Ok(decode_events(&executed.events)
            .unwrap()
            .into_iter()
            .map(|record| record.event)
            .collect())
    }
}

#[test]
fn dev_accounts_are_derived_as_substrate_derives_them() {
    assert_eq!(
        dev_account("Alice").to_string(),
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    );
    assert_eq!(
        dev_account("Bob").to_string(),
        "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
    );
}

#[test]
fn genesis_hash_is_stable_and_covers_the_state() {
    let a = ChainSpec::development().genesis();
    let b = ChainSpec::development().genesis();
    assert_eq!(a.block.hash(), b.block.hash());
    let mut other = ChainSpec::development();
    other.genesis.balances[0].1 += 1;
    assert_ne!(other.genesis().block.hash(), a.block.hash());
    let mut state = BTreeMap::new();
    apply_changes(&mut state, &a.changes);
    assert_eq!(Balances::total_issuance(&state), 6 * DEV_ENDOWMENT);
}

/// A test chain's spec may shorten the blob registry's lifetimes; one that does not says
/// nothing about them in its JSON and has the genesis it had before they could be set.
#[test]
fn a_spec_may_set_the_blob_lifetimes_and_one_that_does_not_keeps_its_genesis() {
    let plain = ChainSpec::development();
    assert!(!plain.to_json().contains("lifetimes"));
    let mut json: serde_json::Value = serde_json::from_str(&plain.to_json()).unwrap();
    json["genesis"]["lifetimes"] = serde_json::json!({ "blob_ttl": 100 });
    let short = ChainSpec::from_json(&json.to_string()).unwrap();
    assert_ne!(short.genesis().block.hash(), plain.genesis().block.hash());
    let mut state = BTreeMap::new();
    apply_changes(&mut state, &short.genesis().changes);
    let lifetimes = crate::Jobs::lifetimes(&state);
    assert_eq!(lifetimes.blob_ttl, 100);
    assert_eq!(
        lifetimes.model_retention,
        <crate::Runtime as pallet_jobs::Config>::MODEL_RETENTION,
        "a lifetime left out is the runtime's"
    );
    let mut state = BTreeMap::new();
    apply_changes(&mut state, &plain.genesis().changes);
    assert_eq!(pallet_jobs::Lifetimes::get(&state), None);

    json["genesis"]["lifetimes"] = serde_json::json!({ "model_retention": 0 });
    let error = ChainSpec::from_json(&json.to_string()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "lifetimes.model_retention is 0 blocks; it must be at least 1"
    );
    json["genesis"]["lifetimes"] = serde_json::json!({ "blob_tt": 5 });
    let error = ChainSpec::from_json(&json.to_string()).unwrap_err();
    assert!(error.to_string().contains("blob_tt"), "{error}");
}

/// A referee call over a segment at the bound opens 46 blocks after the re-run queue leaves
/// off (the slowest node decides it ahead by then); 91 for segment 0, `init`'s bound counted,
/// and for an output's two calls at the bound. Since spec version 21 the lead is not cut to the
/// move's window: the turn's deadline keeps a fifth of a move (12 of 60 blocks) after the
/// opening instead, so that the call never opens before the slowest node can have decided it.
#[test]
fn a_referee_call_at_the_bound_opens_after_its_whole_lead() {
    use crate::verification::{MAX_SEGMENT_FUEL, MOVE_BLOCKS, REFEREE_LEAD_FUEL_PER_BLOCK};
    use agora_primitives::referee::referee_lead;
    let lead = |fuel| referee_lead(fuel, REFEREE_LEAD_FUEL_PER_BLOCK);
    assert_eq!((lead(MAX_SEGMENT_FUEL), MOVE_BLOCKS), (46, 60));
    // An output's `export` and `eval` at the bound, or `init` and segment 0: 91 (cut to 48
    // before spec version 21), the deadline then 103 blocks into the turn rather than 60.
    assert_eq!(lead(2 * MAX_SEGMENT_FUEL), 91);
    assert_eq!(MOVE_BLOCKS / 5, 12);
    // The example job's segments (~1,000 Mfuel bids) open after a few blocks.
    assert_eq!(lead(1_000 * pallet_market::FUEL_PER_MFUEL), 7);
    assert_eq!(<crate::Runtime as pallet_jobs::Config>::PROOF_BLOCKS, 60);
}

/// Spec version 20: a declaration burns 1 AGR per block of its proof's lead, at most 91 AGR (a
/// re-run at the chain's bound), and every bid escrows that beside the two calls' weight fees,
/// so an honest worker's fee is paid back whatever the buyer's module; the pallet's own
/// reckoning of the largest fee is the runtime's constant.
#[test]
fn every_bid_escrows_the_largest_declaration_fee_and_both_calls() {
    use crate::verification::MAX_DECLARATION_FEE;
    assert_eq!(MAX_DECLARATION_FEE, 91 * AGR);
    assert_eq!(crate::Jobs::max_declaration_fee(), MAX_DECLARATION_FEE);
    let calls = crate::fees::FEE_PER_WEIGHT
        * Balance::from(
            pallet_jobs::weights::DECLARE_UNRUNNABLE
                + pallet_jobs::weights::PROVE_UNRUNNABLE
                + 2 * crate::fees::EXTRINSIC_BASE_WEIGHT,
        );
    assert_eq!(
        <crate::Runtime as pallet_market::Config>::MIN_BID_ESCROW,
        calls + MAX_DECLARATION_FEE
    );
}

/// A test chain's spec may lengthen the verification windows (its blocks are short); one that
/// does not says nothing about them and has the genesis it had before they could be set.
#[test]
fn a_spec_may_set_the_verification_windows_and_one_that_does_not_keeps_its_genesis() {
    let plain = ChainSpec::development();
    assert!(!plain.to_json().contains("windows"));
    let mut json: serde_json::Value = serde_json::from_str(&plain.to_json()).unwrap();
    json["genesis"]["windows"] = serde_json::json!({ "reveal": 75, "attest": 150 });
    let patient = ChainSpec::from_json(&json.to_string()).unwrap();
    assert_ne!(patient.genesis().block.hash(), plain.genesis().block.hash());
    let mut state = BTreeMap::new();
    apply_changes(&mut state, &patient.genesis().changes);
    let windows = crate::Verification::windows(&state);
    assert_eq!((windows.reveal, windows.attest), (75, 150));
    assert_eq!(
        (windows.dispute_move, windows.sample_wait),
        (
            <crate::Runtime as pallet_verification::Config>::MOVE_BLOCKS,
            <crate::Runtime as pallet_verification::Config>::SAMPLE_WAIT_BLOCKS
        ),
        "a window left out is the runtime's"
    );
    let mut state = BTreeMap::new();
    apply_changes(&mut state, &plain.genesis().changes);
    assert_eq!(pallet_verification::Windows::get(&state), None);
    assert_eq!(
        crate::Verification::windows(&state).reveal,
        <crate::Runtime as pallet_verification::Config>::REVEAL_BLOCKS
    );

    json["genesis"]["windows"] = serde_json::json!({ "reveal": 0 });
    let error = ChainSpec::from_json(&json.to_string()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "windows.reveal is 0 blocks; it must be at least 1"
    );
    json["genesis"]["windows"] = serde_json::json!({ "revael": 5 });
    let error = ChainSpec::from_json(&json.to_string()).unwrap_err();
    assert!(error.to_string().contains("revael"), "{error}");
}

#[test]
fn built_block_imports_and_moves_money_and_fees() {
    let mut chain = Chain::new();
    let [alice, bob, ferdie] = dev_accounts(["Alice", "Bob", "Ferdie"]);
    let xts = vec![
        chain.sign("Alice", transfer(bob, 5 * AGR), 0),
        chain.sign("Alice", transfer(bob, 7 * AGR), 1),
    ];
    let fees: Balance = xts
        .iter()
        .map(|xt| extrinsic_fee(xt, xt.encoded_size()))
        .sum();
    let block = chain.build(xts);
    let events = chain.import(&block).unwrap();
    assert_eq!(
        Balances::free_balance(&chain.state, &alice),
        DEV_ENDOWMENT - GENESIS_VALIDATOR_BOND - 12 * AGR - fees
    );
    assert_eq!(
        Balances::free_balance(&chain.state, &bob),
        DEV_ENDOWMENT + 12 * AGR
    );
    assert_eq!(
        Balances::free_balance(&chain.state, &ferdie),
        DEV_ENDOWMENT + fees
    );
    assert_eq!(System::account_nonce(&chain.state, &alice), 2);
    assert_eq!(System::block_number(&chain.state), 1);
    assert!(
        events.contains(&RuntimeEvent::Balances(pallet_balances::Event::Transfer {
            from: alice,
            to: bob,
            amount: 5 * AGR
        }))
    );
}

#[test]
fn failed_call_still_pays_fee_and_uses_nonce_but_moves_nothing() {
    let mut chain = Chain::new();
    let (alice, charlie) = (dev_account("Alice"), dev_account("Charlie"));
    let xt = chain.sign("Alice", transfer(charlie, 2 * DEV_ENDOWMENT), 0);
    let fee = extrinsic_fee(&xt, xt.encoded_size());
    let block = chain.build(vec![xt]);
    let events = chain.import(&block).unwrap();
    assert_eq!(
        Balances::free_balance(&chain.state, &alice),
        DEV_ENDOWMENT - GENESIS_VALIDATOR_BOND - fee
    );
    assert_eq!(
        Balances::free_balance(&chain.state, &charlie),
        DEV_ENDOWMENT
    );
    assert_eq!(System::account_nonce(&chain.state, &alice), 1);
    let failed = events.iter().find_map(|event| match event {
        RuntimeEvent::System(pallet_system::Event::ExtrinsicFailed { error, .. }) => Some(*error),
        _ => None,
    });
    assert_eq!(
        crate::describe_dispatch_error(failed.unwrap()),
        "Balances::InsufficientBalance: the free balance is lower than the amount"
    );
}

#[test]
fn ed25519_signers_are_accepted() {
    let mut chain = Chain::new();
    let pair = ed25519::Pair::from_string("//Eve", None).unwrap();
    let eve_ed = pair;
    let eve_ed_account = eve_ed.signer_account();
    // Fund the ed25519 account, then let it send.
    let fund = chain.sign("Alice", transfer(eve_ed_account, 10 * AGR), 0);
    let block = chain.build(vec![fund]);
    chain.import(&block).unwrap();
    let xt = Extrinsic::sign(
        &eve_ed,
        transfer(dev_account("Bob"), AGR),
        immortal_extra(0, 0),
        &chain.genesis_hash,
        &chain.genesis_hash,
    );
    let block = chain.build(vec![xt]);
    chain.import(&block).unwrap();
    assert_eq!(
        Balances::free_balance(&chain.state, &dev_account("Bob")),
        DEV_ENDOWMENT + AGR
    );
}

#[test]
fn block_with_a_forged_signature_is_rejected_and_changes_nothing() {
    let mut chain = Chain::new();
    let mut xt = chain.sign("Alice", transfer(dev_account("Bob"), AGR), 0);
    let block = chain.build(vec![xt.clone()]);
    // Same block, but the transfer amount is changed after signing.
    xt.call = transfer(dev_account("Bob"), 1_000 * AGR);
    let mut forged = block.clone();
    forged.extrinsics = vec![xt];
    forged.header.extrinsics_root = crate::block::extrinsics_root(&forged.extrinsics);
    let before = chain.state.clone();
    let error = chain.import(&forged).unwrap_err();
    assert!(matches!(
        error,
        BlockError::InvalidExtrinsic {
            index: 0,
            error: TransactionError::Extrinsic(ExtrinsicError::BadSignature { .. })
        }
    ));
    assert_eq!(chain.state, before);
    chain.import(&block).unwrap();
}

#[test]
fn signature_for_another_chain_is_rejected() {
    let chain = Chain::new();
    let other_genesis = Hash([7; 32]);
    let xt = Extrinsic::sign(
        &signer("Alice"),
        transfer(dev_account("Bob"), AGR),
        immortal_extra(0, 0),
        &other_genesis,
        &other_genesis,
    );
    let error = chain.validate(&xt).unwrap_err();
    assert!(matches!(
        error,
        TransactionError::Extrinsic(ExtrinsicError::BadSignature { .. })
    ));
}

#[test]
fn batch_validation_gives_each_extrinsic_its_own_verdict() {
    // 600 extrinsics (three signature batches) mixing good ones, forged signatures, a stale
    // nonce and a signer who cannot pay: the batch's verdicts are the one-by-one verdicts.
    let mut chain = Chain::new();
    let bob = dev_account("Bob");
    let block = chain.build(vec![chain.sign("Alice", transfer(bob, AGR), 0)]);
    chain.import(&block).unwrap();
    let nobody = sr25519::Pair::from_string("//Nobody", None).unwrap();
    let mut xts = Vec::new();
    for i in 0..600u32 {
        let xt = match i % 7 {
            0 => {
                let mut forged = chain.sign("Charlie", transfer(bob, AGR), i);
                forged.call = transfer(bob, 2 * AGR);
                forged
            }
            3 => chain.sign("Alice", transfer(bob, AGR), 0), // stale
            5 => Extrinsic::sign(
                &nobody,
                transfer(bob, AGR),
                immortal_extra(i, 0),
                &chain.genesis_hash,
                &chain.genesis_hash,
            ),
            _ => chain.sign("Dave", transfer(bob, 1), i),
        };
        xts.push(xt);
    }
    let batch: Vec<(&Extrinsic, usize)> = xts.iter().map(|xt| (xt, xt.encoded_size())).collect();
    let together = crate::executive::validate_transactions(
        &chain.state,
        &chain.genesis_hash,
        chain.head.hash(),
        &batch,
    );
    let alone: Vec<_> = xts.iter().map(|xt| chain.validate(xt)).collect();
    assert_eq!(together, alone);
    let forged = together
        .iter()
        .filter(|v| {
            matches!(
                v,
                Err(TransactionError::Extrinsic(
                    ExtrinsicError::BadSignature { .. }
                ))
            )
        })
        .count();
    assert_eq!(forged, 86, "every seventh, from 0");
    assert_eq!(
        together.iter().filter(|v| v.is_ok()).count(),
        343,
        "residues 1, 2, 4, 6"
    );
}

#[test]
fn nonces_fees_and_limits_are_checked_by_validation() {
    let mut chain = Chain::new();
    let bob = dev_account("Bob");
    let block = chain.build(vec![chain.sign("Alice", transfer(bob, AGR), 0)]);
    chain.import(&block).unwrap();

    let stale = chain.sign("Alice", transfer(bob, AGR), 0);
    let error = chain.validate(&stale).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "nonce 0 of {} is stale: the next nonce is 1",
            dev_account("Alice")
        )
    );

    // The pool accepts a future nonce; a block does not.
    let future = chain.sign("Alice", transfer(bob, AGR), 5);
    chain.validate(&future).unwrap();
    let mut builder = BlockBuilder::new(
        &chain.state,
        None,
        chain.genesis_hash,
        chain.head.hash(),
        99_000,
        bob,
        &alice_proposes(),
    )
    .unwrap();
    assert!(matches!(
        builder.push(future),
        Err(TransactionError::FutureNonce {
            nonce: 5,
            expected: 1,
            ..
        })
    ));

    // An account with nothing cannot pay a fee.
    let nobody = sr25519::Pair::from_string("//Nobody", None).unwrap();
    let poor = Extrinsic::sign(
        &nobody,
        transfer(bob, AGR),
        immortal_extra(0, 0),
        &chain.genesis_hash,
        &chain.genesis_hash,
    );
    let error = chain.validate(&poor).unwrap_err();
    assert!(matches!(
        error,
        TransactionError::CannotPayFee { free: 0, .. }
    ));
}

#[test]
fn mortal_extrinsics_expire_and_bind_to_their_birth_block() {
    let mut chain = Chain::new();
    let bob = dev_account("Bob");
    for _ in 0..3 {
        let block = chain.build(vec![]);
        chain.import(&block).unwrap();
    }
    // Born at block 2 with period 4: its birth, seen from blocks 3, 4 and 5, is block 2.
    let era = Era::mortal(4, 2);
    assert_eq!(
        era,
        Era::Mortal {
            period: 4,
            phase: 2
        }
    );
    assert_eq!((era.birth(5), era.death(5)), (2, 6));
    let birth_hash = System::block_hash(&chain.state, 2).unwrap();
    let extra = SignedExtra {
        era,
        nonce: Compact(0),
        tip: Compact(0),
    };
    let xt = Extrinsic::sign(
        &signer("Alice"),
        transfer(bob, AGR),
        extra,
        &chain.genesis_hash,
        &birth_hash,
    );
    chain.validate(&xt).unwrap();
    // Signed against the wrong birth hash: the signature does not verify.
    let wrong = Extrinsic::sign(
        &signer("Alice"),
        transfer(bob, AGR),
        extra,
        &chain.genesis_hash,
        &Hash([1; 32]),
    );
    assert!(chain.validate(&wrong).is_err());
    // An era whose birth would be the very block being built cannot have been signed.
    let unborn = SignedExtra {
        era: Era::mortal(4, 4),
        ..extra
    };
    let unborn = Extrinsic::sign(
        &signer("Alice"),
        transfer(bob, AGR),
        unborn,
        &chain.genesis_hash,
        &birth_hash,
    );
    assert_eq!(
        chain.validate(&unborn).unwrap_err(),
        TransactionError::OutsideEra {
            birth: 4,
            period: 4,
            block: 4
        }
    );
    for _ in 0..3 {
        let block = chain.build(vec![]);
        chain.import(&block).unwrap();
    }
    // Seen from block 7 the era's birth is block 6, whose hash Alice did not sign: expired.
    let error = chain.validate(&xt).unwrap_err();
    assert!(
        matches!(
            error,
            TransactionError::Extrinsic(ExtrinsicError::BadSignature { .. })
        ),
        "{error:?}"
    );
}

#[test]
fn the_pool_accepts_an_extrinsic_born_at_the_head_it_validates_against() {
    let mut chain = Chain::new();
    for _ in 0..2 {
        let block = chain.build(vec![]);
        chain.import(&block).unwrap();
    }
    // Block 2 is the head: its hash is not yet in the state's recent-hash map.
    assert_eq!(System::block_hash(&chain.state, 2), None);
    let extra = SignedExtra {
        era: Era::mortal(4, 2),
        nonce: Compact(0),
        tip: Compact(0),
    };
    let head = chain.head.hash();
    let xt = Extrinsic::sign(
        &signer("Alice"),
        transfer(dev_account("Bob"), AGR),
        extra,
        &chain.genesis_hash,
        &head,
    );
    validate_transaction(
        &chain.state,
        &chain.genesis_hash,
        head,
        &xt,
        xt.encoded_size(),
    )
    .unwrap();
    // And the next block, which records block 2's hash first, includes it.
    let block = chain.build(vec![xt]);
    chain.import(&block).unwrap();
    assert_eq!(
        System::account_nonce(&chain.state, &dev_account("Alice")),
        1
    );
}

#[test]
fn malformed_extrinsic_bytes_are_named() {
    let chain = Chain::new();
    let xt = chain.sign("Alice", transfer(dev_account("Bob"), AGR), 0);
    let bytes = xt.encode();
    assert_eq!(Extrinsic::decode_bounded(&bytes).unwrap(), xt);
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        Extrinsic::decode_bounded(&trailing),
        Err(ExtrinsicError::TrailingBytes(1))
    );
    // The version byte follows the length prefix: 0x84 (signed, format 4) is the only one.
    let body_len = <Compact<u32> as parity_scale_codec::Decode>::decode(&mut &bytes[..])
        .unwrap()
        .0 as usize;
    let at = bytes.len() - body_len;
    assert_eq!(bytes[at], 0x84);
    for (version, name) in [
        (9u8, "unknown"),
        (0x04, "unsigned"),
        (0x85, "signed format 5"),
    ] {
        let mut versioned = bytes.clone();
        versioned[at] = version;
        assert_eq!(
            Extrinsic::decode_bounded(&versioned),
            Err(ExtrinsicError::UnsupportedVersion(version)),
            "{name}"
        );
    }
    // A length prefix claiming more than the limit is refused before anything is read.
    let mut claim = Compact(u32::try_from(MAX_EXTRINSIC_LEN + 1).unwrap()).encode();
    claim.push(0x84);
    assert!(matches!(
        Extrinsic::decode_bounded(&claim),
        Err(ExtrinsicError::Malformed(_))
    ));
    assert!(matches!(
        Extrinsic::decode_bounded(&bytes[..40]),
        Err(ExtrinsicError::Malformed(_))
    ));
    assert!(matches!(
        Extrinsic::decode_bounded(&[]),
        Err(ExtrinsicError::Malformed(_))
    ));
    let huge = vec![1u8; MAX_EXTRINSIC_LEN + 1];
    assert_eq!(
        Extrinsic::decode_bounded(&huge),
        Err(ExtrinsicError::TooLong {
            len: MAX_EXTRINSIC_LEN + 1
        })
    );
}

#[test]
fn tampered_headers_are_rejected() {
    let mut chain = Chain::new();
    let block = chain.build(vec![chain.sign(
        "Alice",
        transfer(dev_account("Bob"), AGR),
        0,
    )]);
    let mut bad_events = block.clone();
    bad_events.header.events_root = Hash([9; 32]);
    assert!(matches!(
        chain.import(&bad_events),
        Err(BlockError::EventsRoot { .. })
    ));
    let mut bad_time = block.clone();
    bad_time.header.timestamp = 0;
    assert!(matches!(
        chain.import(&bad_time),
        Err(BlockError::Context(_))
    ));
    let mut dropped = block.clone();
    dropped.extrinsics.clear();
    assert!(matches!(
        chain.import(&dropped),
        Err(BlockError::ExtrinsicsRoot { .. })
    ));
    chain.import(&block).unwrap();
}

#[test]
fn execution_is_deterministic() {
    let mut a = Chain::new();
    let mut b = Chain::new();
    let xts: Vec<Extrinsic> = (0..20)
        .map(|nonce| {
            a.sign(
                "Alice",
                transfer(dev_account("Dave"), AGR + Balance::from(nonce)),
                nonce,
            )
        })
        .collect();
    let block = a.build(xts);
    a.import(&block).unwrap();
    b.import(&block).unwrap();
    assert_eq!(a.state, b.state);
}

#[test]
fn calls_are_tagged_with_their_pallet_index() {
    let calls = [
        (
            crate::SYSTEM_INDEX,
            RuntimeCall::System(pallet_system::Call::Remark { remark: Vec::new() }),
        ),
        (crate::BALANCES_INDEX, transfer(dev_account("Bob"), AGR)),
        (
            crate::STAKING_INDEX,
            RuntimeCall::Staking(pallet_staking::Call::Bond {
                amount: Compact(AGR),
            }),
        ),
        (
            crate::MARKET_INDEX,
            RuntimeCall::Market(pallet_market::Call::CancelBid { bid: Compact(0) }),
        ),
        (
            crate::JOBS_INDEX,
            RuntimeCall::Jobs(pallet_jobs::Call::CancelJob { job: 0 }),
        ),
        (
            crate::VERIFICATION_INDEX,
            RuntimeCall::Verification(pallet_verification::Call::RegisterVerifier),
        ),
    ];
    for (index, call) in calls {
        assert_eq!(call.encode()[0], index, "{call:?}");
    }
}

/// The fixed weight of the referee call covers what a step's run may use — two engine calls
/// (`init` and the step) of the referee's fuel each at the slowest verifier speed the
/// parameters assume — and fits in a block with an extrinsic's base weight.
/// `declare_unrunnable`'s weight is the same second; it covers no particular run (its segment 0
/// re-run, like a segment dispute's, is more: the open item in `docs/verification.md`), and
/// only has to fit a block.
#[test]
fn the_referee_weight_covers_two_calls_at_the_minimum_speed_and_fits_a_block() {
    use crate::verification::{MIN_VERIFIER_FUEL_PER_SECOND, REFEREE_FUEL};
    let weight = pallet_verification::weights::REFEREE;
    let nanos =
        2 * u128::from(REFEREE_FUEL) * 1_000_000_000 / u128::from(MIN_VERIFIER_FUEL_PER_SECOND);
    assert!(u128::from(weight) >= nanos, "referee: {weight} < {nanos}");
    for (what, weight) in [
        ("referee", weight),
        (
            "declare_unrunnable",
            pallet_jobs::weights::DECLARE_UNRUNNABLE,
        ),
        ("prove_unrunnable", pallet_jobs::weights::PROVE_UNRUNNABLE),
    ] {
        assert!(
            weight + crate::fees::EXTRINSIC_BASE_WEIGHT <= crate::limits::MAX_BLOCK_WEIGHT,
            "a {what} call must fit a block"
        );
    }
}

/// The blobs a pool fetches ahead for a call are those its dispatch requires the bytes of: a
/// bid's module and dataset; none for a call that requires none.
#[test]
fn a_bids_inputs_are_the_blobs_it_requires() {
    let (module, dataset) = (
        agora_primitives::Hash([1; 32]),
        agora_primitives::Hash([2; 32]),
    );
    let bid = RuntimeCall::Market(pallet_market::Call::PlaceBid {
        spec: crate::market_tests::job_spec(module, dataset),
        terms: crate::market_tests::bid_terms(),
    });
    assert_eq!(bid.blobs_required(), vec![module, dataset]);
    let remark = RuntimeCall::System(pallet_system::Call::Remark { remark: vec![1] });
    assert!(remark.blobs_required().is_empty());
}
