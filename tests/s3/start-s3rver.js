// SPDX-License-Identifier: MIT
// start-s3rver.js: runs the S3 test server on loopback for the e2e tests.
//
// usage: node --openssl-legacy-provider start-s3rver.js PORT DIR BUCKET...
//        [--https KEY CERT] [--pidfile FILE] [--vhost-unsigned] [--parent PID]
// --vhost-unsigned accepts any signature: s3rver computes SigV4 of
// virtual-host requests with the bucket in the path (a bug of its own), so
// that style can only be tested for routing, not for signatures.
// Prints "ready PORT" on stdout once it answers; stops on SIGTERM/SIGINT,
// when process PID is gone (the test shell, even if killed outright), and
// after an hour whatever happens.
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const S3rver = require('@20minutes/s3rver')

function usage () {
  process.stderr.write('usage: start-s3rver.js PORT DIR BUCKET... [--https KEY CERT] [--pidfile FILE] [--vhost-unsigned] [--parent PID]\n')
  process.exit(2)
}

const args = process.argv.slice(2)
const opts = { buckets: [] }
while (args.length) {
  const a = args.shift()
  if (a === '--https') {
    opts.key = args.shift()
    opts.cert = args.shift()
    if (!opts.cert) usage()
  } else if (a === '--parent') {
    opts.parent = Number(args.shift())
    if (!(opts.parent > 0)) usage()
  } else if (a === '--vhost-unsigned') {
    opts.vhostUnsigned = true
  } else if (a === '--pidfile') {
    opts.pidfile = args.shift()
    if (!opts.pidfile) usage()
  } else if (opts.port === undefined) {
    opts.port = Number(a)
  } else if (opts.dir === undefined) {
    opts.dir = a
  } else {
    opts.buckets.push(a)
  }
}
if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535 || !opts.dir) usage()

fs.mkdirSync(opts.dir, { recursive: true })
const server = new S3rver({
  address: '127.0.0.1',
  port: opts.port,
  directory: path.resolve(opts.dir),
  silent: true,
  // path-style and virtual-host requests alike; vhost names end in .localhost
  serviceEndpoint: 'localhost',
  vhostBuckets: true,
  allowMismatchedSignatures: !!opts.vhostUnsigned,
  configureBuckets: opts.buckets.map((name) => ({ name })),
  key: opts.key ? fs.readFileSync(opts.key) : undefined,
  cert: opts.cert ? fs.readFileSync(opts.cert) : undefined
})

function stop () {
  server.close().finally(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
setTimeout(stop, 3600 * 1000).unref()
if (opts.parent) {
  setInterval(() => {
    try {
      process.kill(opts.parent, 0)
    } catch {
      stop()
    }
  }, 1000).unref()
}

server.run().then((addr) => {
  if (opts.pidfile) fs.writeFileSync(opts.pidfile, `${process.pid}\n`)
  process.stdout.write(`ready ${addr.port}\n`)
}, (err) => {
  process.stderr.write(`start-s3rver: ${err.message}\n`)
  process.exit(1)
})
