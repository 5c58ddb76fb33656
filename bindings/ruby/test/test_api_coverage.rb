# frozen_string_literal: true

# Every pmc_* function of the installed C header is declared by the binding
# and used by its code, except the ones in NOT_CALLED with the reason.
# Prints "# ruby: N of M C functions (not called: ...)".
require 'open3'
require_relative 'helper'

class PymemcacheApiCoverageTest < Minitest::Test
  NOT_CALLED = {
    # The binding reads each call's message from its pmc_error instead.
    'pmc_last_error_message' => 'per-thread message; the binding uses the pmc_error of each call',
    # The one-at-a-time form of pmc_results_items, which gives the same
    # pmc_item records in one call; get_multi/gets_multi read them with that.
    'pmc_results_at' => 'pmc_results_items gives every hit at once',
    # The one-at-a-time form of pmc_batch_results; Batch#execute copies
    # every result with that.
    'pmc_batch_result' => 'pmc_batch_results gives every result of a batch at once',
    # A C callback into Ruby from whichever thread a command runs on;
    # Client#node_state gives the same states by asking.
    'pmc_options_set_hash_state_callback' => 'state changes are read with Client#node_state',
    # The non-blocking client (issue 20) serves C event loops; Ruby uses
    # its own concurrency (threads, fibers) over the blocking calls.
    'pmc_async_new' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_free' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_get' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_set' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_delete' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_batch' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_watches' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_timeout_ms' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_step' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_next' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_completion_clear' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_cancel' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_pending' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_metrics_snapshot' => 'event-loop API; Ruby uses its own concurrency',
    'pmc_async_metrics_reset' => 'event-loop API; Ruby uses its own concurrency'
  }.freeze
  REPORT = []
  Minitest.after_run { REPORT.each { |line| puts line } }

  # The header: PMC_HEADER, the installed one (pkg-config), or the checkout's.
  def header_path
    env = ENV['PMC_HEADER']
    return env if env && !env.empty?

    out, status = Open3.capture2('pkg-config', '--variable=includedir', 'pymemcache', err: File::NULL)
    path = File.join(out.strip, 'pymemcache.h')
    return path if status.success? && !out.strip.empty? && File.exist?(path)

    File.expand_path('../../../include/pymemcache.h', __dir__)
  end

  # The binding's sources: lib/ of the gem that was loaded.
  def sources
    main = $LOADED_FEATURES.find { |f| f.end_with?('/pymemcache.rb') }
    dir = File.dirname(main)
    Dir[File.join(dir, 'pymemcache.rb'), File.join(dir, 'pymemcache', '*.rb')].to_h { |f| [File.basename(f), File.read(f)] }
  end

  # Is the C function +name+ used: attached in Lib, and named by the code
  # outside the declarations (Lib.pmc_x, or the symbol :pmc_x that
  # Pymemcache.call_status and the options' SETTERS table call).
  def used?(name, src)
    return false unless Pymemcache::Lib.respond_to?(name)

    code = src.reject { |file, _| file == 'lib.rb' }.values.join("\n")
    code.match?(/(?:Lib\.|:)#{name}\b/)
  end

  def test_the_binding_calls_every_c_function_of_the_header
    header = File.read(header_path)
    names = header.scan(/^[A-Za-z_][A-Za-z0-9_ *]*?\b(pmc_[a-z0-9_]+)\(/).flatten.uniq
    assert_operator names.size, :>, 50, "found only #{names.size} functions in #{header_path}"
    src = sources
    covered = names.reject { |n| NOT_CALLED.key?(n) }.select { |n| used?(n, src) }
    missing = names - covered - NOT_CALLED.keys
    REPORT << "# ruby: #{covered.size} of #{names.size} C functions (not called: #{NOT_CALLED.keys.join(', ')})"
    assert_equal [], missing, "C functions the Ruby binding does not call: #{missing.join(', ')}"
    assert_equal [], NOT_CALLED.keys - names, 'exempted functions that are not in the header'
  end

  def test_the_binding_never_reads_the_per_thread_message
    sources.each { |file, text| refute_match(/last_error_message/, text, file) }
  end
end
