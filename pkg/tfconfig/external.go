package tfconfig

import "regexp"

// externalListRef matches a list referenced by a literal ID, as Cloudflare
// writes list IDs: "$01302951-49f9-47c9-a400-0297e60b6a10".
var externalListRef = regexp.MustCompile(`\$([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b`)

// cloudflareID matches an ID as Cloudflare makes them, a UUID (with or
// without dashes): the ID of a resource made outside the directory.
var cloudflareID = regexp.MustCompile(`^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$`)

// declareExternalLists adds, for each list a Gateway expression references
// by a literal ID that no resource of the directory declares, an empty
// external list, with a warning at its first reference. Such lists are
// real in Cloudflare (made in the dashboard, or passed in from another
// module), so a reference to one is not an error; without its items the
// simulator matches nothing in it.
func (l *loader) declareExternalLists() {
	known := map[string]bool{}
	for _, list := range l.cfg.Lists {
		known[list.ID] = true
	}
	for _, m := range l.gw {
		if !m.valid || !m.p.Simulated() {
			continue
		}
		for _, part := range []struct {
			f   *field
			src string
			ok  bool
		}{{m.traffic, m.p.Traffic, m.trafficOK}, {m.identity, m.p.Identity, m.identityOK}} {
			if part.f == nil || !part.ok {
				continue
			}
			for _, loc := range externalListRef.FindAllStringSubmatchIndex(part.src, -1) {
				id := part.src[loc[2]:loc[3]]
				if known[id] || l.resourceByID(id) != nil {
					continue
				}
				known[id] = true
				l.cfg.Lists = append(l.cfg.Lists, &List{Resource: Resource{Type: TypeList, ID: id}, Name: "$" + id, External: true})
				pos, _ := l.exprPos(part.f, loc[0])
				l.d.at(Warning, pos, "list $%s is not declared in %s (a list made in the dashboard or passed in from another module): the simulator loads it as an empty list, which matches nothing, unless the simulator file gives its items: list \"%s\" { items = [...] }", id, l.dir, id)
			}
		}
	}
}
