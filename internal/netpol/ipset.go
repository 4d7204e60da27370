package netpol

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// An atom is a range of addresses outside the cluster that every ipBlock
// and network of the inputs either covers entirely or not at all, so one
// answer holds for the whole range. Atoms are cut at every CIDR boundary
// the policies mention.
type atom struct {
	lo, hi netip.Addr
}

func (a atom) contains(ip netip.Addr) bool {
	return a.lo.Compare(ip) <= 0 && ip.Compare(a.hi) <= 0
}

// cidrs is the atom written as the fewest CIDRs.
func (a atom) cidrs() []string {
	var out []string
	lo := a.lo
	for {
		bitsMax := lo.BitLen()
		var pick netip.Prefix
		for b := 0; b <= bitsMax; b++ {
			p := netip.PrefixFrom(lo, b)
			if p.Masked().Addr() != lo || lastAddr(p).Compare(a.hi) > 0 {
				continue
			}
			pick = p
			break
		}
		out = append(out, pick.String())
		last := lastAddr(pick)
		if last == a.hi {
			return out
		}
		lo = last.Next()
	}
}

func (a atom) String() string { return strings.Join(a.cidrs(), ",") }

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - uint(i%8))
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// makeAtoms cuts the IPv4 and IPv6 spaces at the bounds of prefixes.
func makeAtoms(prefixes []netip.Prefix) []atom {
	var out []atom
	for _, fam := range []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")} {
		starts := map[netip.Addr]bool{fam.Addr(): true}
		for _, p := range prefixes {
			if p.Addr().Is4() != fam.Addr().Is4() {
				continue
			}
			p = p.Masked()
			starts[p.Addr()] = true
			if l := lastAddr(p); l != lastAddr(fam) {
				starts[l.Next()] = true
			}
		}
		list := make([]netip.Addr, 0, len(starts))
		for a := range starts {
			list = append(list, a)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Less(list[j]) })
		for i, lo := range list {
			hi := lastAddr(fam)
			if i+1 < len(list) {
				hi = list[i+1].Prev()
			}
			out = append(out, atom{lo, hi})
		}
	}
	return out
}

// ipBlock is a CIDR without its exceptions.
type ipBlock struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

func (b ipBlock) covers(a atom) bool {
	if !b.cidr.Contains(a.lo) {
		return false
	}
	for _, e := range b.except {
		if e.Contains(a.lo) {
			return false
		}
	}
	return true
}

func parseIPBlock(cidr string, except []string) (ipBlock, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ipBlock{}, fmt.Errorf("ipBlock cidr %q is not a CIDR", cidr)
	}
	b := ipBlock{cidr: p.Masked()}
	for _, e := range except {
		q, err := netip.ParsePrefix(e)
		if err != nil {
			return ipBlock{}, fmt.Errorf("ipBlock except %q is not a CIDR", e)
		}
		if q.Addr().Is4() != p.Addr().Is4() || q.Bits() < p.Bits() || !p.Contains(q.Addr()) {
			// The API server refuses an except outside the cidr.
			return ipBlock{}, fmt.Errorf("ipBlock except %q is not inside cidr %q", e, cidr)
		}
		b.except = append(b.except, q.Masked())
	}
	return b, nil
}
