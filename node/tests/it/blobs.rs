//! Blobs as a client meets them: register on chain, upload, download, restart, corruption; the
//! state-listing RPCs over the registry; and the collector deleting what the chain forgot.

use crate::support::{error_of, multi_thread_runtime, open_chain, Node};
use agora_node::blobs::{run_collector, BlobStore};
use agora_node::consensus::Chain as _;
use agora_primitives::storage::StorageInstance;
use agora_primitives::Hash;
use agora_rpc_api::{
    AuthorApiClient, BlobApiClient, BlobPresence, ChainApiClient, Hex, RpcApiClient,
    StateApiClient, SystemApiClient,
};
use agora_runtime::executive::immortal_extra;
use agora_runtime::extrinsic::Extrinsic;
use agora_runtime::genesis::dev_account;
use agora_runtime::RuntimeCall;
use jsonrpsee::core::client::Error as ClientError;
use parity_scale_codec::{Decode, Encode};
use sp_core::{sr25519, Pair};
use std::sync::Arc;
use std::time::Duration;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/// Alice's registration of `blob` at `size` (its length unless a test lies), with the size
/// proof of its bytes.
pub(crate) fn register(genesis: &Hash, nonce: u32, blob: &[u8], size: u64) -> Vec<u8> {
    let signer = sr25519::Pair::from_string("//Alice", None).unwrap();
    let call = RuntimeCall::Jobs(pallet_jobs::Call::RegisterBlob {
        hash: Hash::of(blob),
        size,
        proof: agora_primitives::size_proof::SizeProof::of(blob),
    });
    Extrinsic::sign(&signer, call, immortal_extra(nonce, 0), genesis, genesis).encode()
}

/// Deterministic bytes that compress badly.
pub(crate) fn bytes(seed: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = Hash::of(&[seed]);
    while out.len() < len {
        out.extend_from_slice(&block.0);
        block = Hash::of(&block.0);
    }
    out.truncate(len);
    out
}

fn code(error: &ClientError) -> i32 {
    error_of(error).0
}

fn message(error: &ClientError) -> String {
    error_of(error).1
}

fn presence(registered: bool, size: Option<u64>, stored: bool) -> BlobPresence {
    BlobPresence {
        registered,
        size,
        stored,
    }
}

#[test]
fn blobs_are_admitted_by_registration_served_checked_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_finalized(dir.path());
    let genesis = node.genesis_hash();

    // 5 MiB: as hex, larger than the 8 MiB body the server used to accept.
    let blob = bytes(1, 5 << 20);
    let hash = Hash::of(&blob);
    let blob_hex = Hex::encode(&blob);
    // First registered with a size that is not its length (a squat, refused), then with its own.
    let misfit = bytes(2, 1000);
    let misfit_hash = Hash::of(&misfit);

    assert_eq!(
        node.call(|c| c.blob_has(hash)),
        presence(false, None, false)
    );
    // Named in the X-Blob-Hash header (as a body over 4 MiB must be), an unregistered blob is
    // refused from the headers. (A large body refused before it is read breaks the client's
    // send rather than answering it: `rpc_limits` shows those answers on raw sockets.)
    let error = node
        .try_put_named(hash, Hex::encode(&blob[..1000]))
        .unwrap_err();
    assert_eq!(code(&error), 5001, "{error}");
    assert_eq!(
        message(&error),
        format!("blob {hash} is not registered on chain; register it first")
    );

    let nonce = node.call(|c| c.account_next_index(ALICE.to_owned()));
    let size = blob.len() as u64;
    let registrations = [(&misfit, 999), (&blob, size), (&misfit, 1000)];
    for (offset, (blob, size)) in registrations.into_iter().enumerate() {
        let xt = register(&genesis, nonce + u32::try_from(offset).unwrap(), blob, size);
        node.call(|c| c.submit_extrinsic(Hex::encode(&xt)));
    }
    let key = pallet_jobs::Blobs::key(&hash);
    let misfit_key = pallet_jobs::Blobs::key(&misfit_hash);
    node.wait_for(
        Duration::from_secs(60),
        "both registrations to be finalized",
        || {
            let head = node.call(ChainApiClient::finalized_head);
            let registered = |key: &[u8]| {
                node.call(|c| c.storage(Hex::encode(key), Some(head)))
                    .is_some()
            };
            (registered(&key) && registered(&misfit_key)).then_some(())
        },
    );
    assert_eq!(
        node.call(|c| c.blob_has(hash)),
        presence(true, Some(size), false)
    );

    // The squat at 999 bytes was refused on chain (its size proof does not bear it out), so
    // the true size could be registered after it.
    assert_eq!(
        node.call(|c| c.blob_has(misfit_hash)),
        presence(true, Some(1000), false)
    );
    // Not hex.
    let error = node
        .try_call(|c| c.blob_put(Hex::from("0xzz".to_owned()), None))
        .unwrap_err();
    assert_eq!(code(&error), -32602, "{error}");

    // Named by a hash, a blob the node would not keep is refused before a byte of it is
    // decoded: text that is not even hex gets the registration's verdict, not "not hex".
    let not_hex = Hex::from(format!("0x{}", "zz".repeat(1000)));
    let unregistered = Hash([9; 32]);
    let error = node
        .try_call(|c| c.blob_put(not_hex.clone(), Some(unregistered)))
        .unwrap_err();
    assert_eq!(code(&error), 5001, "{error}");
    let error = node
        .try_call(|c| c.blob_put(not_hex.clone(), Some(hash)))
        .unwrap_err();
    assert_eq!(
        code(&error),
        5002,
        "1000 bytes of text for a 5 MiB blob: {error}"
    );
    // The registered size, but bytes that are not the named blob's.
    let error = node
        .try_call(|c| c.blob_put(Hex::encode(&bytes(3, 1000)), Some(misfit_hash)))
        .unwrap_err();
    assert_eq!(code(&error), -32602, "{error}");
    assert!(
        message(&error).ends_with(&format!("not to the hash given, {misfit_hash}")),
        "{error}"
    );

    // The right bytes, twice: the same answer.
    assert_eq!(node.try_put_named(hash, blob_hex.clone()).unwrap(), hash);
    assert_eq!(node.try_put_named(hash, blob_hex.clone()).unwrap(), hash);
    assert_eq!(node.call(|c| c.blob_get(hash)), blob_hex);
    assert_eq!(
        node.call(|c| c.blob_has(hash)),
        presence(true, Some(size), true)
    );
    let error = node.try_call(|c| c.blob_get(misfit_hash)).unwrap_err();
    assert_eq!(code(&error), 5004, "{error}");
    assert_eq!(
        message(&error),
        format!("blob {misfit_hash} is not stored on this node")
    );
    // A client that predates the hash parameter sends the blob alone: a small one goes in
    // (a larger one must be named in the header, above).
    let answer = node.try_rpc(
        agora_rpc_api::method::BLOB_PUT,
        serde_json::json!([Hex::encode(&misfit)]),
    );
    assert_eq!(answer, Ok(serde_json::json!(misfit_hash.to_hex())));

    // The registry, listed and read through the state RPCs.
    let prefix = Hex::encode(&<pallet_jobs::BlobsPrefix as StorageInstance>::prefix());
    let keys = node.call(|c| c.keys_paged(Some(prefix.clone()), 10, None, None));
    let mut expected = vec![Hex::encode(&key), Hex::encode(&misfit_key)];
    expected.sort();
    assert_eq!(keys, expected);
    let after_first =
        node.call(|c| c.keys_paged(Some(prefix.clone()), 10, Some(expected[0].clone()), None));
    assert_eq!(after_first, expected[1..]);
    let one = node.call(|c| c.keys_paged(Some(prefix.clone()), 1, None, None));
    assert_eq!(one, expected[..1]);
    let error = node
        .try_call(|c| c.keys_paged(Some(prefix.clone()), 1001, None, None))
        .unwrap_err();
    assert_eq!(code(&error), -32602, "{error}");
    assert!(message(&error).contains("1001"), "{error}");

    let head = node.call(ChainApiClient::finalized_head);
    let absent = pallet_jobs::Blobs::key(&Hash([7; 32]));
    let answer = node
        .call(|c| c.query_storage_at(vec![Hex::encode(&key), Hex::encode(&absent)], Some(head)));
    assert_eq!(answer[0].block, head);
    let changes = &answer[0].changes;
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].0, Hex::encode(&key));
    assert_eq!(changes[1], (Hex::encode(&absent), None));
    let value = changes[0].1.as_ref().unwrap().decode().unwrap();
    let info = pallet_jobs::BlobInfo::decode(&mut &value[..]).unwrap();
    assert_eq!(info.size, size);
    assert_eq!(info.owner, dev_account("Alice"));
    let too_many: Vec<Hex> = (0..1001).map(|_| Hex::encode(&key)).collect();
    let error = node
        .try_call(|c| c.query_storage_at(too_many, None))
        .unwrap_err();
    assert_eq!(code(&error), -32602, "{error}");
    assert!(message(&error).contains("1001 keys"), "{error}");

    let methods = node.call(RpcApiClient::methods).methods;
    for method in [
        agora_rpc_api::method::STATE_GET_KEYS_PAGED,
        agora_rpc_api::method::STATE_QUERY_STORAGE_AT,
        agora_rpc_api::method::BLOB_PUT,
        agora_rpc_api::method::BLOB_GET,
        agora_rpc_api::method::BLOB_HAS,
    ] {
        assert!(
            methods.iter().any(|listed| listed == method),
            "{method} is missing from {methods:?}"
        );
    }

    // A restart on the same base path still serves the blob.
    node.kill();
    let node = Node::start(dir.path());
    assert_eq!(node.call(|c| c.blob_get(hash)), blob_hex);

    // A damaged copy is detected, removed, and can be uploaded again.
    let hex = hex::encode(hash.0);
    // The store is the chain's: `<base>/chains/<chain id>/blobs`.
    let store_dir = dir.path().join("chains").join("agora_dev").join("blobs");
    let path = store_dir.join(&hex[..2]).join(&hex);
    let mut damaged = std::fs::read(&path).unwrap();
    damaged[12345] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    let error = node.try_call(|c| c.blob_get(hash)).unwrap_err();
    assert_eq!(code(&error), 5005, "{error}");
    assert_eq!(
        message(&error),
        format!("stored copy of blob {hash} was corrupt and has been removed")
    );
    assert!(!path.exists());
    assert!(!node.call(|c| c.blob_has(hash)).stored);
    assert_eq!(node.try_put_named(hash, blob_hex.clone()).unwrap(), hash);
    assert_eq!(node.call(|c| c.blob_get(hash)), blob_hex);
}

/// The collector, in-process: after a finalized block it deletes the blob no state registers,
/// keeps the one registered in the finalized state and the one registered only in the best
/// (unfinalized) block, and deletes a temporary file a crash left behind.
#[test]
fn the_collector_deletes_blobs_the_chain_does_not_register() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = multi_thread_runtime();
    let chain = open_chain(&dir.path().join("db"));
    let store = Arc::new(BlobStore::open(&dir.path().join("blobs")).unwrap());
    let genesis = chain.genesis_hash();
    let [finalized, unfinalized, forgotten] = [1u8, 2, 3].map(|seed| {
        let blob = bytes(seed, 100);
        (Hash::of(&blob), blob)
    });
    for (hash, blob) in [&finalized, &unfinalized, &forgotten] {
        store.put(hash, blob).unwrap();
    }
    let leftover = dir.path().join("blobs").join("tmp").join("leftover");
    std::fs::write(&leftover, b"half a blob").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(120))
        .unwrap();

    chain
        .submit(&register(&genesis, 0, &finalized.1, 100))
        .unwrap();
    let first = runtime.block_on(chain.propose(genesis, 0, 1)).unwrap();
    chain
        .submit(&register(&genesis, 1, &unfinalized.1, 100))
        .unwrap();
    let second = runtime.block_on(chain.propose(first, 0, 2)).unwrap();
    assert_eq!(chain.best_hash(), second);

    // Subscribed on the call, before the finalization it must see (no sleep).
    runtime.spawn(run_collector(chain.clone(), store.clone()));
    runtime.block_on(chain.finalized(first, Vec::new()));
    let start = std::time::Instant::now();
    while store.has(&forgotten.0) || leftover.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the collector did not remove the unregistered blob and the leftover"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(store.has(&finalized.0));
    assert!(
        store.has(&unfinalized.0),
        "a blob registered in the best block was collected"
    );
    assert_eq!(store.totals().count, 2);
}
