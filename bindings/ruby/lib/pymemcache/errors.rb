# frozen_string_literal: true

require_relative 'lib'

module Pymemcache
  # pmc_status codes (include/pymemcache.h).
  module Status
    OK = 0
    MISS = 1
    NOT_STORED = 2
    EXISTS = 3
    NOT_FOUND = 4
    NULL_ARGUMENT = 10
    INVALID_ARGUMENT = 11
    ILLEGAL_INPUT = 12
    CONFIG_ERROR = 13
    TOO_LARGE = 14
    TIMEOUT = 20
    IO_ERROR = 21
    UNEXPECTED_CLOSE = 22
    POOL_EXHAUSTED = 23
    NO_SERVERS = 24
    TLS_ERROR = 25
    AUTH_ERROR = 26
    UNKNOWN_COMMAND = 30
    CLIENT_ERROR = 31
    SERVER_ERROR = 32
    UNKNOWN_ERROR = 33
    NOT_TEXT = 40
    NOT_INTEGER = 41
    UNSUPPORTED_PICKLE = 42
    CORRUPT_VALUE = 43
    SERDE_CALLBACK = 44
    PANIC = 90

    # The name of a status, e.g. "PMC_IO_ERROR" ("PMC_UNKNOWN_STATUS" for
    # a number that is none).
    def self.name_of(status)
      Lib.pmc_status_str(status)
    end

    # A status code from an Integer or a name (:io_error, :IO_ERROR,
    # "PMC_IO_ERROR").
    def self.code(status)
      return status if status.is_a?(Integer)

      name = status.to_s.upcase.delete_prefix('PMC_')
      raise ArgumentError, "unknown status #{status.inspect}" unless const_defined?(name, false)

      const_get(name, false)
    end
  end
  # The codes as Pymemcache::OK, Pymemcache::IO_ERROR, ...
  Status.constants.each { |name| const_set(name, Status.const_get(name)) }

  # An error status of the library (10 and above). #status is the
  # pmc_status code, #status_name its name (e.g. "PMC_IO_ERROR"); the
  # message is "op: " and the library's message of that very call (from its
  # pmc_error object). pymemcache's name: MemcacheError.
  class Error < StandardError
    attr_reader :status, :status_name

    def initialize(message = nil, status: nil)
      @status = status
      @status_name = status && Status.name_of(status)
      super(message || @status_name || 'pymemcache error')
    end
  end

  # A required argument was NULL or out of range (10, 11).
  class InvalidArgument < Error; end
  # The options do not describe a usable client (13).
  class ConfigError < Error; end
  # A value longer than max_value_len (14).
  class TooLarge < Error; end
  # The server answered CLIENT_ERROR (31). pymemcache: MemcacheClientError.
  class ClientError < Error; end
  # A key or command that may not be sent; nothing was sent (12).
  # pymemcache: MemcacheIllegalInputError, a MemcacheClientError.
  class IllegalInput < ClientError; end
  # The server answered ERROR (30). pymemcache: MemcacheUnknownCommandError,
  # a MemcacheClientError.
  class UnknownCommand < ClientError; end
  # The server answered SERVER_ERROR (32). pymemcache: MemcacheServerError.
  class ServerError < Error; end
  # A reply that could not be parsed (33). pymemcache: MemcacheUnknownError.
  class UnknownError < Error; end
  # Reaching the server failed: a socket error (21) and the subclasses.
  class ConnectionError < Error; end
  # A connect, read or write, or the call's deadline, timed out (20).
  class TimeoutError < ConnectionError; end
  # The server closed the connection mid-reply (22).
  # pymemcache: MemcacheUnexpectedCloseError.
  class UnexpectedClose < ConnectionError; end
  # Every pooled connection stayed in use for the pool timeout (23).
  class PoolExhausted < ConnectionError; end
  # A hash client has no live server (24).
  class NoServers < ConnectionError; end
  # The TLS handshake or the TLS files failed (25): the message says what
  # (expired, unknown CA, name mismatch, unreadable file, ...).
  class TlsError < ConnectionError; end
  # memcached -Y refused the login, or none was given (26).
  class AuthError < ConnectionError; end
  # A stored value of another type than asked for, or that cannot be
  # decoded (40-44).
  class ValueError < Error; end
  class NotText < ValueError; end
  class NotInteger < ValueError; end
  class UnsupportedPickle < ValueError; end
  class CorruptValue < ValueError; end
  class SerdeCallbackError < ValueError; end
  # A bug in the library caught at the boundary (90).
  class Panic < Error; end
  # The client was used after #close, or after it was moved into a
  # fallback or retrying client (no status).
  class ClosedError < Error; end

  # pymemcache's names.
  MemcacheError = Error
  MemcacheClientError = ClientError
  MemcacheIllegalInputError = IllegalInput
  MemcacheUnknownCommandError = UnknownCommand
  MemcacheServerError = ServerError
  MemcacheUnknownError = UnknownError
  MemcacheUnexpectedCloseError = UnexpectedClose

  ERROR_CLASSES = {
    NULL_ARGUMENT => InvalidArgument, INVALID_ARGUMENT => InvalidArgument,
    ILLEGAL_INPUT => IllegalInput, CONFIG_ERROR => ConfigError, TOO_LARGE => TooLarge,
    TIMEOUT => TimeoutError, IO_ERROR => ConnectionError, UNEXPECTED_CLOSE => UnexpectedClose,
    POOL_EXHAUSTED => PoolExhausted, NO_SERVERS => NoServers,
    TLS_ERROR => TlsError, AUTH_ERROR => AuthError,
    UNKNOWN_COMMAND => UnknownCommand, CLIENT_ERROR => ClientError,
    SERVER_ERROR => ServerError, UNKNOWN_ERROR => UnknownError,
    NOT_TEXT => NotText, NOT_INTEGER => NotInteger, UNSUPPORTED_PICKLE => UnsupportedPickle,
    CORRUPT_VALUE => CorruptValue, SERDE_CALLBACK => SerdeCallbackError, PANIC => Panic
  }.freeze

  # The exception class of an error status.
  def self.error_class(status)
    ERROR_CLASSES.fetch(status) { status >= 20 && status < 30 ? ConnectionError : Error }
  end

  # The exception for +op+ failing with +status+ and the library's +message+.
  def self.error(op, status, message)
    message = Status.name_of(status) if message.nil? || message.empty?
    error_class(status).new("#{op}: #{message}", status: status)
  end

  # An outcome the binding does not expect from +op+ (a bug, if ever seen).
  def self.unexpected(op, status)
    Error.new("#{op}: unexpected outcome #{Status.name_of(status)}", status: status)
  end

  # Calls the pmc_status function +fn+ of Lib with +args+ and a fresh
  # `pmc_error **` out pointer. Returns the status when below 10; else
  # raises the error built from that call's pmc_error object (read and
  # freed here).
  def self.call_status(op, fn, *args)
    slot = FFI::MemoryPointer.new(:pointer)
    status = Lib.send(fn, *args, slot)
    return status if status < 10

    err = slot.read_pointer
    raise error(op, status, nil) if err.null? # the library always writes one; defensive

    begin
      raise error(op, Lib.pmc_error_status(err), Lib.pmc_error_message(err).dup.force_encoding(Encoding::UTF_8))
    ensure
      Lib.pmc_error_free(err)
    end
  end

  # The C library's version, e.g. "0.1.0".
  def self.library_version
    Lib.pmc_library_version
  end

  # Where the C library was loaded from.
  def self.library_path
    Lib::PATH
  end
end
