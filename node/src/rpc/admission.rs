//! Batched admission of the extrinsics clients submit (`author_submitExtrinsic`,
//! `author_submitAndWatchExtrinsic`).
//!
//! A client submits one extrinsic per call. Admitted one per call, every client's signature
//! was verified alone on its RPC thread, while a peer's relayed batch had its signatures
//! verified in batches on all cores ([`Chain::submit_relayed_batch`]). Now each call hands its
//! extrinsic to one admission thread through a queue of at most [`QUEUE`] entries; the thread
//! waits for the first, takes every other one already queued (at most [`MAX_BATCH`] in all)
//! and admits them together with [`Chain::submit_batch`]: each gets the verdict it would get
//! submitted alone in arrival order (a repeat gets its first copy's), and their signatures are
//! verified in batches spread over all cores (`agora_runtime::extrinsic::verify_each`). The
//! thread runs inside the node's tokio runtime: admitting a call that names blobs this node
//! lacks starts their fetches, which are tasks.
//!
//! There is no timer: a submission waits only for the batch being admitted when it arrives,
//! and batches grow by themselves while the thread is busy — exactly when batching pays. An
//! extrinsic over `MAX_EXTRINSIC_LEN` is refused before it is queued (the thread would hash
//! it). A full queue makes a caller wait for room rather than refusing it, first come first
//! served. What one client may have waiting is bounded only by the server's limits (64 calls
//! in flight per connection, 32 connections per address: 2,048, half of [`QUEUE`]), so a
//! flood from a few addresses delays everyone's submissions by the batches ahead of them —
//! as it did when each call was checked on the RPC's own threads, which the flood then
//! occupied. A per-client share of the queue is not built.
//!
//! The thread stops when the RPC module holding the queue is dropped. A panic while admitting
//! a batch is caught and logged; that batch's callers hear [`ErrorCode::Busy`] (some of their
//! extrinsics may have been pooled), and the thread goes on with the next.

use super::pool_error;
use crate::chain::Chain;
use crate::txpool::{Origin, PoolError};
use agora_primitives::Hash;
use agora_rpc_api::{Error, ErrorCode};
use agora_runtime::extrinsic::{ExtrinsicError, MAX_EXTRINSIC_LEN};
use tokio::sync::{mpsc, oneshot};

/// Most submissions waiting for the admission thread; more wait for room.
pub const QUEUE: usize = 4_096;

/// Most submissions admitted as one batch.
pub const MAX_BATCH: usize = 1_024;

/// One client's extrinsic and where its verdict goes.
struct Submission {
    bytes: Vec<u8>,
    verdict: oneshot::Sender<Result<Hash, PoolError>>,
}

/// The admission thread's queue. Cheap to clone.
#[derive(Clone)]
pub(super) struct Admission {
    queue: mpsc::Sender<Submission>,
}

impl Admission {
    /// Starts the admission thread over `chain`, inside the tokio runtime this is called
    /// from: admitting a call that names blobs this node lacks starts their fetches
    /// ([`Chain::submit_batch`]), which are tasks of that runtime.
    pub(super) fn start(chain: Chain) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
        let (admission, submissions) = Self::queue();
        std::thread::Builder::new()
            .name("rpc-admission".to_owned())
            .spawn(move || {
                let _entered = runtime.enter();
                admit_batches(&chain, submissions);
            })?;
        Ok(admission)
    }

    /// The queue, and its end for [`admit_batches`].
    fn queue() -> (Self, mpsc::Receiver<Submission>) {
        let (queue, submissions) = mpsc::channel(QUEUE);
        (Self { queue }, submissions)
    }

    /// Admits `bytes` with the other submissions queued with it: its hash, or why it was
    /// refused.
    pub(super) async fn submit(&self, bytes: Vec<u8>) -> Result<Hash, Error> {
        // Refused here, as decoding would refuse it, before the thread hashes it.
        if bytes.len() > MAX_EXTRINSIC_LEN {
            let too_long = ExtrinsicError::TooLong { len: bytes.len() };
            return Err(pool_error(PoolError::Invalid(too_long.into())));
        }
        let stopped = || {
            Error::new(
                ErrorCode::Busy,
                "the node's admission of this extrinsic failed (see its log); it may or may not \
                 be pooled: ask again",
            )
        };
        let (verdict, answer) = oneshot::channel();
        self.queue
            .send(Submission { bytes, verdict })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(pool_error)
    }
}

/// The admission thread: until every queue handle is dropped, a batch of what is queued.
fn admit_batches(chain: &Chain, mut submissions: mpsc::Receiver<Submission>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = submissions.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match submissions.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (bytes, verdicts): (Vec<Vec<u8>>, Vec<_>) = batch
            .drain(..)
            .map(|submission| (submission.bytes, submission.verdict))
            .unzip();
        chain
            .metrics()
            .txpool_admission_batch
            .observe(bytes.len() as f64);
        let admitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            chain.submit_batch(&bytes, Origin::Local)
        }));
        match admitted {
            Ok(results) => {
                for (verdict, result) in verdicts.into_iter().zip(results) {
                    // A caller that went away (its connection closed) is not an error.
                    let _ = verdict.send(result);
                }
            }
            // The verdicts are dropped: each caller hears `Busy`.
            Err(_) => tracing::error!(
                extrinsics = bytes.len(),
                "admitting a batch of submitted extrinsics panicked; its callers may retry"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ChainConfig, TokioHost};
    use crate::metrics::Metrics;
    use crate::storage::Database;
    use agora_primitives::referee::{Referee, RefereeError, RefereeRequest, RefereeVerdict};
    use agora_runtime::executive::immortal_extra;
    use agora_runtime::extrinsic::Extrinsic;
    use agora_runtime::genesis::{dev_account, ChainSpec};
    use parity_scale_codec::{Compact, Encode};
    use sp_core::Pair;
    use std::sync::Arc;
    use std::time::Duration;

    /// The development chain in `dir`, with `referee`.
    fn dev_chain(dir: &std::path::Path, referee: Option<Arc<dyn Referee>>) -> Chain {
        let db = Arc::new(Database::open(dir).unwrap());
        let config = ChainConfig {
            spec: ChainSpec::development(),
            block_time: Duration::from_millis(1),
            referee,
            metrics: Metrics::new(),
        };
        Chain::open_on(Arc::new(TokioHost), db, config).unwrap()
    }

    /// Submissions queued while the admission thread is busy are admitted as one batch, each
    /// with the verdict it gets alone — a good transfer, a forged one, the good one again, the
    /// next nonce — and the admitted ones go to the relay in arrival order.
    #[test]
    fn what_is_queued_is_admitted_as_one_batch_with_each_ones_own_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let chain = dev_chain(dir.path(), None);
        let genesis = chain.genesis_hash();
        let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
        let transfer = |value: u128| {
            agora_runtime::RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
                dest: dev_account("Bob"),
                value: Compact(value),
            })
        };
        let sign = |nonce: u32| {
            Extrinsic::sign(
                &alice,
                transfer(1_000),
                immortal_extra(nonce, 0),
                &genesis,
                &genesis,
            )
        };
        let mut forged = sign(1);
        forged.call = transfer(999_000_000);
        let submitted = [
            sign(0).encode(),
            forged.encode(),
            sign(0).encode(),
            sign(1).encode(),
        ];
        let mut relay = chain.relay_queue();

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let (admission, submissions) = Admission::queue();
        // One at a time into the queue, in order, while no thread admits: the queue holds all.
        // (The receiver's count is of messages written, not of slots reserved for them.)
        let answers: Vec<_> = submitted
            .iter()
            .map(|bytes| {
                let (handle, bytes) = (admission.clone(), bytes.clone());
                let answer = runtime.spawn(async move { handle.submit(bytes).await });
                let queued = submissions.len();
                for _ in 0..10_000 {
                    if submissions.len() > queued {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                answer
            })
            .collect();
        assert_eq!(submissions.len(), submitted.len());
        let thread = {
            let chain = chain.clone();
            std::thread::spawn(move || admit_batches(&chain, submissions))
        };
        let verdicts: Vec<Result<Hash, Error>> = answers
            .into_iter()
            .map(|answer| runtime.block_on(answer).unwrap())
            .collect();
        drop(admission);
        thread.join().unwrap();

        assert!(verdicts[0].is_ok(), "{:?}", verdicts[0]);
        let refused = |i: usize| verdicts[i].as_ref().unwrap_err().to_string();
        assert!(refused(1).contains("signature"), "{}", refused(1));
        assert!(refused(2).contains("already"), "{}", refused(2));
        assert!(verdicts[3].is_ok(), "{:?}", verdicts[3]);
        assert_eq!(chain.pool_len(), 2);
        assert_eq!(relay.try_recv().unwrap(), submitted[0]);
        assert_eq!(relay.try_recv().unwrap(), submitted[3]);
        assert!(relay.try_recv().is_err(), "only the admitted are relayed");
        let figures = chain.metrics().render();
        assert!(
            figures.contains("agora_txpool_admission_batch_count 1\n")
                && figures.contains("agora_txpool_admission_batch_sum 4.0\n"),
            "one batch of four: {figures}"
        );
    }

    /// A referee that holds no blob: every blob a pooled call names is fetched ahead.
    struct HoldsNothing;
    impl Referee for HoldsNothing {
        fn run(&self, _: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
            Err(RefereeError::Failed)
        }
        fn holds(&self, _: &Hash) -> bool {
            false
        }
    }

    /// A bid naming blobs this node lacks, submitted over RPC, is admitted and its blobs'
    /// fetches started — tasks of the node's runtime, started from the admission thread. The
    /// first version of the thread ran outside the runtime: starting a fetch panicked, after
    /// the whole batch was pooled, and every caller in it was told its submission failed.
    #[test]
    fn a_bid_naming_blobs_this_node_lacks_is_admitted_and_its_blobs_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let chain = dev_chain(dir.path(), Some(Arc::new(HoldsNothing)));
        let fetched = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = fetched.clone();
        // As the node's own fetch does, each fetch is a task spawned at once.
        chain.set_blob_fetch(Arc::new(move |_view, blob, _class| {
            seen.lock().unwrap().push(blob);
            let task = tokio::spawn(async { true });
            Box::pin(async move { task.await.unwrap_or(false) })
        }));
        let genesis = chain.genesis_hash();
        let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
        let (module, dataset) = (Hash::of(b"module"), Hash::of(b"dataset"));
        let bid = agora_runtime::RuntimeCall::Market(pallet_market::Call::PlaceBid {
            spec: pallet_market::JobSpec {
                module,
                dataset,
                params: b"{}".to_vec(),
                steps: 10,
                segment_steps: 5,
                seed: 0,
            },
            terms: pallet_market::BidTerms {
                max_price: 1,
                max_fuel: 1_000,
                run_blocks: 100,
                deadline: 1_000,
                region: None,
                renewable_only: false,
                requeue: false,
                assurance_permille: 15,
                assurance_verifiers: 1,
            },
        });
        let bid = Extrinsic::sign(&alice, bid, immortal_extra(0, 0), &genesis, &genesis).encode();

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let admission = {
            let _entered = runtime.enter();
            Admission::start(chain.clone()).unwrap()
        };
        let verdict = runtime.block_on(admission.submit(bid));
        assert!(verdict.is_ok(), "{verdict:?}");
        assert_eq!(chain.pool_len(), 1);
        let mut fetched = fetched.lock().unwrap().clone();
        fetched.sort();
        let mut expected = vec![module, dataset];
        expected.sort();
        assert_eq!(fetched, expected);
    }
}
