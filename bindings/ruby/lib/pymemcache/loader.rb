# frozen_string_literal: true

require 'ffi'

module Pymemcache
  # Finding and loading libpymemcache: PYMEMCACHE_LIB, then the libdir that
  # pkg-config gives for the installed C library, then the system loader's
  # search (ld.so.cache, LD_LIBRARY_PATH). When nothing loads, the LoadError
  # names every path tried, why each failed, and PYMEMCACHE_LIB.
  module Loader
    module_function

    # File names of the shared library on this platform, soname first.
    def library_names
      case RbConfig::CONFIG['host_os']
      when /darwin/ then %w[libpymemcache.0.dylib libpymemcache.dylib]
      when /mswin|mingw|cygwin/ then %w[pymemcache.dll]
      else %w[libpymemcache.so.0 libpymemcache.so]
      end
    end

    # The installed library's directory from `pkg-config --variable=libdir
    # pymemcache`, or nil (no pkg-config, or no pymemcache.pc on its path).
    def pkg_config_libdir
      out = IO.popen(%w[pkg-config --variable=libdir pymemcache], err: File::NULL, &:read)
      return nil unless Process.last_status.success?

      dir = out.strip
      dir.empty? ? nil : dir
    rescue SystemCallError
      nil
    end

    # Candidates in order: [where it came from, path or name].
    def candidates(env = ENV)
      lib = env['PYMEMCACHE_LIB']
      return [['PYMEMCACHE_LIB', lib]] if lib && !lib.empty?

      list = []
      dir = pkg_config_libdir
      library_names.each { |n| list << ['pkg-config libdir', File.join(dir, n)] } if dir
      library_names.each { |n| list << ['system loader', n] }
      list
    end

    # The path (or name) of the first candidate that loads; raises LoadError
    # naming every path tried.
    def find(env = ENV)
      tried = []
      candidates(env).each do |from, path|
        FFI::DynamicLibrary.open(path, FFI::DynamicLibrary::RTLD_LAZY | FFI::DynamicLibrary::RTLD_GLOBAL)
        return path
      rescue LoadError => e
        tried << "  #{path} (#{from}): #{e.message.lines.first.to_s.strip}"
      end
      hint = if env['PYMEMCACHE_LIB'] && !env['PYMEMCACHE_LIB'].empty?
               'PYMEMCACHE_LIB is set, so nothing else was tried; point it at libpymemcache.so'
             else
               'set PYMEMCACHE_LIB to the path of libpymemcache.so, or install the C library ' \
                 '(scripts/install.sh) where pkg-config (PKG_CONFIG_PATH) or the system loader finds it'
             end
      raise LoadError, "pymemcache: cannot load the C library libpymemcache; tried:\n#{tried.join("\n")}\n#{hint}"
    end
  end
end
