package pymemcache

// The conformance table (tests/conformance/cases.txt), the same file the
// Rust suite and the C suite (examples-c/conformance.c) run, parsed and run
// here through the Go API against a real memcached and the mock client.
// The notation of outcomes is the C driver's; a command the binding cannot
// run fails the suite.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// casesPath finds the table: PMC_CONFORMANCE_CASES, else the checkout's.
func casesPath(t *testing.T) string {
	if p := os.Getenv("PMC_CONFORMANCE_CASES"); p != "" {
		return p
	}
	p := filepath.Join("..", "..", "..", "tests", "conformance", "cases.txt")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no conformance table: set PMC_CONFORMANCE_CASES (tried %s)", p)
	}
	return p
}

type confLine struct {
	no                    int
	cmd                   string
	args                  []string
	flags, expire, reply  string
	hasFlags, hasExp, has bool
	expect                string
}

type confCase struct {
	name  string
	lines []confLine
}

func isWS(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func parseTable(t *testing.T, text string) []confCase {
	var cases []confCase
	for i, raw := range strings.Split(text, "\n") {
		no := i + 1
		s := strings.TrimFunc(raw, func(r rune) bool { return r < 128 && isWS(byte(r)) })
		if s == "" || s[0] == '#' {
			continue
		}
		if strings.HasPrefix(s, "== ") {
			cases = append(cases, confCase{name: s[3:]})
			continue
		}
		if len(cases) == 0 {
			t.Fatalf("line %d: a command before the first case header", no)
		}
		l := confLine{no: no}
		lhs := s
		if a := strings.Index(s, " -> "); a >= 0 {
			lhs = s[:a]
			l.expect = strings.TrimFunc(s[a+4:], func(r rune) bool { return r < 128 && isWS(byte(r)) })
		} else if strings.HasSuffix(s, " ->") {
			lhs = s[:len(s)-3]
		}
		words := strings.FieldsFunc(lhs, func(r rune) bool { return r < 128 && isWS(byte(r)) })
		if len(words) == 0 {
			t.Fatalf("line %d: no command", no)
		}
		l.cmd = words[0]
		for _, w := range words[1:] {
			switch {
			case strings.HasPrefix(w, "flags="):
				l.flags, l.hasFlags = w[6:], true
			case strings.HasPrefix(w, "expire="):
				l.expire, l.hasExp = w[7:], true
			case strings.HasPrefix(w, "reply="):
				l.reply, l.has = w[6:], true
			default:
				l.args = append(l.args, w)
			}
		}
		c := &cases[len(cases)-1]
		c.lines = append(c.lines, l)
	}
	return cases
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// decodeTok decodes \xNN \r \n \t \0 \\ escapes and {c*N} repetitions.
func decodeTok(tok string) ([]byte, error) {
	out := []byte{}
	for i := 0; i < len(tok); {
		c := tok[i]
		switch {
		case c == '\\':
			if i+1 >= len(tok) {
				return nil, fmt.Errorf("bad escape in %q", tok)
			}
			switch tok[i+1] {
			case 'x':
				if i+3 >= len(tok) {
					return nil, fmt.Errorf("bad \\x escape in %q", tok)
				}
				hi, lo := hexVal(tok[i+2]), hexVal(tok[i+3])
				if hi < 0 || lo < 0 {
					return nil, fmt.Errorf("bad \\x escape in %q", tok)
				}
				out = append(out, byte(hi*16+lo))
				i += 4
				continue
			case 'r':
				out = append(out, '\r')
			case 'n':
				out = append(out, '\n')
			case 't':
				out = append(out, '\t')
			case '0':
				out = append(out, 0)
			case '\\':
				out = append(out, '\\')
			default:
				return nil, fmt.Errorf("bad escape in %q", tok)
			}
			i += 2
		case c == '{':
			end := strings.IndexByte(tok[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("{ without } in %q", tok)
			}
			inner := tok[i+1 : i+end]
			star := strings.LastIndexByte(inner, '*')
			if star < 0 {
				return nil, fmt.Errorf("{c*N} without * in %q", tok)
			}
			one, err := decodeTok(inner[:star])
			if err != nil || len(one) != 1 {
				return nil, fmt.Errorf("{c*N} repeats one byte in %q", tok)
			}
			n, err := strconv.ParseUint(inner[star+1:], 10, 63)
			if err != nil {
				return nil, fmt.Errorf("bad count in %q", tok)
			}
			for j := uint64(0); j < n; j++ {
				out = append(out, one[0])
			}
			i += end + 1
		default:
			out = append(out, c)
			i++
		}
	}
	return out, nil
}

// encodeVal writes bytes in the table's notation.
func encodeVal(v []byte) string {
	var b strings.Builder
	for _, c := range v {
		switch {
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\\':
			b.WriteString(`\\`)
		case c >= 0x21 && c <= 0x7e:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

func itemOutcome(it Item) string { return fmt.Sprintf("%s/%d", encodeVal(it.Value), it.Flags) }

// normalizeExpect rewrites value tokens (`v/flags`) as outcomes read.
func normalizeExpect(t *testing.T, expect string, no int) string {
	toks := strings.Split(expect, " ")
	for i, tok := range toks {
		slash := strings.LastIndexByte(tok, '/')
		if slash < 0 {
			continue
		}
		if _, err := strconv.ParseUint(tok[slash+1:], 10, 32); err != nil {
			continue
		}
		v, err := decodeTok(tok[:slash])
		if err != nil {
			t.Fatalf("line %d: %v", no, err)
		}
		toks[i] = encodeVal(v) + tok[slash:]
	}
	return strings.Join(toks, " ")
}

// statusOutcome names an error's kind as the table does.
func statusOutcome(err error) string {
	e, ok := err.(*Error)
	if !ok {
		return "err:OTHER(" + err.Error() + ")"
	}
	switch e.Status {
	case StatusIllegalInput:
		return "err:ILLEGAL_INPUT"
	case StatusClientError:
		return "err:CLIENT_ERROR"
	case StatusServerError:
		return "err:SERVER_ERROR"
	case StatusTooLarge:
		return "err:TOO_LARGE"
	case StatusUnknownCommand:
		return "err:UNKNOWN_COMMAND"
	}
	return "err:OTHER(" + e.Error() + ")"
}

type confRunner struct {
	t    *testing.T
	c    *Client
	cas  map[string]uint64
	kind string
}

func (r *confRunner) dec(l confLine, tok string) []byte {
	b, err := decodeTok(tok)
	if err != nil {
		r.t.Fatalf("line %d: %v", l.no, err)
	}
	return b
}

func (r *confRunner) num(l confLine, s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.t.Fatalf("line %d: %q is not an integer", l.no, s)
	}
	return v
}

func (r *confRunner) unum(l confLine, s string) uint64 {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 64)
	if err != nil {
		r.t.Fatalf("line %d: %q is not an unsigned integer", l.no, s)
	}
	return v
}

func (r *confRunner) need(l confLine, n int) {
	if len(l.args) < n {
		r.t.Fatalf("line %d: %s needs %d argument(s), has %d", l.no, l.cmd, n, len(l.args))
	}
}

func storedOutcome(stored bool, err error) string {
	switch {
	case err != nil:
		return statusOutcome(err)
	case stored:
		return "OK"
	}
	return "NOT_STORED"
}

func foundOutcomeStr(found bool, err error, missing string) string {
	switch {
	case err != nil:
		return statusOutcome(err)
	case found:
		return "OK"
	}
	return missing
}

// run runs one line and gives its outcome in the table's notation.
func (r *confRunner) run(l confLine) string {
	c := r.c
	var flags uint32
	var expire int64
	if l.hasFlags {
		flags = uint32(r.num(l, l.flags))
	}
	if l.hasExp {
		expire = r.num(l, l.expire)
	}
	reply := ReplyDefault
	switch l.reply {
	case "", "default":
	case "wait":
		reply = ReplyWait
	case "none":
		reply = ReplyNone
	default:
		r.t.Fatalf("line %d: reply=%s", l.no, l.reply)
	}
	switch l.cmd {
	case "set", "add", "replace", "append", "prepend":
		r.need(l, 2)
		k, v := r.dec(l, l.args[0]), r.dec(l, l.args[1])
		switch l.cmd {
		case "set":
			return storedOutcome(true, c.SetBytes(k, v, flags, expire, reply))
		case "add":
			return storedOutcome(c.AddBytes(k, v, flags, expire, reply))
		case "replace":
			return storedOutcome(c.ReplaceBytes(k, v, flags, expire, reply))
		case "append":
			return storedOutcome(c.AppendBytes(k, v, reply))
		default:
			return storedOutcome(c.PrependBytes(k, v, reply))
		}
	case "cas":
		r.need(l, 3)
		k, v := r.dec(l, l.args[0]), r.dec(l, l.args[1])
		var unique uint64
		if strings.HasPrefix(l.args[2], "$") {
			u, ok := r.cas[string(r.dec(l, l.args[2][1:]))]
			if !ok {
				return "(no CAS unique remembered for " + l.args[2] + ")"
			}
			unique = u
		} else {
			unique = r.unum(l, l.args[2])
		}
		res, err := c.CompareAndSwapBytes(k, v, unique, flags, expire, reply)
		if err != nil {
			return statusOutcome(err)
		}
		return map[CASResult]string{CASStored: "OK", CASExists: "EXISTS", CASNotFound: "NOT_FOUND"}[res]
	case "get", "gets", "gat", "gats":
		touch := l.cmd[1] == 'a'
		withCAS := strings.HasSuffix(l.cmd, "s")
		var exp int64
		ki := 0
		if touch {
			r.need(l, 2)
			exp, ki = r.num(l, l.args[0]), 1
		} else {
			r.need(l, 1)
		}
		k := r.dec(l, l.args[ki])
		var it Item
		var found bool
		var err error
		switch l.cmd {
		case "get":
			it, found, err = c.GetBytes(k)
		case "gets":
			it, found, err = c.GetsBytes(k)
		case "gat":
			it, found, err = c.GatBytes(k, exp)
		default:
			it, found, err = c.GatsBytes(k, exp)
		}
		switch {
		case err != nil:
			return statusOutcome(err)
		case !found:
			return "MISS"
		}
		out := itemOutcome(it)
		if withCAS {
			r.cas[string(k)] = it.CAS
		} else if !touch && it.CAS != 0 {
			out += fmt.Sprintf(" (get gave CAS unique %d)", it.CAS)
		}
		return out
	case "get_many", "gets_many":
		keys := make([][]byte, len(l.args))
		for i, a := range l.args {
			keys[i] = r.dec(l, a)
		}
		var hits map[string]Item
		var err error
		if l.cmd == "gets_many" {
			hits, err = c.GetsMultiBytes(keys)
		} else {
			hits, err = c.GetMultiBytes(keys)
		}
		if err != nil {
			return statusOutcome(err)
		}
		outs := make([]string, len(keys))
		for i, k := range keys {
			it, ok := hits[string(k)]
			if !ok {
				outs[i] = "MISS"
				continue
			}
			outs[i] = itemOutcome(it)
			if l.cmd == "gets_many" {
				r.cas[string(k)] = it.CAS
			}
		}
		return strings.Join(outs, " ")
	case "set_many":
		keys := make([][]byte, len(l.args))
		vals := make([][]byte, len(l.args))
		for i, a := range l.args {
			eq := strings.IndexByte(a, '=')
			if eq < 0 {
				r.t.Fatalf("line %d: set_many takes key=value, not %q", l.no, a)
			}
			keys[i], vals[i] = r.dec(l, a[:eq]), r.dec(l, a[eq+1:])
		}
		failed, err := c.SetMultiBytes(keys, vals, flags, expire, reply)
		if err != nil {
			return statusOutcome(err)
		}
		parts := make([]string, len(failed))
		for i, f := range failed {
			parts[i] = strconv.Itoa(f)
		}
		return "failed:" + strings.Join(parts, ",")
	case "delete":
		r.need(l, 1)
		found, err := c.DeleteBytes(r.dec(l, l.args[0]), reply)
		return foundOutcomeStr(found, err, "NOT_FOUND")
	case "delete_many":
		keys := make([][]byte, len(l.args))
		for i, a := range l.args {
			keys[i] = r.dec(l, a)
		}
		n, err := c.DeleteMultiBytes(keys, reply)
		if err != nil {
			return statusOutcome(err)
		}
		return strconv.Itoa(n)
	case "incr", "decr":
		r.need(l, 2)
		delta := r.unum(l, l.args[1])
		k := r.dec(l, l.args[0])
		var nv uint64
		var found bool
		var err error
		if l.cmd == "incr" {
			nv, found, err = c.IncrBytes(k, delta, reply)
		} else {
			nv, found, err = c.DecrBytes(k, delta, reply)
		}
		switch {
		case err != nil:
			return statusOutcome(err)
		case !found:
			return "NOT_FOUND"
		case reply == ReplyNone:
			return "NONE"
		}
		return strconv.FormatUint(nv, 10)
	case "touch":
		r.need(l, 2)
		exp := r.num(l, l.args[1])
		found, err := c.TouchBytes(r.dec(l, l.args[0]), exp, reply)
		return foundOutcomeStr(found, err, "NOT_FOUND")
	case "flush_all":
		var delay int64
		if len(l.args) > 0 {
			delay = r.num(l, l.args[0])
		}
		return storedOutcome(true, c.FlushAll(delay, ReplyWait))
	case "sleep":
		r.need(l, 1)
		time.Sleep(time.Duration(r.unum(l, l.args[0])) * time.Millisecond)
		return ""
	}
	r.t.Fatalf("line %d: the Go binding has no command %q", l.no, l.cmd)
	return ""
}

func confClient(t *testing.T, kind string) *Client {
	opts := Options{Timeout: 10 * time.Second, NoDelay: true, Noreply: true}
	if kind == "mock" {
		opts.Mock = true
	} else {
		opts.Servers = []string{server2.addr}
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New(%s): %v", kind, err)
	}
	return c
}

func runConformance(t *testing.T, kind string) {
	text, err := os.ReadFile(casesPath(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := parseTable(t, string(text))
	if len(cases) == 0 {
		t.Fatal("the table holds no cases")
	}
	r := &confRunner{t: t, kind: kind, c: confClient(t, kind)}
	defer func() { r.c.Close() }()
	lines, diffs := 0, 0
	for _, cs := range cases {
		if kind == "mock" {
			r.c.Close()
			r.c = confClient(t, kind)
		} else if err := r.c.FlushAll(0, ReplyWait); err != nil {
			t.Fatalf("flush_all before case %s: %v", cs.name, err)
		}
		r.cas = map[string]uint64{}
		for _, l := range cs.lines {
			got := r.run(l)
			lines++
			if l.cmd == "sleep" {
				continue
			}
			if want := normalizeExpect(t, l.expect, l.no); got != want {
				diffs++
				t.Errorf("%s / %s line %d: `%s %s` gave `%.120s`, table says `%.120s`", kind, cs.name, l.no, l.cmd, strings.Join(l.args, " "), got, want)
			}
		}
	}
	if diffs > 0 {
		t.Fatalf("conformance: %d differences in %d lines of %d cases (client kind: %s)", diffs, lines, len(cases), kind)
	}
	fmt.Printf("conformance: %d lines in %d cases conform (client kind: %s)\n", lines, len(cases), kind)
}

func TestConformanceMemcached(t *testing.T) { runConformance(t, "memcached") }

func TestConformanceMock(t *testing.T) { runConformance(t, "mock") }
