# frozen_string_literal: true

require_relative 'errors'

module Pymemcache
  # Converting keys, values and reply modes between Ruby and the C surface.
  module Convert
    NON_ASCII_KEY = 'PMC_ILLEGAL_INPUT: illegal input: key contains non-ASCII characters and ' \
                    'allow_unicode_keys is off'
    NOT_TEXT_KEY = 'PMC_ILLEGAL_INPUT: illegal input: key is not valid text in its encoding ' \
                   '(pass a binary String to send it as bytes)'
    EMPTY = String.new(encoding: Encoding::BINARY).freeze

    module_function

    # C memory holding the bytes of +str+ (at least one byte, so that the
    # pointer is never NULL), freed when garbage collected. The library
    # reads it while the GVL is released, so it must not be a Ruby String.
    def memory(str)
      mem = FFI::MemoryPointer.new(:uint8, [str.bytesize, 1].max, false)
      mem.put_bytes(0, str) unless str.empty?
      mem
    end

    # The bytes of a value: a String (any encoding; its bytes as they are).
    def value_bytes(value, what = 'value')
      return value if value.is_a?(String)
      raise TypeError, "#{what} must be a String, not #{value.class} (set_json and set_int store other types)" \
        unless value.respond_to?(:to_str)

      value.to_str
    end

    # A binary String copied from +len+ bytes at +ptr+.
    def read(ptr, len)
      return EMPTY.dup if len.zero? || ptr.null?

      ptr.read_bytes(len)
    end

    # Copies a pmc_value into an Item and frees the library's bytes.
    def take_value(value)
      Item.new(read(value[:data], value[:len]), value[:flags], value[:cas])
    ensure
      Lib.pmc_value_free(value)
    end

    # Copies a string the library allocated (char *) and frees it.
    def take_string(ptr)
      return nil if ptr.null?

      begin
        ptr.read_string.force_encoding(Encoding::UTF_8)
      ensure
        Lib.pmc_string_free(ptr)
      end
    end

    # pmc_reply of a call's noreply: option: nil -> the client's default.
    def reply_mode(noreply)
      return Lib::REPLY_DEFAULT if noreply.nil?

      noreply ? Lib::REPLY_NONE : Lib::REPLY_WAIT
    end

    # Seconds (Integer or Float) as milliseconds for a uint32 option.
    def ms(seconds)
      (Float(seconds) * 1000.0).ceil.clamp(0, 0xFFFF_FFFF)
    end

    # The bytes the library gets for +key+, as pymemcache takes keys: the
    # one key check of the binding, used by every method. A binary String is
    # bytes and goes as it is; an ASCII String as it is too (a cached
    # coderange check, no copy); other text is refused unless
    # +allow_unicode+, then sent as UTF-8. A Symbol is its name.
    def key_bytes(key, op, allow_unicode)
      key = key.to_s unless key.is_a?(String)
      return key if key.ascii_only? || key.encoding == Encoding::BINARY

      text_key_bytes(key, op, allow_unicode)
    end

    def text_key_bytes(key, op, allow_unicode)
      raise IllegalInput.new("#{op}: #{NOT_TEXT_KEY}", status: ILLEGAL_INPUT) unless key.valid_encoding?

      # An ASCII key in an encoding that is not ASCII-compatible (UTF-16...)
      # is ASCII text all the same.
      utf8 = key.encoding == Encoding::UTF_8 ? key : key.encode(Encoding::UTF_8)
      return utf8 if utf8.ascii_only? || allow_unicode

      raise IllegalInput.new("#{op}: #{NON_ASCII_KEY}", status: ILLEGAL_INPUT)
    rescue EncodingError
      raise IllegalInput.new("#{op}: #{NOT_TEXT_KEY}", status: ILLEGAL_INPUT)
    end

    # [pointer array, length array, keep-alive] for several byte strings.
    def byte_arrays(list)
      n = [list.size, 1].max
      mems = list.map { |s| memory(s) }
      ptrs = FFI::MemoryPointer.new(:pointer, n)
      ptrs.write_array_of_pointer(mems) unless mems.empty?
      lens = FFI::MemoryPointer.new(:size_t, n)
      size = FFI.type_size(:size_t)
      list.each_with_index { |s, i| lens.put(:size_t, i * size, s.bytesize) }
      [ptrs, lens, mems]
    end
  end

  # A value with its flags and CAS unique (0 unless read by gets, gats or
  # gets_many).
  Item = Struct.new(:value, :flags, :cas)
end
