package tfconfig

import (
	"regexp"
	"slices"
	"strings"
)

// v5Object is one object of the provider v5 schema: the names a
// configuration may set and the read-only ones.
type v5Object struct {
	settable, readOnly []string
}

// has reports whether name is one of the object's settable attributes.
func (o v5Object) has(name string) bool { return slices.Contains(o.settable, name) }

// isReadOnly reports whether name is an attribute Cloudflare computes.
func (o v5Object) isReadOnly(name string) bool { return slices.Contains(o.readOnly, name) }

var listIndex = regexp.MustCompile(`\[\d+\]`)

// schemaObject returns the provider v5 schema of the object at path (list
// indexes ignored) of a resource of type typ, and whether the schema
// describes it: a map attribute, whose keys are the user's, or a resource
// type the table does not hold, is not described.
func schemaObject(typ, path string) (v5Object, bool) {
	spec, ok := v5Schema[typ][listIndex.ReplaceAllString(path, "")]
	if !ok {
		return v5Object{}, false
	}
	settable, readOnly, _ := strings.Cut(spec, " | ")
	return v5Object{settable: strings.Fields(settable), readOnly: strings.Fields(readOnly)}, true
}
