//! Adversarial blocks at the node: a valid block built by one `Chain`, tampered with one field
//! at a time, fed to a second `Chain` through the calls consensus makes (`receive_block`,
//! `verify`). Every tampered block is refused, nothing of it is written (the best block stays,
//! no unfinalized block reaches the database), and the chain then accepts and finalizes the
//! honest block: a byzantine proposer costs the others a refusal, never their chain.

use crate::support::{multi_thread_runtime, open_chain, open_chain_on};
use agora_node::chain::{Chain, MAX_BLOCK_BYTES, MAX_UNFINALIZED};
use agora_node::consensus::{BlockSource, Chain as _};
use agora_primitives::{AccountId, Hash};
use agora_runtime::block::Block;
use agora_runtime::executive::immortal_extra;
use agora_runtime::extrinsic::Extrinsic;
use agora_runtime::RuntimeCall;
use parity_scale_codec::{Compact, Decode, Encode};
use sp_core::Pair;

/// The consensus key of //Alice, the dev chain's leader of every view.
fn alice_key() -> [u8; 32] {
    let seed = agora_runtime::genesis::dev_consensus_seed("Alice");
    let pair: sp_core::ed25519::Pair = Pair::from_seed(&seed);
    pair.public().0
}

/// Blocks as the leader (//Alice) sends them.
fn from_leader() -> BlockSource {
    BlockSource::Peer(alice_key())
}

/// A byzantine peer's key.
const BYZANTINE: BlockSource = BlockSource::Peer([0xbb; 32]);

/// A transfer from //Alice to //Bob with `nonce`, signed for the dev chain.
fn transfer(genesis: &Hash, nonce: u32, value: u128) -> Extrinsic {
    let alice = sp_core::sr25519::Pair::from_string("//Alice", None).unwrap();
    let call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
        dest: agora_runtime::genesis::dev_account("Bob"),
        value: Compact(value),
    });
    Extrinsic::sign(&alice, call, immortal_extra(nonce, 0), genesis, genesis)
}

fn flip(hash: &mut Hash) {
    hash.0[0] ^= 1;
}

/// Every way to break block 1's header one field at a time, by name.
fn tampered(honest: &Block) -> Vec<(&'static str, Block)> {
    let edit = |f: &dyn Fn(&mut Block)| {
        let mut block = honest.clone();
        f(&mut block);
        block
    };
    let now = agora_node::chain::millis_since_epoch(std::time::SystemTime::now());
    vec![
        ("wrong parent", edit(&|b| flip(&mut b.header.parent_hash))),
        ("wrong number", edit(&|b| b.header.number = Compact(2))),
        (
            "timestamp an hour ahead",
            edit(&|b| b.header.timestamp = now + 3_600_000),
        ),
        (
            "timestamp not after the parent's",
            edit(&|b| b.header.timestamp = 0),
        ),
        (
            "another author",
            edit(&|b| b.header.author = AccountId([7; 32])),
        ),
        (
            "forged beacon proof",
            edit(&|b| b.header.beacon.proof[0] ^= 1),
        ),
        (
            "forged beacon output",
            edit(&|b| b.header.beacon.pre_output[0] ^= 1),
        ),
        (
            "wrong state root",
            edit(&|b| flip(&mut b.header.state_root)),
        ),
        (
            "wrong events root",
            edit(&|b| flip(&mut b.header.events_root)),
        ),
    ]
}

/// Block 1's header with another body, by name: the block hash (the header's) is the honest
/// one's.
fn swapped_bodies(honest: &Block, genesis: &Hash) -> Vec<(&'static str, Block)> {
    let edit = |f: &dyn Fn(&mut Block)| {
        let mut block = honest.clone();
        f(&mut block);
        block
    };
    vec![
        (
            "an extrinsic dropped",
            edit(&|b| {
                b.extrinsics.pop();
            }),
        ),
        (
            "an extrinsic's call changed after signing",
            edit(&|b| {
                let mut forged = Extrinsic::decode(&mut &b.extrinsics[0].encode()[..]).unwrap();
                forged.call = transfer(genesis, 0, 999).call;
                b.extrinsics[0] = forged;
            }),
        ),
        (
            "an extrinsic replayed",
            edit(&|b| {
                let first = b.extrinsics[0].clone();
                b.extrinsics.push(first);
            }),
        ),
    ]
}

/// Builds block 1 with three transfers on a chain at `dir`; its bytes.
fn honest_block(dir: &std::path::Path, runtime: &tokio::runtime::Runtime) -> Vec<u8> {
    let builder = open_chain(dir);
    let genesis = builder.genesis_hash();
    for nonce in 0..3 {
        builder
            .submit(&transfer(&genesis, nonce, 1_000_000).encode())
            .unwrap();
    }
    let hash = runtime.block_on(builder.propose(genesis, 0, 1)).unwrap();
    builder.block_bytes(hash).unwrap()
}

/// A block 1 built by one chain, and a second chain (on its own database) to feed it to.
struct Scene {
    runtime: tokio::runtime::Runtime,
    /// The honest block's bytes, and decoded.
    bytes: Vec<u8>,
    honest: Block,
    chain: Chain,
    genesis: Hash,
    /// The receiving chain's database directory (kept for reopening).
    verifying: tempfile::TempDir,
    _built: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let runtime = multi_thread_runtime();
        let (built, verifying) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let bytes = honest_block(built.path(), &runtime);
        let honest = Block::decode(&mut &bytes[..]).unwrap();
        assert_eq!(honest.extrinsics.len(), 3);
        let chain = open_chain(verifying.path());
        let genesis = chain.genesis_hash();
        Scene {
            runtime,
            bytes,
            honest,
            chain,
            genesis,
            verifying,
            _built: built,
        }
    }

    /// Whether the receiving chain verifies held block `hash` as block 1 of //Alice's view.
    fn verify(&self, hash: Hash) -> bool {
        self.runtime
            .block_on(self.chain.verify(self.genesis, hash, 0, alice_key()))
    }

    fn finalize(&self, hash: Hash) {
        self.runtime
            .block_on(self.chain.finalized(hash, Vec::new()));
        assert_eq!(self.chain.finalized_head().0, hash);
    }
}

fn assert_untouched(chain: &Chain, genesis: Hash, what: &str) {
    assert_eq!(chain.best_hash(), genesis, "{what}: the best block moved");
    assert_eq!(
        chain.finalized_head().0,
        genesis,
        "{what}: the finalized head moved"
    );
}

#[test]
fn every_tampered_block_is_refused_and_the_honest_one_then_finalizes() {
    let scene = Scene::new();
    let (chain, genesis, honest, bytes) =
        (&scene.chain, scene.genesis, &scene.honest, &scene.bytes);
    let mut refused = Vec::new();
    for (what, block) in tampered(honest) {
        let hash = chain
            .receive_block(block.encode(), from_leader())
            .unwrap_or_else(|| panic!("{what}: a well-formed block is held until verified"));
        assert_ne!(hash, honest.hash(), "{what}: the tamper changed nothing");
        assert!(!scene.verify(hash), "{what}: accepted");
        assert_untouched(chain, genesis, what);
        refused.push(hash);
    }

    // Bytes that are not one block are not even held.
    let mut trailing = bytes.clone();
    trailing.push(0);
    let mut wrong_root = honest.clone();
    flip(&mut wrong_root.header.extrinsics_root);
    let mut oversize = bytes.clone();
    oversize.resize(MAX_BLOCK_BYTES + 1, 0);
    for (what, bad) in [
        ("a trailing byte", trailing),
        (
            "an extrinsics root the body does not give",
            wrong_root.encode(),
        ),
        ("truncated", bytes[..bytes.len() - 1].to_vec()),
        ("empty", Vec::new()),
        ("garbage", vec![0xff; 200]),
        ("past MAX_BLOCK_BYTES", oversize),
    ] {
        assert_eq!(
            chain.receive_block(bad, from_leader()),
            None,
            "{what}: held"
        );
    }

    // Nor are bodies that do not match their header's extrinsics root.
    for (what, block) in swapped_bodies(honest, &genesis) {
        assert_eq!(block.hash(), honest.hash(), "{what}: only the body differs");
        assert_eq!(
            chain.receive_block(block.encode(), from_leader()),
            None,
            "{what}: held"
        );
    }

    // The honest block is accepted and finalized after all of that.
    let hash = chain.receive_block(bytes.clone(), from_leader()).unwrap();
    assert!(scene.verify(hash));
    assert_eq!(chain.best_hash(), hash);
    scene.finalize(hash);

    // Nothing of the refused blocks reached the database.
    let Scene {
        chain, verifying, ..
    } = scene;
    drop(chain);
    let chain = open_chain(verifying.path());
    assert_eq!(chain.finalized_head().0, hash);
    for block in refused {
        assert!(!chain.has_block(block), "a refused block was stored");
    }
}

/// A peer flooding well-formed blocks that nobody asks to verify never holds more than
/// `MAX_UNFINALIZED` slots: past the bound each new block pushes out the flooder's own oldest,
/// never the leader's block. That block is verified and finalized after the flood, and
/// finalization forgets the siblings still held.
#[test]
fn held_blocks_are_bounded_and_a_flood_pushes_out_only_the_flooders_blocks() {
    let scene = Scene::new();
    let (chain, honest) = (&scene.chain, &scene.honest);
    let hash = chain
        .receive_block(scene.bytes.clone(), from_leader())
        .unwrap();
    let sibling = |n: u64| {
        let mut junk = honest.clone();
        junk.header.timestamp += n;
        junk
    };
    let flood = MAX_UNFINALIZED as u64 + 10;
    send_siblings(chain, honest, 1..=flood, |_| BYZANTINE);
    // 1,023 slots were free: the first 11 junk blocks were pushed out by the last 11.
    assert!(
        !chain.has_block(sibling(11).hash()),
        "held past MAX_UNFINALIZED"
    );
    assert!(chain.has_block(sibling(12).hash()));
    assert!(chain.has_block(sibling(flood).hash()));
    assert!(
        scene.verify(hash),
        "the flood pushed out the leader's block"
    );
    scene.finalize(hash);
    // Finalizing block 1 forgets its siblings.
    assert!(!chain.has_block(sibling(flood).hash()));
    assert!(chain
        .receive_block(block_two(honest, hash), from_leader())
        .is_some());
}

/// The honest block 2 on `parent` (block 1), as far as being held goes.
fn block_two(honest: &Block, parent: Hash) -> Vec<u8> {
    let mut after = honest.clone();
    after.header.number = Compact(2);
    after.header.parent_hash = parent;
    after.encode()
}

/// Exploit: every well-formed block above the finalized height was held until
/// `MAX_UNFINALIZED` were, and one was forgotten only once finalization passed its height. A
/// peer that sent 1,024 blocks at heights 10¹² + n, before the leader's block, filled every
/// slot for good: the leader's block, and every later one, was refused until a restart (done
/// to more than f validators, the chain halts). Now the flooder's blocks make room for those
/// of others.
#[test]
fn exploit_junk_far_above_the_tip_cannot_shut_out_the_leaders_blocks() {
    let scene = Scene::new();
    let (chain, honest) = (&scene.chain, &scene.honest);
    for n in 0..MAX_UNFINALIZED as u64 {
        let mut junk = honest.clone();
        junk.header.number = Compact(1_000_000_000_000 + n);
        junk.header.parent_hash = Hash([0xee; 32]);
        assert!(
            chain.receive_block(junk.encode(), BYZANTINE).is_some(),
            "junk {n}"
        );
    }
    let hash = chain
        .receive_block(scene.bytes.clone(), from_leader())
        .expect("the leader's block is refused after a flood far above the tip");
    assert!(scene.verify(hash));
    scene.finalize(hash);
    assert!(
        chain
            .receive_block(block_two(honest, hash), from_leader())
            .is_some(),
        "block 2 is refused: the junk above the tip was never forgotten"
    );
}

/// A byzantine peer that forwards the leader's block first, then floods,
/// must not push it out as its own: the leader sent it too.
#[test]
fn a_flooder_that_forwarded_the_leaders_block_first_cannot_push_it_out() {
    let scene = Scene::new();
    let (chain, honest) = (&scene.chain, &scene.honest);
    let hash = chain.receive_block(scene.bytes.clone(), BYZANTINE).unwrap();
    assert_eq!(
        chain.receive_block(scene.bytes.clone(), from_leader()),
        Some(hash)
    );
    send_siblings(chain, honest, 1..=2 * MAX_UNFINALIZED as u64, |_| BYZANTINE);
    assert!(chain.has_block(hash), "the leader's block was pushed out");
    assert!(scene.verify(hash));
}

/// Two colluding flooders re-send each other's blocks, so that none is listed by one peer
/// alone: making room then takes the heavier one off every block (its word adds nothing) and
/// pushes out the other's oldest. The bound holds, the leader's block is never pushed out, and
/// the blocks pushed out are the colluders' oldest.
#[test]
fn colluding_flooders_that_resend_each_others_blocks_push_out_only_their_own() {
    const ACCOMPLICE: BlockSource = BlockSource::Peer([0xcc; 32]);
    let scene = Scene::new();
    let (chain, honest) = (&scene.chain, &scene.honest);
    let hash = chain
        .receive_block(scene.bytes.clone(), from_leader())
        .unwrap();
    let flood = 2 * MAX_UNFINALIZED as u64;
    for n in 1..=flood {
        send_siblings(chain, honest, [n], |_| BYZANTINE);
        send_siblings(chain, honest, [n], |_| ACCOMPLICE);
    }
    let sibling = |n: u64| {
        let mut junk = honest.clone();
        junk.header.timestamp += n;
        junk.hash()
    };
    assert!(chain.has_block(hash), "the leader's block was pushed out");
    assert!(
        !chain.has_block(sibling(1)),
        "the oldest junk is still held"
    );
    assert!(
        chain.has_block(sibling(flood)),
        "the newest junk was pushed out"
    );
    let held = (1..=flood).filter(|n| chain.has_block(sibling(*n))).count();
    assert!(
        held < MAX_UNFINALIZED,
        "{held} junk blocks held beside the leader's: past the bound"
    );
    assert!(scene.verify(hash));
}

/// A verified block is this node's own word, never a peer's: when its sender then floods, its
/// oldest block (the verified one) is not what is pushed out, and the best block stays.
#[test]
fn a_verified_block_is_never_pushed_out_even_by_its_sender() {
    let scene = Scene::new();
    let (chain, honest) = (&scene.chain, &scene.honest);
    let hash = chain
        .receive_block(scene.bytes.clone(), from_leader())
        .unwrap();
    assert!(scene.verify(hash));
    send_siblings(chain, honest, 1..=MAX_UNFINALIZED as u64 + 10, |_| {
        from_leader()
    });
    assert!(chain.has_block(hash), "the verified block was pushed out");
    assert_eq!(chain.best_hash(), hash);
}

/// A block consensus asked to verify and refused is still only its sender's word: a flood from
/// that sender pushes it out (were it trusted, a byzantine leader would fill a slot for good
/// with every view it leads). Asking whether a peer's chain of blocks connects does not make
/// it trusted either (a forged sync run asks).
#[test]
fn a_refused_block_and_a_connecting_junk_chain_stay_forgettable() {
    let scene = Scene::new();
    let (chain, honest) = (&scene.chain, &scene.honest);
    let (_, refused) = tampered(honest)
        .into_iter()
        .find(|(what, _)| *what == "wrong state root")
        .expect("a tamper by that name");
    let refused = chain
        .receive_block(refused.encode(), from_leader())
        .unwrap();
    assert!(!scene.verify(refused));
    let mut junk_child = honest.clone();
    junk_child.header.timestamp += 1;
    let junk_child = chain.receive_block(junk_child.encode(), BYZANTINE).unwrap();
    assert!(chain.connects(junk_child));
    send_siblings(chain, honest, 2..=2 * MAX_UNFINALIZED as u64, |n| {
        if n % 2 == 0 {
            from_leader()
        } else {
            BYZANTINE
        }
    });
    assert!(!chain.has_block(refused), "a refused block was trusted");
    assert!(
        !chain.has_block(junk_child),
        "a connecting junk block was trusted"
    );
}

/// Sends sibling `n` of block 1 (its timestamp moved `n` ms) for each `n` of `ns`, from
/// `source(n)`; each must be held.
fn send_siblings(
    chain: &Chain,
    honest: &Block,
    ns: impl IntoIterator<Item = u64>,
    source: impl Fn(u64) -> BlockSource,
) {
    for n in ns {
        let mut junk = honest.clone();
        junk.header.timestamp += n;
        assert!(
            chain.receive_block(junk.encode(), source(n)).is_some(),
            "junk {n}"
        );
    }
}

/// Fills every free slot with junk siblings of block 1 from the byzantine peer (a block held
/// before is then its oldest if it sent it).
fn fill_with_junk(chain: &Chain, honest: &Block) {
    send_siblings(chain, honest, 1..MAX_UNFINALIZED as u64, |_| BYZANTINE);
}

/// Floods `2 × MAX_UNFINALIZED` more junk from the byzantine peer.
fn flood(chain: &Chain, honest: &Block) {
    let start = 1_000_000;
    send_siblings(
        chain,
        honest,
        start..start + 2 * MAX_UNFINALIZED as u64,
        |_| BYZANTINE,
    );
}

/// Exploit: a sync run's blocks were trusted as they were stored, but the held block the run
/// hangs from was not: a peer that was the only sender of genuine block 1, and then filled
/// the slots so that block 1 was its oldest, got block 1 forgotten to make room for the run's
/// first block. Repeated, trusted blocks above a gap filled every slot for good. Now a trusted
/// block's held ancestors are trusted first.
#[test]
fn exploit_room_for_a_runs_block_is_never_made_by_forgetting_its_parent() {
    let scene = Scene::new();
    let (chain, honest) = (&scene.chain, &scene.honest);
    let first = chain.receive_block(scene.bytes.clone(), BYZANTINE).unwrap();
    fill_with_junk(chain, honest);
    let second = chain
        .receive_block(block_two(honest, first), BlockSource::Certified)
        .unwrap();
    assert!(
        chain.has_block(first),
        "the run's parent was forgotten to store the run"
    );
    assert!(chain.connects(second));
    flood(chain, honest);
    assert!(chain.has_block(first) && chain.has_block(second));
}

/// The route of a block about to be finalized ([`claim`](agora_node::consensus::Chain::claim))
/// and the parent of a verified proposal are kept: a flood from their only sender forgets
/// neither (the first would make `finalized` fail and stop the node).
#[test]
fn a_claimed_route_and_a_named_parent_are_never_forgotten() {
    let scene = Scene::new();
    let (chain, honest) = (&scene.chain, &scene.honest);
    let first = chain.receive_block(scene.bytes.clone(), BYZANTINE).unwrap();
    assert!(chain.claim(first));
    flood(chain, honest);
    assert!(chain.has_block(first), "a claimed block was forgotten");

    let scene = Scene::new();
    let (chain, honest) = (&scene.chain, &scene.honest);
    let first = chain.receive_block(scene.bytes.clone(), BYZANTINE).unwrap();
    // A proposal on block 1 that fails (its state root is block 1's): block 1 is executed as
    // the named parent all the same.
    let second = chain
        .receive_block(block_two(honest, first), from_leader())
        .unwrap();
    assert!(!scene
        .runtime
        .block_on(chain.verify(first, second, 0, alice_key())));
    flood(chain, honest);
    assert!(chain.has_block(first), "the named parent was forgotten");
}

/// A host whose clock runs `ahead_ms` ahead of the system's.
struct FastClock {
    ahead_ms: u64,
}

impl agora_node::chain::Host for FastClock {
    fn now_ms(&self) -> u64 {
        agora_node::chain::TokioHost.now_ms() + self.ahead_ms
    }
    fn sleep(&self, duration: std::time::Duration) -> futures::future::BoxFuture<'_, ()> {
        agora_node::chain::TokioHost.sleep(duration)
    }
    fn run_blocking(&self, work: Box<dyn FnOnce() + Send>) -> futures::future::BoxFuture<'_, ()> {
        agora_node::chain::TokioHost.run_blocking(work)
    }
}

/// Exploit: every block a node executed was held to its clock, also one consensus had already
/// finalized. A leader whose clock ran ahead (or that stamped its block up to the drift bound
/// ahead) got its block finalized by the validators whose clocks agreed, and a node whose
/// clock was behind theirs could not commit it and stopped ("cannot commit a finalized
/// block"). Now the drift bound applies only to the block a node votes on: it still refuses
/// to vote for the block, and commits it once finalized.
#[test]
fn exploit_a_finalized_block_ahead_of_the_local_clock_is_committed() {
    let runtime = multi_thread_runtime();
    let (built, verifying) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Block 1 from a leader whose clock runs a minute ahead.
    let leader = open_chain_on(
        std::sync::Arc::new(FastClock { ahead_ms: 60_000 }),
        built.path(),
    );
    let genesis = leader.genesis_hash();
    leader
        .submit(&transfer(&genesis, 0, 1_000_000).encode())
        .unwrap();
    let hash = runtime.block_on(leader.propose(genesis, 0, 1)).unwrap();
    let bytes = leader.block_bytes(hash).unwrap();

    let chain = open_chain(verifying.path());
    assert_eq!(chain.receive_block(bytes, from_leader()), Some(hash));
    assert!(
        !runtime.block_on(chain.verify(genesis, hash, 0, alice_key())),
        "voted for a block a minute ahead of its clock"
    );
    // Before the fix this exited the process (the adapter stops on a failed commit).
    runtime.block_on(chain.finalized(hash, Vec::new()));
    assert_eq!(chain.finalized_head().0, hash);
    assert_eq!(chain.best_hash(), hash);
}

/// Exploit: the block hash is the header's, which covers the body only through the
/// extrinsics root. A byzantine peer that forwarded the leader's header with another body
/// ahead of the leader's own got it held under the honest block's hash; it failed
/// verification, and the true block, arriving next, was acknowledged as already held and
/// never verified, so the node could not vote for the view's proposal. Now a body that does
/// not match its header is not held, and the true block verifies.
#[test]
fn exploit_a_body_swapped_under_the_leaders_header_cannot_shut_out_the_true_block() {
    let scene = Scene::new();
    // The swapped copy arrives first (before the fix it was held under the honest hash).
    let (_, swapped) = &swapped_bodies(&scene.honest, &scene.genesis)[0];
    let _ = scene.chain.receive_block(swapped.encode(), BYZANTINE);
    let hash = scene
        .chain
        .receive_block(scene.bytes.clone(), from_leader())
        .unwrap();
    assert!(
        scene.verify(hash),
        "the leader's true block is refused after a swapped copy"
    );
}

/// Finality certificates from strangers (a syncing node takes them from any peer): one signed
/// by a quorum of the committee in the chain's namespace is accepted, and every other is
/// refused — another namespace, another committee, fewer signers than a quorum, any byte
/// changed, cut short or extended.
#[test]
fn a_certificate_with_wrong_signers_too_few_or_another_namespace_is_refused() {
    use agora_node::consensus::{sign_finalization, verify_certificate};
    let member = |name: &str| {
        let seed = agora_runtime::genesis::dev_consensus_seed(name);
        let pair: sp_core::ed25519::Pair = Pair::from_seed(&seed);
        (pair.public().0, seed)
    };
    // The committee in key order, so that its first two members are also the first two of a
    // committee of just them (signer indices are positions in the sorted committee).
    let mut members: Vec<([u8; 32], [u8; 32])> = ["Alice", "Bob", "Charlie", "Dave"]
        .into_iter()
        .map(member)
        .collect();
    members.sort_unstable();
    let keys: Vec<[u8; 32]> = members.iter().map(|(key, _)| *key).collect();
    let seeds: Vec<[u8; 32]> = members.iter().map(|(_, seed)| *seed).collect();
    let namespace = b"agora/agora_dev".as_slice();
    let block = Hash([5; 32]);
    let round = (0, 9);

    let quorum = sign_finalization(namespace, &keys, &seeds[..3], round, block).unwrap();
    assert_eq!(
        verify_certificate(namespace, &keys, &quorum),
        Some((block, 9))
    );
    assert_eq!(
        verify_certificate(b"agora/another", &keys, &quorum),
        None,
        "another namespace"
    );
    let others: Vec<[u8; 32]> = ["Eve", "Ferdie", "Gina", "Hank"]
        .into_iter()
        .map(|name| member(name).0)
        .collect();
    assert_eq!(
        verify_certificate(namespace, &others, &quorum),
        None,
        "another committee"
    );
    // Two of four is no quorum: a certificate the first two members made as a committee of
    // their own carries two valid signatures at the right positions, and is refused.
    let pair = sign_finalization(namespace, &keys[..2], &seeds[..2], round, block).unwrap();
    assert!(verify_certificate(namespace, &keys[..2], &pair).is_some());
    assert_eq!(
        verify_certificate(namespace, &keys, &pair),
        None,
        "2 of 4 signers"
    );
    // Nobody outside the committee can sign for it.
    let outsider = member("Eve").1;
    assert_eq!(
        sign_finalization(
            namespace,
            &keys,
            &[seeds[0], seeds[1], outsider],
            round,
            block
        ),
        None
    );
    // Every byte matters.
    for at in 0..quorum.len() {
        let mut tampered = quorum.clone();
        tampered[at] ^= 0x01;
        assert_eq!(
            verify_certificate(namespace, &keys, &tampered),
            None,
            "byte {at} of {} flipped",
            quorum.len()
        );
    }
    assert_eq!(
        verify_certificate(namespace, &keys, &quorum[..quorum.len() - 1]),
        None
    );
    let mut extended = quorum.clone();
    extended.push(0);
    assert_eq!(verify_certificate(namespace, &keys, &extended), None);
}
