// Compatibility of an unmodified @polkadot/api with an Agora node (scripts/check-polkadot-js.sh).
//
// Given only the node's URL, the api must start from the node's metadata, read constants and
// balances, compute block hashes the node agrees with, sign and send a balances transfer and
// market calls with @polkadot/keyring's dev keys, see them finalized and decode their events.
// Each step prints `check: polkadot.js: <what> ... ok` or throws naming what differed.
//
//   AGORA_RPC_PORT=9944 node testing/polkadot-js/compat.mjs
//
// Writes the posted offer's provider address to $AGORA_OFFER_OUT (if set), so the shell script
// can look for it with `agora offer list`. With $AGORA_PREPARED (the JSON of `agora job
// prepare`), also places that bid from JavaScript and writes its id to $AGORA_BID_OUT.

import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const port = process.env.AGORA_RPC_PORT ?? '9944';
const AGR = 10n ** 12n;

function check(what, ok, detail) {
  if (!ok) {
    throw new Error(`check: polkadot.js: ${what} ... FAILED: ${detail}`);
  }
  console.log(`check: polkadot.js: ${what} ... ok`);
}

function eq(what, actual, expected) {
  check(what, String(actual) === String(expected), `got ${actual}, expected ${expected}`);
}

/**
 * Sends `tx` signed by `pair` (or already signed, if `pair` is null), resolves with the
 * finalized block hash and the tx's events.
 */
function sendAndFinalize(api, tx, pair, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not finalized within 60 s`)), 60_000);
    let unsub = () => {};
    const watch = (result) => {
      if (result.isError || result.internalError) {
        clearTimeout(timer);
        unsub();
        reject(new Error(`${what}: ${result.status.type} ${result.internalError ?? ''}`));
      } else if (result.status.isFinalized) {
        clearTimeout(timer);
        unsub();
        resolve({ block: result.status.asFinalized.toHex(), events: result.events, result });
      }
    };
    (pair ? tx.signAndSend(pair, watch) : tx.send(watch))
      .then((u) => { unsub = u; }, (e) => { clearTimeout(timer); reject(e); });
  });
}

function eventNames(events) {
  return events.map(({ event }) => `${event.section}.${event.method}`);
}

async function main() {
  await cryptoWaitReady();
  const provider = new WsProvider(`ws://127.0.0.1:${port}`);
  const api = await ApiPromise.create({ provider, noInitWarn: true, throwOnConnect: true });
  const raw = (method, params = []) => provider.send(method, params);
  // agora_balance writes plancks as exact JSON integers, beyond what JSON.parse keeps (2^53):
  // read its answer as text and take the digits.
  const balanceOf = async (address, at) => {
    const response = await fetch(`http://127.0.0.1:${port}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'agora_balance', params: [address, at] }),
    });
    const text = await response.text();
    const field = (name) => BigInt(text.match(new RegExp(`"${name}":(\\d+)`))[1]);
    return { free: field('free'), nonce: Number(field('nonce')) };
  };

  // Start-up: the api knows the chain from the node alone.
  eq('genesis hash is block 0', api.genesisHash.toHex(), await raw('chain_getBlockHash', [0]));
  eq('runtime name', api.runtimeVersion.specName.toString(), 'agora');
  eq('spec version', api.runtimeVersion.specVersion.toNumber(), 21);
  eq('SS58 prefix', api.registry.chainSS58, 42);
  eq('token', `${api.registry.chainTokens[0]}/${api.registry.chainDecimals[0]}`, 'AGR/12');
  eq('existential deposit constant (0.001 AGR)', api.consts.balances.existentialDeposit.toBigInt(), AGR / 1000n);
  eq('block hash count constant', api.consts.system.blockHashCount.toNumber(), 256);
  eq('market newcomer share constant', api.consts.market.newcomerSharePercent.toNumber(), 20);

  // Block hashes: the api hashes headers itself (mortal eras sign one).
  const header = await api.rpc.chain.getHeader();
  eq('header hash computed by the api equals the node\'s', header.hash.toHex(),
    (await api.rpc.chain.getBlockHash(header.number.toNumber())).toHex());

  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  const alice = keyring.addFromUri('//Alice');
  const bob = keyring.addFromUri('//Bob');
  const dave = keyring.addFromUri('//Dave');

  // Balances: System.Account (nonce and balances) matches the node's own answer.
  // Both read at one block: //Alice authors every block and is paid its fees.
  const at = (await api.rpc.chain.getHeader()).hash.toHex();
  const atBlock = await api.at(at);
  const aliceAccount = await atBlock.query.system.account(alice.address);
  const aliceBalance = await balanceOf(alice.address, at);
  eq('system.account(//Alice).data.free equals agora_balance', aliceAccount.data.free.toBigInt(), aliceBalance.free);
  eq('system.account(//Alice).nonce equals agora_balance', aliceAccount.nonce.toNumber(), aliceBalance.nonce);
  const native = await atBlock.query.balances.account(alice.address);
  eq('balances.account(//Alice) reads the state itself', native.unwrapOr(null)?.free.toBigInt(), aliceBalance.free);
  eq('balances.totalIssuance reads the state', (await api.query.balances.totalIssuance()).unwrapOr(0).toString() !== '0', true);

  // A transfer, signed and sent the way every polkadot.js user does it.
  const amount = 1_234_567_890_123n;
  const bobBefore = (await api.query.system.account(bob.address)).data.free.toBigInt();
  const transfer = api.tx.balances.transferKeepAlive(bob.address, amount);
  const sent = await sendAndFinalize(api, transfer, alice, 'transferKeepAlive');
  const names = eventNames(sent.events);
  check('transferKeepAlive is finalized with Balances.Transfer and System.ExtrinsicSuccess',
    names.includes('balances.Transfer') && names.includes('system.ExtrinsicSuccess'), names.join(', '));
  const moved = sent.events.find(({ event }) => event.section === 'balances' && event.method === 'Transfer');
  eq('the Transfer event names the amount', moved.event.data.amount?.toBigInt?.() ?? moved.event.data[2].toBigInt(), amount);
  const bobAt = (await (await api.at(sent.block)).query.system.account(bob.address)).data.free.toBigInt();
  eq('//Bob received exactly the amount', bobAt - bobBefore, amount);
  const txHash = transfer.hash.toHex();
  const block = await api.rpc.chain.getBlock(sent.block);
  check('the finalized block holds the extrinsic by the api\'s own hash',
    block.block.extrinsics.some((xt) => xt.hash.toHex() === txHash), txHash);

  // A market offer: stake first (offers commit stake), then post; both as polkadot.js calls.
  // Signed first, so payment_queryInfo can price the exact bytes that are sent.
  const bond = api.tx.staking.bond(20n * AGR);
  await bond.signAsync(dave);
  const info = await api.rpc.payment.queryInfo(bond.toHex());
  const daveBefore = (await api.query.system.account(dave.address)).data.free.toBigInt();
  const bonded = await sendAndFinalize(api, bond, null, 'staking.bond');
  check('staking.bond is finalized', eventNames(bonded.events).includes('staking.Bonded'), eventNames(bonded.events).join(', '));
  const daveAfter = (await (await api.at(bonded.block)).query.system.account(dave.address)).data.free.toBigInt();
  eq('payment_queryInfo\'s partialFee is the fee //Dave paid', daveBefore - daveAfter - 20n * AGR, info.partialFee.toBigInt());
  const now = (await api.rpc.chain.getHeader()).number.toNumber();
  const offer = api.tx.market.postOffer(
    1_000_000_000n, // 0.001 AGR per Mfuel
    5_000_000_000n, // 5,000 Mfuel (10^6 fuel each)
    'eu-west',
    'Renewable',
    AGR,
    now + 5_000,
  );
  const posted = await sendAndFinalize(api, offer, dave, 'market.postOffer');
  const postedEvent = posted.events.find(({ event }) => event.section === 'market' && event.method === 'OfferPosted');
  check('market.postOffer is finalized with Market.OfferPosted', !!postedEvent, eventNames(posted.events).join(', '));
  const offerId = postedEvent.event.data[0].toString();
  const stored = (await api.query.market.offers(offerId)).unwrap();
  eq('market.offers(id) reads the offer back', `${stored.provider.toString()} ${stored.region.toUtf8?.() ?? stored.region.toHuman()}`, `${dave.address} eu-west`);
  if (process.env.AGORA_OFFER_OUT) {
    writeFileSync(process.env.AGORA_OFFER_OUT, JSON.stringify({ id: offerId, provider: dave.address }));
  }

  // A buyer's bid: `agora job prepare` registered and uploaded the blobs and wrote the spec
  // and terms ($AGORA_PREPARED); the bid itself is placed from JavaScript, as is.
  if (process.env.AGORA_PREPARED) {
    const prepared = JSON.parse(readFileSync(process.env.AGORA_PREPARED, 'utf8'));
    const ferdie = keyring.addFromUri('//Ferdie');
    const placed = await sendAndFinalize(api, api.tx.market.placeBid(prepared.spec, prepared.terms), ferdie, 'market.placeBid');
    const bidEvent = placed.events.find(({ event }) => event.section === 'market' && event.method === 'BidPlaced');
    check('market.placeBid is finalized with Market.BidPlaced', !!bidEvent, eventNames(placed.events).join(', '));
    const bidId = bidEvent.event.data[0].toString();
    // Dave's offer above asks less than the bid pays: the block's clearing may already have
    // made the bid a job (same id), or it waits in the book.
    const at = placed.block;
    const open = await (await api.at(at)).query.market.bids(bidId);
    const job = await (await api.at(at)).query.jobs.jobs(bidId);
    check('the bid is in market.bids or, matched, in jobs.jobs', open.isSome || job.isSome, `bid ${bidId}`);
    const [buyer, terms, spec] = open.isSome
      ? [open.unwrap().buyer, open.unwrap().terms, (await (await api.at(at)).query.market.bidSpecs(bidId)).unwrap()]
      : [job.unwrap().buyer, job.unwrap().terms, job.unwrap().spec];
    eq('it is //Ferdie\'s, with the prepared price and module', `${buyer.toString()} ${terms.maxPrice.toString()} ${spec.module.toHex()}`,
      `${ferdie.address} ${prepared.terms.max_price} ${prepared.spec.module}`);
    if (process.env.AGORA_BID_OUT) {
      writeFileSync(process.env.AGORA_BID_OUT, JSON.stringify({ id: bidId, buyer: ferdie.address }));
    }
  }

  // A bad signature is refused by the node with a clear error, and nothing is half-done.
  const forged = api.tx.balances.transferKeepAlive(bob.address, 1n);
  await forged.signAsync(alice, { nonce: -1 });
  // Layout: Compact(len) ‖ 0x84 ‖ signer(32) ‖ signature type(1) ‖ signature(64) ‖ …
  const tampered = Buffer.from(forged.toU8a());
  const signerAt = tampered.indexOf(Buffer.from(alice.publicKey));
  tampered[signerAt + 32 + 1 + 10] ^= 1;
  try {
    await raw('author_submitExtrinsic', [`0x${tampered.toString('hex')}`]);
    check('a tampered signature is refused', false, 'the node accepted it');
  } catch (e) {
    check('a tampered signature is refused', /signature/.test(e.message), e.message);
  }

  await api.disconnect();
}

main().then(() => process.exit(0), (e) => {
  console.error(e.message ?? e);
  process.exit(1);
});
