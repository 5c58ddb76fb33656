# frozen_string_literal: true

# Finding the C library: PYMEMCACHE_LIB, then pkg-config's libdir, then the
# system loader; when nothing loads, the LoadError names every path tried
# and PYMEMCACHE_LIB.
require 'open3'
require 'tmpdir'
require 'rbconfig'
require_relative 'helper'

class PymemcacheLoadTest < Minitest::Test
  # The file this process loaded the library from (Linux).
  def real_lib
    line = File.readlines('/proc/self/maps').find { |l| l.match?(%r{libpymemcache[^/]*$}) }
    line[line.index('/')..].strip
  end

  # Loads the gem in a fresh process with +env+: its library_path, or the
  # load error's message.
  def load_with(env)
    dir = File.dirname($LOADED_FEATURES.find { |f| f.end_with?('/pymemcache.rb') })
    script = 'begin; require "pymemcache"; puts "PATH=#{Pymemcache.library_path}"; ' \
             'rescue LoadError => e; puts "ERROR=#{e.message}"; end'
    keep = ENV.to_h.slice('PATH', 'GEM_HOME', 'GEM_PATH', 'HOME')
    clear = { 'PYMEMCACHE_LIB' => nil, 'PKG_CONFIG_PATH' => nil, 'PKG_CONFIG_LIBDIR' => nil,
              'LD_LIBRARY_PATH' => nil }
    out, status = Open3.capture2(clear.merge(keep).merge(env), RbConfig.ruby, '-I', dir, '-e', script,
                                 unsetenv_others: true)
    assert status.success?
    out.strip
  end

  def test_pymemcache_lib_wins_and_a_wrong_one_is_named
    skip 'no /proc/self/maps' unless File.exist?('/proc/self/maps')
    lib = real_lib
    assert_equal "PATH=#{lib}", load_with('PYMEMCACHE_LIB' => lib)
    out = load_with('PYMEMCACHE_LIB' => '/nonexistent/libpymemcache.so')
    assert_match(/\AERROR=pymemcache: cannot load the C library/, out)
    assert_includes out, '/nonexistent/libpymemcache.so (PYMEMCACHE_LIB)'
    assert_includes out, 'PYMEMCACHE_LIB is set'
  end

  def test_pkg_config_libdir
    skip 'no /proc/self/maps' unless File.exist?('/proc/self/maps')
    lib = real_lib
    Dir.mktmpdir('pmc-load-') do |dir|
      FileUtils.mkdir_p(File.join(dir, 'lib', 'pkgconfig'))
      File.symlink(lib, File.join(dir, 'lib', 'libpymemcache.so.0'))
      File.write(File.join(dir, 'lib', 'pkgconfig', 'pymemcache.pc'),
                 "prefix=#{dir}\nlibdir=${prefix}/lib\nName: pymemcache\nDescription: test\nVersion: 0.1.0\n" \
                 "Libs: -L${libdir} -lpymemcache\n")
      got = load_with('PKG_CONFIG_PATH' => File.join(dir, 'lib', 'pkgconfig'))
      assert_equal "PATH=#{File.join(dir, 'lib', 'libpymemcache.so.0')}", got
    end
  end

  def test_nothing_found_names_every_path_tried
    Dir.mktmpdir('pmc-load-') do |dir|
      # A .pc whose libdir holds no library, and no system install.
      FileUtils.mkdir_p(File.join(dir, 'pkgconfig'))
      File.write(File.join(dir, 'pkgconfig', 'pymemcache.pc'),
                 "libdir=#{dir}/nolib\nName: pymemcache\nDescription: test\nVersion: 0.1.0\nLibs: -lpymemcache\n")
      out = load_with('PKG_CONFIG_PATH' => File.join(dir, 'pkgconfig'),
                      'PKG_CONFIG_LIBDIR' => File.join(dir, 'pkgconfig'))
      if out.start_with?('PATH=')
        # The library is installed where the system loader finds it.
        assert_equal 'PATH=libpymemcache.so.0', out
        next
      end
      ["#{dir}/nolib/libpymemcache.so.0 (pkg-config libdir)", "#{dir}/nolib/libpymemcache.so (pkg-config libdir)",
       'libpymemcache.so.0 (system loader)', 'libpymemcache.so (system loader)', 'set PYMEMCACHE_LIB'].each do |p|
        assert_includes out, p
      end
    end
  end

  def test_candidates_in_order
    assert_equal [%w[PYMEMCACHE_LIB /x.so]], Pymemcache::Loader.candidates('PYMEMCACHE_LIB' => '/x.so')
    system = Pymemcache::Loader.candidates({}).select { |from, _| from == 'system loader' }.map(&:last)
    assert_equal %w[libpymemcache.so.0 libpymemcache.so], system
    assert_equal Pymemcache::Lib::PATH, Pymemcache.library_path
  end
end
