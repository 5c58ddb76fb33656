# frozen_string_literal: true

require 'minitest/autorun'
require 'socket'
require_relative 'memcached_helper'
require_relative '../lib/pymemcache'
require_relative 'test_keys'

class PymemcacheTest < Minitest::Test
  ALL_BYTES = (0..255).map(&:chr).join.b.freeze
  @@seq = 0
  @@seq_lock = Mutex.new

  def setup
    @clients = []
  end

  def teardown
    @clients.each(&:close)
  end

  def key(name)
    n = @@seq_lock.synchronize { @@seq += 1 }
    "rb-#{name}-#{Process.pid}-#{n}"
  end

  def client(servers = SERVER1, **opts)
    c = Pymemcache::Client.new(servers, timeout: 5, connect_timeout: 2, **opts)
    @clients << c
    c
  end

  def test_binary_round_trip
    c = client
    k = key('bin')
    value = ALL_BYTES + "\r\nEND\r\n\0".b
    assert_equal true, c.set(k, value, flags: 0xdeadbeef)
    got = c.get(k)
    assert_equal Encoding::BINARY, got.encoding
    assert_equal value, got
    item = c.get_item(k)
    assert_equal 0xdeadbeef, item.flags
    assert_equal 0, item.cas

    empty = key('empty')
    c.set(empty, '', flags: 7)
    assert_equal Pymemcache::Item.new(''.b, 7, 0), c.get_item(empty)
  end

  def test_miss
    c = client
    assert_nil c.get(key('miss'))
    assert_nil c.get_item(key('miss'))
    assert_equal [nil, nil], c.gets(key('miss'))
  end

  def test_get_multi_hits_and_misses
    c = client
    a = key('ma')
    b = key('mb')
    miss1 = key('mx')
    miss2 = key('my')
    c.set(a, "alpha\0\r\n", flags: 1)
    c.set(b, ALL_BYTES, flags: 2)
    got = c.get_multi([miss1, a, miss2, b])
    assert_equal({ a => "alpha\0\r\n".b, b => ALL_BYTES }, got)
    items = c.get_multi([a, miss1], items: true)
    assert_equal [a], items.keys
    assert_equal 1, items[a].flags
    assert_equal({}, c.get_multi([miss1, miss2]))
    assert_equal({}, c.get_multi([]))
  end

  def test_cas_conflict_and_success
    c = client
    other = client # a second connection: a concurrent writer
    k = key('cas')
    c.set(k, 'v1')
    value, unique = c.gets(k)
    assert_equal 'v1', value
    assert_operator unique, :>, 0

    other.set(k, 'v2')
    assert_equal false, c.cas(k, 'v3', unique), 'a stale cas must report exists'
    assert_equal 'v2', c.get(k)

    _, fresh = c.gets(k)
    refute_equal unique, fresh
    assert_equal true, c.cas(k, "v4\0", fresh, flags: 9)
    assert_equal Pymemcache::Item.new("v4\0".b, 9, 0), c.get_item(k)

    assert_nil c.cas(key('cas-missing'), 'x', 12_345), 'cas on a missing key is nil'
  end

  def test_counters
    c = client
    k = key('ctr')
    c.set(k, '10')
    assert_equal 15, c.incr(k, 5)
    assert_equal 12, c.decr(k, 3)
    assert_equal 0, c.decr(k, 100), 'decr stops at 0'
    c.set(k, '18446744073709551615')
    assert_equal 1, c.incr(k, 2), 'incr wraps at 2**64'
    assert_equal '1', c.get(k).rstrip # memcached pads in-place results

    missing = key('ctr-missing')
    assert_nil c.incr(missing)
    assert_nil c.decr(missing)

    text = key('ctr-text')
    c.set(text, 'not a number')
    err = assert_raises(Pymemcache::ClientError) { c.incr(text) }
    assert_equal Pymemcache::CLIENT_ERROR, err.status
  end

  def test_delete
    c = client
    k = key('del')
    c.set(k, 'x')
    assert_equal true, c.delete(k)
    assert_nil c.get(k)
    assert_equal false, c.delete(k)
  end

  def test_illegal_key_is_refused_before_anything_is_sent
    # Nothing listens there: had anything been sent, this would be a
    # connection error.
    c = client(MemcachedHelper.closed_address)
    ['has space', "new\nline", "cr\rx", 'k' * 251, ''].each do |bad|
      err = assert_raises(Pymemcache::IllegalInput, bad.inspect) { c.get(bad) }
      assert_equal 12, err.status
      assert_equal 'PMC_ILLEGAL_INPUT', err.status_name
      assert_kind_of Pymemcache::Error, err
      refute_kind_of Pymemcache::ConnectionError, err
      assert_match(/PMC_ILLEGAL_INPUT/, err.message)
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

  # A server that accepts (the kernel's backlog) but never answers: timeout
  # (5 s) would wait long, deadline (0.2 s) ends the whole call.
  def test_deadline_bounds_the_whole_call
    server = TCPServer.new('127.0.0.1', 0)
    c = client("127.0.0.1:#{server.addr[1]}", timeout: 5, deadline: 0.2)
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    err = assert_raises(Pymemcache::TimeoutError) { c.get(key('deadline')) }
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - start
    assert_equal Pymemcache::TIMEOUT, err.status
    assert_equal 'PMC_TIMEOUT', err.status_name
    assert_match(/deadline/, err.message)
    assert_operator elapsed, :>=, 0.15
    assert_operator elapsed, :<=, 2.0
  ensure
    server&.close
  end

  def test_connection_error
    c = client(MemcachedHelper.closed_address)
    err = assert_raises(Pymemcache::ConnectionError) { c.get('some-key') }
    assert_equal Pymemcache::IO_ERROR, err.status
    assert_equal 'PMC_IO_ERROR', err.status_name
    assert_match(/PMC_IO_ERROR/, err.message)
    assert_raises(Pymemcache::ConnectionError) { c.set('some-key', 'v') }
    assert_raises(Pymemcache::ConnectionError) { c.get_multi(%w[a b]) }
  end

  def test_error_messages_belong_to_their_thread
    c = client(MemcachedHelper.closed_address, use_pooling: true)
    failures = Queue.new
    threads = 6.times.map do |t|
      Thread.new do
        60.times do |i|
          if (t + i).even?
            begin
              c.get('bad key')
              failures << 'no error for an illegal key'
            rescue Pymemcache::Error => e
              failures << e.message unless e.is_a?(Pymemcache::IllegalInput) && e.message.include?('PMC_ILLEGAL_INPUT')
            end
          else
            begin
              c.get('good-key')
              failures << 'no error on a closed port'
            rescue Pymemcache::Error => e
              failures << e.message unless e.is_a?(Pymemcache::ConnectionError) && e.message.include?('PMC_IO_ERROR')
            end
          end
        end
      end
    end
    threads.each(&:join)
    assert_equal 0, failures.size, Array.new(failures.size) { failures.pop }.first(3).inspect
  end

  def test_config_errors
    assert_raises(Pymemcache::ConfigError) { Pymemcache::Client.new([]) }
    assert_raises(Pymemcache::ConfigError) { Pymemcache::Client.new('not an address') }
    err = assert_raises(Pymemcache::ConfigError) { Pymemcache::Client.new([SERVER1, SERVER1]) }
    assert_equal Pymemcache::CONFIG_ERROR, err.status
  end

  def test_close_and_block_form
    k = key('close')
    c = Pymemcache::Client.open(SERVER1) do |cl|
      cl.set(k, 'x')
      assert_equal 'x', cl.get(k)
      cl
    end
    assert c.closed?
    assert_raises(Pymemcache::ClosedError) { c.get(k) }
    c.close # twice is harmless
  end

  def open_fds
    Dir.children('/proc/self/fd').size
  end

  def test_finalizer_frees_forgotten_clients
    skip 'no /proc/self/fd' unless File.directory?('/proc/self/fd')
    GC.start
    before = open_fds
    n = 30
    n.times do
      c = Pymemcache::Client.new(SERVER1)
      c.get('finalizer-probe') # opens a connection
    end
    assert_operator open_fds, :>=, before + n
    deadline = Time.now + 10
    loop do
      GC.start(full_mark: true, immediate_sweep: true)
      break if open_fds <= before + 2

      flunk "forgotten clients were not freed: fds #{before} -> #{open_fds}" if Time.now > deadline
      sleep 0.05
    end
  end

  # Eight threads store and read back distinct values through one client.
  def check_shared(c, prefix)
    per_thread = 50
    failures = Queue.new
    keys = Array.new(8) { [] }
    threads = 8.times.map do |t|
      Thread.new do
        per_thread.times do |i|
          k = "#{prefix}-#{Process.pid}-#{t}-#{i}"
          v = "t#{t}-i#{i}|".b + ALL_BYTES
          c.set(k, v, flags: t * 1000 + i)
          item = c.get_item(k)
          failures << "#{k}: #{item.inspect}" unless item && item.value == v && item.flags == t * 1000 + i
          keys[t] << k
        end
        got = c.get_multi(keys[t])
        keys[t].each_with_index do |k, i|
          failures << "get_multi #{k}" unless got[k] == "t#{t}-i#{i}|".b + ALL_BYTES
        end
      rescue StandardError => e
        failures << e.full_message
      end
    end
    threads.each(&:join)
    assert_equal 0, failures.size, Array.new(failures.size) { failures.pop }.first(3).inspect
    assert_equal 8 * per_thread, keys.flatten.size
    keys.flatten
  end

  def test_pooled_client_shared_by_threads
    c = client(use_pooling: true, max_pool_size: 16, pool_timeout: 5)
    check_shared(c, 'rb-pooled')
    stats = c.pool_stats
    assert_equal 0, stats[:in_use]
    assert_operator stats[:created], :>=, 1
    assert_equal stats[:created] - stats[:destroyed], stats[:free]
    err = assert_raises(Pymemcache::InvalidArgument) { client.pool_stats }
    assert_equal Pymemcache::INVALID_ARGUMENT, err.status
  end

  def test_hash_client_shared_by_threads
    c = client([SERVER1, SERVER2], retry_attempts: 0, dead_timeout: 30)
    keys = check_shared(c, 'rb-hash')
    on_a = client(SERVER1).get_multi(keys)
    on_b = client(SERVER2).get_multi(keys)
    refute_empty on_a
    refute_empty on_b
    assert_equal keys.sort, (on_a.keys + on_b.keys).sort, 'each key on exactly one server'
  end

  def rss_bytes
    File.read('/proc/self/status')[/^VmRSS:\s+(\d+) kB/, 1].to_i * 1024
  end

  # Every value and result set the library hands back is freed: reading
  # 262 MiB through get and get_multi must not grow the process by as much.
  def test_no_leaked_buffers
    skip 'no /proc/self/status' unless File.exist?('/proc/self/status')
    c = client
    big = ("\xAB".b * (256 * 1024)).freeze
    k1 = key('leak1')
    k2 = key('leak2')
    c.set(k1, big)
    c.set(k2, big)
    bad_reads = 0
    read = lambda do |rounds|
      rounds.times do
        bad_reads += 1 unless c.get(k1) == big
        bad_reads += 1 unless c.get_multi([k1, k2]).values == [big, big]
      end
    end
    read.call(50)
    GC.start
    before = rss_bytes
    read.call(350) # 350 * 3 * 256 KiB = 262 MiB handed back by the library
    GC.start
    grown = rss_bytes - before
    assert_equal 0, bad_reads
    assert_operator grown, :<, 96 * 1024 * 1024, "RSS grew by #{grown >> 20} MiB: library buffers leak"
  end
end
