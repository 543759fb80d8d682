package tfconfig

import (
	"net/netip"
	"strings"

	"github.com/ztagent/ztagent/pkg/policy"
)

// listTypes are the list types of the provider v5 schema; the simulator
// matches IP, DOMAIN, EMAIL, URL and SERIAL lists, and loads the others.
var listTypes = []string{"IP", "DOMAIN", "EMAIL", "URL", "SERIAL", "CATEGORY", "LOCATION", "DEVICE", "AAGUID"}

func (l *loader) decodeList(res Resource, o *object) {
	list := &List{Resource: res}
	list.Name, _ = o.required("name", `"Wiki IPs"`)
	list.Description = o.str("description")
	typ, tf := o.required("type", `"IP"`)
	typeOK := false
	if tf != nil && typ != "" {
		if typ, typeOK = tf.oneOf(typ, listTypes, "list type"); !typeOK {
			tf.errorf("list type %q is not a Cloudflare list type%s; use one of %s", typ, suggest(typ, listTypes), strings.Join(listTypes, ", "))
		}
	}
	list.Type = policy.ListType(typ)
	if f := o.get("items"); f != nil {
		elems, _ := f.list()
		for _, e := range elems {
			item, at, ok := l.decodeListItem(e)
			if !ok {
				continue
			}
			if typeOK {
				checkListItem(list.Type, item.Value, at)
			}
			list.Items = append(list.Items, item)
		}
	}
	l.cfg.Lists = append(l.cfg.Lists, list)
}

// decodeListItem accepts the v5 form {value, description} and the older
// plain string. It returns the field that holds the value.
func (l *loader) decodeListItem(e *field) (ListItem, *field, bool) {
	if !e.isObject() {
		s, ok := e.str()
		return ListItem{Value: s}, e, ok
	}
	o, ok := e.object()
	if !ok {
		return ListItem{}, e, false
	}
	var it ListItem
	at := e
	vf := o.get("value")
	if vf == nil {
		e.errorf(`list item has no value; write {value = "10.0.0.10", description = "..."}`)
		ok = false
	} else {
		it.Value, ok = vf.str()
		at = vf
	}
	it.Description = o.str("description")
	o.finish()
	return it, at, ok
}

func checkListItem(typ policy.ListType, v string, f *field) {
	switch typ {
	case policy.ListIP:
		if _, err := netip.ParsePrefix(v); err == nil {
			return
		}
		if _, err := netip.ParseAddr(v); err == nil {
			return
		}
		f.errorf("%q is not an IP address or CIDR; IP lists hold values such as \"10.0.0.10\" or \"10.0.0.0/24\"", v)
	case policy.ListEmail:
		if !strings.Contains(v, "@") {
			f.errorf("%q is not an email address; EMAIL lists hold values such as \"alice@example.com\"", v)
		}
	default:
		if strings.TrimSpace(v) == "" {
			f.errorf("list item is empty; remove it or give it a value")
		}
	}
}
