package tfconfig

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/ztagent/ztagent/pkg/session"
)

// field is one attribute, object key or list element, with where it was
// written. Values are evaluated lazily, leaf by leaf, so that a mistake in
// one nested value is reported at that value and does not hide the others.
type field struct {
	l      *loader
	path   string         // for messages: "rule_settings.check_session.duration"
	keyRng hcl.Range      // the attribute name or object key
	rng    hcl.Range      // the value
	expr   hcl.Expression // nil when the value came out of a variable or function
	val    cty.Value
	done   bool
	// from is where the value was set when it came out of a variable whose
	// value is set elsewhere (a tfvars line, a default): see origin.
	from string
}

// errorf reports a problem with the field's value, at the value, adding
// where the value was set when that is another place (a tfvars file), so
// that the message says which line to change.
func (f *field) errorf(format string, args ...any) {
	f.l.d.errorf(f.rng, "%s%s", fmt.Sprintf(format, args...), f.origin())
}

// origin returns " (value set at FILE:LINE:COL)" when the value comes from
// a variable (directly or through locals) whose value was set in a tfvars
// file or a default, or "".
func (f *field) origin() string {
	if f.from != "" || f.expr == nil {
		return f.from
	}
	return f.l.origin(f.expr, 0)
}

// origin follows an expression that is a reference (var.x, var.x.y,
// local.z, "${var.x}") to where its value was set.
func (l *loader) origin(expr hcl.Expression, depth int) string {
	if depth > 8 {
		return ""
	}
	switch e := expr.(type) {
	case *hclsyntax.ParenthesesExpr:
		return l.origin(e.Expression, depth+1)
	case *hclsyntax.TemplateWrapExpr:
		return l.origin(e.Wrapped, depth+1)
	case *hclsyntax.ScopeTraversalExpr:
		name := attrStep(e.Traversal, 1)
		switch e.Traversal.RootName() {
		case "var":
			if v := l.varDecls[name]; v != nil && v.hasSet {
				return fmt.Sprintf(" (value set at %s)", posOf(v.set))
			}
		case "local":
			if a := l.localDecls[name]; a != nil {
				return l.origin(a.Expr, depth+1)
			}
		}
	}
	return ""
}

// value returns the evaluated value; an unknown value means an error was
// already reported, and callers skip it silently.
func (f *field) value() cty.Value {
	if !f.done {
		f.done = true
		f.val = f.l.eval(f.expr)
	}
	return f.val
}

// syntax returns the expression with parentheses removed, or nil.
func (f *field) syntax() hclsyntax.Expression {
	e, _ := f.expr.(hclsyntax.Expression)
	for {
		p, ok := e.(*hclsyntax.ParenthesesExpr)
		if !ok {
			return e
		}
		e = p.Expression
	}
}

func (f *field) isNull() bool {
	if _, ok := f.syntax().(*hclsyntax.ObjectConsExpr); ok {
		return false
	}
	if _, ok := f.syntax().(*hclsyntax.TupleConsExpr); ok {
		return false
	}
	v := f.value()
	return v.IsKnown() && v.IsNull()
}

// str returns the value as a string. ok is false when it is unknown (an
// error was reported already) or not convertible (reported here).
func (f *field) str() (string, bool) {
	v := f.value()
	if !v.IsWhollyKnown() || v.IsNull() {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		f.errorf("%s must be a string, not %s", f.path, v.Type().FriendlyName())
		return "", false
	}
	return s.AsString(), true
}

func (f *field) boolean() (bool, bool) {
	v := f.value()
	if !v.IsWhollyKnown() || v.IsNull() {
		return false, false
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil {
		f.errorf("%s must be true or false, not %s", f.path, v.Type().FriendlyName())
		return false, false
	}
	return b.True(), true
}

func (f *field) integer() (int, bool) {
	v := f.value()
	if !v.IsWhollyKnown() || v.IsNull() {
		return 0, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		f.errorf("%s must be a whole number, not %s", f.path, v.Type().FriendlyName())
		return 0, false
	}
	bf := n.AsBigFloat()
	i, acc := bf.Int64()
	if acc != big.Exact || i < -1<<31 || i > 1<<31-1 {
		f.errorf("%s must be a whole number between %d and %d, not %s", f.path, -1<<31, 1<<31-1, bf.Text('g', 10))
		return 0, false
	}
	return int(i), true
}

// duration parses a Go duration with session.ParseDuration, which rejects
// zero and negative values with a message that shows a valid one (S5).
func (f *field) duration() (time.Duration, bool) {
	s, ok := f.str()
	if !ok {
		return 0, false
	}
	d, err := session.ParseDuration(s)
	if err != nil {
		f.errorf("%s: %v", f.path, err)
		return 0, false
	}
	return d, true
}

// accessSessionDuration reads an Access session_duration: a positive
// duration, or zero ("0s"), which Access takes as "No duration, expires
// immediately".
func (f *field) accessSessionDuration() (d time.Duration, immediate, ok bool) {
	s, ok := f.str()
	if !ok {
		return 0, false, false
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		hint, ok := session.DurationHint(s)
		if !ok {
			hint = "(it is too long for a duration)"
		}
		f.errorf("%s: %q is not a duration %s, or \"0s\" for a session that expires immediately", f.path, s, hint)
		return 0, false, false
	case d < 0:
		f.errorf("%s: %q is negative; use a duration such as \"24h\", or \"0s\" for a session that expires immediately", f.path, s)
		return 0, false, false
	}
	return d, d == 0, true
}

func (f *field) strings() ([]string, bool) {
	elems, ok := f.list()
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		s, ok := e.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// list returns the elements of a list, tuple or set value. Elements keep
// their own positions when the list is written literally.
func (f *field) list() ([]*field, bool) {
	if tc, ok := f.syntax().(*hclsyntax.TupleConsExpr); ok {
		out := make([]*field, len(tc.Exprs))
		for i, e := range tc.Exprs {
			out[i] = &field{l: f.l, path: fmt.Sprintf("%s[%d]", f.path, i), keyRng: e.Range(), rng: e.Range(), expr: e}
		}
		return out, true
	}
	v := f.value()
	if !v.IsWhollyKnown() || v.IsNull() {
		return nil, false
	}
	if !v.Type().IsListType() && !v.Type().IsTupleType() && !v.Type().IsSetType() {
		f.errorf("%s must be a list such as [...], not %s", f.path, v.Type().FriendlyName())
		return nil, false
	}
	var out []*field
	for it := v.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		out = append(out, &field{l: f.l, path: fmt.Sprintf("%s[%d]", f.path, len(out)), keyRng: f.rng, rng: f.rng, val: ev, done: true, from: f.origin()})
	}
	return out, true
}

// isObject reports whether the value is written as, or evaluates to, an
// object or map.
func (f *field) isObject() bool {
	if _, ok := f.syntax().(*hclsyntax.ObjectConsExpr); ok {
		return true
	}
	v := f.value()
	return v.IsKnown() && !v.IsNull() && (v.Type().IsObjectType() || v.Type().IsMapType())
}

// object returns the keys of an object value as fields. Keys written
// literally keep their positions; keys of an object that came out of a
// variable are positioned at the reference.
func (f *field) object() (*object, bool) {
	o := newObject(f.l, f.path, f.rng)
	if oc, ok := f.syntax().(*hclsyntax.ObjectConsExpr); ok {
		for _, item := range oc.Items {
			name := hcl.ExprAsKeyword(item.KeyExpr)
			if name == "" {
				kv := f.l.eval(item.KeyExpr)
				if !kv.IsKnown() || kv.IsNull() || kv.Type() != cty.String {
					if kv.IsKnown() {
						f.l.d.errorf(item.KeyExpr.Range(), "keys of %s must be names or strings", f.path)
					}
					continue
				}
				name = kv.AsString()
			}
			o.add(&field{l: f.l, path: f.path + "." + name, keyRng: item.KeyExpr.Range(), rng: item.ValueExpr.Range(), expr: item.ValueExpr})
		}
		return o, true
	}
	v := f.value()
	if !v.IsWhollyKnown() || v.IsNull() {
		return o, false
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		f.errorf("%s must be an object such as { key = value }, not %s", f.path, v.Type().FriendlyName())
		return o, false
	}
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		name := k.AsString()
		o.add(&field{l: f.l, path: f.path + "." + name, keyRng: f.rng, rng: f.rng, val: ev, done: true, from: f.origin()})
	}
	return o, true
}

// object is a resource body or an object value: named fields, with a record
// of which names the decoder asked for so that the others can be reported
// as unknown.
type object struct {
	l      *loader
	path   string    // "" for a resource body, else the attribute path
	desc   string    // what messages call it: a resource address or the path
	typ    string    // the resource type, for a resource body
	rng    hcl.Range // where "missing X" errors point
	fields map[string]*field
	order  []*field
	known  map[string]bool
	got    map[string]bool
	blocks []*hclsyntax.Block
}

func newObject(l *loader, path string, rng hcl.Range) *object {
	return &object{l: l, path: path, desc: path, rng: rng, fields: map[string]*field{}, known: map[string]bool{}, got: map[string]bool{}}
}

// bodyObject returns a resource body's attributes as an object; nested
// blocks are kept for finish to judge.
func bodyObject(l *loader, body *hclsyntax.Body, rng hcl.Range, desc string) *object {
	o := newObject(l, "", rng)
	o.desc = desc
	attrs := make([]*hclsyntax.Attribute, 0, len(body.Attributes))
	for _, a := range body.Attributes {
		attrs = append(attrs, a)
	}
	slices.SortFunc(attrs, func(a, b *hclsyntax.Attribute) int {
		if a.NameRange.Filename != b.NameRange.Filename { // merged from an override file
			return strings.Compare(a.NameRange.Filename, b.NameRange.Filename)
		}
		return a.NameRange.Start.Byte - b.NameRange.Start.Byte
	})
	for _, a := range attrs {
		o.add(&field{l: l, path: a.Name, keyRng: a.NameRange, rng: a.Expr.Range(), expr: a.Expr})
	}
	o.blocks = body.Blocks
	return o
}

func (o *object) add(f *field) {
	name := f.path[len(o.prefix()):]
	if prev, ok := o.fields[name]; ok {
		o.l.d.errorf(f.keyRng, "%s is set twice (first at %s); keep one", f.path, posOf(prev.keyRng))
		return
	}
	o.fields[name] = f
	o.order = append(o.order, f)
}

func (o *object) prefix() string {
	if o.path == "" {
		return ""
	}
	return o.path + "."
}

// get returns the named field, or nil when it is absent or null.
func (o *object) get(name string) *field {
	o.known[name] = true
	o.got[name] = true
	f := o.fields[name]
	if f == nil || f.isNull() {
		return nil
	}
	return f
}

// ignore marks attributes that the provider accepts but the simulator does
// not use, so that they are not reported as unknown. finish still
// evaluates them.
func (o *object) ignore(names ...string) {
	for _, n := range names {
		o.known[n] = true
	}
}

// skip marks attributes that are never evaluated: Terraform meta-arguments
// such as provider = cloudflare.zt, whose expressions are not values.
func (o *object) skip(names ...string) {
	for _, n := range names {
		o.known[n] = true
		o.got[n] = true
	}
}

// hasBlock reports whether the body has a nested block of that type (the
// provider v4 syntax for an attribute, reported by finish).
func (o *object) hasBlock(typ string) bool {
	return slices.ContainsFunc(o.blocks, func(b *hclsyntax.Block) bool { return b.Type == typ })
}

func (o *object) str(name string) string {
	if f := o.get(name); f != nil {
		s, _ := f.str()
		return s
	}
	return ""
}

func (o *object) boolean(name string) (v, set bool) {
	if f := o.get(name); f != nil {
		return f.boolean()
	}
	return false, false
}

// required returns the named string and reports its absence. The string
// is "" when the value could not be read (reported already).
func (o *object) required(name, example string) (string, *field) {
	f := o.get(name)
	if f == nil {
		if o.hasBlock(name) {
			return "", nil // finish reports the v4 block
		}
		o.l.d.errorf(o.rng, "%s has no %s; add %s = %s", o.desc, name, name, example)
		return "", nil
	}
	s, _ := f.str()
	return s, f
}

// schema returns the provider v5 schema of o, when the table describes it.
func (o *object) schema() (v5Object, bool) {
	if o.l.decoding == "" {
		return v5Object{}, false
	}
	return schemaObject(o.l.decoding, o.path)
}

// unknown judges an attribute the decoder did not ask for, as Terraform and
// the provider v5 schema do. A resource argument the schema lacks is an
// error (Terraform's "Unsupported argument"), with the closest valid name.
// A key the schema lacks inside an object attribute, such as a misspelt
// rule_settings.check_sesion, Terraform drops without a word
// (hashicorp/terraform#33570), and the provider's own acceptance tests
// rely on that, so it loads, with a warning that says what is lost: it
// must not pass for "no limit" unnoticed. Setting a read-only attribute
// is an error at any depth, as the provider framework makes it. An
// attribute the schema has is valid and merely not simulated.
func (o *object) unknown(f *field, name string) {
	sch, ok := o.schema()
	switch {
	case !ok:
		o.l.d.warnf(f.keyRng, "%s is not an attribute of %s that the simulator knows; it is ignored (check the spelling against the Cloudflare provider v5 schema)", f.path, o.desc)
	case sch.isReadOnly(name):
		o.l.d.errorf(f.keyRng, "%s is read-only in the Cloudflare provider v5 schema (Cloudflare computes it), so Terraform refuses to set it; remove it", f.path)
	case !sch.has(name) && o.path == "":
		o.l.d.errorf(f.keyRng, "%s is not an argument of %s in the Cloudflare provider v5 schema, so Terraform refuses it%s; remove it or fix the name", f.path, o.desc, suggest(name, sch.settable))
	case !sch.has(name):
		o.l.d.warnf(f.keyRng, "%s is not an attribute of %s in the Cloudflare provider v5 schema%s: Terraform drops it without an error, so neither Cloudflare nor the simulator applies it", f.path, o.desc, suggest(name, sch.settable))
	default:
		o.l.d.warnf(f.keyRng, "%s is a provider v5 attribute of %s that the simulator does not simulate; it is ignored", f.path, o.desc)
	}
}

// checkIgnored judges the keys inside an attribute the decoder ignores
// against the schema, as Terraform does, and says nothing of the valid
// ones: a read-only key is an error, a key the schema lacks a warning
// (Terraform drops it). cf-terraforming exports write read-only keys such
// as expiration.expired.
func (o *object) checkIgnored(f *field) {
	if o.l.decoding == "" {
		return
	}
	if _, ok := f.syntax().(*hclsyntax.TupleConsExpr); ok {
		elems, _ := f.list()
		for _, e := range elems {
			o.checkIgnored(e)
		}
		return
	}
	sch, ok := schemaObject(o.l.decoding, f.path)
	if !ok || !f.isObject() {
		return
	}
	sub, ok := f.object()
	if !ok {
		return
	}
	for _, kf := range sub.order {
		name := kf.path[len(sub.prefix()):]
		switch {
		case sch.isReadOnly(name):
			o.l.d.errorf(kf.keyRng, "%s is read-only in the Cloudflare provider v5 schema (Cloudflare computes it), so Terraform refuses to set it; remove it", kf.path)
		case !sch.has(name):
			o.l.d.warnf(kf.keyRng, "%s is not an attribute of %s in the Cloudflare provider v5 schema%s: Terraform drops it without an error, so neither Cloudflare nor the simulator applies it", kf.path, f.path, suggest(name, sch.settable))
		default:
			o.checkIgnored(kf)
		}
	}
}

// finish warns about every attribute the decoder did not ask for, and judges
// nested blocks: provider v5 writes nested settings as attributes, so a
// block named like a known attribute is the v4 syntax. Attributes the
// decoder ignored are still evaluated, so that a broken reference in, say,
// account_id is reported as Terraform would; skipped ones are not.
func (o *object) finish() {
	for _, f := range o.order {
		name := f.path[len(o.prefix()):]
		if !o.got[name] {
			f.value()
		}
		if hint := v4Attributes[o.typ][name]; hint != "" {
			o.l.d.errorf(f.keyRng, "%s is a Cloudflare provider v4 attribute; provider v5, which the simulator reads, writes %s", name, hint)
			continue
		}
		if !o.known[name] {
			o.unknown(f, name)
		} else if !o.got[name] {
			o.checkIgnored(f)
		}
	}
	for _, b := range o.blocks {
		hint := v4Blocks[o.typ][b.Type]
		switch {
		case b.Type == "lifecycle" || b.Type == "provisioner" || b.Type == "connection":
			// Terraform meta-blocks: they change how Terraform applies the
			// resource, not what it configures.
		case b.Type == "dynamic":
			o.l.d.errorf(b.TypeRange, "dynamic blocks are not supported by the simulator; write the attribute out in provider v5 attribute syntax (name = [...] or name = {...})")
		case hint != "":
			o.l.d.errorf(b.TypeRange, "%s is written as a block, the Cloudflare provider v4 syntax; provider v5, which the simulator reads, takes an attribute instead: write %s", b.Type, hint)
		case o.known[b.Type] && v5Lists[b.Type]:
			o.l.d.errorf(b.TypeRange, "%s is written as a block, the Cloudflare provider v4 syntax; provider v5, which the simulator reads, takes it as a list attribute: write %s = [{ ... }] (with an equals sign, one object per entry, nested settings as key = value)", b.Type, b.Type)
		case o.known[b.Type]:
			o.l.d.errorf(b.TypeRange, "%s is written as a block, the Cloudflare provider v4 syntax; provider v5, which the simulator reads, takes it as an attribute: write %s = { ... } (with an equals sign, and nested settings as key = value)", b.Type, b.Type)
		default:
			if sch, ok := o.schema(); ok && !sch.has(b.Type) {
				o.l.d.errorf(b.TypeRange, "%s has no block or attribute %s in the Cloudflare provider v5 schema, so Terraform refuses it%s; remove it or fix the name", o.desc, b.Type, suggest(b.Type, sch.settable))
				continue
			}
			o.l.d.warnf(b.TypeRange, "%s is not a block of %s that the simulator knows; it is ignored", b.Type, o.desc)
		}
	}
}
