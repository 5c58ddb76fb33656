# frozen_string_literal: true

# The serde helpers: text, integers and JSON-shaped data stored and read as
# pymemcache's default serializer stores them, so Python services and Ruby
# read each other's values.
require 'open3'
require_relative 'helper'

class PymemcacheSerdeTest < PymemcacheTestCase
  # Made by Python's pickle.dumps (protocols 5, 2, 4, 5) of:
  #   {"name": "café", "list": [1, 2.5, None, True, "s"], "t": (1, 2), "b": b"\x00\xff", "s": {1}}
  #   [1, -2, "x", [3.5, False], {"k": None}]
  #   -7
  #   "héllo ☃"
  PICKLES = {
    dict5: "\x80\x05\x95K\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x04name\x94\x8c\x05caf\xc3\xa9\x94\x8c\x04list\x94]\x94(K\x01G\x40\x04\x00\x00\x00\x00\x00\x00N\x88\x8c\x01s\x94e\x8c\x01t\x94K\x01K\x02\x86\x94\x8c\x01b\x94C\x02\x00\xff\x94h\x05\x8f\x94(K\x01\x90u.".b,
    list2: "\x80\x02]q\x00(K\x01J\xfe\xff\xff\xffX\x01\x00\x00\x00xq\x01]q\x02(G\x40\x0c\x00\x00\x00\x00\x00\x00\x89e}q\x03X\x01\x00\x00\x00kq\x04Nse.".b,
    neg4: "\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00J\xf9\xff\xff\xff.".b,
    str5: "\x80\x05\x95\x0e\x00\x00\x00\x00\x00\x00\x00\x8c\x0ah\xc3\xa9llo \xe2\x98\x83\x94.".b,
  }.freeze
  # A pickle that would call os.system("id"): refused, never run.
  CLASS_PICKLE = "\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.".b
  TRUNCATED_PICKLE = "\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01".b

  def test_text
    c = client
    k = key('text')
    assert_equal true, c.set_text(k, 'Zoë ☃')
    assert_equal Pymemcache::Item.new('Zoë ☃'.b, 16, 0), c.get_item(k), 'flag 16, as pymemcache stores a str'
    got = c.get_text(k)
    assert_equal 'Zoë ☃', got
    assert_equal Encoding::UTF_8, got.encoding
    c.set_text(k, 'été'.encode(Encoding::ISO_8859_1))
    assert_equal 'été', c.get_text(k), 'text in another encoding is stored as UTF-8'
    c.set(k, 'plain bytes')
    assert_equal 'plain bytes', c.get_text(k), 'flag-0 bytes that are UTF-8 read as text'
    assert_nil c.get_text(key('none'))
    assert_error(Pymemcache::InvalidArgument, Pymemcache::INVALID_ARGUMENT) { c.set_text(k, "\xff".b) }
    c.set(k, "\xff".b, flags: 16)
    assert_error(Pymemcache::NotText, Pymemcache::NOT_TEXT) { c.get_text(k) }
    assert_equal true, c.set_text(k, 'short', expire: -1)
    assert_nil c.get_text(k)
  end

  def test_integers
    c = client
    k = key('int')
    assert_equal true, c.set_int(k, -17)
    assert_equal Pymemcache::Item.new('-17'.b, 2, 0), c.get_item(k), 'flag 2, as pymemcache stores an int'
    assert_equal(-17, c.get_int(k))
    assert_equal true, c.set_int64(k, (2**63) - 1)
    assert_equal (2**63) - 1, c.get_int64(k)
    assert_raises(RangeError) { c.set_int(k, 2**63) }
    assert_nil c.get_int(key('none'))
    ctr = key('ctr')
    c.set(ctr, '41')
    c.incr(ctr)
    assert_equal 42, c.get_int(ctr), 'a counter reads as an integer'
    c.set(k, 'x' * 3)
    assert_error(Pymemcache::NotInteger, Pymemcache::NOT_INTEGER) { c.get_int(k) }
    c.set(k, '123456789012345678901234567890', flags: 2)
    assert_raises(Pymemcache::NotInteger) { c.get_int(k) }
    assert_equal 123_456_789_012_345_678_901_234_567_890, c.get_json(k), 'beyond 64 bits: read with get_json'
  end

  def test_json_round_trips
    c = client
    k = key('json')
    doc = { 'langs' => %w[C Python], 'score' => 4.5, 'nested' => { 'ok' => true, 'none' => nil } }
    assert_equal true, c.set_json(k, doc)
    assert_equal 1, c.get_item(k).flags, 'a pickle, as pymemcache stores a dict'
    assert_equal doc, c.get_json(k)
    c.set_json(k, 'text')
    assert_equal 16, c.get_item(k).flags
    assert_equal 'text', c.get_json(k)
    c.set_json(k, 12)
    assert_equal Pymemcache::Item.new('12'.b, 2, 0), c.get_item(k)
    c.set_json(k, { '$bytes' => '00ff' })
    assert_equal Pymemcache::Item.new("\x00\xff".b, 0, 0), c.get_item(k)
    c.set(k, "\x01\x02\xff".b)
    assert_equal({ '$bytes' => '0102ff' }, c.get_json(k))
    c.set_json(k, nil)
    assert_nil c.get_json(k)
    assert_equal 'null', c.get_json(k, raw: true), 'raw: tells a stored None from a miss'
    assert_nil c.get_json(key('none'), raw: true)
    c.set_json(k, '{"$set":[1,2]}', raw: true)
    assert_equal({ '$set' => [1, 2] }, c.get_json(k))
  end

  def test_python_pickles_read_as_ruby_data
    c = client
    expected = {
      dict5: { 'name' => 'café', 'list' => [1, 2.5, nil, true, 's'], 't' => [1, 2], 'b' => { '$bytes' => '00ff' },
               's' => { '$set' => [1] } },
      list2: [1, -2, 'x', [3.5, false], { 'k' => nil }],
      neg4: -7,
      str5: 'héllo ☃'
    }
    PICKLES.each do |name, bytes|
      k = key(name.to_s)
      c.set(k, bytes, flags: 1) # as pymemcache stores a pickle
      assert_equal expected.fetch(name), c.get_json(k), name.to_s
    end
    k = key('class')
    c.set(k, CLASS_PICKLE, flags: 1)
    assert_error(Pymemcache::UnsupportedPickle, Pymemcache::UNSUPPORTED_PICKLE) { c.get_json(k) }
    c.set(k, TRUNCATED_PICKLE, flags: 1)
    assert_error(Pymemcache::CorruptValue, Pymemcache::CORRUPT_VALUE) { c.get_json(k) }
    # Compressed (flag 8) pickles are decompressed first.
    z = client(compression: { min_length: 10 })
    list = Array.new(200) { 'same' }
    z.set_json(k, list)
    assert_equal 9, c.get_item(k).flags
    assert_equal list, c.get_json(k)
  end

  # What Ruby stores, Python's pickle.loads reads (checked with python3
  # where it is installed).
  def test_python_reads_what_ruby_wrote
    c = client
    values = {
      'dict' => [{ 'a' => [1, 2.5, nil, true], 'é' => { 'n' => -3 } }, "{'a': [1, 2.5, None, True], 'é': {'n': -3}}"],
      'list' => [[1, 'two', [3]], "[1, 'two', [3]]"],
      'set' => [{ '$set' => [1] }, '{1}'],
      'float' => [0.5, '0.5'],
      'bool' => [false, 'False']
    }
    raw = values.to_h do |name, (value, _)|
      k = key(name)
      c.set_json(k, value)
      item = c.get_item(k)
      assert_equal 1, item.flags, name
      assert_equal value, c.get_json(k), name
      [name, item.value]
    end
    python = ENV.fetch('PATH', '').split(File::PATH_SEPARATOR).map { |d| File.join(d, 'python3') }
                .find { |p| File.executable?(p) }
    skip 'python3 not installed: pickle.loads not checked' unless python
    script = 'import pickle,sys; [print(repr(pickle.loads(bytes.fromhex(l)))) for l in sys.stdin.read().split()]'
    out, status = Open3.capture2(python, '-c', script, stdin_data: raw.values.map { |b| b.unpack1('H*') }.join("\n"))
    assert status.success?
    assert_equal values.values.map(&:last), out.force_encoding(Encoding::UTF_8).lines.map(&:chomp)
  end
end
