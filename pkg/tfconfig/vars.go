package tfconfig

import (
	"io/fs"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

type varDecl struct {
	name  string
	block *hclsyntax.Block // merged with its overrides
	value cty.Value
	// set is where the value came from: the tfvars line or the default,
	// so that errors a value causes elsewhere can say where to change it.
	set    hcl.Range
	hasSet bool
}

type tfvar struct {
	value cty.Value
	rng   hcl.Range
}

func (l *loader) declareVariable(b *hclsyntax.Block) {
	if len(b.Labels) != 1 {
		l.d.errorf(b.TypeRange, `a variable block takes one label, its name: variable "cloudflare_account_id" { ... }`)
		return
	}
	name := b.Labels[0]
	if prev, ok := l.varDecls[name]; ok {
		l.d.errorf(b.LabelRanges[0], "variable %q is declared twice (first at %s); remove one", name, posOf(prev.block.DefRange()))
		return
	}
	l.varDecls[name] = &varDecl{name: name, block: b, value: cty.DynamicVal}
}

// varSpec is what a variable block says about its value.
type varSpec struct {
	def      hcl.Expression // nil without a default
	typ      cty.Type       // cty.DynamicPseudoType without a type
	defaults *typeexpr.Defaults
	typRng   hcl.Range
	ok       bool // false when the type could not be parsed (reported)
}

// spec reads a variable block, once overrides are merged into it.
func (l *loader) spec(v *varDecl) varSpec {
	s := varSpec{typ: cty.DynamicPseudoType, ok: true}
	attrs := v.block.Body.Attributes
	for _, an := range sortedKeys(attrs) {
		a := attrs[an]
		switch an {
		case "default":
			s.def = a.Expr
		case "type":
			t, defaults, hd := typeexpr.TypeConstraintWithDefaults(a.Expr)
			l.d.hcl(hd, a.Expr.Range())
			if hd.HasErrors() {
				s.ok = false
				continue
			}
			s.typ, s.defaults, s.typRng = t, defaults, a.Expr.Range()
		case "description", "sensitive", "nullable", "ephemeral":
		default:
			l.d.warnf(a.NameRange, "%s is not an attribute of a variable block; it is ignored", an)
		}
	}
	return s
}

func (l *loader) declareLocals(b *hclsyntax.Block) {
	names := sortedKeys(b.Body.Attributes)
	slices.SortFunc(names, func(x, y string) int {
		return b.Body.Attributes[x].NameRange.Start.Byte - b.Body.Attributes[y].NameRange.Start.Byte
	})
	for _, name := range names {
		a := b.Body.Attributes[name]
		if prev, ok := l.localDecls[name]; ok {
			l.d.errorf(a.NameRange, "local.%s is defined twice (first at %s); remove one", name, posOf(prev.NameRange))
			continue
		}
		l.localDecls[name] = a
		l.localOrder = append(l.localOrder, name)
	}
}

// loadVarValues reads the tfvars files Terraform reads automatically, in
// its order (later files win), then gives every variable its value: the
// tfvars value or the default, with the type's optional-attribute defaults
// applied and converted to the type, as Terraform does.
func (l *loader) loadVarValues(fsys fs.FS) {
	var names []string
	for _, n := range []string{"terraform.tfvars", "terraform.tfvars.json"} {
		if _, err := fs.Stat(fsys, n); err == nil {
			names = append(names, n)
		}
	}
	auto, _ := fs.Glob(fsys, "*.auto.tfvars")
	autoJSON, _ := fs.Glob(fsys, "*.auto.tfvars.json")
	auto = append(auto, autoJSON...)
	slices.Sort(auto)
	for _, n := range append(names, auto...) {
		l.readTfvars(fsys, n)
	}
	for _, name := range sortedKeys(l.varDecls) {
		l.varValue(l.varDecls[name])
	}
}

func (l *loader) varValue(v *varDecl) {
	s := l.spec(v)
	var val cty.Value
	var rng hcl.Range
	if tv, ok := l.tfvars[v.name]; ok {
		val, rng = tv.value, tv.rng
	} else if s.def != nil {
		dv, hd := l.evalStatic(s.def)
		l.d.hcl(hd, s.def.Range())
		if hd.HasErrors() {
			return
		}
		val, rng = dv, s.def.Range()
	} else {
		if !l.tfvarsBroken && s.ok {
			l.d.errorf(v.block.DefRange(), "variable %q has no value; give it a default, or set %s = ... in terraform.tfvars", v.name, v.name)
		}
		return
	}
	v.set, v.hasSet = rng, true
	if !s.ok {
		return
	}
	if s.defaults != nil {
		val = s.defaults.Apply(val)
	}
	cv, err := convert.Convert(val, s.typ)
	if err != nil {
		l.d.errorf(rng, "the value of var.%s does not fit its type %s (declared at %s): %v", v.name, typeexpr.TypeString(s.typ), posOf(s.typRng), err)
		return
	}
	v.value = cv
}

func (l *loader) readTfvars(fsys fs.FS, name string) {
	if regular, _ := l.regularFile(fsys, name); !regular {
		l.tfvarsBroken = true
		return
	}
	src, err := readConfigFile(fsys, name)
	if err != nil {
		l.d.at(Error, l.filePos(name), "cannot read this file: %v; %s", err, readErrorHint(err, "check its permissions (Terraform reads it for variable values, and so does the simulator)"))
		l.tfvarsBroken = true
		return
	}
	parse := l.parseHCL
	if strings.HasSuffix(name, ".json") {
		parse = l.parseJSON
	}
	f, ok := parse(src, l.filename(name))
	filePos := fileRange(l.filename(name))
	if !ok {
		l.tfvarsBroken = true
		return
	}
	attrs, hd := f.Body.JustAttributes()
	l.d.hcl(hd, filePos)
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		v, hd := l.evalStatic(a.Expr)
		l.d.hcl(hd, a.Expr.Range())
		if hd.HasErrors() {
			l.tfvarsBroken = true
			continue
		}
		if _, ok := l.varDecls[name]; !ok {
			l.d.warnf(a.NameRange, "%s is set here but no variable %q is declared%s; declare it or remove the line", name, name, suggest(name, sortedKeys(l.varDecls)))
			continue
		}
		l.tfvars[name] = tfvar{value: v, rng: a.Expr.Range()}
	}
}

// buildContext makes var.*, every resource's .id and the functions of
// functions.go available to expressions. local.* is filled in by
// evalLocals.
func (l *loader) buildContext() {
	vars := map[string]cty.Value{}
	for name, v := range l.varDecls {
		vars[name] = v.value
	}
	l.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars), "local": cty.EmptyObjectVal},
		Functions: l.meteredFunctions(),
	}
	for typ, byName := range l.resources {
		objs := map[string]cty.Value{}
		for name, rd := range byName {
			objs[name] = cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(rd.ID)})
		}
		l.ctx.Variables[typ] = cty.ObjectVal(objs)
	}
}

// addConfiguredAttributes lets references read the arguments a resource
// sets with a value known at plan time, such as the name of an access tag
// (tags = [cloudflare_zero_trust_access_tag.eng.name], as the provider's
// examples write it). An argument that references a resource is left out:
// its value is Cloudflare's to compute.
func (l *loader) addConfiguredAttributes() {
	// Only the arguments some expression reads are evaluated here: the
	// decoders evaluate every argument anyway, and function calls count
	// against the load's budget.
	type ref struct{ typ, name, attr string }
	wanted := map[ref]bool{}
	note := func(expr hclsyntax.Expression) {
		for _, tr := range expr.Variables() {
			if attr := attrStep(tr, 2); attr != "" && attr != "id" {
				if name := attrStep(tr, 1); name != "" {
					wanted[ref{tr.RootName(), name, attr}] = true
				}
			}
		}
	}
	for _, byName := range l.resources {
		for _, rd := range byName {
			for _, attr := range rd.block.Body.Attributes {
				note(attr.Expr)
			}
		}
	}
	for _, a := range l.localDecls {
		note(a.Expr)
	}
	if len(wanted) == 0 {
		return
	}
	changed := map[string]bool{}
	for r := range wanted {
		rd := l.resources[r.typ][r.name]
		if rd == nil {
			continue // reported by checkResourceRef
		}
		attr := rd.block.Body.Attributes[r.attr]
		if attr == nil || !planTimeKnown(attr.Expr) {
			continue
		}
		v, diags := attr.Expr.Value(l.ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() {
			continue
		}
		if rd.attrs == nil {
			rd.attrs = map[string]cty.Value{}
		}
		rd.attrs[r.attr] = v
		changed[r.typ] = true
	}
	for typ := range changed {
		objs := map[string]cty.Value{}
		for name, rd := range l.resources[typ] {
			vals := map[string]cty.Value{"id": cty.StringVal(rd.ID)}
			for an, v := range rd.attrs {
				vals[an] = v
			}
			objs[name] = cty.ObjectVal(vals)
		}
		l.ctx.Variables[typ] = cty.ObjectVal(objs)
	}
}

// planTimeKnown reports whether expr reads only variables and locals.
func planTimeKnown(expr hclsyntax.Expression) bool {
	for _, tr := range expr.Variables() {
		if root := tr.RootName(); root != "var" && root != "local" {
			return false
		}
	}
	return true
}

// evalLocals evaluates locals in dependency order, depth first. Each local
// is evaluated in a context holding only the locals it references, and
// local.* of the configuration's context is built once at the end, so that
// loading stays linear in the number of locals. Locals on a cycle are
// reported once each; those that depend on them are unknown, silently.
func (l *loader) evalLocals() {
	const (
		unvisited = iota
		active
		done
	)
	values := make(map[string]cty.Value, len(l.localOrder))
	state := make(map[string]int, len(l.localOrder))
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		switch state[name] {
		case done:
			return
		case active:
			for _, n := range stack[slices.Index(stack, name):] {
				if _, reported := values[n]; !reported {
					l.d.errorf(l.localDecls[n].NameRange, "local.%s depends on itself through other locals; break the cycle", n)
					values[n] = cty.DynamicVal
				}
			}
			return
		}
		state[name] = active
		stack = append(stack, name)
		a := l.localDecls[name]
		deps := l.localDeps(a.Expr)
		for _, dep := range deps {
			visit(dep)
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		if _, onCycle := values[name]; onCycle {
			return
		}
		obj := make(map[string]cty.Value, len(deps))
		for _, dep := range deps {
			obj[dep] = values[dep]
		}
		ctx := l.ctx.NewChild()
		ctx.Variables = map[string]cty.Value{"local": cty.ObjectVal(obj)}
		values[name] = l.evalIn(a.Expr, ctx)
	}
	for _, name := range l.localOrder {
		visit(name)
	}
	l.ctx.Variables["local"] = cty.ObjectVal(values)
}

// localDeps returns the declared locals an expression references, once
// each; undeclared ones are reported when it is evaluated.
func (l *loader) localDeps(expr hcl.Expression) []string {
	var deps []string
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" {
			continue
		}
		name := attrStep(tr, 1)
		if _, declared := l.localDecls[name]; declared && !slices.Contains(deps, name) {
			deps = append(deps, name)
		}
	}
	return deps
}

// attrStep returns the attribute name at step i of a traversal, or "".
func attrStep(tr hcl.Traversal, i int) string {
	if i >= len(tr) {
		return ""
	}
	switch s := tr[i].(type) {
	case hcl.TraverseAttr:
		return s.Name
	case hcl.TraverseIndex:
		if s.Key.Type() == cty.String && s.Key.IsKnown() {
			return s.Key.AsString()
		}
	}
	return ""
}

// checkExpr reports references the simulator cannot resolve and functions
// it does not provide, with what to write instead, before HCL's own, less
// specific "unknown variable" or "unknown function".
func (l *loader) checkExpr(expr hcl.Expression) bool {
	ok := l.checkFunctions(expr)
	for _, tr := range expr.Variables() {
		root, rng := tr.RootName(), tr.SourceRange()
		name := attrStep(tr, 1)
		switch root {
		case "var":
			if _, declared := l.varDecls[name]; name != "" && !declared {
				l.d.errorf(rng, "var.%s is not declared%s; add variable %q { default = ... } to a .tf file", name, suggest(name, sortedKeys(l.varDecls)), name)
				ok = false
			}
		case "local":
			if _, declared := l.localDecls[name]; name != "" && !declared {
				l.d.errorf(rng, "local.%s is not defined%s; add it to a locals block", name, suggest(name, sortedKeys(l.localDecls)))
				ok = false
			}
		case "data":
			l.d.errorf(rng, "data sources are not read by the simulator (there is no Cloudflare API behind it); write the value literally or pass it in a variable")
			ok = false
		case "module", "each", "count", "path", "terraform", "self":
			l.d.errorf(rng, "%s.* references are not supported by the simulator; write the value literally or pass it in a variable", root)
			ok = false
		default:
			ok = l.checkResourceRef(tr, root, name, rng) && ok
		}
	}
	return ok
}

func (l *loader) checkResourceRef(tr hcl.Traversal, root, name string, rng hcl.Range) bool {
	byName, isType := l.resources[root]
	if !isType {
		if strings.HasPrefix(root, "cloudflare_") {
			l.d.errorf(rng, "no %s resource is declared in this directory; declare it or fix the reference", root)
			return false
		}
		return true // HCL reports other unknown names itself
	}
	if name == "" {
		return true
	}
	if _, declared := byName[name]; !declared {
		l.d.errorf(rng, "no %s named %q is declared%s; declare it or fix the reference", root, name, suggest(name, sortedKeys(byName)))
		return false
	}
	if attr := attrStep(tr, 2); attr != "" && attr != "id" {
		if _, set := byName[name].attrs[attr]; set {
			return true
		}
		l.d.errorf(rng, "%s.%s.%s: the resource does not set %s to a value known before it is created, so only Cloudflare could say what it is (there is no API here to read it back); use .id, or an argument the resource sets literally or from a variable", root, name, attr, attr)
		return false
	}
	return true
}
