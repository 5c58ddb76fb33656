# frozen_string_literal: true

# Shared setup of the test files: minitest, the pymemcache gem (the
# installed one under bindings/run-tests.sh, lib/ of the checkout under
# `rake test`), memcached servers of the file's own, and a base class.
require 'minitest/autorun'
require 'pymemcache'
require_relative 'memcached_helper'

# bindings/run-tests.sh sets PMC_RUBY_GEM_DIR: the gem must come from there
# (installed with `gem install`), not from the checkout.
if (dir = ENV['PMC_RUBY_GEM_DIR']) && !dir.empty?
  loaded = $LOADED_FEATURES.find { |f| f.end_with?('/pymemcache.rb') }
  abort "pymemcache was loaded from #{loaded}, not from the installed gem in #{dir}" unless loaded&.start_with?(dir)
end

class PymemcacheTestCase < Minitest::Test
  ALL_BYTES = (0..255).map(&:chr).join.b.freeze
  @@seq = 0 # rubocop:disable Style/ClassVars
  SEQ_LOCK = Mutex.new

  def setup
    @clients = []
  end

  def teardown
    @clients.each(&:close)
  end

  def server1
    MemcachedHelper.server(0)
  end

  def server2
    MemcachedHelper.server(1)
  end

  # A key no other test uses.
  def key(name)
    n = SEQ_LOCK.synchronize { @@seq += 1 }
    "rb-#{name}-#{Process.pid}-#{n}"
  end

  # A client closed after the test; short timeouts so a hang fails.
  def client(servers = server1, **opts)
    track(Pymemcache::Client.new(servers, timeout: 5, connect_timeout: 2, **opts))
  end

  def track(client)
    @clients << client
    client
  end

  def assert_error(klass, status, pattern = nil, what = nil, &block)
    err = assert_raises(klass, what, &block)
    assert_equal status, err.status, "#{what}: #{err.message}"
    assert_equal Pymemcache::Status.name_of(status), err.status_name, what
    assert_match(/#{Pymemcache::Status.name_of(status)}/, err.message, what)
    assert_match(pattern, err.message, what) if pattern
    err
  end
end
