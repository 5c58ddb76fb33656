# frozen_string_literal: true

# Batches (Pymemcache::Batch) and stampede control (get_or_lock,
# invalidate, fetch_with_lock) against real memcached servers.
require_relative 'helper'

class PymemcacheBatchTest < PymemcacheTestCase
  def batch(**opts)
    b = Pymemcache::Batch.new(**opts)
    @batches ||= []
    @batches << b
    b
  end

  def teardown
    (@batches || []).each(&:free)
    super
  end

  # A mixed batch: hits, misses, refusals and a bad key, each with its own
  # status, in request order.
  def test_mixed_batch_statuses_in_request_order
    c = client
    a = key('ba')
    b2 = key('bb')
    missing = key('bmiss')
    ctr = key('bctr')
    c.set(a, 'va', flags: 7)
    c.set(ctr, '5')
    b = batch
    assert_equal 0, b.size
    assert_equal [], b.execute(c)
    assert_equal 0, b.get(a)
    b.get(missing)                    # 1
    b.add(a, 'x')                     # 2
    b.set(b2, 'vb', flags: 3)         # 3
    b.replace(missing, 'x')           # 4
    b.append(a, '+')                  # 5
    b.prepend(missing, 'x')           # 6
    b.gets(a)                         # 7
    b.incr(ctr, 3)                    # 8
    b.decr(ctr, 100)                  # 9
    b.incr(missing)                   # 10
    b.delete(b2)                      # 11
    b.delete(missing)                 # 12
    b.touch(a, 100)                   # 13
    b.touch(missing, 100)             # 14
    b.cas(a, 'z', 1)                  # 15
    b.get('bad key'.b)                # 16
    b.gat(a, 200)                     # 17
    b.meta('mg', a, %w[v f t])        # 18
    b.meta('ms', b2, 'F9', 'meta')    # 19
    assert_equal 20, b.meta('mg', missing, ['v'])
    assert_error(Pymemcache::InvalidArgument, Pymemcache::INVALID_ARGUMENT) { b.meta('zz', a) }
    assert_error(Pymemcache::IllegalInput, Pymemcache::ILLEGAL_INPUT, /non-ASCII/) { b.get('clé') }
    assert_equal 21, b.size

    rs = b.execute(c)
    ok = Pymemcache::OK
    want = [ok, Pymemcache::MISS, Pymemcache::NOT_STORED, ok, Pymemcache::NOT_STORED, ok, Pymemcache::NOT_STORED,
            ok, ok, ok, Pymemcache::NOT_FOUND, ok, Pymemcache::NOT_FOUND, ok, Pymemcache::NOT_FOUND,
            Pymemcache::EXISTS, Pymemcache::ILLEGAL_INPUT, ok, ok, ok, Pymemcache::MISS]
    assert_equal want, rs.map(&:status), rs.map(&:status_name).inspect
    assert_equal %w[PMC_OK PMC_MISS PMC_NOT_STORED], rs.first(3).map(&:status_name)
    assert_equal ['va', 7, 0], [rs[0].value, rs[0].flags, rs[0].cas]
    assert_equal Encoding::BINARY, rs[0].value.encoding
    assert rs[1].miss?
    assert_equal '', rs[1].value
    assert_equal 'va+', rs[7].value
    assert_operator rs[7].cas, :>, 0
    assert_equal [8, '8', 0], [rs[8].number, rs[8].value, rs[9].number]
    rs.each_with_index do |r, i|
      assert_equal r.status >= 10, r.error?, "result #{i}"
      assert_nil r.lease, "result #{i}"
    end
    err = rs[16].error
    assert_kind_of Pymemcache::IllegalInput, err
    assert_equal Pymemcache::ILLEGAL_INPUT, err.status
    assert_match(/key/, err.message)
    assert_equal 'va+', rs[17].value
    assert_equal ['VA', 'va+'], [rs[18].code, rs[18].value]
    assert_match(/\bf7\b/, rs[18].meta_flags)
    assert_equal ['HD', 'EN', ''], [rs[19].code, rs[20].code, rs[0].code]
    assert_equal 'meta', c.get(b2)
    assert_equal 9, c.get_item(b2).flags

    again = b.execute(c)
    assert_equal 21, again.size
    assert_equal [ok, ok, ok], [again[3].status, again[11].status, again[19].status]
    assert_same b, b.clear
    assert_equal 0, b.size
    b.free
    b.free
    assert b.freed?
    assert_raises(Pymemcache::ClosedError) { b.get(a) }
    assert_raises(Pymemcache::ClosedError) { b.execute(c) }

    closed = Pymemcache::Client.new(server1)
    closed.close
    b3 = batch
    b3.get(a)
    assert_raises(Pymemcache::ClosedError) { b3.execute(closed) }
    u = batch(allow_unicode_keys: true)
    u.set('clé', 'unicode')
    u.get('clé')
    rs = u.execute(client(server1, allow_unicode_keys: true))
    assert_equal [ok, ok], rs.map(&:status)
    assert_equal 'unicode', rs[1].value
  end

  # Across a hash client, a server that is down fails its own commands only.
  def test_hash_client_batch_with_a_server_down
    dead = MemcachedHelper.closed_address
    c = client([server1, server2, dead])
    b = batch
    keys = Array.new(30) { key('bhash') }
    on = keys.to_h { |k| [k, c.server_for_key(k)] }
    assert_equal [server1, server2, dead].sort, on.values.uniq.sort, 'keys spread over the three servers'
    keys.each do |k|
      b.set(k, "v-#{k}")
      b.get(k)
    end
    rs = b.execute(c)
    assert_equal 60, rs.size
    keys.each_with_index do |k, i|
      set, get = rs[2 * i], rs[(2 * i) + 1]
      if on[k] == dead
        [set, get].each do |r|
          assert_kind_of Pymemcache::ConnectionError, r.error, "#{k} on the dead server"
          refute_empty r.error.message
        end
      else
        assert_equal [Pymemcache::OK, Pymemcache::OK, "v-#{k}"], [set.status, get.status, get.value], k
      end
    end
  end

  # On a miss one thread of many wins the recompute, the others are busy;
  # after invalidate one wins again and the others get the stale value.
  def test_get_or_lock_stampede_across_threads
    c = client(server1, use_pooling: true)
    k = key('stampede')
    n = 8
    race = lambda do
      gate = Queue.new
      threads = Array.new(n) { Thread.new { gate.pop && c.get_or_lock(k, lock_ttl: 30) } }
      n.times { gate << true }
      threads.map(&:value)
    end
    got = race.call
    assert_equal({ miss_won: 1, miss_busy: n - 1 }, got.map(&:last).tally)
    assert(got.all? { |v, _| v.nil? })
    c.set(k, 'v1')
    assert_equal ['v1', :hit], c.get_or_lock(k, lock_ttl: 30)
    item, lease = c.get_or_lock(k, lock_ttl: 30, item: true)
    assert_equal :hit, lease
    assert_operator item.cas, :>, 0
    assert_equal true, c.invalidate(k, stale_ttl: 30)
    got = race.call
    assert_equal({ stale_won: 1, stale: n - 1 }, got.map(&:last).tally)
    assert_equal ['v1'], got.map(&:first).uniq
    c.set(k, 'v2')
    assert_equal ['v2', :hit], c.get_or_lock(k, lock_ttl: 30)
    assert_equal false, c.invalidate(key('nothing'), stale_ttl: 30)
    assert_error(Pymemcache::IllegalInput, Pymemcache::ILLEGAL_INPUT) { c.get_or_lock('bad key', lock_ttl: 30) }
  end

  # fetch_with_lock: one thread computes, the others wait for its value.
  def test_fetch_with_lock
    c = client(server1, use_pooling: true)
    k = key('fetchlock')
    computed = Queue.new
    threads = Array.new(5) do
      Thread.new do
        c.fetch_with_lock(k, lock_ttl: 10, wait: 0.02) do
          computed << 1
          sleep 0.2
          'computed'
        end
      end
    end
    assert_equal ['computed'], threads.map(&:value).uniq
    assert_equal 1, computed.size
    assert_equal 'computed', c.get(k)
    c.invalidate(k, stale_ttl: 10)
    assert_equal 'again', c.fetch_with_lock(k) { 'again' } # the stale_won caller recomputes
    assert_equal 'again', c.get(k)
  end

  # The same states through a batch.
  def test_batch_get_or_lock_and_invalidate
    c = client
    k = key('bgol')
    b = batch
    b.get_or_lock(k, lock_ttl: 30)
    b.get_or_lock(k, lock_ttl: 30)
    b.invalidate(key('bgolmiss'), stale_ttl: 30)
    rs = b.execute(c)
    assert_equal [:miss_won, :miss_busy, nil], rs.map(&:lease)
    assert_equal Pymemcache::NOT_FOUND, rs[2].status
    c.set(k, 'old')
    b.clear
    b.invalidate(k, stale_ttl: 30)
    b.get_or_lock(k, lock_ttl: 30)
    b.get_or_lock(k, lock_ttl: 30)
    rs = b.execute(c)
    assert_equal [Pymemcache::OK, Pymemcache::OK, Pymemcache::OK], rs.map(&:status)
    assert_equal [nil, :stale_won, :stale], rs.map(&:lease)
    assert_equal %w[old old], [rs[1].value, rs[2].value]
    refute_equal 0, rs[1].ttl
  end

  def test_batch_open_frees
    b = Pymemcache::Batch.open do |x|
      x.get('k')
      x
    end
    assert b.freed?
  end

  # Every batch and value is freed: 350 batches each holding two 256 KiB
  # results and 350 get_or_lock hits of 256 KiB (262 MiB) must not grow the
  # process by as much.
  def test_batches_and_values_do_not_leak
    skip 'no /proc/self/status' unless File.exist?('/proc/self/status')
    c = client
    big = ("\xAB".b * (256 * 1024)).freeze
    k = key('bleak')
    c.set(k, big)
    bad = 0
    round = lambda do |n|
      n.times do
        Pymemcache::Batch.open do |b|
          b.get(k)
          b.gets(k)
          bad += 1 unless b.execute(c).map(&:value) == [big, big]
        end
        bad += 1 unless c.get_or_lock(k, lock_ttl: 30) == [big, :hit]
      end
    end
    round.call(50)
    GC.start
    before = File.read('/proc/self/status')[/^VmRSS:\s+(\d+) kB/, 1].to_i * 1024
    round.call(350)
    GC.start
    grown = (File.read('/proc/self/status')[/^VmRSS:\s+(\d+) kB/, 1].to_i * 1024) - before
    assert_equal 0, bad
    assert_operator grown, :<, 96 * 1024 * 1024, "RSS grew by #{grown >> 20} MiB: batches or values leak"
  end
end
