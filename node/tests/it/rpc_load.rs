//! The RPC port under a flood: 200 hostile clients, each from a loopback address of its own,
//! while an honest client — a wallet and a verifier in one — keeps submitting transfers,
//! fetching a 1 MiB blob and reading the jobs view (the scan a worker or verifier daemon makes
//! every block). The honest client is timed quiet, then under the flood.
//!
//! The hostile clients come in five kinds, 40 of each:
//! - **garbage**: bytes that are not HTTP, HTTP whose body is not JSON, JSON that is not a
//!   request, as fast as the node answers;
//! - **huge bodies**: requests declaring 100 MiB for a small method, and uploads declaring
//!   more than any blob, sending only their first bytes;
//! - **slow readers**: blob downloads and heads subscriptions whose answers are never read;
//! - **subscription storms**: WebSocket connections opening 200 subscriptions a second;
//! - **scanners**: valid but costly calls back to back, `state_getKeysPaged` of 1,000 keys and
//!   the `agora_jobs` view, which the node runs in turns (one per client, two at once).
//!
//! Each client is paced (at most 20 requests or connections a second, a storm 200
//! subscriptions a second: 10,400 a second offered in all; each waits for its answer before
//! the next), because the flood runs on the node's own two cores: unpaced, the load
//! generator takes a core and the figure measures the machine.
//!
//! The test asserts what must hold on any machine: every honest call succeeds (its scans
//! included, each waiting its turn among the scanners'), each hostile kind meets its limit
//! (413s, busy answers), the node's peak memory stays under a bound and
//! what it finalized before the flood is still its chain after it. The latency figures (p50
//! and p99, quiet and loaded) are printed as a JSON line; `scripts/bench.sh rpc-load` runs this
//! test in a release build for longer (`AGORA_RPC_LOAD_SECS`) and checks the p99 ratio.

use crate::blobs::{bytes, register};
use crate::rpc_limits::{connect_from, post_head, read_answer, request, request_prefix};
use crate::support::{multi_thread_runtime, Node};
use agora_primitives::Hash;
use agora_rpc_api::{
    codes, method, AuthorApiClient, BlobApiClient, ChainApiClient, Hex, ViewApiClient,
    MAX_BODY_BYTES,
};
use agora_runtime::executive::immortal_extra;
use agora_runtime::extrinsic::Extrinsic;
use agora_runtime::RuntimeCall;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use parity_scale_codec::{Compact, Encode};
use sp_core::Pair;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOSTILE_CLIENTS: u8 = 200;
/// Requests (or connections) per second of each garbage, huge-body and slow-reading client.
/// The flood is paced because it runs on the node's own 2 cores: unpaced, the load generator
/// takes a core for itself and the figure measures the machine, not the node's defences.
const HOSTILE_RATE: u32 = 20;
/// Subscriptions per second each storm client sends, for 5 s a connection.
const STORM_RATE: u32 = 200;
const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// The node's peak resident memory must stay under this: its transfer budget (1 GiB) is the
/// most the flood may make it hold, and an idle debug node takes well under 200 MiB.
const PEAK_RSS_BOUND: u64 = 1536 << 20;

/// Seconds of flood (`AGORA_RPC_LOAD_SECS`; CI's default is short).
fn load_secs() -> u64 {
    std::env::var("AGORA_RPC_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

/// What the hostile clients met.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    too_large: AtomicU64,
    busy: AtomicU64,
    closed: AtomicU64,
    /// Scans answered with a result.
    scanned: AtomicU64,
}

impl Tally {
    fn count(&self, answer: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if answer.is_empty() {
            self.closed.fetch_add(1, Ordering::Relaxed);
        }
        if answer.contains(&codes::TOO_LARGE.to_string()) {
            self.too_large.fetch_add(1, Ordering::Relaxed);
        }
        if answer.contains(&codes::BUSY.to_string()) {
            self.busy.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The honest client's latencies, in microseconds. Its scans wait their turn among the
/// scanners' by design, so they are reported apart, not in [`Latencies::all`].
#[derive(Default)]
struct Latencies {
    transfers: Vec<u64>,
    fetches: Vec<u64>,
    scans: Vec<u64>,
}

impl Latencies {
    fn all(&self) -> Vec<u64> {
        let mut all: Vec<u64> = self
            .transfers
            .iter()
            .chain(&self.fetches)
            .copied()
            .collect();
        all.sort_unstable();
        all
    }
}

fn sorted(values: &[u64]) -> Vec<u64> {
    let mut values = values.to_vec();
    values.sort_unstable();
    values
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    assert!(!sorted.is_empty(), "no honest calls were timed");
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Alice's transfer of 1 unit to Bob with `nonce`.
fn transfer(genesis: &Hash, nonce: u32) -> Hex {
    let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
    let call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
        dest: agora_runtime::genesis::dev_account("Bob"),
        value: Compact(1),
    });
    Hex::encode(&Extrinsic::sign(&alice, call, immortal_extra(nonce, 0), genesis, genesis).encode())
}

/// Submits transfers, fetches `blob` and reads the jobs view in turn for `span`; every call
/// must succeed.
async fn honest(
    client: &HttpClient,
    genesis: Hash,
    nonce: &mut u32,
    blob: Hash,
    span: Duration,
) -> Latencies {
    let mut latencies = Latencies::default();
    let end = Instant::now() + span;
    while Instant::now() < end {
        let start = Instant::now();
        client
            .submit_extrinsic(transfer(&genesis, *nonce))
            .await
            .unwrap_or_else(|e| panic!("the honest transfer {nonce} was refused: {e}"));
        latencies.transfers.push(start.elapsed().as_micros() as u64);
        *nonce += 1;
        let start = Instant::now();
        let hex = client
            .blob_get(blob)
            .await
            .unwrap_or_else(|e| panic!("the honest fetch was refused: {e}"));
        latencies.fetches.push(start.elapsed().as_micros() as u64);
        assert_eq!(Hash::of(&hex.decode().unwrap()), blob, "the fetched bytes");
        let start = Instant::now();
        client
            .jobs(None)
            .await
            .unwrap_or_else(|e| panic!("the honest scan was refused: {e}"));
        latencies.scans.push(start.elapsed().as_micros() as u64);
    }
    latencies
}

/// One hostile client from `from`, of kind `index % 5` (and variant `index / 5 % 2`), until
/// `stop`.
async fn hostile(
    index: u8,
    from: Ipv4Addr,
    port: u16,
    blob: Hash,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let mut pace = tokio::time::interval(Duration::from_secs(1) / HOSTILE_RATE);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::Relaxed) {
        pace.tick().await;
        let Ok(mut stream) = connect_from(from, port).await else {
            tally.closed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let variant = index / 5 % 2;
        match index % 5 {
            0 => {
                let junk: &[u8] = match tally.requests.load(Ordering::Relaxed) % 3 {
                    0 => b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
                    1 => b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n{not json",
                    _ => b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n[1,2,3,4,5]\n",
                };
                let _ = stream.write_all(junk).await;
                let answer = read_answer(&mut stream, Duration::from_secs(2)).await;
                tally.count(&answer);
            }
            1 => {
                let (length, method) = if variant == 0 {
                    (100 << 20, method::CHAIN_GET_BLOCK)
                } else {
                    (u64::from(MAX_BODY_BYTES) + 1, method::BLOB_PUT)
                };
                let head = post_head(port, length) + &request_prefix(method);
                let _ = stream.write_all(head.as_bytes()).await;
                let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
                tally.count(&answer);
            }
            2 => {
                // Ask, then never read: the answer waits in the socket until the node gives
                // up on it, and the connection is held.
                let ask = if variant == 0 {
                    let body = request(method::BLOB_GET, &format!(r#"["{blob}"]"#));
                    post_head(port, body.len() as u64) + &body
                } else {
                    websocket_handshake(port)
                        + &String::from_utf8_lossy(&websocket_text(&request(
                            method::CHAIN_SUBSCRIBE_NEW_HEADS,
                            "[]",
                        )))
                };
                let _ = stream.write_all(ask.as_bytes()).await;
                tally.requests.fetch_add(1, Ordering::Relaxed);
                let hold = tokio::time::Instant::now() + Duration::from_secs(20);
                while !stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < hold {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            3 => storm(&mut stream, port, &stop, &tally).await,
            _ => {
                let body = if variant == 0 {
                    request(method::STATE_GET_KEYS_PAGED, "[null, 1000]")
                } else {
                    request(method::AGORA_JOBS, "[]")
                };
                let ask = post_head(port, body.len() as u64) + &body;
                let _ = stream.write_all(ask.as_bytes()).await;
                let answer = read_answer(&mut stream, Duration::from_secs(40)).await;
                tally.count(&answer);
                if answer.contains(r#""result""#) {
                    tally.scanned.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Opens subscriptions on one WebSocket at [`STORM_RATE`] for 5 s, reading and counting its
/// answers.
async fn storm(stream: &mut tokio::net::TcpStream, port: u16, stop: &AtomicBool, tally: &Tally) {
    if stream
        .write_all(websocket_handshake(port).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let subscribe = websocket_text(&request(method::CHAIN_SUBSCRIBE_FINALIZED_HEADS, "[]"));
    let (mut reader, mut writer) = stream.split();
    let write = async {
        let mut pace = tokio::time::interval(Duration::from_secs(1) / STORM_RATE);
        for _ in 0..STORM_RATE * 5 {
            pace.tick().await;
            if stop.load(Ordering::Relaxed) || writer.write_all(&subscribe).await.is_err() {
                break;
            }
            tally.requests.fetch_add(1, Ordering::Relaxed);
        }
    };
    let read = async {
        let mut buffer = vec![0u8; 64 * 1024];
        let busy = codes::BUSY.to_string();
        loop {
            match tokio::time::timeout(Duration::from_secs(2), reader.read(&mut buffer)).await {
                Ok(Ok(n)) if n > 0 => {
                    let text = String::from_utf8_lossy(&buffer[..n]);
                    let refusals = text.matches(busy.as_str()).count() as u64;
                    tally.busy.fetch_add(refusals, Ordering::Relaxed);
                }
                _ => break,
            }
        }
    };
    tokio::join!(write, read);
}

/// A WebSocket upgrade request to the node on `port`.
pub(crate) fn websocket_handshake(port: u16) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// One masked client text frame carrying `text` (RFC 6455 §5.2).
pub(crate) fn websocket_text(text: &str) -> Vec<u8> {
    let payload = text.as_bytes();
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut frame = vec![0x81];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[test]
fn an_honest_client_is_served_through_a_flood_of_hostile_ones() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_finalized(dir.path());
    let genesis = node.genesis_hash();
    let port = node.rpc_port;

    // A 1 MiB blob, registered and stored: what a verifier fetches.
    let blob = bytes(7, 1 << 20);
    let hash = Hash::of(&blob);
    let registration = Hex::encode(&register(&genesis, 0, &blob, blob.len() as u64));
    node.call(|c| c.submit_extrinsic(registration));
    node.wait_for(Duration::from_secs(60), "the blob's registration", || {
        node.call(|c| c.blob_has(hash)).registered.then_some(())
    });
    node.call(|c| c.blob_put(Hex::encode(&blob), Some(hash)));

    let runtime = multi_thread_runtime();
    let client = {
        let _context = runtime.enter();
        HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(60))
            .max_response_size(MAX_BODY_BYTES)
            .build(node.url())
            .unwrap()
    };
    let secs = load_secs();
    let mut nonce = 1;
    let quiet = runtime.block_on(honest(
        &client,
        genesis,
        &mut nonce,
        hash,
        Duration::from_secs(secs.div_ceil(2).max(3)),
    ));

    let finalized = node.finalized_number();
    let finalized_hash = node.call(|c| c.block_hash(Some(finalized)));
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    // The flood runs on a runtime of its own, so that the honest client's calls are not
    // queued behind the hostile tasks in the test process (they share its CPU all the same).
    let flood = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let hostiles: Vec<_> = (0..HOSTILE_CLIENTS)
        .map(|i| {
            let from = Ipv4Addr::new(127, 0, 1, i.wrapping_add(1));
            flood.spawn(hostile(i, from, port, hash, stop.clone(), tally.clone()))
        })
        .collect();
    // The flood is on before the honest client is timed again.
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(1)).await });
    let loaded = runtime.block_on(honest(
        &client,
        genesis,
        &mut nonce,
        hash,
        Duration::from_secs(secs),
    ));
    let peak_rss = node.peak_rss();
    stop.store(true, Ordering::Relaxed);
    for task in hostiles {
        task.abort();
    }
    flood.shutdown_background();

    let (quiet_all, loaded_all) = (quiet.all(), loaded.all());
    let figures = serde_json::json!({
        "benchmark": "rpc-load",
        "hostile_clients": HOSTILE_CLIENTS,
        "load_secs": secs,
        "honest_calls_quiet": quiet_all.len(),
        "honest_calls_loaded": loaded_all.len(),
        "p50_quiet_us": percentile(&quiet_all, 0.5),
        "p99_quiet_us": percentile(&quiet_all, 0.99),
        "p50_loaded_us": percentile(&loaded_all, 0.5),
        "p99_loaded_us": percentile(&loaded_all, 0.99),
        "p99_ratio": percentile(&loaded_all, 0.99) as f64 / percentile(&quiet_all, 0.99).max(1) as f64,
        "hostile_requests": tally.requests.load(Ordering::Relaxed),
        "refused_too_large": tally.too_large.load(Ordering::Relaxed),
        "refused_busy": tally.busy.load(Ordering::Relaxed),
        "closed_unanswered": tally.closed.load(Ordering::Relaxed),
        "node_peak_rss_mb": peak_rss >> 20,
        "p99_loaded_transfers_us": percentile(&sorted(&loaded.transfers), 0.99),
        "p99_loaded_fetches_us": percentile(&sorted(&loaded.fetches), 0.99),
        "hostile_scans_answered": tally.scanned.load(Ordering::Relaxed),
        "p50_quiet_scans_us": percentile(&sorted(&quiet.scans), 0.5),
        "p50_loaded_scans_us": percentile(&sorted(&loaded.scans), 0.5),
        "p99_loaded_scans_us": percentile(&sorted(&loaded.scans), 0.99),
    });
    println!("{figures}");

    // Each kind met its limit.
    assert!(tally.too_large.load(Ordering::Relaxed) > 0, "{figures}");
    assert!(tally.busy.load(Ordering::Relaxed) > 0, "{figures}");
    // The scanners were served (in turns), not shut out.
    assert!(tally.scanned.load(Ordering::Relaxed) > 0, "{figures}");
    assert!(peak_rss < PEAK_RSS_BOUND, "{figures}");
    // Nothing finalized before the flood was lost, and the chain went on.
    assert_eq!(node.call(|c| c.block_hash(Some(finalized))), finalized_hash);
    node.wait_finalized(finalized + 1);
    // Every honest transfer was finalized: Alice's nonce at the finalized head counts them.
    node.wait_for(Duration::from_secs(60), "the honest transfers", || {
        // Only the finalized head has an iterable state, and it may move between the two
        // calls: a refused read is tried again.
        let head = node.call(ChainApiClient::finalized_head);
        let alice = node
            .try_call(|c| c.account(ALICE.to_owned(), Some(head)))
            .ok()?;
        (alice.nonce == nonce).then_some(())
    });
}
