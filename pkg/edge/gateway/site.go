package gateway

import (
	"net"
	"strings"
)

// Site is what the Gateway knows of the world besides the virtual
// network's records: the categories Cloudflare's domain categorization
// would give hosts, and the ID of the virtual network device traffic
// arrives on.
type Site struct {
	// VNetID is net.vnet_id for every network flow.
	VNetID string
	// Categories are keyed by host name; a host without an entry has its
	// nearest parent domain's ("a.news.example" takes "news.example"'s).
	Categories map[string]Categories
}

// Categories are a host's content and security category IDs, as the
// dns.*_category and http.request.uri.*_category fields hold them.
type Categories struct {
	Content  []int
	Security []int
}

// categories returns the categories of host (a name, or a Host header
// with a port), from its own entry or its nearest parent's.
func (s *Site) categories(host string) (content, security []int) {
	if len(s.Categories) == 0 || host == "" {
		return nil, nil
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for name := normalName(host); name != ""; {
		if c, ok := s.Categories[name]; ok {
			return c.Content, c.Security
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return nil, nil
}
