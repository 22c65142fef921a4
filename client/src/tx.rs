//! Building, signing, submitting and following extrinsics.
//!
//! Extrinsics are mortal: born at the parent of the finalized head, valid for
//! [`MORTAL_PERIOD`] blocks after that (see [`ChainContext::fetch`] for why the parent).
//! After submission the client follows the extrinsic until it is in a finalized block:
//! over WebSocket with `author_submitAndWatchExtrinsic`, backed up by polling the finalized
//! blocks (so a missed notification cannot hang it); over HTTP by polling alone. Every wait
//! is bounded by a timeout, and an extrinsic whose validity period ends without it being
//! included is reported as expired.

use std::time::Duration;

use agora_primitives::dispatch::DispatchError;
use agora_primitives::{AccountId, Balance, BlockNumber, Hash, Nonce};
use agora_runtime::executive::extrinsic_fee;
use agora_runtime::extrinsic::{Era, Extrinsic, SignedExtra};
use agora_runtime::RuntimeCall;
use parity_scale_codec::{Compact, Encode};
use tokio::time::{Instant, MissedTickBehavior};

use crate::amount::format_agr;
use crate::keys::Signer;
use crate::rpc::{EventRecord, ExtrinsicStatus, Phase, Rpc, RpcError, RuntimeEvent, TxWatch};
use pallet_balances::Event as BalancesEvent;
use pallet_system::Event as SystemEvent;

/// Blocks after its birth block during which an extrinsic may be included.
pub const MORTAL_PERIOD: u64 = 64;
/// Default bound on waiting for finality.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Interval of the backup poll while a WebSocket subscription is open.
const WATCH_POLL: Duration = Duration::from_secs(2);
/// Interval of polling over HTTP.
const HTTP_POLL: Duration = Duration::from_millis(250);

/// Why a submitted extrinsic did not end up applied successfully in a finalized block.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// Talking to the node failed, or the node refused the extrinsic.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The node removed the extrinsic from its pool without including it.
    #[error(
        "the node dropped transaction {hash} from its pool without including it \
         (another transaction may have used its nonce)"
    )]
    Dropped {
        /// The extrinsic's hash.
        hash: Hash,
    },
    /// The extrinsic's validity period ended before it was included.
    #[error(
        "transaction {hash} was not included by block #{last}, the end of its validity \
         period, and can no longer be: submit it again"
    )]
    Expired {
        /// The extrinsic's hash.
        hash: Hash,
        /// The last block it was valid in.
        last: BlockNumber,
    },
    /// The wait for finality timed out.
    #[error(
        "gave up after {} s waiting for transaction {hash} to be finalized; it may still be \
         included later", .timeout.as_secs()
    )]
    Timeout {
        /// The extrinsic's hash.
        hash: Hash,
        /// How long the client waited.
        timeout: Duration,
    },
    /// The block carrying the extrinsic has no event saying how it went.
    #[error("block #{block_number} ({block_hash}) contains transaction {hash}, but no event records its outcome")]
    NoOutcome {
        /// The extrinsic's hash.
        hash: Hash,
        /// The block's hash.
        block_hash: Hash,
        /// The block's number.
        block_number: BlockNumber,
    },
    /// The extrinsic was applied, but its call failed (the fee was still paid).
    #[error(
        "the {what} failed in block #{block_number} ({block_hash}): {reason}; the fee of {} AGR \
         was still charged", format_agr(*.fee)
    )]
    Failed {
        /// What the extrinsic was, e.g. "transfer".
        what: &'static str,
        /// The extrinsic's hash.
        hash: Hash,
        /// The block's hash.
        block_hash: Hash,
        /// The block's number.
        block_number: BlockNumber,
        /// The dispatch error.
        error: DispatchError,
        /// The dispatch error in words, e.g. "Balances::InsufficientBalance: …".
        reason: String,
        /// The fee paid.
        fee: Balance,
    },
}

/// What a new extrinsic needs from the chain: genesis hash, birth block, nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainContext {
    /// The genesis hash (in every signing payload).
    pub genesis_hash: Hash,
    /// The birth block's number.
    pub birth: BlockNumber,
    /// The birth block's hash.
    pub birth_hash: Hash,
    /// The signer's next nonce, counting its extrinsics already in the pool.
    pub nonce: Nonce,
}

impl ChainContext {
    /// Reads the context for an extrinsic of `signer` from the node.
    ///
    /// The birth block is the *parent* of the finalized head, not the head itself: the node
    /// validates pool submissions against the state after its finalized head, where the system
    /// pallet has not yet recorded that block's own hash (it records a block's hash when the
    /// child block starts), so an extrinsic born at the head would be refused as having an
    /// unknown birth block.
    pub async fn fetch(rpc: &Rpc, signer: &AccountId) -> Result<ChainContext, RpcError> {
        let genesis_hash = rpc.genesis_hash().await?;
        let head = rpc.finalized_head().await?;
        let header = rpc.header(head).await?;
        let (birth, birth_hash) = match header.number.checked_sub(1) {
            Some(parent) if parent > 0 => (parent, header.parent_hash),
            // Block 0's hash is the genesis hash.
            _ => (0, genesis_hash),
        };
        let nonce = rpc.next_index(signer).await?;
        Ok(ChainContext {
            genesis_hash,
            birth,
            birth_hash,
            nonce,
        })
    }

    /// The mortal era of new extrinsics.
    pub fn era(&self) -> Era {
        Era::mortal(MORTAL_PERIOD, self.birth)
    }

    /// The last block a new extrinsic may be included in.
    pub fn last_valid_block(&self) -> BlockNumber {
        self.era().death(self.birth).saturating_sub(1)
    }
}

/// How much a transfer moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferAmount {
    /// Exactly this many plancks, keeping the sender alive (`transfer`).
    Exact(Balance),
    /// The sender's whole free balance after the fee (`transfer_all`).
    All,
}

/// The balances call moving `amount` to `dest`.
pub fn transfer_call(dest: AccountId, amount: TransferAmount) -> RuntimeCall {
    RuntimeCall::Balances(match amount {
        TransferAmount::Exact(value) => pallet_balances::Call::TransferKeepAlive {
            dest,
            value: Compact(value),
        },
        TransferAmount::All => pallet_balances::Call::TransferAll { dest },
    })
}

/// A signed extrinsic, ready to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// The extrinsic.
    pub extrinsic: Extrinsic,
    /// Its SCALE encoding, as submitted.
    pub bytes: Vec<u8>,
    /// blake2_256 of the encoding: its identity in the pool and in blocks.
    pub hash: Hash,
    /// The fee it will pay, tip included (the runtime's own fee function).
    pub fee: Balance,
}

/// Signs `call` by `signer` for the chain described by `context`, offering `tip`.
pub fn sign(signer: &Signer, call: RuntimeCall, context: &ChainContext, tip: Balance) -> SignedTx {
    let extra = SignedExtra {
        era: context.era(),
        nonce: Compact(context.nonce),
        tip: Compact(tip),
    };
    let extrinsic = Extrinsic::sign(
        signer,
        call,
        extra,
        &context.genesis_hash,
        &context.birth_hash,
    );
    let bytes = extrinsic.encode();
    let hash = agora_runtime::extrinsic::hash_of(&bytes);
    let fee = extrinsic_fee(&extrinsic, bytes.len());
    SignedTx {
        extrinsic,
        bytes,
        hash,
        fee,
    }
}

/// Where a finalized extrinsic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inclusion {
    /// The extrinsic's hash.
    pub hash: Hash,
    /// The finalized block carrying it.
    pub block_hash: Hash,
    /// That block's number.
    pub block_number: BlockNumber,
    /// Its position in the block.
    pub index: u32,
}

/// Looks for an extrinsic in the finalized blocks of its validity period.
struct Scanner {
    hash: Hash,
    next: BlockNumber,
    last: BlockNumber,
}

impl Scanner {
    /// Checks the finalized blocks not yet seen. `Err(Expired)` once the last block of the
    /// validity period is finalized without the extrinsic.
    async fn scan(&mut self, rpc: &Rpc) -> Result<Option<Inclusion>, TxError> {
        let head = rpc.finalized_head().await?;
        let header = rpc.header(head).await?;
        while self.next <= header.number.min(self.last) {
            let number = self.next;
            let block_hash = if number == header.number {
                head
            } else {
                rpc.block_hash(number)
                    .await?
                    .ok_or_else(|| RpcError::UnknownBlock(format!("#{number}")))?
            };
            let block = rpc.block(block_hash).await?;
            if let Some(index) = block.position(&self.hash) {
                return Ok(Some(Inclusion {
                    hash: self.hash,
                    block_hash,
                    block_number: number,
                    index,
                }));
            }
            self.next = number.saturating_add(1);
        }
        if header.number >= self.last {
            return Err(TxError::Expired {
                hash: self.hash,
                last: self.last,
            });
        }
        Ok(None)
    }
}

/// A submitted extrinsic, not yet known to be finalized.
pub struct Pending<'a> {
    rpc: &'a Rpc,
    hash: Hash,
    watch: Option<TxWatch>,
    scanner: Scanner,
}

/// Submits `tx` (signed with `context`) and returns a handle to wait for its finality.
/// Over WebSocket the node's status notifications are followed; over HTTP, blocks are polled.
pub async fn submit<'a>(
    rpc: &'a Rpc,
    tx: &SignedTx,
    context: &ChainContext,
) -> Result<Pending<'a>, TxError> {
    let watch = if rpc.supports_subscriptions() {
        Some(rpc.submit_and_watch(&tx.bytes).await?)
    } else {
        rpc.submit(&tx.bytes).await?;
        None
    };
    Ok(Pending {
        rpc,
        hash: tx.hash,
        watch,
        scanner: Scanner {
            hash: tx.hash,
            // The first block that can include it.
            next: context.birth.saturating_add(1),
            last: context.last_valid_block(),
        },
    })
}

impl Pending<'_> {
    /// The extrinsic's hash.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Waits until the extrinsic is in a finalized block, at most `timeout`.
    pub async fn wait(mut self, timeout: Duration) -> Result<Inclusion, TxError> {
        let hash = self.hash;
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(Instant::now);
        match tokio::time::timeout_at(deadline, self.follow()).await {
            Ok(result) => result,
            Err(_elapsed) => Err(TxError::Timeout { hash, timeout }),
        }
    }

    async fn follow(&mut self) -> Result<Inclusion, TxError> {
        let period = if self.watch.is_some() {
            WATCH_POLL
        } else {
            HTTP_POLL
        };
        let mut poll = tokio::time::interval(period);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick is immediate; nothing can be finalized yet.
        poll.tick().await;
        loop {
            let status = match self.watch.as_mut() {
                Some(watch) => tokio::select! {
                    status = watch.next() => Some(status),
                    _ = poll.tick() => None,
                },
                None => {
                    poll.tick().await;
                    None
                }
            };
            match status {
                // A poll tick.
                None => {
                    if let Some(found) = self.scanner.scan(self.rpc).await? {
                        return Ok(found);
                    }
                }
                Some(Some(Ok(ExtrinsicStatus::Finalized { block, .. }))) => {
                    return self.locate(block).await;
                }
                Some(Some(Ok(ExtrinsicStatus::Dropped))) => {
                    // Make sure it did not land in the meantime.
                    if let Some(found) = self.scanner.scan(self.rpc).await? {
                        return Ok(found);
                    }
                    return Err(TxError::Dropped { hash: self.hash });
                }
                Some(Some(Ok(ExtrinsicStatus::Ready))) => {}
                // The subscription ended or broke: carry on by polling.
                Some(None | Some(Err(_))) => self.watch = None,
            }
        }
    }

    async fn locate(&self, block_hash: Hash) -> Result<Inclusion, TxError> {
        let block = self.rpc.block(block_hash).await?;
        let index = block
            .position(&self.hash)
            .ok_or_else(|| RpcError::BadResponse {
                method: agora_rpc_api::method::AUTHOR_SUBMIT_AND_WATCH_EXTRINSIC,
                reason: format!(
                    "it reported transaction {} finalized in block {block_hash}, which does not contain it",
                    self.hash
                ),
            })?;
        Ok(Inclusion {
            hash: self.hash,
            block_hash,
            block_number: block.header.number,
            index,
        })
    }
}

/// What happened to an applied extrinsic, from its block's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether its call succeeded.
    pub result: Result<(), DispatchError>,
    /// The fee its signer paid, if an event says.
    pub fee: Option<Balance>,
    /// Transfers its call made: (from, to, amount).
    pub transfers: Vec<(AccountId, AccountId, Balance)>,
}

/// The outcome of the extrinsic at `index` signed by `signer`, from its block's `events`;
/// `None` if no `ExtrinsicSuccess`/`ExtrinsicFailed` event is in its phase.
pub fn outcome(events: &[EventRecord], index: u32, signer: &AccountId) -> Option<Outcome> {
    let mut result = None;
    let mut fee_paid = None;
    let mut fee_burned = None;
    let mut transfers = Vec::new();
    for record in events
        .iter()
        .filter(|r| r.phase == Phase::ApplyExtrinsic(index))
    {
        match &record.event {
            RuntimeEvent::System(SystemEvent::ExtrinsicSuccess { .. }) => result = Some(Ok(())),
            RuntimeEvent::System(SystemEvent::ExtrinsicFailed { error, .. }) => {
                result = Some(Err(*error))
            }
            RuntimeEvent::Balances(BalancesEvent::TransactionFeePaid { who, fee, .. })
                if who == signer =>
            {
                fee_paid = Some(*fee)
            }
            // A fee the author could not receive is burned instead.
            RuntimeEvent::Balances(BalancesEvent::Burned { who, amount }) if who == signer => {
                fee_burned = Some(*amount)
            }
            RuntimeEvent::Balances(BalancesEvent::Transfer { from, to, amount }) => {
                transfers.push((*from, *to, *amount))
            }
            _ => {}
        }
    }
    result.map(|result| Outcome {
        result,
        fee: fee_paid.or(fee_burned),
        transfers,
    })
}

/// An extrinsic applied successfully in a finalized block.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Where it is.
    pub inclusion: Inclusion,
    /// The fee paid.
    pub fee: Balance,
    /// Transfers its call made: (from, to, amount).
    pub transfers: Vec<(AccountId, AccountId, Balance)>,
    /// Its block's events.
    pub events: Vec<EventRecord>,
}

/// Signs `call` with a fresh context, submits it, waits (at most `timeout`) until it is
/// finalized, and checks its outcome: a call that failed in its block is an error naming the
/// runtime's reason. `what` names the call in messages ("bid", "offer").
pub async fn send(
    rpc: &Rpc,
    signer: &Signer,
    call: RuntimeCall,
    what: &'static str,
    timeout: Duration,
) -> Result<Sent, TxError> {
    let who = signer.agora_account();
    let context = ChainContext::fetch(rpc, &who).await?;
    let signed = sign(signer, call, &context, 0);
    let pending = submit(rpc, &signed, &context).await?;
    settle(rpc, pending, &signed, &who, what, timeout).await
}

/// Waits (at most `timeout`) until the submitted `signed` extrinsic of `who` is finalized,
/// and reads its outcome from its block's events: a call that failed in its block is an error
/// naming the runtime's reason.
pub async fn settle(
    rpc: &Rpc,
    pending: Pending<'_>,
    signed: &SignedTx,
    who: &AccountId,
    what: &'static str,
    timeout: Duration,
) -> Result<Sent, TxError> {
    let inclusion = pending.wait(timeout).await?;
    let events = rpc.events(inclusion.block_hash).await?;
    let result = outcome(&events, inclusion.index, who).ok_or(TxError::NoOutcome {
        hash: inclusion.hash,
        block_hash: inclusion.block_hash,
        block_number: inclusion.block_number,
    })?;
    let fee = result.fee.unwrap_or(signed.fee);
    if let Err(error) = result.result {
        return Err(TxError::Failed {
            what,
            hash: inclusion.hash,
            block_hash: inclusion.block_hash,
            block_number: inclusion.block_number,
            error,
            reason: agora_runtime::describe_dispatch_error(error),
            fee,
        });
    }
    Ok(Sent {
        inclusion,
        fee,
        transfers: result.transfers,
        events,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
    use super::*;
    use crate::keys::Scheme;
    use agora_primitives::AGR;
    use agora_runtime::extrinsic::signing_message;

    fn context() -> ChainContext {
        ChainContext {
            genesis_hash: Hash([1; 32]),
            birth: 41,
            birth_hash: Hash([2; 32]),
            nonce: 3,
        }
    }

    fn account(suri: &str) -> AccountId {
        Signer::from_suri(suri, Scheme::Sr25519)
            .unwrap()
            .agora_account()
    }

    #[test]
    fn signed_transfer_verifies_with_the_runtime() {
        for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
            let signer = Signer::from_suri("//Alice", scheme).unwrap();
            let bob = account("//Bob");
            let ctx = context();
            let call = transfer_call(bob, TransferAmount::Exact(3 * AGR / 2));
            let tx = sign(&signer, call.clone(), &ctx, 7);
            let xt = &tx.extrinsic;
            assert_eq!(xt.signer, signer.agora_account());
            assert_eq!(xt.nonce(), 3);
            assert_eq!(xt.tip(), 7);
            assert_eq!(xt.extra.era, Era::mortal(MORTAL_PERIOD, 41));
            assert_eq!(xt.extra.era.birth(41 + 10), 41);
            assert_eq!(
                xt.call,
                RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
                    dest: bob,
                    value: Compact(1_500_000_000_000)
                })
            );
            // The runtime accepts the signature over the payload with the birth block's hash…
            let message = signing_message(&call, &xt.extra, &ctx.genesis_hash, &ctx.birth_hash);
            xt.verify_signature(&message).unwrap();
            // …and not over one naming another chain or another birth block.
            let other_chain = signing_message(&call, &xt.extra, &Hash([9; 32]), &ctx.birth_hash);
            assert!(xt.verify_signature(&other_chain).is_err());
            let other_birth = signing_message(&call, &xt.extra, &ctx.genesis_hash, &Hash([9; 32]));
            assert!(xt.verify_signature(&other_birth).is_err());
            // The bytes decode back to the same extrinsic, and the hash is blake2_256 of them.
            assert_eq!(&Extrinsic::decode_bounded(&tx.bytes).unwrap(), xt);
            assert_eq!(tx.hash, xt.hash());
            assert_eq!(tx.fee, extrinsic_fee(xt, tx.bytes.len()));
            assert!(tx.fee > 7);
        }
    }

    #[test]
    fn transfer_all_call() {
        let bob = account("//Bob");
        assert_eq!(
            transfer_call(bob, TransferAmount::All),
            RuntimeCall::Balances(pallet_balances::Call::TransferAll { dest: bob })
        );
    }

    #[test]
    fn era_window() {
        let ctx = context();
        assert_eq!(ctx.last_valid_block(), 41 + 63);
        assert_eq!(
            ctx.era(),
            Era::Mortal {
                period: 64,
                phase: 41
            }
        );
    }

    #[test]
    fn outcome_of_one_extrinsic() {
        let alice = account("//Alice");
        let bob = account("//Bob");
        let charlie = account("//Charlie");
        let record = |index, event| EventRecord {
            phase: Phase::ApplyExtrinsic(index),
            event,
        };
        let fee_paid = |who, fee| {
            RuntimeEvent::Balances(BalancesEvent::TransactionFeePaid {
                who,
                fee,
                tip: 0,
                author: charlie,
            })
        };
        let success = || RuntimeEvent::System(SystemEvent::ExtrinsicSuccess { weight: 1 });
        let events = vec![
            EventRecord {
                phase: Phase::Initialization,
                event: RuntimeEvent::Balances(BalancesEvent::Minted {
                    who: bob,
                    amount: 1,
                }),
            },
            record(0, fee_paid(bob, 5)),
            record(0, success()),
            record(1, fee_paid(alice, 90)),
            record(
                1,
                RuntimeEvent::Balances(BalancesEvent::Transfer {
                    from: alice,
                    to: charlie,
                    amount: 1_000,
                }),
            ),
            record(1, success()),
            record(
                2,
                RuntimeEvent::Balances(BalancesEvent::Burned {
                    who: alice,
                    amount: 80,
                }),
            ),
            record(
                2,
                RuntimeEvent::System(SystemEvent::ExtrinsicFailed {
                    error: DispatchError {
                        pallet: 1,
                        error: 0,
                    },
                    weight: 1,
                }),
            ),
        ];
        let ok = outcome(&events, 1, &alice).unwrap();
        assert_eq!(ok.result, Ok(()));
        assert_eq!(ok.fee, Some(90));
        assert_eq!(ok.transfers, vec![(alice, charlie, 1_000)]);
        let failed = outcome(&events, 2, &alice).unwrap();
        assert_eq!(
            failed.result,
            Err(DispatchError {
                pallet: 1,
                error: 0
            })
        );
        assert_eq!(failed.fee, Some(80));
        assert!(failed.transfers.is_empty());
        assert!(outcome(&events, 3, &alice).is_none());
    }

    #[test]
    fn failure_names_the_error() {
        let error = DispatchError {
            pallet: 1,
            error: 0,
        };
        let failed = TxError::Failed {
            what: "transfer",
            hash: Hash([1; 32]),
            block_hash: Hash([2; 32]),
            block_number: 12,
            error,
            reason: agora_runtime::describe_dispatch_error(error),
            fee: 90_000_000,
        };
        let text = failed.to_string();
        assert!(
            text.starts_with("the transfer failed in block #12 (0x0202"),
            "{text}"
        );
        assert!(text.contains("Balances::InsufficientBalance"), "{text}");
        assert!(
            text.ends_with("the fee of 0.00009 AGR was still charged"),
            "{text}"
        );
    }
}
