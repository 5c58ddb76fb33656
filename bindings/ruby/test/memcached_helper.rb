# frozen_string_literal: true

# Starts two memcached servers on free loopback ports for the suite and
# stops them when minitest is done.
require 'socket'
require 'timeout'

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

  def start
    last_error = nil
    5.times do
      port = free_port
      args = [binary, '-l', '127.0.0.1', '-p', port.to_s, '-U', '0', '-m', '64', '-c', '1024']
      args += ['-u', 'root'] if Process.euid.zero?
      pid = Process.spawn(*args, out: File::NULL)
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

  # A loopback address where nothing listens.
  def closed_address
    "127.0.0.1:#{free_port}"
  end
end

SERVERS = [MemcachedHelper.start, MemcachedHelper.start].freeze
Minitest.after_run { SERVERS.each { |pid, _| MemcachedHelper.stop(pid) } }
SERVER1 = SERVERS[0][1]
SERVER2 = SERVERS[1][1]
