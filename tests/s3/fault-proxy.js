// SPDX-License-Identifier: MIT
// fault-proxy.js: an HTTP proxy for the e2e tests that breaks some requests.
//
// usage: node fault-proxy.js LISTEN_PORT UPSTREAM_PORT [options]
//   --seed N          seed of the choices (default 1): same seed, same choices
//   --rate R          fraction of requests that get a fault (default 0.2)
//   --faults LIST     comma list of: drop 500 503 stall truncate corrupt lost
//                     (default drop,500,503,stall,truncate,lost)
//   --max-faults N    faults in all, then it passes everything (default 40)
//   --methods LIST    only requests of these methods get faults (default all)
//   --skip N          pass the first N of those untouched (default 0)
//   --stall-ms MS     how long a stalled request hangs (default 8000)
//   --lifetime S      exit after S seconds whatever happens (default 900)
//   --parent PID      exit when process PID is gone
//   --object-lock     emulate S3 Object Lock retention (s3rver has none):
//                     logs "lock PATH MODE UNTIL" and "refused DELETE PATH"
//   --log FILE        one line per fault
//   --log-all         and one line per request that passes ("pass ...")
//
// Faults: drop closes the connection before forwarding; 500 and 503 answer
// with S3's InternalError and SlowDown; stall holds the request without an
// answer; truncate forwards and cuts the answer's body in half; corrupt
// flips one byte of an object's body; lost forwards the request, then closes the
// connection instead of answering (the server did the work, the client
// cannot know). Only loopback is listened on and connected to.
'use strict'

const fs = require('node:fs')
const http = require('node:http')

function usage () {
  process.stderr.write('usage: fault-proxy.js LISTEN_PORT UPSTREAM_PORT [--seed N] [--rate R] [--faults LIST] [--max-faults N] [--methods LIST] [--skip N] [--stall-ms MS] [--lifetime S] [--object-lock] [--log FILE] [--log-all] [--parent PID]\n')
  process.exit(2)
}

const args = process.argv.slice(2)
const opt = {
  seed: 1,
  rate: 0.2,
  faults: ['drop', '500', '503', 'stall', 'truncate', 'lost'],
  maxFaults: 40,
  skip: 0,
  methods: null,
  stallMs: 8000,
  lifetime: 900,
  objectLock: false,
  logAll: false,
  parent: 0,
  log: null
}
const pos = []
while (args.length) {
  const a = args.shift()
  switch (a) {
    case '--seed': opt.seed = Number(args.shift()); break
    case '--rate': opt.rate = Number(args.shift()); break
    case '--faults': opt.faults = String(args.shift()).split(',').filter(Boolean); break
    case '--max-faults': opt.maxFaults = Number(args.shift()); break
    case '--skip': opt.skip = Number(args.shift()); break
    case '--methods': opt.methods = String(args.shift()).toUpperCase().split(','); break
    case '--stall-ms': opt.stallMs = Number(args.shift()); break
    case '--lifetime': opt.lifetime = Number(args.shift()); break
    case '--object-lock': opt.objectLock = true; break
    case '--log-all': opt.logAll = true; break
    case '--parent': opt.parent = Number(args.shift()); break
    case '--log': opt.log = args.shift(); break
    default:
      if (a.startsWith('--')) usage()
      pos.push(a)
  }
}
const listenPort = Number(pos[0])
const upstreamPort = Number(pos[1])
if (pos.length !== 2 || !(listenPort > 0) || !(upstreamPort > 0) ||
    !(opt.rate >= 0 && opt.rate <= 1) || !Number.isInteger(opt.seed)) usage()
const known = new Set(['drop', '500', '503', 'stall', 'truncate', 'corrupt', 'lost'])
for (const f of opt.faults) if (!known.has(f)) usage()

// mulberry32: small, seedable, good enough to pick faults
let state = opt.seed >>> 0
function random () {
  state = (state + 0x6d2b79f5) >>> 0
  let t = state
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

let requests = 0
let eligible = 0
let faults = 0
const locks = new Map() // path -> { mode, until }
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })

function log (line) {
  if (opt.log) fs.appendFileSync(opt.log, `${line}\n`)
}

function s3error (res, status, code, message) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}

function choose (req) {
  requests++
  if (opt.methods && !opt.methods.includes(req.method)) return null
  eligible++
  if (eligible <= opt.skip || faults >= opt.maxFaults || !opt.faults.length) return null
  if (random() >= opt.rate) return null
  let kinds = opt.faults
  // a body to cut or flip needs an answer with one
  if (req.method !== 'GET') kinds = kinds.filter((k) => k !== 'truncate' && k !== 'corrupt')
  // a flipped byte inside TCP stands for a stored object gone bad: only
  // object bodies, not listings, which carry no checksum to catch it
  if (req.url.includes('?')) kinds = kinds.filter((k) => k !== 'corrupt')
  if (!kinds.length) return null
  faults++
  return kinds[Math.floor(random() * kinds.length)]
}

function lockPath (req) {
  return decodeURIComponent(req.url.split('?')[0])
}

// Object Lock as S3 does it: retention set by PUT (or a copy), shown by
// HEAD and GET, and a delete of a retained object refused.
function lockBefore (req, res) {
  const path = lockPath(req)
  const query = req.url.includes('?') ? req.url.split('?')[1] : ''
  if (req.method === 'DELETE' && !query) {
    const l = locks.get(path)
    if (l && Date.parse(l.until) > Date.now()) {
      log(`refused DELETE ${path}`)
      s3error(res, 403, 'AccessDenied', 'Access Denied because object protected by object lock.')
      return true
    }
    locks.delete(path)
  }
  return false
}

function lockAfter (req, status, headers) {
  const path = lockPath(req)
  const query = req.url.includes('?') ? req.url.split('?')[1] : ''
  if (req.method === 'PUT' && !query && status === 200 && req.headers['x-amz-object-lock-retain-until-date']) {
    locks.set(path, {
      mode: req.headers['x-amz-object-lock-mode'] || 'GOVERNANCE',
      until: req.headers['x-amz-object-lock-retain-until-date']
    })
    log(`lock ${path} ${locks.get(path).mode} ${locks.get(path).until}`)
  }
  if ((req.method === 'HEAD' || req.method === 'GET') && locks.has(path)) {
    headers['x-amz-object-lock-mode'] = locks.get(path).mode
    headers['x-amz-object-lock-retain-until-date'] = locks.get(path).until
  }
}

function forward (req, res, fault) {
  const headers = { ...req.headers }
  delete headers.expect
  const up = http.request({
    host: '127.0.0.1',
    port: upstreamPort,
    method: req.method,
    path: req.url,
    headers,
    agent
  }, (ures) => {
    const rh = { ...ures.headers }
    if (opt.objectLock) lockAfter(req, ures.statusCode, rh)
    if (fault === 'lost') {
      ures.resume()
      req.socket.destroy()
      return
    }
    const len = Number(ures.headers['content-length'] || 0)
    if ((fault === 'truncate' || fault === 'corrupt') && len > 1) {
      res.writeHead(ures.statusCode, rh)
      let sent = 0
      const cut = Math.floor(len / 2)
      ures.on('data', (chunk) => {
        if (fault === 'truncate') {
          if (sent + chunk.length >= cut) {
            res.write(chunk.subarray(0, cut - sent))
            ures.destroy()
            req.socket.destroy()
            sent = cut
            return
          }
        } else if (sent <= cut && sent + chunk.length > cut) {
          chunk = Buffer.from(chunk)
          chunk[cut - sent] ^= 0x20
        }
        sent += chunk.length
        res.write(chunk)
      })
      ures.on('end', () => res.end())
      return
    }
    res.writeHead(ures.statusCode, rh)
    ures.pipe(res)
  })
  up.on('error', () => req.socket.destroy())
  req.pipe(up)
}

const server = http.createServer((req, res) => {
  req.on('error', () => {})
  res.on('error', () => {})
  const fault = choose(req)
  if (fault) log(`${fault} ${req.method} ${req.url}`)
  else if (opt.logAll) log(`pass ${req.method} ${req.url}`)
  if (opt.objectLock && lockBefore(req, res)) return
  switch (fault) {
    case 'drop':
      req.socket.destroy()
      return
    case '500':
      req.resume()
      s3error(res, 500, 'InternalError', 'We encountered an internal error. Please try again.')
      return
    case '503':
      req.resume()
      s3error(res, 503, 'SlowDown', 'Please reduce your request rate.')
      return
    case 'stall':
      req.resume()
      setTimeout(() => req.socket.destroy(), opt.stallMs).unref()
      return
    default:
      forward(req, res, fault)
  }
})
server.keepAliveTimeout = 30000
server.on('clientError', (err, socket) => socket.destroy(err))

server.listen(listenPort, '127.0.0.1', () => {
  process.stdout.write(`ready ${listenPort}\n`)
})
setTimeout(() => process.exit(0), opt.lifetime * 1000).unref()
if (opt.parent > 0) {
  setInterval(() => {
    try {
      process.kill(opt.parent, 0)
    } catch {
      process.exit(0)
    }
  }, 1000).unref()
}
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
process.on('exit', () => log(`# ${requests} requests, ${faults} faults`))
