# frozen_string_literal: true

# Starts memcached servers on free loopback ports for the test file that
# asks for them (each file runs in its own process and starts its own), and
# stops them when minitest is done.
require 'socket'

module MemcachedHelper
  module_function

  def binary
    env = ENV['MEMCACHED']
    return env if env && !env.empty?

    found = ENV.fetch('PATH', '').split(File::PATH_SEPARATOR).map { |d| File.join(d, 'memcached') }
               .find { |p| File.executable?(p) }
    found || '/usr/bin/memcached'
  end

  def free_port
    server = TCPServer.new('127.0.0.1', 0)
    server.addr[1]
  ensure
    server&.close
  end

  # [pid, "127.0.0.1:port"] of a new memcached; +extra+: more options
  # (e.g. ['-A'] to allow shutdown).
  def start(extra = [])
    last_error = nil
    5.times do
      port = free_port
      args = [binary, '-l', '127.0.0.1', '-p', port.to_s, '-U', '0', '-m', '64', '-c', '1024', *extra]
      args += ['-u', 'root'] if Process.euid.zero?
      pid = Process.spawn(*args, out: File::NULL, err: File::NULL)
      deadline = Time.now + 5
      while Time.now < deadline
        if Process.wait(pid, Process::WNOHANG)
          last_error = "memcached on port #{port} exited"
          break
        end
        begin
          TCPSocket.new('127.0.0.1', port).close
          return [pid, "127.0.0.1:#{port}"]
        rescue SystemCallError
          sleep 0.02
        end
      end
      stop(pid)
      last_error ||= "memcached on port #{port} did not accept connections"
    end
    raise last_error
  end

  def stop(pid)
    Process.kill('KILL', pid)
    Process.wait(pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end

  @servers = [] # the shared ones, by index
  @extra = []   # servers of one test each
  @lock = Mutex.new

  # The address of this file's server number +i+ (0, 1), started on first use.
  def server(index = 0)
    @lock.synchronize do
      @servers << start while @servers.size <= index
      @servers[index][1]
    end
  end

  # A server of its own (stopped after the run, or by the caller with stop).
  def extra_server(extra = [])
    s = start(extra)
    @lock.synchronize { @extra << s }
    s
  end

  def stop_all
    (@servers + @extra).each { |pid, _| stop(pid) }
  end

  # A loopback address where nothing listens.
  def closed_address
    "127.0.0.1:#{free_port}"
  end
end

Minitest.after_run { MemcachedHelper.stop_all } if defined?(Minitest)
