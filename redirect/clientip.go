package redirect

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ParsePrefixes reads a comma-separated list of CIDR networks or single addresses.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("network %q: %w", part, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", part, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// clientAddr returns the visitor's address. Proxy headers are believed only when the connection
// comes from a trusted proxy; then the client is the right-most address that is not itself a
// trusted proxy (so a visitor cannot prepend a fake one). Forwarded (RFC 7239) wins over
// X-Forwarded-For when both are present. A malformed header leaves the last good address.
func clientAddr(remote netip.Addr, trusted []netip.Prefix, forwarded, xff []byte) netip.Addr {
	if len(trusted) == 0 || !inPrefixes(trusted, remote) {
		return remote
	}
	client := remote
	if len(forwarded) > 0 {
		walkRight(forwarded, func(elem []byte) bool {
			a, ok := forwardedFor(elem)
			if !ok {
				return false
			}
			client = a
			return inPrefixes(trusted, a)
		})
		return client
	}
	if len(xff) > 0 {
		walkRight(xff, func(elem []byte) bool {
			a, err := netip.ParseAddr(b2s(trimSpace(elem)))
			if err != nil {
				return false
			}
			client = a.Unmap()
			return inPrefixes(trusted, client)
		})
	}
	return client
}

// walkRight calls f on the comma-separated elements of h from the right until f returns false.
func walkRight(h []byte, f func([]byte) bool) {
	end := len(h)
	for i := len(h) - 1; i >= -1; i-- {
		if i == -1 || h[i] == ',' {
			if !f(h[i+1 : end]) {
				return
			}
			end = i
		}
	}
}

// forwardedFor finds for=ADDR in one Forwarded element: for=192.0.2.1, for="192.0.2.1:8080",
// for="[2001:db8::1]:4711".
func forwardedFor(elem []byte) (netip.Addr, bool) {
	for len(elem) > 0 {
		var pair []byte
		if i := bytes.IndexByte(elem, ';'); i >= 0 {
			pair, elem = elem[:i], elem[i+1:]
		} else {
			pair, elem = elem, nil
		}
		pair = trimSpace(pair)
		if len(pair) < 4 || !(pair[0]|0x20 == 'f' && pair[1]|0x20 == 'o' && pair[2]|0x20 == 'r' && pair[3] == '=') {
			continue
		}
		v := pair[4:]
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if len(v) > 0 && v[0] == '[' {
			end := bytes.IndexByte(v, ']')
			if end < 0 {
				return netip.Addr{}, false
			}
			v = v[1:end]
		} else if i := bytes.IndexByte(v, ':'); i >= 0 && bytes.IndexByte(v[i+1:], ':') < 0 {
			v = v[:i] // IPv4 with a port
		}
		a, err := netip.ParseAddr(b2s(v))
		if err != nil {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
