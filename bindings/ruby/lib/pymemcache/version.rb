# frozen_string_literal: true

module Pymemcache
  # The gem's version (the C library's is Pymemcache.library_version).
  VERSION = '0.1.0'
end
