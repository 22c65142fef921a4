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

/// How far the finalized chain a daemon reads may fall behind this machine's clock before the
/// daemon warns, at the least: many blocks' worth at the usual block times. A chain of slower
/// blocks is given [`STALE_HEAD_BLOCKS`] of them.
pub const STALE_HEAD_MS: u64 = 30_000;

/// Block intervals the finalized chain may fall behind before a daemon warns, when that is
/// longer than [`STALE_HEAD_MS`] (a chain run with 30 s blocks is behind by up to one block
/// between finalizations, all the time).
pub const STALE_HEAD_BLOCKS: u64 = 3;

/// Watches whether the finalized chain a daemon reads keeps up with the clock. A node that
/// cannot commit (waiting for a blob from a slow peer, cut off from its peers, or a network
/// that stopped finalizing) shows its clients an old state, and a daemon acting on it misses
/// windows counted in blocks without knowing why; the operator should know. Warns once when
/// the lag passes [`STALE_HEAD_MS`] (or [`STALE_HEAD_BLOCKS`] block intervals, whichever is
/// longer), and says so once when it is back under it. The block interval is the shortest
/// seen between finalized heads: blocks are never closer than the chain's block time, and a
/// stall only makes one interval longer.
#[derive(Debug, Default)]
pub struct HeadWatch {
    seen: std::sync::Mutex<HeadsSeen>,
}

/// What a [`HeadWatch`] has seen so far.
#[derive(Debug, Default)]
struct HeadsSeen {
    /// The last head judged: its number and timestamp.
    last: Option<(agora_primitives::BlockNumber, agora_primitives::Moment)>,
    /// The shortest interval per block between heads judged, milliseconds.
    shortest_ms: Option<u64>,
    /// Whether the last head judged was stale.
    stale: bool,
}

/// A change in how the finalized chain keeps up with the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadChange {
    /// It fell behind by this many milliseconds.
    Stale {
        /// The finalized head's number.
        number: agora_primitives::BlockNumber,
        /// How far behind the clock its timestamp is.
        lag_ms: u64,
    },
    /// It caught up again.
    Fresh,
}

impl HeadWatch {
    /// Judges finalized head `number`, stamped `head_ms`, at local time `now_ms`: the change to
    /// report, if any. The genesis is never judged (a dev chain's is stamped 0).
    pub fn judge(
        &self,
        number: agora_primitives::BlockNumber,
        head_ms: agora_primitives::Moment,
        now_ms: u64,
    ) -> Option<HeadChange> {
        if number == 0 {
            return None;
        }
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((last, last_ms)) = seen.last {
            if number > last && head_ms > last_ms {
                let per_block = (head_ms - last_ms) / (number - last);
                seen.shortest_ms = Some(seen.shortest_ms.map_or(per_block, |s| s.min(per_block)));
            }
        }
        seen.last = Some((number, head_ms));
        let bound = seen.shortest_ms.map_or(STALE_HEAD_MS, |interval| {
            STALE_HEAD_MS.max(interval.saturating_mul(STALE_HEAD_BLOCKS))
        });
        let lag_ms = now_ms.saturating_sub(head_ms);
        let stale = lag_ms > bound;
        let was_stale = std::mem::replace(&mut seen.stale, stale);
        match (stale, was_stale) {
            (true, false) => Some(HeadChange::Stale { number, lag_ms }),
            (false, true) => Some(HeadChange::Fresh),
            _ => None,
        }
    }

    /// Reads `finalized` (the finalized state) and this machine's clock and logs a change (see
    /// [`HeadWatch::judge`]). A read that fails is left to the daemon's own reads to report.
    pub async fn check(&self, finalized: &State<'_>) {
        let (Ok(number), Ok(head_ms)) =
            (finalized.block_number().await, finalized.timestamp().await)
        else {
            return;
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        match self.judge(number, head_ms, now_ms) {
            Some(HeadChange::Stale { number, lag_ms }) => tracing::warn!(
                finalized = number,
                behind_s = lag_ms / 1000,
                "the node's finalized chain is behind this machine's clock: its state is old, \
                 and windows counted in blocks may pass unseen (is the node syncing, cut off \
                 from its peers, or waiting for a blob?)"
            ),
            Some(HeadChange::Fresh) => {
                tracing::info!("the node's finalized chain has caught up with the clock")
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stale head is reported once when it falls behind and once when it catches up; the
    /// genesis (stamped 0 on a dev chain) is never judged.
    #[test]
    fn a_head_behind_the_clock_is_reported_once_each_way() {
        let watch = HeadWatch::default();
        let now = 1_000_000_000;
        assert_eq!(watch.judge(0, 0, now), None, "the genesis");
        assert_eq!(watch.judge(5, now - 1_000, now), None, "fresh");
        assert_eq!(
            watch.judge(5, now - STALE_HEAD_MS, now),
            None,
            "at the bound"
        );
        let lag_ms = STALE_HEAD_MS + 1;
        assert_eq!(
            watch.judge(5, now - lag_ms, now),
            Some(HeadChange::Stale { number: 5, lag_ms })
        );
        assert_eq!(watch.judge(5, now - 2 * lag_ms, now + lag_ms), None, "once");
        assert_eq!(watch.judge(9, now, now), Some(HeadChange::Fresh));
        assert_eq!(watch.judge(10, now, now), None, "once");
        // A head stamped ahead of this clock is not behind it.
        assert_eq!(watch.judge(11, now + 5_000, now), None);
    }

    /// On a chain of 60 s blocks the head is up to a block behind all the time: no warning
    /// until it is [`STALE_HEAD_BLOCKS`] blocks behind.
    #[test]
    fn slow_blocks_are_given_several_intervals() {
        let watch = HeadWatch::default();
        let block = 60_000;
        assert_eq!(watch.judge(1, 0, 10), None);
        assert_eq!(watch.judge(2, block, block + 10), None);
        assert_eq!(watch.judge(2, block, 2 * block - 1), None, "a block behind");
        let lag_ms = STALE_HEAD_BLOCKS * block + 1;
        assert_eq!(
            watch.judge(2, block, block + lag_ms),
            Some(HeadChange::Stale { number: 2, lag_ms })
        );
        // A stall makes one interval long; the shortest stays the block time.
        assert_eq!(
            watch.judge(3, 10 * block, 10 * block),
            Some(HeadChange::Fresh)
        );
        let lag_ms = STALE_HEAD_BLOCKS * block + 1;
        assert_eq!(
            watch.judge(3, 10 * block, 10 * block + lag_ms),
            Some(HeadChange::Stale { number: 3, lag_ms })
        );
    }
}
