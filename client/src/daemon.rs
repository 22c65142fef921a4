//! What every daemon (the worker's, the verifier's) is configured with, as a plain struct: the
//! command line builds it, tests and embedders may build it directly.

use std::path::PathBuf;
use std::time::Duration;

use agora_primitives::{AccountId, Balance};
use parity_scale_codec::Compact;

use crate::chain::State;
use crate::keys::Signer;
use crate::rpc::Rpc;
use crate::{tx, Error};

/// The configuration common to the daemons.
#[derive(Clone)]
pub struct DaemonConfig {
    /// The node's JSON-RPC URL.
    pub rpc_url: String,
    /// The daemon's account key.
    pub signer: Signer,
    /// Where the daemon keeps its work across restarts.
    pub state_dir: PathBuf,
    /// Directory of the job engine's compiled-module cache (none: compile every time).
    pub module_cache_dir: Option<PathBuf>,
    /// Time between looks at the chain.
    pub poll: Duration,
}

impl DaemonConfig {
    /// The daemon's account.
    pub fn account(&self) -> AccountId {
        self.signer.agora_account()
    }

    /// Where the daemon keeps its work on the chain `rpc` serves: `<state dir>/chains/<genesis
    /// hash>-<block 1 hash>` (16 hex digits of each), created if missing. State belongs to one
    /// chain: a worker's next block to scan and runs by job id, or a verifier's salts, from
    /// another chain would skip or corrupt this one's (job ids start at 0 on every chain, so an
    /// old run of job 0 would be committed as the new job 0's). The genesis alone does not tell
    /// chains apart — a dev chain purged and started again has the same, deterministic, genesis
    /// — but its first block, stamped by its author's clock, does. Waits (a poll at a time, up
    /// to a minute) for block 1 on a chain that has only its genesis yet.
    pub async fn chain_dir(&self, rpc: &Rpc) -> Result<PathBuf, Error> {
        let short = |hash: agora_primitives::Hash| -> String {
            hash.to_hex()
                .trim_start_matches("0x")
                .chars()
                .take(16)
                .collect()
        };
        let genesis = rpc
            .block_hash(0)
            .await?
            .ok_or_else(|| Error::Unexpected("the node has no block 0".into()))?;
        let poll = self.poll.max(Duration::from_millis(50));
        let mut first = None;
        for _ in 0..(60_000 / poll.as_millis().max(1)).max(1) {
            first = rpc.block_hash(1).await?;
            if first.is_some() {
                break;
            }
            tokio::time::sleep(poll).await;
        }
        let first = first.ok_or_else(|| {
            Error::Unexpected("the chain has produced no block 1 in a minute".into())
        })?;
        let dir =
            self.state_dir
                .join("chains")
                .join(format!("{}-{}", short(genesis), short(first)));
        crate::files::create_dir(&dir)?;
        Ok(dir)
    }
}

impl std::fmt::Debug for DaemonConfig {
    // By hand: the signer holds a secret key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonConfig")
            .field("rpc_url", &self.rpc_url)
            .field("account", &self.account())
            .field("state_dir", &self.state_dir)
            .field("module_cache_dir", &self.module_cache_dir)
            .field("poll", &self.poll)
            .finish()
    }
}

/// Bonds what `signer`'s account lacks of `want` active stake (a daemon's first step: offers'
/// collateral and spot checks' bonds come from it). Returns the amount bonded, if any.
pub async fn ensure_bonded(
    rpc: &Rpc,
    signer: &Signer,
    want: Balance,
) -> Result<Option<Balance>, Error> {
    let ledger = State::best(rpc).ledger(&signer.agora_account()).await?;
    if ledger.active >= want {
        return Ok(None);
    }
    let amount = want.saturating_sub(ledger.active);
    let call = agora_runtime::RuntimeCall::Staking(pallet_staking::Call::Bond {
        amount: Compact(amount),
    });
    tx::send(rpc, signer, call, "bond", tx::DEFAULT_TIMEOUT).await?;
    Ok(Some(amount))
}
