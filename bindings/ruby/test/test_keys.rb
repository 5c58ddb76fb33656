# frozen_string_literal: true

# pymemcache's key rules, touch and the hash key form.
require_relative 'helper'

class PymemcacheKeysTest < PymemcacheTestCase
  NON_ASCII = 'key contains non-ASCII characters and allow_unicode_keys is off'
  # pymemcache 4.0.0's HashClient over these nodes places these keys so, as
  # str keys (text) and as bytes keys (it hashes the repr b'...').
  FIXED_NODES = %w[127.0.0.1:11211 127.0.0.1:11212 127.0.0.1:11213].freeze
  PLACEMENT = {
    'a' => %w[127.0.0.1:11213 127.0.0.1:11211],
    'foo' => %w[127.0.0.1:11213 127.0.0.1:11212],
    'key1' => %w[127.0.0.1:11212 127.0.0.1:11213],
    'user:42' => %w[127.0.0.1:11212 127.0.0.1:11212]
  }.freeze

  def assert_illegal(what, &block)
    err = assert_raises(Pymemcache::IllegalInput, what, &block)
    assert_equal Pymemcache::ILLEGAL_INPUT, err.status, what
    assert_equal 'PMC_ILLEGAL_INPUT', err.status_name, what
    assert_match(/PMC_ILLEGAL_INPUT/, err.message, what)
    err
  end

  def test_binary_keys_take_any_byte_but_whitespace_and_nul
    c = client # allow_unicode_keys off: it does not apply to binary keys
    uniq = key('bk').b
    other = (1..255).reject { |b| (9..13).cover?(b) || (32..126).cover?(b) }.pack('C*')
    keys = {
      'control bytes' => uniq + "\x01\x1b\x7f\x1f".b,
      'UTF-8' => uniq + '-clé-ключ-鍵'.b,
      'invalid UTF-8' => uniq + "\xff\xfe\xc3\x28\x80".b,
      'every other byte' => uniq + other
    }
    keys.each do |name, k|
      assert_equal Encoding::BINARY, k.encoding
      value = "#{name}|".b + ALL_BYTES
      assert_equal true, c.set(k, value, flags: 5), name
      assert_equal Pymemcache::Item.new(value, 5, 0), c.get_item(k), name
      v, unique = c.gets(k)
      assert_equal value, v, name
      assert_equal true, c.cas(k, value, unique, flags: 6), name
      assert_equal true, c.touch(k, 0), name
    end
    got = c.get_multi(keys.values + [key('bk-miss').b], items: true)
    assert_equal keys.values.sort, got.keys.sort
    keys.each { |name, k| assert_equal 6, got[k].flags, name }
    # An ASCII key is the same key in any encoding.
    assert_equal 6, c.get_item(keys['control bytes'].dup.force_encoding(Encoding::UTF_8)).flags

    ctr = key('bk-ctr').b + "\xe2\x82\xac\x01".b
    c.set(ctr, '41')
    assert_equal 43, c.incr(ctr, 2)
    assert_equal 42, c.decr(ctr, 1)
    assert_equal true, c.delete(ctr)
    assert_equal false, c.delete(ctr)
    # The length limit counts bytes.
    assert_equal true, c.set("\xff".b * 250, 'x')
    assert_illegal('251 bytes') { c.set("\xff".b * 251, 'x') }
  end

  def test_whitespace_and_nul_refused_as_text_and_bytes
    # Nothing listens there: had anything been sent, this would be a
    # connection error.
    [false, true].each do |allow|
      c = client(MemcachedHelper.closed_address, allow_unicode_keys: allow)
      [' ', "\t", "\n", "\r", "\v", "\f", "\0"].each do |sep|
        ["a#{sep}b", "#{sep}lead", "trail#{sep}", "é#{sep}"].each do |k|
          forms = [k.b]
          forms << k if k.ascii_only? || allow # a non-ASCII text key is refused first
          forms.each do |form|
            what = "allow=#{allow} #{form.inspect} (#{form.encoding})"
            err = assert_illegal("#{what} get") { c.get(form) }
            assert_match(/whitespace|null/, err.message, what)
            assert_illegal("#{what} set") { c.set(form, 'v') }
            assert_illegal("#{what} get_multi") { c.get_multi(['fine', form]) }
            assert_illegal("#{what} touch") { c.touch(form, 0) }
            assert_illegal("#{what} delete") { c.delete(form) }
            assert_illegal("#{what} incr") { c.incr(form) }
          end
        end
      end
      # A legal key on the same client does go to the (missing) server.
      assert_raises(Pymemcache::ConnectionError) { c.get("\x01\xff".b) }
    end
  end

  def test_non_ascii_text_keys
    closed = client(MemcachedHelper.closed_address)
    k = 'clé'
    calls = {
      'get' => -> { closed.get(k) }, 'gets' => -> { closed.gets(k) }, 'get_item' => -> { closed.get_item(k) },
      'set' => -> { closed.set(k, 'v') }, 'delete' => -> { closed.delete(k) },
      'touch' => -> { closed.touch(k, 0) }, 'incr' => -> { closed.incr(k) }, 'decr' => -> { closed.decr(k) },
      'cas' => -> { closed.cas(k, 'v', 1) }, 'get_multi' => -> { closed.get_multi(['fine', k]) },
      'server_for_key' => -> { closed.server_for_key(k) },
      'ISO-8859-1' => -> { closed.get('clé'.encode(Encoding::ISO_8859_1)) },
      'UTF-16LE' => -> { closed.get('clé'.encode(Encoding::UTF_16LE)) }
    }
    calls.each do |op, call|
      err = assert_illegal(op) { call.call }
      assert_includes err.message, NON_ASCII, op
    end
    # Not valid in its encoding: not text.
    err = assert_illegal('invalid UTF-8 text') { closed.get("bad\xff".dup.force_encoding(Encoding::UTF_8)) }
    assert_match(/not valid text/, err.message)
    # ASCII text in an encoding that is not ASCII-compatible is ASCII.
    assert_raises(Pymemcache::ConnectionError) { closed.get('plain'.encode(Encoding::UTF_16LE)) }

    # With allow_unicode_keys the UTF-8 bytes are stored: a binary key of the
    # same bytes, on a client without the option, reads them back.
    uni = client(allow_unicode_keys: true)
    plain = client
    text = "#{key('uni')}-clé-ключ-鍵-🔑"
    assert_equal true, uni.set(text, 'unicode', flags: 3)
    assert_equal Pymemcache::Item.new('unicode'.b, 3, 0), plain.get_item(text.b)
    assert_illegal('same text without the option') { plain.get(text) }
    assert_equal({ text => 'unicode'.b }, uni.get_multi([text, "#{key('uni-miss')}-é"]))
    # Text in another encoding is sent as UTF-8.
    latin = "#{key('uni-latin')}-clé"
    assert_equal true, uni.set(latin.encode(Encoding::ISO_8859_1), 'latin')
    assert_equal 'latin', plain.get(latin.b)
    assert_equal true, uni.touch(text, 0)
    assert_equal true, uni.delete(text)
    # The limit counts UTF-8 bytes: 125 'é' are 250 bytes, 126 are 252.
    assert_equal true, uni.set('é' * 125, 'x')
    assert_illegal('252 bytes of UTF-8') { uni.set('é' * 126, 'x') }
  end

  def test_touch
    c = client # the binding's default: noreply off, touch waits
    k = key('touch')
    c.set(k, 'x')
    assert_equal true, c.touch(k, 3600)
    assert_equal 'x', c.get(k)
    missing = key('touch-missing')
    assert_equal false, c.touch(missing, 10)
    # The ttl reaches the server: a negative one expires the item.
    assert_equal true, c.touch(k, -1)
    assert_nil c.get(k)

    # With noreply the outcome is not known: true, as pymemcache's
    # touch(noreply=None) under default_noreply.
    nr = client(noreply: true)
    assert_equal true, nr.touch(missing, 10)
    k2 = key('touch-nr')
    c.set(k2, 'y')
    assert_equal true, nr.touch(k2, -1)
    assert_nil nr.get(k2), 'the noreply touch did not reach the server'
    assert_illegal('touch of an illegal key') { c.touch('bad key') }
  end

  def test_hash_key_form_placement_vectors
    # Placement needs no connection: nothing needs to listen on these ports.
    default = client(FIXED_NODES)
    text = client(FIXED_NODES, hash_key_form: :text)
    bytes = client(FIXED_NODES, hash_key_form: :python_bytes)
    named = client(FIXED_NODES, hash_key_form: 'python_bytes')
    unset = client(FIXED_NODES, hash_key_form: nil)
    PLACEMENT.each do |k, (on_text, on_bytes)|
      assert_equal on_text, default.server_for_key(k), "default #{k}"
      assert_equal on_text, unset.server_for_key(k), "nil #{k}"
      assert_equal on_text, text.server_for_key(k), "text #{k}"
      assert_equal on_text, text.server_for_key(k.b), "text #{k} (binary)"
      assert_equal on_bytes, bytes.server_for_key(k), "python_bytes #{k}"
      assert_equal on_bytes, bytes.server_for_key(k.b), "python_bytes #{k} (binary)"
      assert_equal on_bytes, named.server_for_key(k), "'python_bytes' #{k}"
    end
    [:bytes, 'repr', 1].each do |bad|
      err = assert_raises(Pymemcache::InvalidArgument, bad.inspect) { Pymemcache::Client.new(FIXED_NODES, hash_key_form: bad) }
      assert_equal Pymemcache::INVALID_ARGUMENT, err.status
    end
  end

  def test_hash_key_form_placement_on_servers
    servers = [server1, server2]
    text = client(servers, hash_key_form: :text, retry_attempts: 0, dead_timeout: 30)
    bytes = client(servers, hash_key_form: :python_bytes, retry_attempts: 0, dead_timeout: 30)
    direct = { server1 => client(server1), server2 => client(server2) }
    moved = 0
    40.times do
      k = key('form')
      moved += 1 if text.server_for_key(k) != bytes.server_for_key(k)
      # Each form's client stores the key on the server it names, and only
      # there.
      { text => 'text', bytes => 'bytes' }.each do |c, form|
        kk = "#{k}-#{form}"
        on = c.server_for_key(kk)
        c.set(kk, form)
        direct.each do |addr, d|
          what = "#{form} key #{kk} on #{addr}, placed on #{on}"
          addr == on ? assert_equal(form, d.get(kk), what) : assert_nil(d.get(kk), what)
        end
      end
    end
    # About half of the keys move; none moving would mean the form is ignored.
    assert_includes 5..35, moved, "#{moved} of 40 keys placed differently by the two forms"
  end
end
