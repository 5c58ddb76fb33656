# frozen_string_literal: true

# pymemcache: a memcached client with pymemcache's API, key placement and
# value formats, as a binding (the ffi gem) of libpymemcache, the C library
# of pymemcache-rs (include/pymemcache.h).
#
# The library is found through PYMEMCACHE_LIB, then pkg-config's libdir for
# pymemcache, then the system loader (libpymemcache.so.0); see
# Pymemcache::Loader. Every method calls the matching pmc_* function; the
# binding converts arguments, copies what the library hands back into Ruby
# objects (freeing the library's memory at once) and maps statuses to
# return values (nil for a miss, true / false) and exceptions carrying the
# library's message of that very call.
#
# Keys follow pymemcache's rules. A binary String (encoding ASCII-8BIT) is a
# bytes key: it goes to the library as it is and is refused only if it holds
# ASCII whitespace or NUL, is longer than 250 bytes with the prefix, or is
# empty without a prefix. Any other String is text: ASCII only, unless the
# client was made with allow_unicode_keys: true, which sends its UTF-8.
require_relative 'pymemcache/version'
require_relative 'pymemcache/loader'
require_relative 'pymemcache/lib'
require_relative 'pymemcache/errors'
require_relative 'pymemcache/convert'
require_relative 'pymemcache/options'
require_relative 'pymemcache/client'
require_relative 'pymemcache/typed'
require_relative 'pymemcache/batch'

