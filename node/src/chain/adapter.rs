//! The chain as consensus sees it: [`consensus::Chain`] over building, importing and
//! finalizing.
//!
//! Consensus learns only yes or no; the reasons are logged here. One failure is not survivable:
//! a block consensus finalized that this node cannot commit. The rest of the network has moved
//! on with it, so continuing would diverge; the process stops for the operator to look.

use super::Chain;
use crate::consensus;
use agora_primitives::Hash;
use parity_scale_codec::Encode;

impl consensus::Chain for Chain {
    fn genesis(&self) -> Hash {
        self.inner.genesis_hash
    }

    async fn propose(&self, parent: Hash, view: u64) -> Option<Hash> {
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

    async fn verify(&self, parent: Hash, block: Hash) -> bool {
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

    fn receive_block(&self, bytes: Vec<u8>) -> Option<Hash> {
        self.receive(bytes)
    }

    fn has_block(&self, block: Hash) -> bool {
        self.lock().pending.contains_key(&block)
            || matches!(self.inner.db.block(&block), Ok(Some(_)))
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
