# frozen_string_literal: true

require_relative 'lib/pymemcache/version'

Gem::Specification.new do |s|
  s.name = 'pymemcache'
  s.version = Pymemcache::VERSION
  s.summary = "memcached client with pymemcache's API, key placement and value formats"
  s.description = 'A binding (the ffi gem) of libpymemcache, the C library of pymemcache-rs: every ' \
                  'memcached command, pooled, hash (with failover), fallback, retrying and mock ' \
                  "clients, and pymemcache's value formats (text, integers, pickles as JSON-shaped " \
                  'data), so Ruby and Python services share a cache. Needs the C library installed ' \
                  '(found through PYMEMCACHE_LIB, pkg-config, or the system loader).'
  s.license = 'Apache-2.0'
  s.authors = ['pymemcache-rs contributors']
  s.homepage = 'https://github.com/pymemcache-rs/pymemcache-rs'
  s.required_ruby_version = '>= 2.7'
  s.files = Dir['lib/**/*.rb'] + %w[pymemcache.gemspec]
  s.require_paths = ['lib']
  s.add_dependency 'ffi', '~> 1.12'
  s.add_development_dependency 'minitest', '~> 5.0'
  s.add_development_dependency 'rake', '~> 13.0'
  s.metadata['rubygems_mfa_required'] = 'true'
end
