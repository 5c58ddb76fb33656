# frozen_string_literal: true

# tests/conformance/cases.txt against a real memcached and against the mock
# client, every line of every case counted.
require_relative 'helper'
require_relative 'conformance'

class PymemcacheConformanceTest < PymemcacheTestCase
  # As the C and Rust drivers: the library's noreply default (the table's
  # reply=default lines expect it), a timeout so a hung server fails the run.
  OPTS = { timeout: 10, no_delay: true, noreply: true }.freeze
  REPORT = []
  Minitest.after_run { REPORT.each { |line| puts line } }

  def check(kind, flush, &make_client)
    file = Conformance.cases_file
    cases, lines, diffs = Conformance.run_table(file, flush: flush, &make_client)
    assert_equal [], diffs
    assert_equal Conformance.totals(file), [cases, lines], 'every case and command line of the file ran'
    REPORT << "# conformance: #{lines} lines in #{cases} cases conform (client kind: #{kind})"
  end

  def test_conformance_memcached
    check('memcached', true) { Pymemcache::Client.new(server1, **OPTS) }
  end

  def test_conformance_mock
    check('mock', false) { Pymemcache::Client.mock(**OPTS) }
  end

  def test_table_notation
    assert_equal "a\r\n\x00\xff\\".b, Conformance.decode('a\r\n\0\xff\\\\', 1)
    assert_equal 'z' * 5, Conformance.decode('{z*5}', 1)
    assert_equal "\x20" * 3, Conformance.decode('{\x20*3}', 1)
    assert_equal '\\r\\n\\x00\\xffA\\\\', Conformance.encode("\r\n\x00\xffA\\".b)
    assert_raises(ArgumentError) { Conformance.decode('\q', 1) }
    assert_equal 'OK x\\x20/3', Conformance.normalize('OK x\x20/3', 1)
  end
end
