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
