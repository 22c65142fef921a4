//! What a run leaves and the assertions on it (see the module documentation).

use super::*;

/// The state tree at one root of one database.
pub(super) struct At<'a> {
    pub(super) db: &'a Database,
    pub(super) root: Hash,
}

impl StateRead for At<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.db
            .state_at(self.root, key)
            .expect("the state tree of a finalized block is complete")
    }
}

/// What a run leaves to check once the runtime has stopped.
pub(super) struct Outcome {
    /// Per validator running the chain: its finalized block hashes by height (from 1).
    pub(super) finalized: Vec<Vec<Hash>>,
    /// Per validator running the chain: whether it follows the protocol.
    pub(super) follows: Vec<bool>,
    /// Per validator running the chain and per height: the senders' (nonce, free balance).
    pub(super) senders: Vec<Vec<Vec<(u32, u128)>>>,
    /// The latest committee (consensus keys) the finalized state knows.
    pub(super) last_committee: Vec<[u8; 32]>,
    /// //Dave's active bond at the end.
    pub(super) byzantine_bond: u128,
    /// Messages from //Dave delivered to the others.
    pub(super) heard_from_byzantine: u64,
    /// Finalized blocks the joiner of `joining_validator` authored.
    pub(super) joiner_authored: usize,
}

/// The senders' (nonce, free balance) at `root` of `db`.
pub(super) fn sender_state(db: &Database, root: Hash) -> Vec<(u32, u128)> {
    let at = At { db, root };
    SENDERS
        .iter()
        .map(|name| {
            let who = signer_account(name);
            (
                agora_runtime::System::account_nonce(&at, &who),
                agora_runtime::Balances::free_balance(&at, &who),
            )
        })
        .collect()
}

/// Checks the assertions of the module doc on `outcome`.
pub(super) fn check(fault: Fault, seed: u64, outcome: &Outcome) {
    let name = fault.name();
    let shortest = outcome
        .finalized
        .iter()
        .zip(&outcome.follows)
        .filter(|(_, follows)| **follows)
        .map(|(blocks, _)| blocks.len())
        .min()
        .unwrap_or(0);
    assert!(
        shortest as u64 >= MIN_HEIGHT,
        "{name} seed {seed}: a validator finalized only {shortest} blocks"
    );
    let reference = outcome.finalized[0].iter().zip(&outcome.senders[0]);
    for (blocks, states) in outcome.finalized.iter().zip(&outcome.senders).skip(1) {
        // Zipping stops at the shorter chain: heights both have finalized.
        for (height, ((block, state), (reference_block, reference_state))) in
            blocks.iter().zip(states).zip(reference.clone()).enumerate()
        {
            assert_eq!(
                block,
                reference_block,
                "{name} seed {seed}: validators disagree at height {}",
                height + 1
            );
            assert_eq!(
                state,
                reference_state,
                "{name} seed {seed}: states differ at height {}",
                height + 1
            );
        }
    }
    let last = outcome.senders[0].last().expect("blocks were finalized");
    assert!(
        last.iter().all(|(nonce, _)| *nonce > 0),
        "{name} seed {seed}: no transfer of some sender was finalized: {last:?}"
    );
    // The conflicter sends only conflicting pairs of votes: once two of its messages got
    // through, its equivocation was seen and must be punished. (In some seeds it never
    // connects; then it is a silent validator and there is nothing to punish.)
    if fault == Fault::EquivocatingValidator && outcome.heard_from_byzantine >= 2 {
        let dave = consensus_public(NAMES[BYZANTINE]);
        assert_eq!(
            outcome.byzantine_bond,
            agora_runtime::genesis::GENESIS_VALIDATOR_BOND / 2,
            "{name} seed {seed}: the equivocator's bond was not slashed by half ({} of its messages got through)",
            outcome.heard_from_byzantine
        );
        assert!(
            !outcome.last_committee.contains(&dave),
            "{name} seed {seed}: the equivocator is still in the last committee"
        );
    }
    if fault == Fault::JoiningValidator {
        assert!(
            outcome.last_committee.contains(&consensus_public(JOINER)),
            "{name} seed {seed}: the joiner is not in the last committee"
        );
        assert!(
            outcome.joiner_authored > 0,
            "{name} seed {seed}: the joiner authored no finalized block"
        );
    }
}

/// What [`check`] needs from `running` (each validator's chain and whether it follows the
/// protocol); asserts each one's flat state equals its tree at its head.
pub(super) fn collect(
    fault: Fault,
    seed: u64,
    running: &[(Chain, bool)],
    heard_from_byzantine: u64,
) -> Outcome {
    let mut finalized = Vec::new();
    let mut senders = Vec::new();
    for (chain, _) in running {
        let db = chain.db();
        let mut hashes = Vec::new();
        let mut states = Vec::new();
        for number in 1..=chain.finalized_height() {
            let hash = chain
                .block_hash(number)
                .expect("readable")
                .expect("finalized");
            let root = chain.header(&hash).expect("stored").state_root;
            hashes.push(hash);
            states.push(sender_state(db, root));
        }
        // The flat state (what execution reads) is the tree at the head.
        let head_root = chain.finalized_head().1.state_root;
        let view = chain.finalized_view();
        let flat: Vec<(u32, u128)> = SENDERS
            .iter()
            .map(|name| {
                let who = signer_account(name);
                (
                    agora_runtime::System::account_nonce(&view, &who),
                    agora_runtime::Balances::free_balance(&view, &who),
                )
            })
            .collect();
        assert_eq!(
            flat,
            sender_state(db, head_root),
            "{} seed {seed}: flat state differs from the tree at the head",
            fault.name()
        );
        finalized.push(hashes);
        senders.push(states);
    }
    let reference = &running[0].0;
    let epochs = reference.finalized_height() / EPOCH_LENGTH + 1;
    let last_committee = (0..=epochs)
        .rev()
        .find_map(|epoch| crate::consensus::Chain::committee(reference, epoch))
        .expect("the finalized state knows a committee")
        .into_iter()
        .map(|member| member.key)
        .collect();
    let byzantine_bond =
        pallet_staking::Ledger::get(&reference.finalized_view(), &account(NAMES[BYZANTINE]))
            .map_or(0, |ledger| ledger.active);
    // The beacon proof names the proposer's consensus key (and is checked against it).
    let joiner = Hash(consensus_public(JOINER));
    let joiner_authored = finalized[0]
        .iter()
        .filter(|hash| reference.header(hash).expect("stored").beacon.proposer == joiner)
        .count();
    Outcome {
        finalized,
        follows: running.iter().map(|(_, follows)| *follows).collect(),
        senders,
        last_committee,
        byzantine_bond,
        heard_from_byzantine,
        joiner_authored,
    }
}
