//! The faults of the scenarios: the seeded draws, the faulty links, the forging validator
//! and the equivocating one.

use super::*;

/// SplitMix64: the simulation's own draws (faults, load), seeded from the run's seed.
#[derive(Debug)]
pub(super) struct Draws(pub(super) u64);

impl Draws {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0; the modulo bias is irrelevant here).
    pub(super) fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    pub(super) fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

/// The links of a run: a partition, loss and delay, and a silenced validator.
#[derive(Debug)]
pub(super) struct SimLinks {
    pub(super) state: Mutex<LinkState>,
}

#[derive(Debug)]
pub(super) struct LinkState {
    pub(super) draws: Draws,
    /// Group of each validator key while partitioned.
    pub(super) groups: Option<BTreeMap<[u8; 32], u8>>,
    /// Chance of loss, in percent.
    pub(super) loss_percent: u64,
    /// Longest delay.
    pub(super) max_delay_ms: u64,
    /// A validator nothing is heard from.
    pub(super) silenced: Option<[u8; 32]>,
    /// Messages delivered, by sender.
    pub(super) delivered: BTreeMap<[u8; 32], u64>,
}

impl SimLinks {
    pub(super) fn new(seed: u64) -> Self {
        SimLinks {
            state: Mutex::new(LinkState {
                draws: Draws(seed ^ 0x6c69_6e6b),
                groups: None,
                loss_percent: 0,
                max_delay_ms: 0,
                silenced: None,
                delivered: BTreeMap::new(),
            }),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lifts every fault.
    pub(super) fn heal(&self) {
        let mut state = self.lock();
        state.groups = None;
        state.loss_percent = 0;
        state.max_delay_ms = 0;
        state.silenced = None;
    }
}

impl Links for SimLinks {
    fn deliver(&self, from: &[u8; 32], to: &[u8; 32]) -> Delivery {
        let mut state = self.lock();
        if state.silenced.as_ref() == Some(from) {
            return Delivery::Never;
        }
        if let Some(groups) = &state.groups {
            if groups.get(from) != groups.get(to) {
                return Delivery::Never;
            }
        }
        if state.loss_percent > 0 && state.draws.below(100) < state.loss_percent {
            return Delivery::Never;
        }
        *state.delivered.entry(*from).or_default() += 1;
        if state.max_delay_ms > 0 {
            let longest = state.max_delay_ms;
            let delay = state.draws.millis(0, longest);
            return Delivery::After(delay);
        }
        Delivery::Now
    }
}

/// A validator that proposes blocks with a forged state root (`invalid_blocks`); otherwise
/// the real chain.
#[derive(Clone)]
pub(super) struct Forger {
    pub(super) chain: Chain,
    /// Its forged blocks, by hash, to serve to peers.
    pub(super) forged: Arc<Mutex<HashMap<Hash, Vec<u8>>>>,
}

impl crate::consensus::Chain for Forger {
    fn genesis(&self) -> Hash {
        self.chain.genesis()
    }

    async fn propose(&self, parent: Hash, epoch: u64, view: u64) -> Option<Hash> {
        let built = self.chain.propose(parent, epoch, view).await?;
        if built == parent {
            return Some(built);
        }
        let mut block = Block::decode(&mut &self.chain.block_bytes(built)?[..]).ok()?;
        block.header.state_root = Hash::of(b"a state root no execution gives");
        let hash = block.hash();
        let mut forged = self.forged.lock().unwrap_or_else(|e| e.into_inner());
        forged.insert(hash, block.encode());
        Some(hash)
    }

    async fn verify(&self, parent: Hash, block: Hash, epoch: u64, leader: [u8; 32]) -> bool {
        self.chain.verify(parent, block, epoch, leader).await
    }

    async fn finalized(&self, block: Hash, certificate: Vec<u8>) {
        let forged = self
            .forged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&block);
        assert!(!forged, "a forged block {block} was finalized");
        self.chain.finalized(block, certificate).await;
    }

    fn block_bytes(&self, block: Hash) -> Option<Vec<u8>> {
        let forged = self.forged.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bytes) = forged.get(&block) {
            return Some(bytes.clone());
        }
        drop(forged);
        self.chain.block_bytes(block)
    }

    fn receive_block(&self, bytes: Vec<u8>, source: BlockSource) -> Option<Hash> {
        self.chain.receive_block(bytes, source)
    }

    fn block_links(&self, bytes: &[u8]) -> Option<BlockLinks> {
        self.chain.block_links(bytes)
    }

    fn has_block(&self, block: Hash) -> bool {
        let forged = self.forged.lock().unwrap_or_else(|e| e.into_inner());
        forged.contains_key(&block) || self.chain.has_block(block)
    }

    fn finalized_height(&self) -> u64 {
        self.chain.finalized_height()
    }

    fn finalized_run(&self, from: u64, limits: RunLimits) -> Option<FinalizedRun> {
        self.chain.finalized_run(from, limits)
    }

    fn connects(&self, block: Hash) -> bool {
        self.chain.connects(block)
    }

    fn claim(&self, block: Hash) -> bool {
        self.chain.claim(block)
    }

    fn relay_queue(&self) -> Option<tokio::sync::broadcast::Receiver<Vec<u8>>> {
        crate::consensus::Chain::relay_queue(&self.chain)
    }

    fn receive_transactions(&self, batch: Vec<Vec<u8>>) {
        self.chain.receive_transactions(batch);
    }

    fn epoch(&self) -> crate::consensus::EpochStart {
        self.chain.epoch()
    }

    fn committee(&self, epoch: u64) -> Option<Vec<crate::consensus::Member>> {
        self.chain.committee(epoch)
    }

    fn equivocation(&self, evidence: pallet_staking::equivocation::Equivocation) {
        self.chain.equivocation(evidence);
    }

    fn last_finalized(&self) -> Option<Vec<u8>> {
        self.chain.last_finalized()
    }
}

/// The equivocating //Dave: commonware's conflicter on epoch 0's votes, and no chain.
pub(super) fn start_equivocator(
    context: &deterministic::Context,
    spec: &ChainSpec,
    genesis: Hash,
) -> Vec<commonware_runtime::Handle<()>> {
    let validators: Vec<([u8; 32], SocketAddr)> = NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (consensus_public(name), address(i, 0)))
        .collect();
    let namespace = chain::consensus_namespace(&spec.id, &genesis);
    let mut config = Config::new(
        address(BYZANTINE, 1),
        keys(NAMES[BYZANTINE]).consensus_seed,
        validators,
        namespace,
    );
    config.max_committee = MAX_COMMITTEE;
    crate::consensus::equivocator::start_equivocator(context, &config)
}
