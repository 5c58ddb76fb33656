# frozen_string_literal: true

# Every command against a real memcached: results as Ruby objects, keyword
# options, Dalli-style names with pymemcache's as aliases.
require_relative 'helper'

class PymemcacheCommandsTest < PymemcacheTestCase
  def test_binary_round_trip
    c = client
    k = key('bin')
    value = ALL_BYTES + "\r\nEND\r\n\0".b
    assert_equal true, c.set(k, value, flags: 0xdeadbeef)
    got = c.get(k)
    assert_equal Encoding::BINARY, got.encoding
    assert_equal value, got
    assert_equal Pymemcache::Item.new(value, 0xdeadbeef, 0), c.get_item(k)

    empty = key('empty')
    c.set(empty, '', flags: 7)
    assert_equal Pymemcache::Item.new(''.b, 7, 0), c.get_item(empty)
    # Text values go as their bytes.
    c.set(k, 'Zoë')
    assert_equal 'Zoë'.b, c.get(k)
    assert_raises(TypeError) { c.set(k, 42) }
  end

  def test_miss
    c = client
    assert_nil c.get(key('miss'))
    assert_nil c.get_item(key('miss'))
    assert_equal [nil, nil], c.gets(key('miss'))
    assert_nil c.gets_item(key('miss'))
    assert_nil c.gat(key('miss'), 10)
    assert_equal [nil, nil], c.gats(key('miss'), 10)
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
    assert_equal got, c.get_multi(miss1, a, miss2, b), 'keys as arguments (Dalli)'
    assert_equal got, c.get_many([miss1, a, miss2, b]), "pymemcache's name"
    items = c.get_multi([a, miss1], items: true)
    assert_equal [a], items.keys
    assert_equal 1, items[a].flags
    assert_equal({}, c.get_multi([miss1, miss2]))
    assert_equal({}, c.get_multi([]))
    # Symbols are their names; the Hash is keyed by the keys as given.
    c.set(:sym_key_rb, 'sym')
    assert_equal({ sym_key_rb: 'sym' }, c.get_multi(:sym_key_rb))

    casd = c.gets_multi(a, b, miss1)
    assert_equal [a, b], casd.keys
    assert casd.values.all? { |it| it.cas.positive? }
    assert_equal casd.keys, c.gets_many([a, b]).keys
  end

  def test_set_multi_and_delete_multi
    c = client
    a, b, z = key('sm'), key('sm'), key('sm')
    assert_equal [], c.set_multi({ a => '1', b => '2' }, flags: 4, expire: 100)
    assert_equal({ a => '1', b => '2' }, c.get_multi(a, b))
    assert_equal 4, c.get_item(b).flags
    assert_equal [], c.set_many([[a, 'x'], [b, 'y']], noreply: true)
    assert_equal 'y', c.get(b)
    assert_equal 2, c.delete_multi(a, b, z)
    assert_equal 0, c.delete_many([a, b])
    assert_equal({}, c.get_multi(a, b))
    assert_equal [], c.set_multi({})
    assert_raises(Pymemcache::IllegalInput) { c.delete_multi(a, 'bad key') }
  end

  def test_add_replace_append_prepend
    c = client
    k = key('arap')
    assert_equal false, c.replace(k, 'x')
    assert_equal false, c.append(k, 'x')
    assert_equal false, c.prepend(k, 'x')
    assert_equal true, c.add(k, 'mid', flags: 3)
    assert_equal false, c.add(k, 'other')
    assert_equal true, c.append(k, '-end')
    assert_equal true, c.prepend(k, 'start-')
    assert_equal Pymemcache::Item.new('start-mid-end'.b, 3, 0), c.get_item(k)
    assert_equal true, c.replace(k, 'new', flags: 5)
    assert_equal Pymemcache::Item.new('new'.b, 5, 0), c.get_item(k)
    # noreply: the outcome is not known, reported as stored.
    assert_equal true, c.add(k, 'ignored', noreply: true)
    assert_equal 'new', c.get(k)
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

    fresh = c.gets_item(k).cas
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
    # Stored counters stay below 2**63: memcached reads one of 2**63 or more
    # with strchr, which runs past the value and may call it non-numeric.
    c.set(k, '9223372036854775807')
    assert_equal 1, c.incr(k, 9_223_372_036_854_775_810), 'incr wraps at 2**64'
    assert_equal 2, c.incr(k)
    assert_equal true, c.incr(k, 5, noreply: true), 'noreply: sent, value not known'
    assert_equal '7', c.get(k).rstrip # memcached pads in-place results

    missing = key('ctr-missing')
    assert_nil c.incr(missing)
    assert_nil c.decr(missing)

    text = key('ctr-text')
    c.set(text, 'not a number')
    assert_error(Pymemcache::ClientError, Pymemcache::CLIENT_ERROR) { c.incr(text) }
  end

  def test_delete_and_noreply
    c = client
    k = key('del')
    c.set(k, 'x')
    assert_equal true, c.delete(k)
    assert_nil c.get(k)
    assert_equal false, c.delete(k)
    assert_equal true, c.delete(k, noreply: true), 'not waited for: true'
    # A client-wide noreply default; a call's noreply: false waits all the same.
    nr = client(noreply: true)
    assert_equal true, nr.delete(k)
    assert_equal false, nr.delete(k, noreply: false)
  end

  def test_gat_gats_and_expiry
    c = client
    k = key('gat')
    c.set(k, 'v', flags: 2, expire: 100)
    assert_equal 'v', c.gat(k, 0)
    assert_equal Pymemcache::Item.new('v'.b, 2, 0), c.gat_item(k, 0)
    value, unique = c.gats(k, 100)
    assert_equal 'v', value
    assert_operator unique, :>, 0
    assert_equal unique, c.gats_item(k).cas
    assert_equal 'v', c.gat(k, -1)
    assert_nil c.get(k), 'a negative expiry reaches the server'
    c.set(k, 'gone', expire: -1)
    assert_nil c.get(k)
  end

  def test_fetch
    c = client
    k = key('fetch')
    calls = 0
    assert_equal 'computed', c.fetch(k, expire: 100) { calls += 1; 'computed' }
    assert_equal 'computed', c.fetch(k) { calls += 1; 'again' }
    assert_equal 1, calls
    assert_nil c.fetch(key('fetch-none'))
  end

  def test_server_commands
    c = client
    v = c.version
    assert_match(/\A\d+\.\d+/, v)
    stats = c.stats
    assert_equal [server1], stats.keys
    assert_match(/\A\d+\z/, stats[server1]['pid'])
    assert_equal stats[server1]['pid'], c.stat('pid')
    assert c.stats('settings')[server1].key?('maxbytes')
    assert_match(/\A\d+\z/, c.stat('maxbytes', 'settings'))
    assert_nil c.stat('no_such_stat')
    assert_error(Pymemcache::IllegalInput, Pymemcache::ILLEGAL_INPUT) { c.stats('bad arg') }
    assert_equal true, c.cache_memlimit(64)
    assert_equal "VERSION #{v}".b, c.raw_command('version')
    assert_equal "VERSION #{v}".b, c.raw_command('version', "\r\n")
    assert_error(Pymemcache::IllegalInput, Pymemcache::ILLEGAL_INPUT) { c.raw_command("version\r\nflush_all") }
    assert_error(Pymemcache::UnknownCommand, Pymemcache::UNKNOWN_COMMAND) { c.raw_command('bogus_command') }

    k = key('admin')
    c.set(k, 'v')
    assert_nil c.quit
    assert_equal 'v', c.get(k), 'the next command reconnects after quit'
    assert_nil c.close_connections
    assert_equal 'v', c.get(k), 'and after close_connections'
    assert_error(Pymemcache::UnknownCommand, Pymemcache::UNKNOWN_COMMAND) { c.shutdown }
  end

  def test_flush_all_and_shutdown
    pid, addr = MemcachedHelper.extra_server(['-A'])
    c = client(addr)
    k = key('flush')
    c.set(k, 'v')
    assert_equal true, c.flush_all
    assert_nil c.get(k)
    c.set(k, 'v')
    assert_equal true, c.flush(0, noreply: true), "Dalli's name"
    assert_nil c.get(k)
    assert_nil c.shutdown(true)
    deadline = Time.now + 5
    loop do
      TCPSocket.new(*addr.split(':')).close
      flunk 'memcached still listens after shutdown' if Time.now > deadline
      sleep 0.02
    rescue SystemCallError
      break
    end
  ensure
    MemcachedHelper.stop(pid) if pid
  end

  def test_pymemcache_and_dalli_names
    %i[get set add replace append prepend cas delete incr decr touch gat gats gets get_multi get_many
       gets_multi gets_many set_multi set_many delete_multi delete_many stats version flush flush_all
       cache_memlimit raw_command quit shutdown close close_connections fetch set_text get_text set_int
       get_int set_json get_json server_for_key pool_stats pool_clear add_server remove_server].each do |m|
      assert Pymemcache::Client.method_defined?(m), m
    end
  end
end
