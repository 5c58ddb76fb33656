'use strict';

// pymemcache: the Node.js binding (koffi) of libpymemcache, the C-ABI
// memcached client of pymemcache-rs (include/pymemcache.h). Types:
// index.d.ts. The library is found through PYMEMCACHE_LIB, then pkg-config,
// then the system loader (lib/load.js).

const { C, libraryPath } = require('./lib/ffi');
// makeError and unexpected are the binding's own helpers.
const { makeError, unexpected, ...errors } = require('./lib/errors');
const { Client, KEY_FORMS, Lease } = require('./lib/client');
const { Batch } = require('./lib/batch');

module.exports = {
  Client,
  Batch,
  Lease,
  KEY_FORMS,
  /** The version of the loaded C library, e.g. "0.1.0". */
  libraryVersion: () => C.library_version(),
  /** The path or name the C library was loaded from. */
  libraryPath,
  ...errors,
};
