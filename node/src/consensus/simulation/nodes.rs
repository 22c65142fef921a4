//! The validators of a run: their keys and chain spec, their chain on the deterministic
//! runtime (its host), starting and killing them, the proxies at their stable addresses,
//! and the client's load.

use super::*;

/// The chain's host on the deterministic runtime: its virtual clock and timers; blocking work
/// runs in place (the runtime is single-threaded, and in place is deterministic).
pub(super) struct SimHost {
    pub(super) context: deterministic::Context,
}

impl Host for SimHost {
    fn now_ms(&self) -> u64 {
        millis_since_epoch(self.context.current())
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(self.context.sleep(duration))
    }

    fn run_blocking(&self, work: Box<dyn FnOnce() + Send>) -> BoxFuture<'_, ()> {
        work();
        Box::pin(std::future::ready(()))
    }
}

/// The simulated network's address of validator `index`: its stable address (`incarnation`
/// 0, where a [`proxy`] listens, and where every peer dials it), or where its
/// `incarnation`-th run listens (from 1). The deterministic runtime never frees a bound port,
/// so every run of a validator listens anew behind its stable address, as a restarted node
/// binds its port anew.
pub(super) fn address(index: usize, incarnation: u16) -> SocketAddr {
    let index = u16::try_from(index).expect("four validators");
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        5000 + 100 * incarnation + index,
    )
}

/// The keys of a dev name.
pub(super) struct DevKeys {
    /// Its dev account (`//Name`, sr25519): a validator's account and author.
    pub(super) account: AccountId,
    /// Signs its transfers and reports: ed25519, whose signatures are deterministic (sr25519
    /// signs with fresh randomness, and a replayed seed must produce the same blocks).
    pub(super) signer: sp_core::ed25519::Pair,
    /// The account of `signer`, funded at genesis.
    pub(super) signer_account: AccountId,
    pub(super) consensus_seed: [u8; 32],
    pub(super) consensus_public: [u8; 32],
}

/// The keys of `name` (one of [`NAMES`] or [`SENDERS`]), derived once: deriving `//Name`
/// runs PBKDF2, far too slow to repeat on every use.
pub(super) fn keys(name: &str) -> &'static DevKeys {
    static KEYS: OnceLock<BTreeMap<&'static str, DevKeys>> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        NAMES
            .iter()
            .chain(SENDERS.iter())
            .chain([&JOINER])
            .map(|name| {
                let signer = sp_core::ed25519::Pair::from_seed(
                    blake3::hash(format!("agora-sim/{name}").as_bytes()).as_bytes(),
                );
                let consensus_seed = dev_consensus_seed(name);
                let keys = DevKeys {
                    account: dev_account(name),
                    signer_account: AccountId(signer.public().0),
                    signer,
                    consensus_seed,
                    consensus_public: sp_core::ed25519::Pair::from_seed(&consensus_seed)
                        .public()
                        .0,
                };
                (*name, keys)
            })
            .collect()
    });
    &all[name]
}

/// The name of validator `index`: one of [`NAMES`], or [`JOINER`] after them.
pub(super) fn name_of(index: usize) -> &'static str {
    NAMES.get(index).copied().unwrap_or(JOINER)
}

pub(super) fn consensus_public(name: &str) -> [u8; 32] {
    keys(name).consensus_public
}

pub(super) fn account(name: &str) -> AccountId {
    keys(name).account
}

/// The account `name` signs transfers and reports with.
pub(super) fn signer_account(name: &str) -> AccountId {
    keys(name).signer_account
}

/// The chain spec of a run of `fault`: [`spec`], and the joiner funded in
/// `joining_validator` (only there, so the other scenarios' seeds keep their runs).
pub(super) fn spec_for(fault: Fault) -> ChainSpec {
    let mut spec = spec();
    if fault == Fault::JoiningValidator {
        spec.genesis.balances.push((
            signer_account(JOINER),
            agora_runtime::genesis::DEV_ENDOWMENT,
        ));
    }
    spec
}

pub(super) fn spec() -> ChainSpec {
    static DEVELOPMENT: OnceLock<ChainSpec> = OnceLock::new();
    let mut spec = DEVELOPMENT.get_or_init(ChainSpec::development).clone();
    spec.name = "Agora Simulation".to_owned();
    spec.id = "agora_sim".to_owned();
    spec.genesis.epoch_length = EPOCH_LENGTH;
    spec.genesis.balances.extend(
        NAMES
            .iter()
            .chain(SENDERS.iter())
            .map(|name| (signer_account(name), agora_runtime::genesis::DEV_ENDOWMENT)),
    );
    spec.validators = NAMES
        .iter()
        .map(|name| ValidatorSpec {
            account: account(name),
            consensus_key: Hash(consensus_public(name)),
            beacon_key: BeaconSigner::from_consensus_seed(&keys(name).consensus_seed).beacon_key(),
            bond: agora_runtime::genesis::GENESIS_VALIDATOR_BOND,
            // Left to each node's configuration (the stable addresses of `address`).
            address: String::new(),
        })
        .collect();
    spec
}

/// One validator's slot in a run.
pub(super) struct Validator {
    pub(super) index: usize,
    pub(super) dir: PathBuf,
    pub(super) chain: Option<Chain>,
    pub(super) consensus: Option<Consensus>,
    /// Runs started so far (the current one's, while running).
    pub(super) incarnation: u16,
    /// The incarnation its proxy forwards to.
    pub(super) listening: Arc<AtomicU16>,
}

/// What a run shares.
pub(super) struct Run {
    pub(super) fault: Fault,
    pub(super) spec: ChainSpec,
    pub(super) links: Arc<SimLinks>,
}

impl Run {
    /// Opens validator `v`'s chain on its directory and starts its consensus, listening at
    /// the address of its next incarnation (see [`address`]).
    pub(super) async fn start(&self, context: &deterministic::Context, v: &mut Validator) {
        v.incarnation += 1;
        v.listening.store(v.incarnation, Ordering::SeqCst);
        let name = name_of(v.index);
        let db_dir = v.dir.join("db");
        // A killed validator's tasks may hold its database a moment longer.
        let mut attempts = 0u32;
        let db = loop {
            match Database::open(&db_dir) {
                Ok(db) => break Arc::new(db),
                Err(error) => {
                    attempts += 1;
                    assert!(
                        attempts < 100,
                        "cannot reopen {}: {error}",
                        db_dir.display()
                    );
                    context.sleep(Duration::from_millis(10)).await;
                }
            }
        };
        let host = Arc::new(SimHost {
            context: context.child("host").with_attribute("index", v.index),
        });
        let config = ChainConfig {
            spec: self.spec.clone(),
            block_time: BLOCK_TIME,
            referee: None,
            metrics: Metrics::new(),
        };
        let chain = Chain::open_on(host, db, config).expect("the chain opens");
        chain.set_reporter(keys(name).signer);
        chain.set_proposer(
            BeaconSigner::from_consensus_seed(&keys(name).consensus_seed),
            account(name),
        );
        let validators: Vec<([u8; 32], SocketAddr)> = NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| (consensus_public(name), address(i, 0)))
            .collect();
        let namespace = chain::consensus_namespace(&self.spec.id, &chain.genesis_hash());
        let mut config = Config::new(
            address(v.index, v.incarnation),
            keys(name).consensus_seed,
            validators,
            namespace,
        );
        config.timeouts = Timeouts::for_block_time(BLOCK_TIME);
        config.max_block_size = u32::try_from(chain::MAX_BLOCK_BYTES).unwrap_or(u32::MAX);
        config.signing_record = Some(v.dir.join("consensus_signed_through"));
        config.links = Some(self.links.clone() as Arc<dyn Links>);
        config.max_committee = if self.fault == Fault::JoiningValidator {
            MAX_COMMITTEE + 1
        } else {
            MAX_COMMITTEE
        };
        let node = context
            .child("validator")
            .with_attribute("index", v.index)
            .with_attribute("incarnation", v.incarnation);
        let partition = format!("v{}", v.index);
        let consensus = if self.fault.forges() && v.index == BYZANTINE {
            let forger = Forger {
                chain: chain.clone(),
                forged: Arc::default(),
            };
            launch(node, config, forger, (), &partition)
        } else {
            launch(node, config, chain.clone(), (), &partition)
        };
        v.consensus = Some(consensus.expect("a valid configuration"));
        v.chain = Some(chain);
    }

    /// Kills validator `v`: its tasks are aborted and its memory dropped; its directory stays.
    pub(super) fn kill(v: &mut Validator) {
        if let Some(consensus) = v.consensus.take() {
            consensus.abort();
        }
        v.chain = None;
    }
}

/// Listens at validator `index`'s stable address and forwards every connection, byte for
/// byte, to the incarnation `listening` names (a connection while it is down is closed).
pub(super) fn proxy(
    context: &deterministic::Context,
    index: usize,
    listening: Arc<AtomicU16>,
) -> commonware_runtime::Handle<()> {
    use commonware_runtime::{Listener as _, Network as _};
    context.child("proxy").spawn(move |context| async move {
        let mut listener = context
            .bind(address(index, 0))
            .await
            .expect("the stable address is free");
        while let Ok((_, client_sink, client_stream)) = listener.accept().await {
            let target = address(index, listening.load(Ordering::SeqCst));
            context
                .child("connection")
                .spawn(move |context| async move {
                    let Ok((node_sink, node_stream)) = context.dial(target).await else {
                        return; // Down: the peer sees the connection close and dials again.
                    };
                    let up = context
                        .child("up")
                        .spawn(move |_| pump(client_stream, node_sink));
                    let down = context
                        .child("down")
                        .spawn(move |_| pump(node_stream, client_sink));
                    // Either direction closing closes the connection.
                    let _ = commonware_runtime::Handle::select(vec![up, down]).await;
                });
        }
    })
}

/// Copies `from` to `to` until either closes.
pub(super) async fn pump(
    mut from: impl commonware_runtime::Stream,
    mut to: impl commonware_runtime::Sink,
) {
    loop {
        let buffered = from.peek(1 << 16).len();
        let Ok(bytes) = from.recv(buffered.max(1)).await else {
            return;
        };
        if to.send(bytes).await.is_err() {
            return;
        }
    }
}

/// Submits the joiner's registration with a bond, at its stable address, to a running
/// validator, until the joiner's account has sent it (its nonce is no longer 0).
pub(super) fn submit_registration(validators: &[Validator], genesis: Hash) {
    let Some(chain) = validators.iter().find_map(|v| v.chain.as_ref()) else {
        return;
    };
    let keys = keys(JOINER);
    if agora_runtime::System::account_nonce(&chain.finalized_view(), &keys.signer_account) > 0 {
        return;
    }
    let call = RuntimeCall::Staking(pallet_staking::Call::RegisterValidator {
        consensus_key: Hash(keys.consensus_public),
        beacon_key: BeaconSigner::from_consensus_seed(&keys.consensus_seed).beacon_key(),
        address: address(NAMES.len(), 0).to_string().into_bytes(),
        bond: Compact(agora_runtime::genesis::GENESIS_VALIDATOR_BOND),
        key_proof: pallet_staking::validators::prove_key_ownership(
            &sp_core::ed25519::Pair::from_seed(&keys.consensus_seed),
            &keys.signer_account,
        ),
    });
    let extrinsic = Extrinsic::sign(&keys.signer, call, immortal_extra(0, 0), &genesis, &genesis);
    let _ = chain.submit(&extrinsic.encode());
}

/// Submits each sender's transfer at its next finalized nonce to a random running validator.
pub(super) fn submit_load(validators: &[Validator], draws: &mut Draws, genesis: Hash) {
    let running: Vec<&Chain> = validators.iter().filter_map(|v| v.chain.as_ref()).collect();
    if running.is_empty() {
        return;
    }
    for name in SENDERS {
        let pair = &keys(name).signer;
        let who = signer_account(name);
        let chain = running[usize::try_from(draws.below(running.len() as u64)).unwrap_or(0)];
        let nonce = agora_runtime::System::account_nonce(&chain.finalized_view(), &who);
        // The same transfer for the same nonce, so resubmitting it anywhere is harmless.
        let call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: account(NAMES[0]),
            value: Compact(1_000 + u128::from(nonce)),
        });
        let extrinsic = Extrinsic::sign(pair, call, immortal_extra(nonce, 0), &genesis, &genesis);
        // Already pooled or already included: fine, it is sent again until finalized.
        let _ = chain.submit(&extrinsic.encode());
    }
}
