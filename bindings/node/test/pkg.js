'use strict';

// The package under test: PMC_NODE_PACKAGE, a package name installed in the
// project the tests run from (bindings/run-tests.sh installs the packed
// tarball into a temporary project), or else this checkout.
const path = require('node:path');

const id = process.env.PMC_NODE_PACKAGE || path.resolve(__dirname, '..');
const main = require.resolve(id);

module.exports = {
  pmc: require(main),
  /** The path of the package's index.js. */
  main,
  /** The package's directory. */
  dir: path.dirname(main),
};
