# frozen_string_literal: true

# Errors: a class per status family (pymemcache's names as aliases), each
# carrying the status and the library's message of that very call, also
# when many threads fail at once.
require_relative 'helper'

class PymemcacheErrorsTest < PymemcacheTestCase
  def test_every_error_status_has_its_class
    expected = {
      10 => Pymemcache::InvalidArgument, 11 => Pymemcache::InvalidArgument, 12 => Pymemcache::IllegalInput,
      13 => Pymemcache::ConfigError, 14 => Pymemcache::TooLarge, 20 => Pymemcache::TimeoutError,
      21 => Pymemcache::ConnectionError, 22 => Pymemcache::UnexpectedClose, 23 => Pymemcache::PoolExhausted,
      24 => Pymemcache::NoServers, 30 => Pymemcache::UnknownCommand, 31 => Pymemcache::ClientError,
      32 => Pymemcache::ServerError, 33 => Pymemcache::UnknownError, 40 => Pymemcache::NotText,
      41 => Pymemcache::NotInteger, 42 => Pymemcache::UnsupportedPickle, 43 => Pymemcache::CorruptValue,
      44 => Pymemcache::SerdeCallbackError, 90 => Pymemcache::Panic
    }
    expected.each do |status, klass|
      assert_equal klass, Pymemcache.error_class(status), status.to_s
      err = Pymemcache.error('op', status, 'the message')
      assert_instance_of klass, err
      assert_equal 'op: the message', err.message
      assert_equal status, err.status
      assert_equal "PMC_#{Pymemcache::Status.constants.find { |c| Pymemcache::Status.const_get(c) == status }}",
                   err.status_name
      assert_kind_of Pymemcache::Error, err
    end
    # The families.
    [20, 22, 23, 24].each { |s| assert_operator Pymemcache.error_class(s), :<, Pymemcache::ConnectionError }
    (40..44).each { |s| assert_operator Pymemcache.error_class(s), :<, Pymemcache::ValueError }
    # pymemcache's hierarchy: illegal input and unknown command are client errors.
    assert_operator Pymemcache::IllegalInput, :<, Pymemcache::ClientError
    assert_operator Pymemcache::UnknownCommand, :<, Pymemcache::ClientError
    assert_equal Pymemcache::Error, Pymemcache::MemcacheError
    assert_equal Pymemcache::IllegalInput, Pymemcache::MemcacheIllegalInputError
    assert_equal Pymemcache::UnexpectedClose, Pymemcache::MemcacheUnexpectedCloseError
    assert_equal Pymemcache::IO_ERROR, Pymemcache::Status.code(:io_error)
    assert_equal Pymemcache::IO_ERROR, Pymemcache::Status.code('PMC_IO_ERROR')
    assert_raises(ArgumentError) { Pymemcache::Status.code(:nothing) }
  end

  def test_illegal_key_is_refused_before_anything_is_sent
    # Nothing listens there: had anything been sent, this would be a
    # connection error.
    c = client(MemcachedHelper.closed_address)
    ['has space', "new\nline", "cr\rx", 'k' * 251, ''].each do |bad|
      err = assert_error(Pymemcache::IllegalInput, Pymemcache::ILLEGAL_INPUT, nil, bad.inspect) { c.get(bad) }
      refute_kind_of Pymemcache::ConnectionError, err
    end
    assert_raises(Pymemcache::IllegalInput) { c.set('has space', 'v') }
    assert_raises(Pymemcache::IllegalInput) { c.get_multi(['fine', 'not fine']) }
    assert_raises(Pymemcache::IllegalInput) { c.incr('bad key') }
    assert_raises(Pymemcache::IllegalInput) { c.cas('bad key', 'v', 1) }
    # A legal key on the same client does go to the (missing) server.
    assert_raises(Pymemcache::ConnectionError) { c.get('legal') }
  end

  def test_illegal_key_opens_no_connection
    server = TCPServer.new('127.0.0.1', 0)
    c = client("127.0.0.1:#{server.addr[1]}", timeout: 0.3)
    assert_raises(Pymemcache::IllegalInput) { c.get('two words') }
    assert_nil IO.select([server], nil, nil, 0.2), 'an illegal key opened a connection'
  ensure
    server&.close
  end

  def test_connection_error
    addr = MemcachedHelper.closed_address
    c = client(addr)
    assert_error(Pymemcache::ConnectionError, Pymemcache::IO_ERROR, /#{Regexp.escape(addr)}/) { c.get('some-key') }
    assert_raises(Pymemcache::ConnectionError) { c.set('some-key', 'v') }
    assert_raises(Pymemcache::ConnectionError) { c.get_multi(%w[a b]) }
  end

  # A server that accepts (the kernel's backlog) but never answers: timeout
  # (5 s) would wait long, deadline (0.2 s) ends the whole call.
  def test_deadline_bounds_the_whole_call
    server = TCPServer.new('127.0.0.1', 0)
    c = client("127.0.0.1:#{server.addr[1]}", timeout: 5, deadline: 0.2)
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_error(Pymemcache::TimeoutError, Pymemcache::TIMEOUT, /deadline/) { c.get(key('deadline')) }
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - start
    assert_operator elapsed, :>=, 0.15
    assert_operator elapsed, :<=, 2.0
  ensure
    server&.close
  end

  def test_config_errors
    assert_error(Pymemcache::ConfigError, Pymemcache::CONFIG_ERROR) { Pymemcache::Client.new([]) }
    assert_error(Pymemcache::ConfigError, Pymemcache::CONFIG_ERROR, /not an address/) do
      Pymemcache::Client.new('not an address')
    end
    assert_error(Pymemcache::ConfigError, Pymemcache::CONFIG_ERROR) { Pymemcache::Client.new([server1, server1]) }
    assert_error(Pymemcache::ConfigError, Pymemcache::CONFIG_ERROR) { Pymemcache::Client.new(server1, key_prefix: 'a b') }
    err = assert_raises(ArgumentError) { Pymemcache::Client.new(server1, timout: 1) }
    assert_match(/timout/, err.message)
  end

  def test_value_errors
    c = client
    t = key('text')
    c.set_text(t, 'words')
    assert_error(Pymemcache::NotInteger, Pymemcache::NOT_INTEGER) { c.get_int(t) }
    n = key('int')
    c.set_int(n, 5)
    assert_error(Pymemcache::NotText, Pymemcache::NOT_TEXT) { c.get_text(n) }
    assert_error(Pymemcache::CorruptValue, Pymemcache::CORRUPT_VALUE) { c.set_json(n, '{"open":', raw: true) }
    small = client(max_value_len: 10)
    assert_error(Pymemcache::TooLarge, Pymemcache::TOO_LARGE) { small.set(key('big'), 'x' * 11) }
    err = assert_raises(Pymemcache::ClosedError) do
      closed = Pymemcache::Client.mock
      closed.close
      closed.get('k')
    end
    assert_equal 'get: client is closed', err.message
    assert_nil err.status
  end

  # Many threads fail at once, each with a message that only its own call
  # can have: a dead server on its own port, or a key with whitespace at
  # its own byte. Each error must carry exactly its call's message.
  def test_error_messages_belong_to_their_call_across_threads
    dead = Array.new(8) { MemcachedHelper.closed_address }
    shared = client(MemcachedHelper.closed_address, use_pooling: true)
    per_port = dead.map { |addr| client(addr, reconnect_backoff: false) }
    failures = Queue.new
    start = Queue.new
    threads = 16.times.map do |t|
      Thread.new do
        start.pop
        40.times do |i|
          if t.even?
            c = per_port[(t / 2) % 8]
            addr = dead[(t / 2) % 8]
            begin
              c.get("k#{i}")
              failures << 'no error on a closed port'
            rescue Pymemcache::ConnectionError => e
              failures << "#{addr}: #{e.message}" unless e.status == Pymemcache::IO_ERROR && e.message.end_with?("(server #{addr})")
            end
          else
            pos = 1 + ((t + i) % 40)
            bad = "#{'k' * pos} tail"
            begin
              shared.get(bad)
              failures << 'no error for an illegal key'
            rescue Pymemcache::IllegalInput => e
              failures << "byte #{pos}: #{e.message}" unless e.message.include?("at byte #{pos}")
            end
          end
        end
      rescue StandardError => e
        failures << e.full_message
      end
    end
    16.times { start << true }
    threads.each(&:join)
    assert_equal 0, failures.size, Array.new(failures.size) { failures.pop }.first(3).inspect
  end
end
