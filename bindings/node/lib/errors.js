'use strict';

// Statuses of the C library and the error classes they map to.

const { C } = require('./ffi');

/** pmc_status codes (include/pymemcache.h). */
const Status = Object.freeze({
  OK: 0, MISS: 1, NOT_STORED: 2, EXISTS: 3, NOT_FOUND: 4,
  NULL_ARGUMENT: 10, INVALID_ARGUMENT: 11, ILLEGAL_INPUT: 12, CONFIG_ERROR: 13, TOO_LARGE: 14,
  TIMEOUT: 20, IO_ERROR: 21, UNEXPECTED_CLOSE: 22, POOL_EXHAUSTED: 23, NO_SERVERS: 24,
  TLS_ERROR: 25, AUTH_ERROR: 26,
  UNKNOWN_COMMAND: 30, CLIENT_ERROR: 31, SERVER_ERROR: 32, UNKNOWN_ERROR: 33,
  NOT_TEXT: 40, NOT_INTEGER: 41, UNSUPPORTED_PICKLE: 42, CORRUPT_VALUE: 43, SERDE_CALLBACK: 44,
  PANIC: 90,
});

/** The name of a status, e.g. "PMC_IO_ERROR". */
function statusName(status) {
  return C.status_str(status);
}

// An error status of the library: .status is the pmc_status code,
// .statusName its name (e.g. "PMC_IO_ERROR"); the message is the library's.
class PymemcacheError extends Error {
  constructor(message, status) {
    super(message);
    this.name = this.constructor.name;
    this.status = status;
    this.statusName = statusName(status);
  }
}
class InvalidArgumentError extends PymemcacheError {} // 10, 11
class IllegalInputError extends PymemcacheError {} // 12: nothing was sent
class ConfigError extends PymemcacheError {} // 13
class TooLargeError extends PymemcacheError {} // 14
class ConnectionError extends PymemcacheError {} // 20-24
class TimeoutError extends ConnectionError {} // 20
class TlsError extends ConnectionError {} // 25: handshake, certificates, TLS files
class AuthError extends ConnectionError {} // 26: memcached -Y login refused or missing
class ServerError extends PymemcacheError {} // 30, 32, 33
class ClientError extends PymemcacheError {} // 31: CLIENT_ERROR
class ValueError extends PymemcacheError {} // 40-44: a value of another type, or corrupt
class ClosedError extends Error {
  constructor(op, why = 'client is closed') {
    super(`${op}: ${why}`);
    this.name = 'ClosedError';
  }
}

function errorClass(status) {
  if (status === 10 || status === 11) return InvalidArgumentError;
  if (status === 12) return IllegalInputError;
  if (status === 13) return ConfigError;
  if (status === 14) return TooLargeError;
  if (status === 20) return TimeoutError;
  if (status === 25) return TlsError;
  if (status === 26) return AuthError;
  if (status >= 21 && status <= 24) return ConnectionError;
  if (status === 31) return ClientError;
  if (status >= 30 && status <= 33) return ServerError;
  if (status >= 40 && status <= 44) return ValueError;
  return PymemcacheError;
}

/** The error for `op` failing with `status` and the library's `message`. */
function makeError(op, status, message) {
  const Cls = errorClass(status);
  return new Cls(`${op}: ${message || statusName(status)}`, status);
}

/** A status the binding does not expect from `op` (a bug, if ever seen). */
function unexpected(op, status) {
  return new PymemcacheError(`${op}: unexpected outcome ${statusName(status)}`, status);
}

module.exports = {
  Status,
  statusName,
  makeError,
  unexpected,
  PymemcacheError,
  InvalidArgumentError,
  IllegalInputError,
  ConfigError,
  TooLargeError,
  ConnectionError,
  TimeoutError,
  TlsError,
  AuthError,
  ServerError,
  ClientError,
  ValueError,
  ClosedError,
};
