# frozen_string_literal: true

# Client kinds (single, pooled, hash with failover, mock, fallback,
# retrying), options, threads, close, finalizers and leaks.
require_relative 'helper'

class PymemcacheClientsTest < PymemcacheTestCase
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
          c.set(k, v, flags: (t * 1000) + i)
          item = c.get_item(k)
          failures << "#{k}: #{item.inspect}" unless item && item.value == v && item.flags == (t * 1000) + i
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
    c = track(Pymemcache::Client.pooled(server1, max_pool_size: 16, pool_timeout: 5, pool_idle_timeout: 60))
    check_shared(c, 'rb-pooled')
    stats = c.pool_stats
    assert_equal 0, stats[:in_use]
    assert_operator stats[:created], :>=, 1
    assert_operator stats[:free], :>=, 1
    assert_equal stats[:created] - stats[:destroyed], stats[:free]
    assert_nil c.pool_clear
    after = c.pool_stats
    assert_equal 0, after[:free]
    assert_operator after[:destroyed], :>=, 1
    assert_error(Pymemcache::InvalidArgument, Pymemcache::INVALID_ARGUMENT) { client.pool_stats }
  end

  def test_pool_exhausted
    # One connection, and no waiting for it: a second thread holding... the
    # simplest holder is a call in progress against a silent server.
    silent = TCPServer.new('127.0.0.1', 0)
    c = track(Pymemcache::Client.pooled("127.0.0.1:#{silent.addr[1]}", max_pool_size: 1, pool_timeout: 0,
                                                                       timeout: 1))
    busy = Thread.new { c.get('held') rescue nil } # rubocop:disable Style/RescueModifier
    sleep 0.2
    assert_error(Pymemcache::PoolExhausted, Pymemcache::POOL_EXHAUSTED) { c.get('other') }
    busy.join
  ensure
    silent&.close
  end

  def test_hash_client_shared_by_threads
    c = track(Pymemcache::Client.hash_client([server1, server2], retry_attempts: 0, dead_timeout: 30))
    keys = check_shared(c, 'rb-hash')
    on_a = client(server1).get_multi(keys)
    on_b = client(server2).get_multi(keys)
    refute_empty on_a
    refute_empty on_b
    assert_equal keys.sort, (on_a.keys + on_b.keys).sort, 'each key on exactly one server'
  end

  # Failure tracking: soft-down after the threshold; its keys fail fast.
  def test_hash_client_failure_tracking
    dead = MemcachedHelper.closed_address
    c = track(Pymemcache::Client.hash_client([server1, dead],
                                             failure_tracking: { threshold: 2, initial_backoff: 60, max_backoff: 60 }))
    k = nil
    100.times do
      k = key('tko')
      break if c.server_for_key(k) == dead
    end
    2.times { assert_raises(Pymemcache::ConnectionError) { c.get(k) } }
    h = c.node_state(dead)
    assert_equal :soft_down, h[:state]
    assert_equal 2, h[:refusals]
    assert_error(Pymemcache::ConnectionError, Pymemcache::IO_ERROR, /marked down/) { c.get(k) }
    assert_equal :up, c.node_state(server1)[:state]
    assert_raises(Pymemcache::ConfigError) do
      Pymemcache::Client.hash_client([server1], failure_tracking: { threshold: 0 })
    end
  end

  # A hash client with a dead server: with retry_attempts 0 the first
  # failure declares it dead, and its keys move to the live server.
  def test_hash_client_failover_with_a_server_down
    dead = MemcachedHelper.closed_address
    c = track(Pymemcache::Client.hash_client([server1, dead], retry_attempts: 0, retry_timeout: 0.01,
                                                              dead_timeout: 60))
    k = nil
    100.times do
      k = key('failover')
      break if c.server_for_key(k) == dead
    end
    assert_equal dead, c.server_for_key(k), 'no key placed on the dead server'
    assert_error(Pymemcache::ConnectionError, Pymemcache::IO_ERROR, /#{Regexp.escape(dead)}/) { c.set(k, 'v') }
    assert_equal server1, c.server_for_key(k), 'after the failure the key moves to the live server'
    assert_equal true, c.set(k, 'v')
    assert_equal 'v', client(server1).get(k)

    # With retries left, a failed server's keys read as misses meanwhile
    # (pymemcache's HashClient), whatever ignore_exc says.
    patient = track(Pymemcache::Client.hash_client([server1, dead], retry_attempts: 3, retry_timeout: 30))
    k2 = nil
    100.times do
      k2 = key('failover2')
      break if patient.server_for_key(k2) == dead
    end
    assert_raises(Pymemcache::ConnectionError) { patient.get(k2) }
    assert_nil patient.get(k2), 'a failed server gives misses until its retry time'
    assert_equal dead, patient.server_for_key(k2), 'not dead yet'
  end

  def test_add_and_remove_servers
    c = track(Pymemcache::Client.new(server1, use_hash_client: true))
    keys = Array.new(40) { key('place') }
    assert(keys.all? { |k| c.server_for_key(k) == server1 })
    assert_nil c.add_server(server2)
    placed = keys.map { |k| c.server_for_key(k) }.tally
    assert_operator placed[server1].to_i, :>, 0
    assert_operator placed[server2].to_i, :>, 0
    assert_error(Pymemcache::ConfigError, Pymemcache::CONFIG_ERROR) { c.add_server(server2) }
    assert_nil c.remove_server(server2)
    assert(keys.all? { |k| c.server_for_key(k) == server1 })
    assert_error(Pymemcache::ConfigError, Pymemcache::CONFIG_ERROR) { c.remove_server(server2) }
    assert_error(Pymemcache::InvalidArgument, Pymemcache::INVALID_ARGUMENT) { client.add_server(server2) }
  end

  def test_mock_client
    c = track(Pymemcache::Client.mock(key_prefix: 'm:'))
    assert_equal true, c.set('a', 'v', flags: 9)
    assert_equal Pymemcache::Item.new('v'.b, 9, 0), c.get_item('a')
    assert_equal false, c.add('a', 'w')
    c.set('n', '41')
    assert_equal 42, c.incr('n')
    assert_raises(Pymemcache::ClientError) { c.incr('a') }
    assert_raises(Pymemcache::IllegalInput) { c.get('bad key') }
    assert_equal 'mock', c.server_for_key('a')
    other = track(Pymemcache::Client.mock)
    assert_nil other.get('m:a'), 'each mock has its own cache'
    assert_equal true, c.set_json('j', [1, { 'x' => nil }])
    assert_equal [1, { 'x' => nil }], c.get_json('j')
  end

  def test_fallback_client
    k = key('fallback')
    old = Pymemcache::Client.new(server2, timeout: 5)
    fresh = Pymemcache::Client.new(server1, timeout: 5)
    old.set(k, 'old')
    fb = track(Pymemcache::Client.fallback(fresh, old))
    err = assert_raises(Pymemcache::ClosedError) { old.get(k) }
    assert_match(/fallback/, err.message)
    assert fresh.closed?
    fresh.close # harmless: the fallback owns the handle
    assert_equal 'old', fb.get(k), 'reads fall back to the second client'
    assert_equal true, fb.set(k, 'new')
    assert_equal 'new', client(server1).get(k), 'writes go to the first client'
    assert_equal 'old', client(server2).get(k)
    assert_equal({ k => 'new' }, fb.get_multi(k))
    assert_raises(Pymemcache::ClosedError) { Pymemcache::Client.fallback(fresh) }

    a = track(Pymemcache::Client.mock)
    assert_error(Pymemcache::InvalidArgument, Pymemcache::INVALID_ARGUMENT) { Pymemcache::Client.fallback(a, a) }
    assert_nil a.get('k'), 'a client refused by fallback stays usable'
    assert_error(Pymemcache::InvalidArgument, Pymemcache::INVALID_ARGUMENT) { Pymemcache::Client.fallback }
    assert_raises(TypeError) { Pymemcache::Client.fallback(a, 'not a client') }
  end

  def test_retrying_client
    dead = MemcachedHelper.closed_address
    inner = Pymemcache::Client.new(dead, reconnect_backoff: false)
    assert_error(Pymemcache::ConfigError, Pymemcache::CONFIG_ERROR) { Pymemcache::Client.retrying(inner, attempts: 0) }
    assert_raises(Pymemcache::ConnectionError) { inner.get('k') } # still usable
    r = track(Pymemcache::Client.retrying(inner, attempts: 3, retry_delay: 0.1, retry_for: [:io_error]))
    assert_raises(Pymemcache::ClosedError) { inner.get('k') }
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_error(Pymemcache::ConnectionError, Pymemcache::IO_ERROR) { r.get('k') }
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - start, :>=, 0.2, '3 attempts 0.1 s apart'

    inner2 = Pymemcache::Client.new(dead, reconnect_backoff: false)
    r2 = track(Pymemcache::Client.retrying(inner2, attempts: 5, retry_delay: 1,
                                                   do_not_retry_for: [Pymemcache::IO_ERROR]))
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_raises(Pymemcache::ConnectionError) { r2.get('k') }
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - start, :<, 0.5, 'an error not to retry'

    inner3 = Pymemcache::Client.new(dead)
    assert_error(Pymemcache::InvalidArgument, Pymemcache::INVALID_ARGUMENT) do
      Pymemcache::Client.retrying(inner3, retry_for: [Pymemcache::MISS])
    end
    inner3.close

    r3 = track(Pymemcache::Client.retrying(Pymemcache::Client.new(server1)))
    k = key('retrying')
    assert_equal true, r3.set(k, 'v')
    assert_equal 'v', r3.get(k)
  end

  def test_reconnect_backoff
    dead = MemcachedHelper.closed_address
    c = client(dead) # the library's default: on
    first = assert_raises(Pymemcache::ConnectionError) { c.get('k') }
    refute_match(/backoff/, first.message)
    assert_error(Pymemcache::ConnectionError, Pymemcache::IO_ERROR, /reconnect backoff/) { c.get('k') }

    off = client(dead, reconnect_backoff: false)
    3.times do |i|
      err = assert_raises(Pymemcache::ConnectionError) { off.get('k') }
      refute_match(/backoff/, err.message, "call #{i}")
    end
    long = client(dead, reconnect_backoff: { initial: 5, max: 10 })
    assert_raises(Pymemcache::ConnectionError) { long.get('k') }
    assert_error(Pymemcache::ConnectionError, Pymemcache::IO_ERROR, /reconnect backoff/) { long.get('k') }
    assert_error(Pymemcache::InvalidArgument, Pymemcache::INVALID_ARGUMENT) do
      Pymemcache::Client.new(dead, reconnect_backoff: { initial: 1, max: 0.001 })
    end
    # Once the window has passed, the next call tries to connect again.
    short = client(dead, reconnect_backoff: { initial: 0.05, max: 0.05 })
    assert_raises(Pymemcache::ConnectionError) { short.get('k') }
    assert_error(Pymemcache::ConnectionError, Pymemcache::IO_ERROR, /reconnect backoff/) { short.get('k') }
    sleep 0.1
    err = assert_raises(Pymemcache::ConnectionError) { short.get('k') }
    refute_match(/backoff/, err.message)
  end

  def test_options
    assert_nil client(MemcachedHelper.closed_address, ignore_exc: true).get('k'), 'ignore_exc: errors read as misses'
    c = client(keepalive: true, no_delay: true, connect_timeout: 1, deadline: 5)
    k = key('opts')
    assert_equal true, c.set(k, 'v')
    prefixed = client(key_prefix: 'pre:')
    prefixed.set(k, 'p')
    assert_equal 'p', c.get("pre:#{k}")
    assert_equal({ k => 'p'.b }, prefixed.get_multi(k))
    unicode = client(allow_unicode_keys: true)
    assert unicode.allow_unicode_keys?
    refute c.allow_unicode_keys?
    assert_equal '0.1.0', Pymemcache.library_version
    assert Pymemcache.library_path
  end

  def test_compression
    c = client(compression: { min_length: 10 })
    plain = client
    k = key('zlib')
    value = 'abc' * 1000
    c.set(k, value)
    raw = plain.get_item(k)
    assert_equal 8, raw.flags & 8, 'stored with the compressed flag'
    assert_operator raw.value.bytesize, :<, value.bytesize
    assert_equal Pymemcache::Item.new(value.b, 0, 0), c.get_item(k)
    assert_equal value, client(compression: true).get(k), "pymemcache's default min length"
    assert_raises(Pymemcache::InvalidArgument) { Pymemcache::Client.new(server1, compression: -1) }
  end

  def test_serde_callbacks
    seen = Queue.new
    upper = lambda do |_key, value, _flags|
      raise 'refused' if value == 'fail'

      [value.upcase, 77]
    end
    lower = lambda do |key, value, flags|
      seen << key
      flags == 77 ? [value.downcase, 1] : nil
    end
    c = client(serializer: upper, deserializer: lower)
    plain = client
    k = key('serde')
    assert_equal true, c.set(k, 'Hello')
    assert_equal Pymemcache::Item.new('HELLO'.b, 77, 0), plain.get_item(k)
    assert_equal Pymemcache::Item.new('hello'.b, 1, 0), c.get_item(k)
    assert_equal k, seen.pop
    assert_error(Pymemcache::SerdeCallbackError, Pymemcache::SERDE_CALLBACK) { c.set(k, 'fail') }
    only_value = client(serializer: ->(_k, v, _f) { v.reverse })
    only_value.set(k, 'abc', flags: 3)
    assert_equal Pymemcache::Item.new('cba'.b, 3, 0), plain.get_item(k)
    bad_result = client(serializer: ->(_k, _v, _f) { [42, 0] })
    assert_raises(Pymemcache::SerdeCallbackError) { bad_result.set(k, 'x') }
    c.set(k, 'Hello')
    # Shared between threads: the callbacks run on several threads at once.
    failures = Queue.new
    8.times.map do
      Thread.new do
        50.times { failures << c.get(k) unless c.get(k) == 'hello' }
      end
    end.each(&:join)
    assert_equal 0, failures.size
    assert_raises(TypeError) { Pymemcache::Client.new(server1, serializer: 'not callable') }
  end

  def test_close_and_block_form
    k = key('close')
    c = Pymemcache::Client.open(server1) do |cl|
      cl.set(k, 'x')
      assert_equal 'x', cl.get(k)
      cl
    end
    assert c.closed?
    assert_raises(Pymemcache::ClosedError) { c.get(k) }
    c.close # twice is harmless
  end

  def test_close_waits_for_calls_in_progress
    silent = TCPServer.new('127.0.0.1', 0)
    c = Pymemcache::Client.new("127.0.0.1:#{silent.addr[1]}", timeout: 0.5)
    t = Thread.new { assert_raises(Pymemcache::TimeoutError) { c.get('k') } }
    sleep 0.1
    c.close
    t.join
    assert c.closed?
  ensure
    silent&.close
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
      c = Pymemcache::Client.new(server1)
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
