// Browser tests of the node's dashboard (served at / of the RPC port), in headless Debian
// chromium driven by puppeteer-core. Run by scripts/check-dashboard.sh against a dev chain that
// has settled a job:
//
//   AGORA_RPC_PORT=9944 AGORA_JOB=0 AGORA_ACCOUNT=<ss58> node dashboard.mjs [--screenshots DIR]
//
// Every page must load with no console error, failed request or uncaught exception, and show
// the figures the node's RPC answers; the chain page must update when a new block arrives; no
// page may scroll sideways on a phone-sized screen. Prints one `check: … ok` line per check.
import assert from 'node:assert/strict';
import puppeteer from 'puppeteer-core';

const port = Number(process.env.AGORA_RPC_PORT);
const job = Number(process.env.AGORA_JOB);
const account = process.env.AGORA_ACCOUNT;
const shotsAt = process.argv.indexOf('--screenshots');
const shots = shotsAt > 0 ? process.argv[shotsAt + 1] : null;
assert.ok(port > 0 && Number.isInteger(job) && account, 'set AGORA_RPC_PORT, AGORA_JOB and AGORA_ACCOUNT');
const base = `http://127.0.0.1:${port}`;

const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844, isMobile: true, hasTouch: true };

let nextId = 1;
async function rpcText(method, params = []) {
  const response = await fetch(base, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
  });
  return response.text();
}
async function rpc(method, params = []) {
  const body = JSON.parse(await rpcText(method, params));
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}
/** The u128 `field` of a JSON answer, exactly (JSON.parse would round it to a double). */
function exact(text, field) {
  const match = new RegExp(`"${field}":(\\d+)`).exec(text);
  assert.ok(match, `no ${field} in ${text}`);
  return BigInt(match[1]);
}

/** Plancks (12 decimals) as the exact decimal AGR string the views use. */
function agr(plancks) {
  const p = plancks;
  const whole = p / 1_000_000_000_000n;
  const frac = (p % 1_000_000_000_000n).toString().padStart(12, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}

function check(name) {
  console.log(`check: dashboard: ${name} ... ok`);
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

/** Opens `hash` at `viewport`, failing on any console error, page error or failed request. */
async function open(hash, viewport, page) {
  const tab = await browser.newPage();
  const problems = [];
  tab.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  tab.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  tab.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  await tab.setViewport(viewport);
  await tab.goto(`${base}/${hash}`, { waitUntil: 'load' });
  await tab.waitForSelector(`main[data-page="${page}"]`, { timeout: 20_000 });
  return { tab, problems };
}

async function text(tab, testid) {
  return tab.$eval(`[data-testid="${testid}"]`, (el) => el.textContent.trim());
}

async function noSidewaysScroll(tab, what) {
  const [scroll, width] = await tab.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width + 1, `${what}: the page is ${scroll} px wide on a ${width} px screen`);
}

async function done(tab, problems, what, shot) {
  if (shots && shot) await tab.screenshot({ path: `${shots}/${shot}.png` });
  assert.deepEqual(problems, [], `${what}: problems in the browser`);
  await tab.close();
}

try {
  // --- chain: heights, validators, and a live update when a block arrives.
  {
    const before = await rpc('agora_chain');
    const { tab, problems } = await open('#/', DESKTOP, 'chain');
    // Read the page before asking the node again: the page updates live, so a block that
    // arrives between the two reads must land inside the window, not past it.
    const best = Number((await text(tab, 'best')).replace('#', ''));
    const after = await rpc('agora_chain');
    assert.ok(best >= before.best && best <= after.best, `best #${best} outside #${before.best}..#${after.best}`);
    assert.equal(await text(tab, 'validators'), String(after.validators.length));
    const rows = await tab.$$eval('main table tbody tr', (r) => r.length);
    assert.ok(rows >= Math.min(after.blocks.length, 2), 'the recent blocks are listed');
    check('chain page shows the heights and the committee the RPC reports');
    await tab.waitForFunction(
      (shown) => Number(document.querySelector('[data-testid="best"]').textContent.replace('#', '')) > shown,
      { timeout: 30_000 }, best);
    check('chain page updates when a new block arrives');
    await done(tab, problems, 'chain', 'dashboard-chain-desktop');
  }

  // --- market: the order book and clearings agora_market holds.
  {
    const { tab, problems } = await open('#/market', DESKTOP, 'market');
    const market = await rpc('agora_market');
    assert.equal(await text(tab, 'open-offers'), String(market.offers.length));
    assert.equal(await text(tab, 'open-bids'), String(market.bids.length));
    if (market.clearings.length) {
      assert.equal(await text(tab, 'clearing-price'), `${market.clearings[0].price} AGR/Mfuel`);
    }
    const shownShare = await text(tab, 'renewable-share');
    const share = market.renewable_share_percent;
    assert.equal(shownShare, share === null ? '–' : `${share.toFixed(1)} %`);
    check('market page shows the offers, bids, clearing price and renewable share');
    await done(tab, problems, 'market', 'dashboard-market-desktop');
  }

  // --- jobs and the settled job's receipt.
  {
    const { tab, problems } = await open('#/jobs', DESKTOP, 'jobs');
    const jobs = await rpc('agora_jobs');
    const rows = await tab.$$eval('main table tbody tr', (r) => r.length);
    assert.equal(rows, jobs.length);
    assert.ok(await tab.$(`a[href="#/job/${job}"]`), `job #${job} is listed`);
    check('jobs page lists every job the chain holds');
    await done(tab, problems, 'jobs', null);
  }
  {
    const { tab, problems } = await open(`#/job/${job}`, DESKTOP, 'job');
    const report = await rpc('agora_job', [job]);
    assert.equal(report.stage, 'settled', `job #${job} has settled`);
    const receipt = await text(tab, 'receipt');
    for (const figure of [report.receipt.paid, report.receipt.refund, report.receipt.price]) {
      assert.ok(receipt.includes(figure), `the receipt shows ${figure}: ${receipt}`);
    }
    check('job page shows the receipt the chain holds');
    await done(tab, problems, 'job', 'dashboard-job-desktop');
  }

  // --- an account: balances cross-checked against agora_balance (plancks).
  {
    const { tab, problems } = await open(`#/account/${account}`, DESKTOP, 'account');
    const raw = await rpcText('agora_balance', [account]);
    assert.equal(await text(tab, 'free'), `${agr(exact(raw, 'free'))} AGR`);
    assert.equal(await text(tab, 'reserved'), `${agr(exact(raw, 'reserved'))} AGR`);
    assert.equal(await text(tab, 'nonce'), String(JSON.parse(raw).result.nonce));
    check('account page shows the balances agora_balance reports');
    await done(tab, problems, 'account', null);
  }

  // --- every page on a phone-sized screen: no console error, no sideways scrolling.
  for (const [hash, page] of [['#/', 'chain'], ['#/market', 'market'], ['#/jobs', 'jobs'], [`#/job/${job}`, 'job'], [`#/account/${account}`, 'account']]) {
    const { tab, problems } = await open(hash, PHONE, page);
    await noSidewaysScroll(tab, page);
    await done(tab, problems, `${page} (phone)`, ['chain', 'market', 'job'].includes(page) ? `dashboard-${page}-phone` : null);
  }
  check('every page fits a phone-sized screen');
} finally {
  await browser.close();
}
