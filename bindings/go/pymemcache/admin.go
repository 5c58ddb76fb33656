package pymemcache

// Server-wide commands (stats, version, flush_all, ...) and the client's
// own management (pool, servers, placement).

/*
#include <stdlib.h>
#include "pymemcache.h"
*/
import "C"

import (
	"context"
	"unsafe"
)

func (c *Client) serverForKey(op string, k keyArg) (string, error) {
	var name string
	_, err := c.do(bg, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var out *C.char
		st := C.pmc_client_server_for_key(p, k.p, k.n, &out, e)
		if st == C.PMC_OK {
			name = C.GoString(out)
			C.pmc_string_free(out)
		}
		return st
	})
	return name, err
}

// ServerForKey names the server key is placed on ("host:port", or the
// socket path): for a hash client the one pymemcache's HashClient picks
// among the live servers, given Options.HashKeyForm. It connects to
// nothing.
func (c *Client) ServerForKey(key string) (string, error) {
	k, err := c.textKey("ServerForKey", key)
	if err != nil {
		return "", err
	}
	return c.serverForKey("ServerForKey", k)
}

// ServerForKeyBytes is ServerForKey with a bytes key.
func (c *Client) ServerForKeyBytes(key []byte) (string, error) {
	return c.serverForKey("ServerForKeyBytes", bytesKey(bg, key))
}

// PoolStats are a pooled client's connection counts.
type PoolStats struct {
	InUse, Free        int
	Created, Destroyed uint64
}

// PoolStats reads a pooled client's connection counts (an
// ErrInvalidArgument error for a client without a pool).
func (c *Client) PoolStats() (PoolStats, error) {
	var s PoolStats
	_, err := c.do(bg, "PoolStats", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var ps C.pmc_pool_stats
		st := C.pmc_client_pool_stats(p, &ps, e)
		s = PoolStats{InUse: int(ps.in_use), Free: int(ps.free), Created: uint64(ps.created), Destroyed: uint64(ps.destroyed)}
		return st
	})
	if err != nil {
		return PoolStats{}, err
	}
	return s, nil
}

// PoolClear closes every free connection of a pooled client (those in use
// go back as usual); for other clients it is CloseConnections.
func (c *Client) PoolClear() error {
	_, err := c.do(bg, "PoolClear", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_client_pool_clear(p, e)
	})
	return err
}

// CloseConnections closes the client's connections without a word to the
// server; the next command reconnects. The client stays usable (Close
// frees it).
func (c *Client) CloseConnections() error {
	_, err := c.do(bg, "CloseConnections", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_close(p, e)
	})
	return err
}

func (c *Client) server(op, server string, add bool) error {
	_, err := c.do(bg, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		s := C.CString(server)
		defer C.free(unsafe.Pointer(s))
		if add {
			return C.pmc_client_add_server(p, s, e)
		}
		return C.pmc_client_remove_server(p, s, e)
	})
	return err
}

// AddServer adds a server to a hash client in use; the keys rendezvous
// hashing gives it move to it (ErrInvalidArgument for other clients,
// ErrConfig for a bad or present address).
func (c *Client) AddServer(server string) error { return c.server("AddServer", server, true) }

// RemoveServer removes a server from a hash client; its keys move to the
// others (ErrConfig if it is not in the client).
func (c *Client) RemoveServer(server string) error { return c.server("RemoveServer", server, false) }

// Stat is one statistic a server reported.
type Stat struct {
	Server string // "host:port" or socket path
	Name   string
	Value  string
}

// Stats is the list of every server's statistics, in the order sent.
type Stats []Stat

// Get gives the value of the first stat named name.
func (s Stats) Get(name string) (string, bool) {
	for _, st := range s {
		if st.Name == name {
			return st.Value, true
		}
	}
	return "", false
}

// Stats runs `stats` with optional arguments ("settings", "items",
// "slabs", ...) on every server.
func (c *Client) Stats(args ...string) (Stats, error) { return c.StatsCtx(bg, args...) }

// StatsCtx is Stats bounded by ctx.
func (c *Client) StatsCtx(ctx context.Context, args ...string) (Stats, error) {
	var out Stats
	_, err := c.do(ctx, "Stats", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var argv **C.char
		if len(args) > 0 {
			argv = (**C.char)(C.malloc(C.size_t(len(args)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
			defer C.free(unsafe.Pointer(argv))
			for i, a := range args {
				s := C.CString(a)
				defer C.free(unsafe.Pointer(s))
				unsafe.Slice(argv, len(args))[i] = s
			}
		}
		var list *C.pmc_stats_list
		st := C.pmc_stats(p, argv, C.size_t(len(args)), &list, e)
		if st != C.PMC_OK {
			return st
		}
		defer C.pmc_stats_free(list)
		n := int(C.pmc_stats_len(list))
		out = make(Stats, 0, n)
		for i := 0; i < n; i++ {
			var server, name, value *C.char
			if C.pmc_stats_at(list, C.size_t(i), &server, &name, &value, nil) != C.PMC_OK {
				continue
			}
			out = append(out, Stat{C.GoString(server), C.GoString(name), C.GoString(value)})
		}
		return st
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Version gives the server's version, e.g. "1.6.18".
func (c *Client) Version() (string, error) { return c.VersionCtx(bg) }

// VersionCtx is Version bounded by ctx.
func (c *Client) VersionCtx(ctx context.Context) (string, error) {
	var v string
	_, err := c.do(ctx, "Version", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var s *C.char
		st := C.pmc_version(p, &s, e)
		if st == C.PMC_OK {
			v = C.GoString(s)
			C.pmc_string_free(s)
		}
		return st
	})
	return v, err
}

// FlushAll invalidates every item now, or after delay seconds. It follows
// the client's noreply default unless given a Reply.
func (c *Client) FlushAll(delay int64, opts ...CallOption) error {
	return c.FlushAllCtx(bg, delay, opts...)
}

// FlushAllCtx is FlushAll bounded by ctx.
func (c *Client) FlushAllCtx(ctx context.Context, delay int64, opts ...CallOption) error {
	reply := replyOf(ReplyDefault, opts)
	_, err := c.do(ctx, "FlushAll", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_flush_all(p, C.int64_t(delay), reply, e)
	})
	return err
}

// CacheMemlimit sets the server's memory limit in megabytes.
func (c *Client) CacheMemlimit(megabytes uint64) error { return c.CacheMemlimitCtx(bg, megabytes) }

// CacheMemlimitCtx is CacheMemlimit bounded by ctx.
func (c *Client) CacheMemlimitCtx(ctx context.Context, megabytes uint64) error {
	_, err := c.do(ctx, "CacheMemlimit", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_cache_memlimit(p, C.uint64_t(megabytes), e)
	})
	return err
}

// RawCommand sends one command line the client does not wrap (without
// "\r\n"; no "\r", "\n" or NUL inside) and returns the reply up to
// endToken (e.g. "\r\n" or "END\r\n"), which is left out.
func (c *Client) RawCommand(command, endToken []byte) ([]byte, error) {
	return c.RawCommandCtx(bg, command, endToken)
}

// RawCommandCtx is RawCommand bounded by ctx.
func (c *Client) RawCommandCtx(ctx context.Context, command, endToken []byte) ([]byte, error) {
	command, endToken = own(ctx, command), own(ctx, endToken)
	var reply []byte
	_, err := c.do(ctx, "RawCommand", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		cp, cn := bytesArg(command)
		tp, tn := bytesArg(endToken)
		var v C.pmc_value
		st := C.pmc_raw_command(p, cp, cn, tp, tn, &v, e)
		if st == C.PMC_OK {
			reply = takeValue(&v).Value
		}
		return st
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

// Quit tells the server goodbye and closes the connection; the next
// command reconnects.
func (c *Client) Quit() error { return c.QuitCtx(bg) }

// QuitCtx is Quit bounded by ctx.
func (c *Client) QuitCtx(ctx context.Context) error {
	_, err := c.do(ctx, "Quit", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_quit(p, e)
	})
	return err
}

// Shutdown asks the server to exit (memcached must run with -A;
// ErrUnknownCommand otherwise), gracefully if asked.
func (c *Client) Shutdown(graceful bool) error { return c.ShutdownCtx(bg, graceful) }

// ShutdownCtx is Shutdown bounded by ctx.
func (c *Client) ShutdownCtx(ctx context.Context, graceful bool) error {
	_, err := c.do(ctx, "Shutdown", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_shutdown(p, C.bool(graceful), e)
	})
	return err
}

// Node states of failure tracking (Options.FailureTracking).
const (
	NodeUp       = int(C.PMC_NODE_UP)        // taking requests
	NodeSoftDown = int(C.PMC_NODE_SOFT_DOWN) // failing fast (or falling back)
	NodeProbing  = int(C.PMC_NODE_PROBING)   // one request is probing it
)

// NodeHealth is one server's failure tracking state.
type NodeHealth struct {
	State               int // NodeUp, NodeSoftDown or NodeProbing
	ConsecutiveFailures uint32
	Timeouts            uint64 // counted since the client was made
	Refusals            uint64 // refused / reset / closed connections
}

// NodeState gives server's failure tracking state (a hash client made
// with Options.FailureTracking; others give ErrInvalidArgument).
func (c *Client) NodeState(server string) (NodeHealth, error) {
	var h NodeHealth
	cs := C.CString(server)
	defer C.free(unsafe.Pointer(cs))
	_, err := c.do(bg, "NodeState", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var out C.pmc_node_health
		st := C.pmc_client_node_state(p, cs, &out, e)
		if st == C.PMC_OK {
			h = NodeHealth{int(out.state), uint32(out.consecutive_failures), uint64(out.timeouts), uint64(out.refusals)}
		}
		return st
	})
	return h, err
}
