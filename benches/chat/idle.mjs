// Idle connections: opens --n WebSocket connections (--connect-concurrency at a time), holds
// them --hold seconds, samples the RSS of the local cloud's process tree (--pid) before, while
// holding and after closing, then closes them all. One JSON line on stdout (and --out).
// Runs next to the peers' client (imports its proctree.mjs); bounded by --deadline seconds.
import { performance } from 'node:perf_hooks'
import fs from 'node:fs'
import WebSocket from 'ws'
import { snapshot } from './proctree.mjs'
import { summary } from './stats.mjs'

const argv = process.argv.slice(2)
const opt = (name, def) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : def }
const URL_ = opt('url', '')
const N = +opt('n', 10000)
const C = +opt('connect-concurrency', 8)
const HOLD_S = +opt('hold', 10)
const PID = +opt('pid', 0)
const DEADLINE_S = +opt('deadline', 300)
const LABEL = opt('label', '')
const OUT = opt('out', '')
const now = () => performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const T0 = now()
const mib = (b) => Math.round((b / 2 ** 20) * 10) / 10
// The whole tree (gateway + Python workers), and the gateway process alone (VmRSS).
const tree = () => {
  if (!PID) return { rss: 0, count: 0, own: 0 }
  const s = snapshot(PID)
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${PID}/status`, 'utf8'))
  return { ...s, own: m ? +m[1] * 1024 : 0 }
}

const before = tree()
let peakRss = before.rss
const sampler = setInterval(() => { peakRss = Math.max(peakRss, tree().rss) }, 250)
const hard = setTimeout(() => { console.error('deadline'); process.exit(3) }, DEADLINE_S * 1000)

const clients = []
const connectMs = []
let failures = 0; let droppedWhileHolding = 0; let holding = false
await new Promise((resolve) => {
  let next = 0; let pending = N
  const settle = () => { if (--pending === 0) resolve(); else if (next < N) openOne(next++) }
  const openOne = () => {
    const t = now()
    const ws = new WebSocket(URL_, { perMessageDeflate: false, handshakeTimeout: 60000 })
    let settled = false
    ws.on('open', () => { connectMs.push(now() - t); clients.push(ws); settled = true; settle() })
    ws.on('error', () => { if (!settled) { settled = true; failures++; settle() } })
    ws.on('close', () => { if (!settled) { settled = true; failures++; settle() } else if (holding) droppedWhileHolding++ })
  }
  while (next < Math.min(C, N)) openOne(next++)
})
const connectAllMs = now() - T0
holding = true
await sleep(2000) // let in-flight register invocations' workers settle
const held = tree()
await sleep(Math.max(0, HOLD_S * 1000 - 2000))
const heldEnd = tree()
holding = false
const tc = now()
await Promise.race([
  Promise.all(clients.map((ws) => new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve()
    ws.once('close', resolve); ws.close()
  }))),
  sleep(60000),
])
const closeMs = now() - tc
clearInterval(sampler); clearTimeout(hard)
const res = {
  label: LABEL, url: URL_, n: N, connect_concurrency: C, opened: clients.length, failures,
  dropped_while_holding: droppedWhileHolding,
  connect_all_ms: Math.round(connectAllMs), connect_ms: summary(connectMs),
  tree_before: { procs: before.count, rss_mib: mib(before.rss), gateway_rss_mib: mib(before.own) },
  tree_holding: { procs: held.count, rss_mib: mib(held.rss), gateway_rss_mib: mib(held.own) },
  tree_holding_end: { procs: heldEnd.count, rss_mib: mib(heldEnd.rss), gateway_rss_mib: mib(heldEnd.own) },
  peak_rss_mib: mib(peakRss),
  // growth of the local cloud's own process (not its Python workers) per held connection
  gateway_rss_per_connection_kib: clients.length ? Math.round(((heldEnd.own - before.own) / clients.length / 1024) * 10) / 10 : null,
  close_all_ms: Math.round(closeMs),
  hold_s: HOLD_S,
}
const line = JSON.stringify(res)
console.log(line)
if (OUT) fs.appendFileSync(OUT, line + '\n')
process.exit(0)
