# frozen_string_literal: true

# TLS (memcached -Z) and ASCII authentication (memcached -Y) against real
# memcached processes; certificates made by examples-c/tls-fixture.sh (the
# openssl command): PMC_TLS_FIXTURE, else the checkout's.
require 'tmpdir'
require 'fileutils'
require_relative 'helper'

class PymemcacheTlsTest < PymemcacheTestCase
  @setup = Mutex.new

  # The certificates and the two servers, made once for the file.
  def self.fixture
    @setup.synchronize do
      @fixture ||= begin
        dir = Dir.mktmpdir('pmc-ruby-tls-')
        script = ENV.fetch('PMC_TLS_FIXTURE', '')
        script = File.expand_path('../../../examples-c/tls-fixture.sh', __dir__) if script.empty?
        system('bash', script, 'certs', dir, out: File::NULL) or raise "#{script} certs #{dir} failed"
        _, tls = MemcachedHelper.extra_server(['-Z', '-o',
                                               "ssl_chain_cert=#{dir}/server.pem,ssl_key=#{dir}/server.key"])
        File.write(File.join(dir, 'authfile'), "ruby:s3cret\n")
        _, auth = MemcachedHelper.extra_server(['-Y', File.join(dir, 'authfile')])
        Minitest.after_run { FileUtils.rm_rf(dir) }
        { dir: dir, tls: tls, auth: auth }
      end
    end
  end

  def setup
    super
    @fx = self.class.fixture
  end

  def path(name)
    File.join(@fx[:dir], name)
  end

  def tls_client(address, **opts)
    client(address, reconnect_backoff: false, **opts)
  end

  def roundtrip(c)
    k = key('tls')
    assert c.set(k, 'over TLS', flags: 9)
    item = c.get_item(k)
    assert_equal 'over TLS', item.value
    assert_equal 9, item.flags
  end

  def test_tls_single_and_pooled_with_every_way_to_trust
    roundtrip(tls_client(@fx[:tls], tls: { ca_file: path('ca.pem'), min_version: '1.2' }))
    roundtrip(tls_client(@fx[:tls], use_pooling: true,
                                    tls: { ca_dir: @fx[:dir], server_name: 'localhost', system_roots: true }))
    roundtrip(tls_client(@fx[:tls], tls: { insecure_no_verify_testing_only: true }))
    roundtrip(tls_client(@fx[:tls], tls: { ca_file: path('ca.pem'), client_cert: path('client.pem'),
                                           client_key: path('client.key') }))
  end

  def test_tls_failures_say_what_failed
    unknown = tls_client(@fx[:tls], tls: { ca_file: path('other-ca.pem') })
    assert_error(Pymemcache::TlsError, Pymemcache::TLS_ERROR, /unknown CA/) { unknown.version }
    mismatch = tls_client(@fx[:tls], tls: { ca_file: path('ca.pem'), server_name: 'cache.example.com' })
    assert_error(Pymemcache::TlsError, Pymemcache::TLS_ERROR, /name mismatch/) { mismatch.version }
    assert_error(Pymemcache::TlsError, Pymemcache::TLS_ERROR) do
      tls_client(@fx[:tls], tls: { ca_file: path('missing.pem') })
    end
    assert_error(Pymemcache::InvalidArgument, Pymemcache::INVALID_ARGUMENT, /1\.1/) do
      tls_client(@fx[:tls], tls: { min_version: '1.1' })
    end
    assert_raises(ArgumentError) { tls_client(@fx[:tls], tls: { cafile: path('ca.pem') }) }
    assert_error(Pymemcache::InvalidArgument, Pymemcache::NULL_ARGUMENT) do
      tls_client(@fx[:tls], tls: { client_cert: path('client.pem') })
    end
    plain = tls_client(@fx[:tls])
    err = assert_raises(Pymemcache::ConnectionError) { plain.version }
    assert_match(/TLS/, err.message)
    assert_kind_of Pymemcache::ConnectionError, Pymemcache::TlsError.new('x', status: Pymemcache::TLS_ERROR)
  end

  def test_ascii_authentication
    roundtrip(tls_client(@fx[:auth], auth: { username: 'ruby', password: 's3cret' }))
    wrong = tls_client(@fx[:auth], auth: { username: 'ruby', password: 'nope' })
    assert_error(Pymemcache::AuthError, Pymemcache::AUTH_ERROR) { wrong.version }
    none = tls_client(@fx[:auth])
    assert_error(Pymemcache::AuthError, Pymemcache::AUTH_ERROR) { none.version }
    assert_error(Pymemcache::ConfigError, Pymemcache::CONFIG_ERROR, /space/) do
      tls_client(@fx[:auth], auth: { username: 'a b', password: 'x' })
    end
  end
end
