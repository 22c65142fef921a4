// The JavaScript session of docs/polkadot-js.md, run as written by scripts/check-polkadot-js.sh
// (with the node's URL from AGORA_RPC_URL): read constants, balances and the market, price a
// transfer, send it and print its events once finalized.
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';

const url = process.env.AGORA_RPC_URL ?? 'ws://127.0.0.1:9944';
const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
const alice = keyring.addFromUri('//Alice');
const bob = keyring.addFromUri('//Bob');

// Constants and balances: amounts are plancks (1 AGR = 10^12).
console.log('existential deposit', api.consts.balances.existentialDeposit.toHuman());
const { nonce, data } = await api.query.system.account(alice.address);
console.log('alice', nonce.toNumber(), data.free.toHuman());

// The market, read straight from the state.
const openOffers = (await api.query.market.openOffers()).unwrapOr([]);
for (const id of openOffers) {
  const offer = (await api.query.market.offers(id)).unwrap();
  console.log('offer', id.toNumber(), offer.price.toHuman(), offer.region.toUtf8(), offer.energy.toString());
}
const clearings = (await api.query.market.clearings()).unwrapOr([]);
console.log('clearings', clearings.length);

// A transfer, priced first, then signed, sent and followed to finality.
const tx = api.tx.balances.transferKeepAlive(bob.address, 1_500_000_000_000n); // 1.5 AGR
await tx.signAsync(alice);
const { partialFee } = await api.rpc.payment.queryInfo(tx.toHex());
console.log(`fee ${partialFee.toHuman()}`);
await new Promise((resolve, reject) => tx.send(({ status, events, dispatchError }) => {
  if (dispatchError) reject(new Error(dispatchError.toString()));
  if (status.isFinalized) {
    for (const { event } of events) console.log(`${event.section}.${event.method}`, JSON.stringify(event.data.toHuman()));
    resolve();
  }
}));
await api.disconnect();
