// Agora dashboard: a read-only view of one node, live over its WebSocket.
//
// Figures come from the node's views (agora_chain, agora_market, agora_jobs, agora_job,
// agora_account), the same the `agora` command line prints; new and finalized heads
// (chain_subscribeNewHeads, chain_subscribeFinalizedHeads) trigger a refresh of the page shown.
// Every text from the chain goes into the page as text, never as HTML.
'use strict';

// ---------------------------------------------------------------------------------------------
// DOM helpers

const SVG_NS = 'http://www.w3.org/2000/svg';

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

// ---------------------------------------------------------------------------------------------
// Formatting: AGR amounts and fuel (Mfuel) arrive as exact decimal strings; times in ms.

function agr(text) {
  return text === undefined || text === null ? '–' : `${text} AGR`;
}
function mfuel(text) {
  const m = Number(text);
  return `${m.toLocaleString('en-US', { maximumFractionDigits: m < 10 ? 3 : 1 })} Mfuel`;
}
function seconds(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '–';
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}
function blocks(n) {
  return n === 1 ? '1 block' : `${n} blocks`;
}
function percent(p) {
  return p === undefined || p === null ? '–' : `${p.toFixed(1)} %`;
}
// Verifiers that forfeited their run bonds, on a receipt or on a job that ended without one.
function forfeitures(list) {
  return list.map((x) => `${short(x.verifier)} (${[x.missed.length && `missed ${x.missed.join(', ')}`, x.wrong.length && `wrong ${x.wrong.join(', ')}`].filter(Boolean).join('; ')}): ${agr(x.burned)} burned`).join('; ');
}

function short(text) {
  const s = String(text);
  return s.length > 14 ? `${s.slice(0, 6)}…${s.slice(-6)}` : s;
}
/** An axis figure: short, with no more precision than it needs. */
function compact(v) {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 1) return v.toFixed(1).replace(/\.0$/, '');
  return v.toPrecision(2);
}
/** Milliseconds on an axis: ms below a second, seconds above. */
function duration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${compact(ms / 1000)} s`;
}
function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
function accountLink(address) {
  return h('a', { href: `#/account/${address}`, class: 'mono', title: address }, short(address));
}
function jobLink(id) {
  return h('a', { href: `#/job/${id}` }, `#${id}`);
}
function pill(text, kind) {
  return h('span', { class: `pill ${kind || text}` }, text);
}

function card(label, value, unit, testid) {
  return h('div', { class: 'card' },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value', 'data-testid': testid }, value, unit ? [' ', h('span', { class: 'unit' }, unit)] : null));
}

function table(headers, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty || 'None.');
  const head = h('tr', {}, headers.map(([label, cls]) => h('th', { class: cls }, label)));
  const body = rows.map((cells) => h('tr', {}, cells.map((cell, i) => h('td', { class: headers[i][1] }, cell))));
  return h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, head), h('tbody', {}, body)));
}

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// ---------------------------------------------------------------------------------------------
// Charts: small SVGs drawn from the data, no library.

function chart(title, points, { unit, kind, format, testid }) {
  const box = h('div', { class: 'chart', 'data-testid': testid }, h('h3', {}, title));
  if (!points.length) {
    box.append(h('div', { class: 'empty' }, 'No data yet.'));
    return box;
  }
  const W = 600, H = 150, L = 70, R = 12, B = 22, T = 10;
  const max = Math.max(...points.map((p) => p.y), 0) || 1;
  const x0 = points[0].x, x1 = points[points.length - 1].x;
  const span = x1 - x0;
  // One point (or one block) stands in the middle.
  const sx = (x) => (span > 0 ? L + ((x - x0) / span) * (W - L - R) : (L + W - R) / 2);
  const sy = (y) => T + (1 - y / max) * (H - T - B);
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  for (const f of [0, 0.5, 1]) {
    const y = sy(max * f);
    g.append(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
    g.append(svg('text', { x: L - 4, y: y + 3, 'text-anchor': 'end', class: 'axis' }, format(max * f)));
  }
  g.append(svg('text', { x: L, y: H - 4, class: 'axis' }, `#${x0}`));
  if (span > 0) g.append(svg('text', { x: W - R, y: H - 4, 'text-anchor': 'end', class: 'axis' }, `#${x1}`));
  if (kind === 'line') {
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    g.append(svg('path', { d, fill: 'none', stroke: 'var(--accent)', 'stroke-width': 2 }));
    for (const p of points) g.append(svg('circle', { cx: sx(p.x), cy: sy(p.y), r: 2.5, fill: 'var(--accent)' }, svg('title', {}, `#${p.x}: ${format(p.y)}${unit ? ` ${unit}` : ''}`)));
  } else {
    const w = Math.min(Math.max(((W - L - R) / points.length) * 0.7, 1.5), 24);
    for (const p of points) {
      g.append(svg('rect', { x: sx(p.x) - w / 2, y: sy(p.y), width: w, height: Math.max(H - B - sy(p.y), 0.5), fill: 'var(--accent2)' },
        svg('title', {}, `#${p.x}: ${format(p.y)}${unit ? ` ${unit}` : ''}`)));
    }
  }
  box.append(g);
  return box;
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC over one WebSocket, reconnecting.

class NodeClient {
  constructor(onHead, onStatus) {
    this.onHead = onHead;
    this.onStatus = onStatus;
    this.nextId = 1;
    this.pending = new Map();
    this.connect();
  }

  connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
    this.ws = new WebSocket(url);
    this.ws.onopen = () => {
      this.onStatus('live');
      this.call('chain_subscribeNewHeads', []).catch(() => {});
      this.call('chain_subscribeFinalizedHeads', []).catch(() => {});
      this.onHead();
    };
    this.ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    this.ws.onclose = () => {
      this.onStatus('down');
      for (const { reject } of this.pending.values()) reject(new Error('connection closed'));
      this.pending.clear();
      setTimeout(() => this.connect(), 2000);
    };
  }

  receive(message) {
    if (message.id !== undefined && this.pending.has(message.id)) {
      const { resolve, reject } = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) reject(new Error(`${message.error.message} (${message.error.code})`));
      else resolve(message.result);
    } else if (message.method === 'chain_newHead' || message.method === 'chain_finalizedHead') {
      this.onHead(message.method, message.params && message.params.result);
    }
  }

  call(method, params) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error('not connected'));
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Pages: each reads its view and returns the elements to show.

const pages = {
  async chain(node) {
    const c = await node.call('agora_chain', []);
    const ordered = [...c.blocks].reverse();
    const times = [];
    // Genesis has no proposer and no timestamp of its own: no block time for block 1.
    for (let i = 1; i < ordered.length; i++) {
      if (ordered[i - 1].number === 0) continue;
      times.push({ x: ordered[i].number, y: ordered[i].timestamp - ordered[i - 1].timestamp });
    }
    const latencies = ordered.filter((b) => b.finality_ms !== null && b.finality_ms !== undefined)
      .map((b) => ({ x: b.number, y: b.finality_ms }));
    return [
      h('h1', {}, c.chain),
      h('div', { class: 'cards' },
        card('Best block', `#${c.best}`, null, 'best'),
        card('Finalized', `#${c.finalized}`, null, 'finalized'),
        card('Epoch', c.epoch, null, 'epoch'),
        card('Validators', c.validators.length, null, 'validators'),
        card('Block time', seconds(median(times.map((t) => t.y))), 'median', 'block-time'),
        card('Finality', seconds(median(latencies.map((t) => t.y))), 'median', 'finality'),
        card('Pool', c.pool, 'extrinsics', 'pool')),
      h('div', { class: 'charts' },
        chart('Block time', times, { unit: '', kind: 'bar', format: duration, testid: 'chart-block-time' }),
        chart('Finality latency (seen by this node)', latencies, { unit: '', kind: 'bar', format: duration, testid: 'chart-finality' })),
      h('h2', {}, `Validators of epoch ${c.epoch}`),
      table([['Account'], ['Stake', 'num'], ['Consensus key'], ['Address']],
        c.validators.map((v) => [accountLink(v.account), agr(v.stake), h('span', { class: 'mono', title: v.consensus_key }, short(v.consensus_key)), v.address || '–'])),
      h('h2', {}, 'Recent blocks'),
      table([['Block'], ['Hash'], ['Time'], ['Extrinsics', 'num'], ['Author'], ['Finality', 'num']],
        c.blocks.map((b) => [`#${b.number}`, h('span', { class: 'mono', title: b.hash }, short(b.hash)),
          new Date(b.timestamp).toLocaleTimeString(), b.extrinsics, accountLink(b.author),
          b.finalized ? (b.finality_ms === null || b.finality_ms === undefined ? pill('final', 'settled') : seconds(b.finality_ms)) : pill('pending', 'queued')])),
    ];
  },

  async market(node) {
    const m = await node.call('agora_market', []);
    const history = [...m.clearings].reverse();
    const prices = history.map((c) => ({ x: c.block, y: Number(c.price) }));
    const fuel = history.map((c) => ({ x: c.block, y: Number(c.fuel) }));
    const latest = m.clearings[0];
    return [
      h('h1', {}, `Market at block #${m.block}`),
      h('div', { class: 'cards' },
        card('Clearing price', latest ? latest.price : '–', 'AGR/Mfuel', 'clearing-price'),
        card('Open offers', m.offers.length, null, 'open-offers'),
        card('Open bids', m.bids.length, null, 'open-bids'),
        card('Renewable share', percent(m.renewable_share_percent), null, 'renewable-share'),
        card('Newcomer share', percent(m.newcomer_share_percent), null, 'newcomer-share')),
      h('div', { class: 'charts' },
        chart('Clearing price per block (AGR/Mfuel)', prices, { unit: 'AGR/Mfuel', kind: 'line', format: compact, testid: 'chart-price' }),
        chart('Matched fuel per block (Mfuel)', fuel, { unit: 'Mfuel', kind: 'bar', format: compact, testid: 'chart-fuel' })),
      h('h2', {}, 'Order book'),
      h('div', { class: 'book' },
        h('div', {}, h('h3', {}, 'Asks (offers), cheapest first'),
          table([['Offer'], ['Price', 'num'], ['Free', 'num'], ['Region'], ['Energy'], ['Collateral', 'num'], ['Provider']],
            m.offers.map((o) => [`#${o.id}`, `${o.price}`, `${mfuel(o.free)} of ${mfuel(o.capacity)}`, o.region,
              pill(o.energy), agr(o.collateral), accountLink(o.provider)]), 'No open offers.')),
        h('div', {}, h('h3', {}, 'Bids, highest first'),
          table([['Job'], ['Max price', 'num'], ['Fuel', 'num'], ['Waited', 'num'], ['Region'], ['Energy'], ['Why open', 'wrap']],
            m.bids.map((b) => [jobLink(b.id), `${b.max_price}`, mfuel(b.max_fuel), blocks(b.waited), b.region || 'any',
              b.renewable_only ? pill('renewable') : 'any', b.reason || 'waiting for the next clearing']), 'No open bids.'))),
      h('h2', {}, 'Queue time (blocks from bid to match)'),
      table([['Region'], ['Matches', 'num'], ['p50', 'num'], ['p90', 'num'], ['Max', 'num']],
        m.queue_times.map((q) => [q.region, q.matches, blocks(q.p50), blocks(q.p90), blocks(q.max)]), 'No matches yet.'),
      h('h2', {}, 'Recent clearings'),
      table([['Block'], ['Price', 'num'], ['Newcomer pool', 'num'], ['Bids matched', 'num'], ['Fuel', 'num']],
        m.clearings.slice(0, 20).map((c) => [`#${c.block}`, `${c.price} AGR/Mfuel`, c.newcomer_price ? `${c.newcomer_price} AGR/Mfuel` : '–', c.matched, mfuel(c.fuel)]),
        'No clearings yet.'),
    ];
  },

  async jobs(node) {
    const jobs = await node.call('agora_jobs', []);
    return [h('h1', {}, 'Jobs'), jobsTable(jobs)];
  },

  async job(node, id) {
    const j = await node.call('agora_job', [Number(id)]);
    const out = [h('h1', {}, `Job #${j.job} `, pill(j.stage))];
    out.push(facts([
      j.buyer && ['Buyer', accountLink(j.buyer)],
      j.worker && ['Worker', accountLink(j.worker)],
      j.price && ['Price', `${j.price} AGR/Mfuel`],
      j.escrow && ['Escrow', agr(j.escrow)],
      j.waited !== undefined && ['Queue time', blocks(j.waited)],
      j.unmatched && ['Open because', j.unmatched],
      j.cancel_at && ['Cancels at', `end of block #${j.cancel_at} unless committed first`],
      j.assurance && ['Assurance', `${j.assurance.permille}‰: ${j.assurance.sampled} of ${j.assurance.segments} segments re-executed by ${j.assurance.verifiers_per_segment} verifier(s) each, worker collateral ${agr(j.assurance.collateral)}`],
      j.audit_phase && ['Spot check', j.audit ? `${j.audit_phase}, waiting on the ${j.audit.waiting_on} until block #${j.audit.deadline}` : j.audit_phase],
    ]));
    if (j.audit) {
      out.push(h('h2', {}, 'Checks'));
      out.push(table([['Segment', 'num'], ['Verifier'], ['Result']],
        j.audit.checks.map((c) => [c.segment, accountLink(c.verifier), c.outcome ? pill(c.outcome) : (c.attested ? 'attested' : 'pending')])));
      if (j.audit.dispute) {
        const d = j.audit.dispute;
        out.push(h('h2', {}, 'Dispute'));
        out.push(facts([['Challenger', accountLink(d.challenger)], ['Kind', d.open ? 'open challenge' : 'check mismatch'],
          ['Claim', d.claim], ['Segment', d.segment], ['Round', d.round],
          d.referee_opens != null && ['Referee call opens', `block #${d.referee_opens}`]]));
      }
    }
    if (j.receipt) {
      const r = j.receipt;
      out.push(h('h2', {}, 'Receipt'));
      out.push(h('div', { 'data-testid': 'receipt' }, facts([
        ['Settled', `block #${r.settled_at}`], ['Fuel billed', mfuel(r.fuel)], ['Price', `${r.price} AGR/Mfuel`],
        ['Paid', `${agr(r.paid)} (worker ${agr(r.paid_worker)}, verifiers ${agr(r.paid_verifiers)})`],
        ['Refunded', agr(r.refund)], ['Checks', `${r.checks_passed} passed, ${r.checks_missed} missed`],
        r.refuted.length && ['Refuted', r.refuted.map((x) => `${short(x.verifier)} on segment ${x.segment}: ${agr(x.burned)} burned`).join('; ')],
        (r.machine_dependent || []).length && ['Set aside', r.machine_dependent.map((x) => `${short(x.challenger)} on segment ${x.segment}: the buyer's module is machine-dependent there${x.replayed ? ' (reopened from the job\'s start)' : ''}`).join('; ')],
        (r.dismissed || []).length && ['Dismissed', r.dismissed.map((x) => `${short(x.challenger)} on segment ${x.segment}: undecided (${x.reason.replace(/_/g, ' ')})${(x.repaid || []).map((p) => `, ${agr(p.amount)} repaid to ${short(p.to)} for a referee call`).join('')}`).join('; ')],
        (r.forfeited || []).length && ['Forfeited', forfeitures(r.forfeited)],
      ])));
    } else if (j.status) {
      out.push(h('h2', {}, 'Status on chain'));
      out.push(h('pre', { class: 'mono table-wrap' }, JSON.stringify(j.status, null, 2)));
      if ((j.forfeited || []).length) out.push(facts([['Forfeited', forfeitures(j.forfeited)]]));
    }
    return out;
  },

  async account(node, address) {
    const a = await node.call('agora_account', [address]);
    const roles = [a.validator && 'validator', a.verifier && 'verifier', a.offers.length && 'provider', (a.bids.length || a.jobs.some((j) => j.buyer === a.address)) && 'buyer'].filter(Boolean);
    return [
      h('h1', { class: 'mono' }, a.address),
      h('div', { class: 'cards' },
        card('Free', a.free, 'AGR', 'free'),
        card('Reserved', a.reserved, 'AGR', 'reserved'),
        card('Stake', a.stake_active, 'AGR', 'stake'),
        card('Committed', a.stake_committed, 'AGR', 'committed'),
        card('Unbonding', a.stake_unbonding, 'AGR', 'unbonding'),
        card('Nonce', a.nonce, null, 'nonce'),
        card('Roles', roles.length ? roles.join(', ') : 'none', null, 'roles')),
      h('h2', {}, 'Offers'),
      table([['Offer'], ['Price', 'num'], ['Free', 'num'], ['Region'], ['Energy'], ['Expires']],
        a.offers.map((o) => [`#${o.id}`, `${o.price} AGR/Mfuel`, `${mfuel(o.free)} of ${mfuel(o.capacity)}`, o.region, pill(o.energy), `#${o.expires_at}`]), 'No open offers.'),
      h('h2', {}, 'Bids'),
      table([['Job'], ['Max price', 'num'], ['Fuel', 'num'], ['Escrow', 'num'], ['Why open', 'wrap']],
        a.bids.map((b) => [jobLink(b.id), `${b.max_price} AGR/Mfuel`, mfuel(b.max_fuel), agr(b.escrow), b.reason || 'waiting for the next clearing']), 'No open bids.'),
      h('h2', {}, 'Jobs'),
      jobsTable(a.jobs),
    ];
  },
};

function jobsTable(jobs) {
  return table([['Job'], ['Stage'], ['Buyer'], ['Worker'], ['Price', 'num'], ['Checks', 'num'], ['Dispute']],
    jobs.map((j) => {
      const checks = j.receipt ? `${j.receipt.checks_passed} passed`
        : j.audit ? `${j.audit.checks.filter((c) => c.outcome === 'match').length} of ${j.audit.checks.length}` : '–';
      return [jobLink(j.job), pill(j.stage), j.buyer ? accountLink(j.buyer) : '–', j.worker ? accountLink(j.worker) : '–',
        j.price ? `${j.price} AGR/Mfuel` : (j.unmatched ? 'queued' : '–'), checks,
        j.audit && j.audit.dispute ? pill('disputed', 'mismatch') : '–'];
    }), 'No jobs on chain.');
}

// ---------------------------------------------------------------------------------------------
// Routing and refresh.

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || 'chain';
  return pages[name] ? { name, arg: parts[1] } : { name: 'chain', arg: undefined };
}

let node;
let refreshing = false;
let again = false;

async function refresh() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  const { name, arg } = route();
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.page === name || (name === 'job' && a.dataset.page === 'jobs'));
  }
  const main = document.getElementById('main');
  try {
    const content = await pages[name](node, arg);
    main.replaceChildren(...content);
    main.dataset.page = name;
    main.dataset.loaded = String(Date.now());
  } catch (e) {
    if (node.ws.readyState === WebSocket.OPEN) {
      main.replaceChildren(h('div', { class: 'error', role: 'alert' }, `Could not load this page: ${e.message}`));
    }
  } finally {
    refreshing = false;
    if (again) {
      again = false;
      refresh();
    }
  }
}

function setStatus(state) {
  const el = document.getElementById('status');
  el.className = `status ${state}`;
  el.textContent = state === 'live' ? 'live' : 'reconnecting…';
}

function search(event) {
  event.preventDefault();
  const q = document.getElementById('search-input').value.trim();
  if (!q) return;
  location.hash = /^\d+$/.test(q) ? `#/job/${q}` : `#/account/${encodeURIComponent(q)}`;
}

window.addEventListener('DOMContentLoaded', () => {
  document.getElementById('search').addEventListener('submit', search);
  window.addEventListener('hashchange', refresh);
  node = new NodeClient(refresh, setStatus);
});
