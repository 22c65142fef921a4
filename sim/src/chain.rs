//! The real runtime in memory: every action of every simulated party is a signed extrinsic in a
//! block built by the runtime's own `BlockBuilder`, so fees, weights, hooks and every pallet rule
//! apply as on a node. Blocks are not sealed (no state root: nothing imports them) and the parent
//! hash, which seeds the spot-check sample, is drawn from the simulation's seed.

use std::collections::BTreeMap;
use std::sync::Arc;

use agora_primitives::storage::{apply_changes, StateRead};
use agora_primitives::{AccountId, Balance, Hash};
use agora_runtime::executive::{immortal_extra, BlockBuilder};
use agora_runtime::extrinsic::Extrinsic;
use agora_runtime::genesis::{ChainSpec, GenesisSpec};
use agora_runtime::{decode_events, Balances, RuntimeCall, RuntimeEvent};
use sp_core::{sr25519, Pair};

use crate::rng::Rng;
use crate::truth::SimReferee;

/// Milliseconds between simulated blocks.
const BLOCK_MS: u64 = 1_000;

/// A simulated party: its key and account.
pub struct Party {
    pair: sr25519::Pair,
    /// Its account.
    pub account: AccountId,
}

impl Party {
    /// The party derived from `//agora-sim/<name>`.
    pub fn new(name: &str) -> Party {
        let pair = sr25519::Pair::from_string(&format!("//agora-sim/{name}"), None)
            .expect("a hard derivation of a plain name is a valid SURI");
        let account = AccountId(pair.public().0);
        Party { pair, account }
    }
}

/// The chain: state, block number, pending extrinsics.
pub struct SimChain {
    genesis_hash: Hash,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    parent: Hash,
    time: u64,
    nonces: BTreeMap<AccountId, u32>,
    pending: Vec<Extrinsic>,
    /// Extrinsics the runtime refused or that failed, by the call's pallet and name: a
    /// simulated party that acts out of turn shows up here, not as a panic.
    pub failed: BTreeMap<String, u64>,
    referee: Arc<SimReferee>,
    /// The development chain's one validator, Alice: proposes every block.
    proposer: pallet_staking::beacon::BeaconSigner,
}

impl SimChain {
    /// A chain whose genesis endows `parties` with `endowment` each.
    pub fn new(parties: &[&Party], endowment: Balance) -> SimChain {
        let mut spec = ChainSpec::development();
        spec.genesis = GenesisSpec {
            timestamp: 0,
            balances: parties.iter().map(|p| (p.account, endowment)).collect(),
            epoch_length: agora_runtime::genesis::DEFAULT_EPOCH_LENGTH,
            lifetimes: None,
            windows: None,
        };
        // The validator's account is not endowed here: it sits in epoch 0 without a bond.
        spec.validators[0].bond = 0;
        let genesis = spec.genesis();
        let mut state = BTreeMap::new();
        apply_changes(&mut state, &genesis.changes);
        SimChain {
            genesis_hash: genesis.block.hash(),
            state,
            parent: genesis.block.hash(),
            time: 0,
            nonces: BTreeMap::new(),
            pending: Vec::new(),
            failed: BTreeMap::new(),
            referee: Arc::new(SimReferee),
            proposer: pallet_staking::beacon::BeaconSigner::from_consensus_seed(
                &agora_runtime::genesis::dev_consensus_seed("Alice"),
            ),
        }
    }

    /// The state after the last block.
    pub fn state(&self) -> &impl StateRead {
        &self.state
    }

    /// `who` signs `call` for the next block.
    pub fn submit(&mut self, who: &Party, call: RuntimeCall) {
        let nonce = self.nonces.entry(who.account).or_default();
        let xt = Extrinsic::sign(
            &who.pair,
            call,
            immortal_extra(*nonce, 0),
            &self.genesis_hash,
            &self.genesis_hash,
        );
        *nonce = nonce.saturating_add(1);
        self.pending.push(xt);
    }

    /// Builds and applies the next block with the pending extrinsics; returns its events. An
    /// extrinsic the builder refuses is dropped (and its nonce is given back to its sender).
    pub fn block(&mut self, rng: &mut Rng) -> Vec<RuntimeEvent> {
        self.time = self.time.saturating_add(BLOCK_MS);
        let referee: Arc<dyn agora_primitives::referee::Referee> = self.referee.clone();
        let mut builder = BlockBuilder::new(
            &self.state,
            Some(referee),
            self.genesis_hash,
            self.parent,
            self.time,
            AccountId([0; 32]),
            &self.proposer,
        )
        .expect("a block on the last one starts");
        let mut refused = Vec::new();
        for xt in std::mem::take(&mut self.pending) {
            let (signer, name) = (xt.signer, call_name(&xt.call));
            if builder.push(xt).is_err() {
                refused.push((signer, name));
            }
        }
        let built = builder.finish();
        apply_changes(&mut self.state, &built.changes);
        for (signer, name) in refused {
            // The runtime never saw it: its nonce is free again.
            if let Some(nonce) = self.nonces.get_mut(&signer) {
                *nonce = nonce.saturating_sub(1);
            }
            *self.failed.entry(format!("refused {name}")).or_default() += 1;
        }
        self.parent = Hash::of_parts(&[b"agora/sim/block", &rng.next().to_le_bytes()]);
        let events: Vec<RuntimeEvent> = decode_events(&built.events)
            .expect("the runtime's own events decode")
            .into_iter()
            .map(|record| record.event)
            .collect();
        for event in &events {
            if let RuntimeEvent::System(pallet_system::Event::ExtrinsicFailed { error, .. }) = event
            {
                let what = agora_runtime::describe_dispatch_error(*error);
                *self.failed.entry(format!("failed: {what}")).or_default() += 1;
            }
        }
        events
    }

    /// What `account` holds: free plus reserved (escrow, stake and bonds are reserved).
    pub fn holdings(&self, account: &AccountId) -> Balance {
        Balances::account(&self.state, account).total()
    }
}

/// `pallet::Call` of `call`, for counting failures.
fn call_name(call: &RuntimeCall) -> String {
    let debug = format!("{call:?}");
    debug
        .split(|c: char| c == ' ' || c == '{' || c == '(')
        .take(2)
        .collect::<Vec<_>>()
        .join("::")
}
