# frozen_string_literal: true

require 'json'
require_relative 'client'

module Pymemcache
  # Typed values as pymemcache's default serializer stores them, so that
  # Python services read what Ruby writes and the other way round: text
  # (flag 16, a str), integers (flag 2, an int) and JSON-shaped data
  # (strings, integers, bytes, and pickles of plain data: None, bool, int,
  # float, str, bytes, list, tuple, dict, set). Pickles are read without
  # running them; a pickle of anything else raises UnsupportedPickle.
  class Client
    INT64 = (-(2**63)..((2**63) - 1)).freeze

    # Stores +text+ (a String, sent as UTF-8) as pymemcache stores a str
    # (flag 16): true. InvalidArgument if it has no UTF-8 form.
    def set_text(key, text, expire: 0, noreply: nil)
      k = key_bytes(key, 'set_text')
      t = utf8_bytes(Convert.value_bytes(text, 'text'))
      st = run('set_text') do |c|
        Pymemcache.call_status('set_text', :pmc_set_text, c, Convert.memory(k), k.bytesize, Convert.memory(t),
                               t.bytesize, Integer(expire), Convert.reply_mode(noreply))
      end
      outcome('set_text', st, OK => true)
    end

    # The text stored under +key+ (a UTF-8 String: a pymemcache str, or
    # bytes that are UTF-8), or nil on a miss. NotText for other values.
    def get_text(key)
      item = read_one('get_text', :pmc_get_text, key)
      item&.value&.force_encoding(Encoding::UTF_8)
    end

    # Stores an Integer (signed 64-bit) as pymemcache stores an int (flag 2):
    # true. RangeError outside 64 bits (store those with set_json).
    def set_int(key, value, expire: 0, noreply: nil)
      n = Integer(value)
      raise RangeError, "set_int: #{n} is outside the signed 64-bit range" unless INT64.cover?(n)

      k = key_bytes(key, 'set_int')
      st = run('set_int') do |c|
        Pymemcache.call_status('set_int', :pmc_set_int64, c, Convert.memory(k), k.bytesize, n, Integer(expire),
                               Convert.reply_mode(noreply))
      end
      outcome('set_int', st, OK => true)
    end
    alias set_int64 set_int

    # The Integer stored under +key+ (a pymemcache int or long, or a
    # counter), or nil on a miss. NotInteger for other values.
    def get_int(key)
      k = key_bytes(key, 'get_int')
      out = FFI::MemoryPointer.new(:int64)
      st = run('get_int') { |c| Pymemcache.call_status('get_int', :pmc_get_int64, c, Convert.memory(k), k.bytesize, out) }
      return nil if st == MISS
      raise Pymemcache.unexpected('get_int', st) unless st == OK

      out.read_int64
    end
    alias get_int64 get_int

    # Stores +value+ (JSON-shaped Ruby data, or JSON text with raw: true)
    # the way pymemcache's serializer stores the Python object it stands
    # for: a String as str, an Integer as int, { "$bytes" => hex } as bytes,
    # anything else as a pickle (Hash -> dict, Array -> list,
    # { "$set" => [...] } -> set): true. CorruptValue for text that is not JSON.
    def set_json(key, value, expire: 0, noreply: nil, raw: false)
      json = raw ? utf8_bytes(Convert.value_bytes(value, 'JSON text')) : JSON.generate(value)
      k = key_bytes(key, 'set_json')
      st = run('set_json') do |c|
        Pymemcache.call_status('set_json', :pmc_set_json, c, Convert.memory(k), k.bytesize, json, Integer(expire),
                               Convert.reply_mode(noreply))
      end
      outcome('set_json', st, OK => true)
    end

    # Any value a pymemcache service stored, as Ruby data: str -> String,
    # int -> Integer, bytes -> { "$bytes" => hex }, pickles of plain data ->
    # Hash / Array / ... (tuples as Arrays, sets as { "$set" => [...] }).
    # nil on a miss (and for a stored None: raw: true tells them apart,
    # giving the JSON text, "null" for None).
    def get_json(key, raw: false)
      k = key_bytes(key, 'get_json')
      out = FFI::MemoryPointer.new(:pointer)
      st = run('get_json') { |c| Pymemcache.call_status('get_json', :pmc_get_json, c, Convert.memory(k), k.bytesize, out) }
      return nil if st == MISS
      raise Pymemcache.unexpected('get_json', st) unless st == OK

      text = Convert.take_string(out.read_pointer)
      raw ? text : JSON.parse(text)
    end

    private

    def utf8_bytes(str)
      return str if str.encoding == Encoding::BINARY || str.encoding == Encoding::UTF_8

      str.encode(Encoding::UTF_8)
    rescue EncodingError => e
      raise InvalidArgument.new("text has no UTF-8 form: #{e.message}", status: INVALID_ARGUMENT)
    end
  end
end
