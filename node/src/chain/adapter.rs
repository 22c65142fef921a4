//! The chain as consensus sees it: [`consensus::Chain`] over building, importing and
//! finalizing.
//!
//! Consensus learns only yes or no; the reasons are logged here. One failure is not survivable:
//! a block consensus finalized that this node cannot commit. The rest of the network has moved
//! on with it, so continuing would diverge; the process stops for the operator to look.

use super::epochs::Placement;
use super::import::HeldRoute;
use super::{Chain, State};
use crate::consensus::{self, FinalizedRun, RunLimits};
use crate::storage::Database;
use agora_primitives::Hash;
use parity_scale_codec::{Decode, Encode};

impl consensus::Chain for Chain {
    fn genesis(&self) -> Hash {
        self.inner.genesis_hash
    }

    async fn propose(&self, parent: Hash, epoch: u64, view: u64) -> Option<Hash> {
        match self.place_child(parent, epoch) {
            Ok(Placement::Child) => {}
            Ok(Placement::Repropose) => {
                tracing::debug!(%parent, epoch, view, "re-proposing the epoch's last block");
                return Some(parent);
            }
            Err(error) => {
                tracing::warn!(%parent, epoch, view, %error, "cannot propose");
                return None;
            }
        }
        match self.build(parent).await {
            Ok(hash) => {
                tracing::debug!(%hash, %parent, view, "proposed block");
                Some(hash)
            }
            Err(error) => {
                tracing::warn!(%parent, view, %error, "cannot propose");
                None
            }
        }
    }

    async fn verify(&self, parent: Hash, block: Hash, epoch: u64, leader: [u8; 32]) -> bool {
        match self.place_child(parent, epoch) {
            Ok(Placement::Repropose) if block == parent => return true,
            Ok(Placement::Child) if block != parent => {}
            Ok(_) => {
                tracing::warn!(%block, %parent, epoch, "block rejected: not of its epoch");
                return false;
            }
            Err(error) => {
                tracing::warn!(%block, %parent, epoch, %error, "block rejected");
                return false;
            }
        }
        match self.header(&block) {
            Ok(header) if header.beacon.proposer.0 == leader => {}
            Ok(header) => {
                let proposer = header.beacon.proposer;
                let leader = Hash(leader);
                tracing::warn!(%block, %proposer, %leader, "block rejected: not proposed by the view's leader");
                return false;
            }
            Err(error) => {
                tracing::warn!(%block, %parent, %error, "block rejected");
                return false;
            }
        }
        match self.check(parent, block).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%block, %parent, %error, "block rejected");
                false
            }
        }
    }

    async fn finalized(&self, block: Hash, certificate: Vec<u8>) {
        if let Err(error) = self.finalize(block, certificate).await {
            // Consensus has finalized a block we cannot commit: continuing would diverge from
            // the rest of the network, so stop and let the operator look.
            tracing::error!(%block, %error, "cannot commit a finalized block; stopping");
            std::process::exit(1);
        }
        let number = self.lock().finalized.number();
        tracing::info!(%block, number, "finalized");
    }

    fn block_bytes(&self, block: Hash) -> Option<Vec<u8>> {
        if let Some(pending) = self.lock().pending.get(&block) {
            return Some((*pending.encoded).clone());
        }
        Self::load_stored(&self.inner.db, &block)
            .ok()
            .map(|stored| stored.block.encode())
    }

    fn receive_block(&self, bytes: Vec<u8>, source: consensus::BlockSource) -> Option<Hash> {
        self.receive(bytes, source)
    }

    fn block_links(&self, bytes: &[u8]) -> Option<consensus::BlockLinks> {
        let header = agora_runtime::block::Header::decode(&mut &bytes[..]).ok()?;
        self.contradiction(header.number(), header.hash()).ok()?;
        Some(consensus::BlockLinks {
            hash: header.hash(),
            parent: header.parent_hash,
            number: header.number(),
            epoch: self.epoch_of_number(header.number()),
        })
    }

    fn has_block(&self, block: Hash) -> bool {
        self.lock().pending.contains_key(&block)
            || matches!(self.inner.db.block(&block), Ok(Some(_)))
    }

    fn finalized_height(&self) -> u64 {
        self.lock().finalized.number()
    }

    fn finalized_run(&self, from: u64, limits: RunLimits) -> Option<FinalizedRun> {
        let tip = self.finalized_height();
        if from == 0 || from > tip {
            return None;
        }
        let db = &self.inner.db;
        let mut blocks = Vec::new();
        let mut bytes = 0usize;
        let mut certified = None;
        // Bounded by `limits.max_blocks`; stops at the tip, at the end of `from`'s epoch, at the
        // byte budget, or on a read error.
        for number in (from..=tip.min(self.run_limit(from))).take(limits.max_blocks) {
            let hash = db.block_hash(number).ok()??;
            let block = Self::load_stored(db, &hash).ok()?.block.encode();
            bytes = bytes.saturating_add(block.len()).saturating_add(4);
            if bytes > limits.max_bytes {
                break;
            }
            blocks.push(block);
            let certificate = db.certificate(&hash).ok()??;
            if !certificate.is_empty() {
                certified = Some((blocks.len(), certificate));
            }
        }
        let (length, certificate) = certified?;
        blocks.truncate(length);
        Some((blocks, certificate))
    }

    fn connects(&self, block: Hash) -> bool {
        Self::connects_under(&self.lock(), &self.inner.db, block)
    }

    fn claim(&self, block: Hash) -> bool {
        // One lock: nothing can be forgotten between the walk and the trust.
        let mut state = self.lock();
        let route = HeldRoute::walk(&state, block);
        if route.reaches_finalized {
            route.trust(&mut state);
            return true;
        }
        matches!(self.inner.db.block(&block), Ok(Some(_)))
    }

    fn relay_queue(&self) -> Option<tokio::sync::broadcast::Receiver<Vec<u8>>> {
        Some(Chain::relay_queue(self))
    }

    fn receive_transactions(&self, batch: Vec<Vec<u8>>) {
        for result in self.submit_relayed_batch(&batch) {
            if let Err(error) = result {
                // Known, stale or invalid: the pool's verdict is that of a local submission.
                tracing::debug!(%error, "relayed extrinsic not pooled");
            }
        }
    }

    fn epoch(&self) -> consensus::EpochStart {
        self.epoch_start()
    }

    fn committee(&self, epoch: u64) -> Option<Vec<consensus::Member>> {
        self.committee_of(epoch)
    }

    fn equivocation(&self, evidence: pallet_staking::equivocation::Equivocation) {
        let Some(reporter) = self.inner.reporter.get() else {
            tracing::warn!(
                offender = %evidence.offender,
                "equivocation seen; no --report-key to report it with"
            );
            return;
        };
        let who = reporter.signer_account();
        let call = agora_runtime::RuntimeCall::Staking(pallet_staking::Call::ReportEquivocation {
            evidence: Box::new(evidence),
        });
        let genesis = self.inner.genesis_hash;
        let extrinsic = agora_runtime::extrinsic::Extrinsic::sign(
            reporter.as_ref(),
            call,
            agora_runtime::executive::immortal_extra(self.next_nonce(&who), 0),
            &genesis,
            &genesis,
        );
        match self.submit(&extrinsic.encode()) {
            Ok(hash) => {
                tracing::info!(%hash, offender = %evidence.offender, "equivocation reported")
            }
            Err(error) => tracing::warn!(%error, "cannot submit the equivocation report"),
        }
    }

    fn snapshot_offer(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.offer()
    }

    fn checkpoint(&self) -> Option<(u64, Hash)> {
        self.checkpoint_end()
    }

    fn epoch_end(&self, epoch: u64) -> Option<consensus::EpochEnd> {
        self.end_of_epoch(epoch)
    }

    fn state_nodes(&self, hashes: &[Hash], max_bytes: usize) -> Vec<Vec<u8>> {
        self.nodes_by_hash(hashes, max_bytes)
    }

    fn open_epoch_end(
        &self,
        epoch: u64,
        end: &consensus::EpochEnd,
    ) -> Option<(Hash, u64, Vec<[u8; 32]>)> {
        self.check_epoch_end(epoch, end)
    }

    fn open_snapshot_block(&self, bytes: &[u8]) -> Option<consensus::SnapshotBlock> {
        self.check_snapshot_block(bytes)
    }

    async fn install_snapshot(&self, snapshot: consensus::SnapshotInstall) -> bool {
        let epochs = snapshot.epoch_ends.len();
        match self.install(snapshot).await {
            Ok(()) => {
                let (hash, header) = self.finalized_head();
                tracing::info!(%hash, number = header.number(), epochs, "state snapshot installed");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "cannot install the state snapshot");
                false
            }
        }
    }

    fn last_finalized(&self) -> Option<Vec<u8>> {
        let hash = self.lock().finalized_hash;
        self.inner
            .db
            .certificate(&hash)
            .ok()
            .flatten()
            .filter(|cert| !cert.is_empty())
    }
}

impl Chain {
    /// [`consensus::Chain::connects`] under the lock already taken.
    fn connects_under(state: &State, db: &Database, block: Hash) -> bool {
        HeldRoute::walk(state, block).reaches_finalized || matches!(db.block(&block), Ok(Some(_)))
    }
}
