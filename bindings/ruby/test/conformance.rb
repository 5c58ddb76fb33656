# frozen_string_literal: true

# The conformance table (tests/conformance/cases.txt) run through this
# binding: parsed as examples-c/conformance.c parses it, each line run with
# the Client's methods, each outcome written in the table's notation. A
# command the binding cannot run fails the run (no skipping).
module Conformance
  Line = Struct.new(:no, :cmd, :args, :flags, :expire, :reply, :expect)
  Case = Struct.new(:name, :lines)

  ESCAPES = { 'r' => "\r", 'n' => "\n", 't' => "\t", '0' => "\0", '\\' => '\\' }.freeze
  ERROR_KINDS = %w[ILLEGAL_INPUT CLIENT_ERROR SERVER_ERROR TOO_LARGE UNKNOWN_COMMAND].freeze

  module_function

  # The table's file: PMC_CONFORMANCE_CASES, or the checkout this suite sits in.
  def cases_file
    env = ENV['PMC_CONFORMANCE_CASES']
    return env if env && !env.empty?

    File.expand_path('../../../tests/conformance/cases.txt', __dir__)
  end

  # Decodes a token: \xNN \r \n \t \0 \\ escapes and {c*N} repetitions.
  def decode(tok, no)
    out = String.new(encoding: Encoding::BINARY)
    i = 0
    bad = ->(why) { raise ArgumentError, "line #{no}: #{why} in token `#{tok}`" }
    while i < tok.length
      c = tok[i]
      if c == '\\'
        e = tok[i + 1]
        if e == 'x'
          hex = tok[i + 2, 2].to_s
          bad.call('bad \\x escape') unless hex.match?(/\A\h{2}\z/)
          out << hex.to_i(16).chr
          i += 4
          next
        end
        bad.call('bad escape') unless ESCAPES.key?(e)
        out << ESCAPES[e].b
        i += 2
      elsif c == '{'
        close = tok.index('}', i) || bad.call('{ without }')
        inner = tok[(i + 1)...close]
        star = inner.rindex('*') || bad.call('{c*N} without *')
        one = decode(inner[0...star], no)
        bad.call('{c*N} repeats one byte') unless one.bytesize == 1
        count = inner[(star + 1)..]
        bad.call('bad count in {c*N}') unless count.match?(/\A\+?\d+\z/)
        out << (one * count.to_i)
        i = close + 1
      else
        out << c.b
        i += 1
      end
    end
    out
  end

  # Bytes in the table's notation.
  def encode(bytes)
    bytes.each_byte.map do |c|
      case c
      when 0x0d then '\\r'
      when 0x0a then '\\n'
      when 0x5c then '\\\\'
      when 0x21..0x7e then c.chr
      else format('\\x%02x', c)
      end
    end.join
  end

  # The expected outcome with value tokens (`v/flags`) decoded and encoded again.
  def normalize(expect, no)
    expect.split(' ').map do |t|
      slash = t.rindex('/')
      flags = slash && t[(slash + 1)..]
      if flags&.match?(/\A\+?\d+\z/) && flags.to_i <= 0xFFFF_FFFF
        encode(decode(t[0...slash], no)) + t[slash..]
      else
        t
      end
    end.join(' ')
  end

  def parse(text)
    cases = []
    text.force_encoding(Encoding::UTF_8).split("\n").each_with_index do |raw, idx|
      no = idx + 1
      s = raw.strip
      next if s.empty? || s.start_with?('#')

      if s.start_with?('== ')
        cases << Case.new(s[3..], [])
        next
      end
      raise ArgumentError, "line #{no}: a command before the first \"== name\" case header" if cases.empty?

      lhs = s
      expect = ''
      if (arrow = s.index(' -> '))
        lhs = s[0...arrow]
        expect = s[(arrow + 4)..].strip
      elsif s.end_with?(' ->')
        lhs = s[0...-3]
      end
      words = lhs.split(/\s+/)
      line = Line.new(no, words[0], [], nil, nil, nil, expect)
      words[1..].each do |w|
        if (m = /\A(flags|expire|reply)=(.*)\z/.match(w))
          line[m[1].to_sym] = m[2]
        else
          line.args << w
        end
      end
      cases.last.lines << line
    end
    cases
  end

  # Runs the table's lines on one client; @cas holds the remembered CAS uniques.
  class Runner
    def initialize(client)
      @client = client
      @cas = {}
    end

    def run(line)
      outcome(line)
    rescue Pymemcache::Error => e
      raise if e.status.nil?

      kind = e.status_name.delete_prefix('PMC_')
      ERROR_KINDS.include?(kind) ? "err:#{kind}" : "err:OTHER(#{e.message})"
    end

    def int(line, s)
      raise ArgumentError, "line #{line.no}: `#{s}` is not an integer" unless s.match?(/\A[-+]?\d+\z/)

      s.to_i
    end

    def need(line, n)
      return if line.args.size >= n

      raise ArgumentError, "line #{line.no}: #{line.cmd} needs #{n} argument(s), has #{line.args.size}"
    end

    def item_outcome(item)
      "#{Conformance.encode(item.value)}/#{item.flags}"
    end

    def options(line)
      opts = {}
      opts[:flags] = int(line, line.flags) if line.flags
      opts[:expire] = int(line, line.expire) if line.expire
      case line.reply
      when nil, 'default' then nil
      when 'wait' then opts[:noreply] = false
      when 'none' then opts[:noreply] = true
      else raise ArgumentError, "line #{line.no}: reply=#{line.reply}"
      end
      opts
    end

    def outcome(line)
      c = @client
      args = line.args
      opts = options(line)
      key = ->(i) { Conformance.decode(args[i], line.no) }
      case line.cmd
      when 'set', 'add', 'replace', 'append', 'prepend'
        need(line, 2)
        c.public_send(line.cmd, key.call(0), key.call(1), **opts) ? 'OK' : 'NOT_STORED'
      when 'cas'
        need(line, 3)
        if args[2].start_with?('$')
          unique = @cas[Conformance.decode(args[2][1..], line.no)]
          return "(no CAS unique remembered for #{args[2]})" if unique.nil?
        else
          unique = Integer(args[2], 10)
        end
        { true => 'OK', false => 'EXISTS', nil => 'NOT_FOUND' }.fetch(c.cas(key.call(0), key.call(1), unique, **opts))
      when 'get', 'gets', 'gat', 'gats'
        touch = line.cmd.start_with?('ga')
        need(line, touch ? 2 : 1)
        k = key.call(touch ? 1 : 0)
        item = case line.cmd
               when 'get' then c.get_item(k)
               when 'gets' then c.gets_item(k)
               when 'gat' then c.gat_item(k, int(line, args[0]))
               else c.gats_item(k, int(line, args[0]))
               end
        return 'MISS' if item.nil?

        if %w[gets gats].include?(line.cmd)
          @cas[k] = item.cas
        elsif item.cas != 0
          return "#{item_outcome(item)} (get gave CAS unique #{item.cas})"
        end
        item_outcome(item)
      when 'get_many', 'gets_many'
        keys = args.each_index.map { |i| key.call(i) }
        hits = line.cmd == 'get_many' ? c.get_many(keys, items: true) : c.gets_many(keys)
        extra = hits.keys - keys
        out = keys.map do |k|
          it = hits[k]
          next 'MISS' unless it

          @cas[k] = it.cas if line.cmd == 'gets_many'
          item_outcome(it)
        end.join(' ')
        extra.empty? ? out : "#{out} (#{extra.size} hits for keys not asked for)"
      when 'set_many'
        pairs = args.map do |a|
          eq = a.index('=') || raise(ArgumentError, "line #{line.no}: set_many takes key=value, not `#{a}`")
          [Conformance.decode(a[0...eq], line.no), Conformance.decode(a[(eq + 1)..], line.no)]
        end
        failed = c.set_many(pairs, **opts)
        "failed:#{failed.map { |k| pairs.index { |p| p[0] == k } }.join(',')}"
      when 'delete'
        need(line, 1)
        c.delete(key.call(0), **opts.slice(:noreply)) ? 'OK' : 'NOT_FOUND'
      when 'delete_many'
        c.delete_many(args.each_index.map { |i| key.call(i) }, **opts.slice(:noreply)).to_s
      when 'incr', 'decr'
        need(line, 2)
        raise ArgumentError, "line #{line.no}: `#{args[1]}` is not an unsigned integer" unless args[1].match?(/\A\+?\d+\z/)

        r = c.public_send(line.cmd, key.call(0), args[1].to_i, **opts.slice(:noreply))
        r == true ? 'NONE' : r.nil? ? 'NOT_FOUND' : r.to_s
      when 'touch'
        need(line, 2)
        c.touch(key.call(0), int(line, args[1]), **opts.slice(:noreply)) ? 'OK' : 'NOT_FOUND'
      when 'flush_all'
        c.flush_all(args.empty? ? 0 : int(line, args[0]), noreply: false) ? 'OK' : 'NOT OK'
      when 'sleep'
        need(line, 1)
        sleep(int(line, args[0]) / 1000.0)
        ''
      else
        raise ArgumentError, "line #{line.no}: unknown command #{line.cmd} (the Ruby binding cannot run it)"
      end
    end
  end

  # Runs every case; make_client gives a client with an empty cache (or
  # the runner flushes it, flush: true). Returns [cases, lines, diffs].
  def run_table(file, flush:, &make_client)
    table = parse(File.read(file))
    raise ArgumentError, "#{file} holds no cases" if table.empty?

    diffs = []
    lines = 0
    client = make_client.call
    begin
      table.each do |cs|
        if flush
          client.flush_all(0, noreply: false)
        else
          client.close
          client = make_client.call
        end
        runner = Runner.new(client)
        cs.lines.each do |line|
          got = runner.run(line)
          lines += 1
          want = normalize(line.expect, line.no)
          next if line.cmd == 'sleep' || got == want

          diffs << "#{cs.name} line #{line.no}: `#{line.cmd} #{line.args.join(' ')[0, 120]}` " \
                   "gave `#{got[0, 200]}`, table says `#{want[0, 200]}`"
        end
      end
    ensure
      client.close
    end
    [table.size, lines, diffs]
  end

  # [cases, command lines] counted from the raw text.
  def totals(file)
    raw = File.read(file).split("\n").map(&:strip).reject { |l| l.empty? || l.start_with?('#') }
    [raw.count { |l| l.start_with?('== ') }, raw.count { |l| !l.start_with?('== ') }]
  end
end
