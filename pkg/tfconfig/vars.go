package tfconfig

import (
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

type varDecl struct {
	name   string
	rng    hcl.Range
	def    hcl.Expression // nil without a default
	typ    cty.Type       // cty.DynamicPseudoType without a type
	typRng hcl.Range
	value  cty.Value
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
		l.d.errorf(b.LabelRanges[0], "variable %q is declared twice (first at %s); remove one", name, posOf(prev.rng))
		return
	}
	v := &varDecl{name: name, rng: b.DefRange(), typ: cty.DynamicPseudoType}
	for an, a := range b.Body.Attributes {
		switch an {
		case "default":
			v.def = a.Expr
		case "type":
			t, hd := typeexpr.TypeConstraint(a.Expr)
			l.d.hcl(hd)
			if !hd.HasErrors() {
				v.typ, v.typRng = t, a.Expr.Range()
			}
		case "description", "sensitive", "nullable", "ephemeral":
		default:
			l.d.warnf(a.NameRange, "%s is not an attribute of a variable block; it is ignored", an)
		}
	}
	l.varDecls[name] = v
}

func (l *loader) declareLocals(b *hclsyntax.Block) {
	names := slices.Collect(maps.Keys(b.Body.Attributes))
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
// its order (later files win), then gives every variable its value.
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
	for _, name := range slices.Sorted(maps.Keys(l.varDecls)) {
		v := l.varDecls[name]
		var val cty.Value
		var rng hcl.Range
		if tv, ok := l.tfvars[name]; ok {
			val, rng = tv.value, tv.rng
		} else if v.def != nil {
			dv, hd := v.def.Value(nil)
			l.d.hcl(hd)
			if hd.HasErrors() {
				v.value = cty.DynamicVal
				continue
			}
			val, rng = dv, v.def.Range()
		} else {
			l.d.errorf(v.rng, "variable %q has no value; give it a default, or set %s = ... in terraform.tfvars", name, name)
			v.value = cty.DynamicVal
			continue
		}
		cv, err := convert.Convert(val, v.typ)
		if err != nil {
			l.d.errorf(rng, "the value of var.%s does not fit its type %s (declared at %s): %v", name, typeexpr.TypeString(v.typ), posOf(v.typRng), err)
			cv = cty.DynamicVal
		}
		v.value = cv
	}
}

func (l *loader) readTfvars(fsys fs.FS, name string) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		l.d.at(Error, Pos{File: l.filename(name)}, "cannot read: %v", unwrapPathError(err))
		return
	}
	var f *hcl.File
	var hd hcl.Diagnostics
	if strings.HasSuffix(name, ".json") {
		f, hd = l.parser.ParseJSON(src, l.filename(name))
	} else {
		f, hd = l.parser.ParseHCL(src, l.filename(name))
	}
	l.d.hcl(hd)
	if f == nil || hd.HasErrors() {
		return
	}
	attrs, hd := f.Body.JustAttributes()
	l.d.hcl(hd)
	for name, a := range attrs {
		v, hd := a.Expr.Value(nil)
		l.d.hcl(hd)
		if hd.HasErrors() {
			continue
		}
		if _, ok := l.varDecls[name]; !ok {
			l.d.warnf(a.NameRange, "%s is set here but no variable %q is declared%s; declare it or remove the line", name, name, suggest(name, slices.Collect(maps.Keys(l.varDecls))))
			continue
		}
		l.tfvars[name] = tfvar{value: v, rng: a.Expr.Range()}
	}
}

// buildContext makes var.*, every resource's .id and a few string functions
// available to expressions. local.* is filled in by evalLocals.
func (l *loader) buildContext() {
	vars := map[string]cty.Value{}
	for name, v := range l.varDecls {
		vars[name] = v.value
	}
	l.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars), "local": cty.EmptyObjectVal},
		Functions: map[string]function.Function{
			"lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc, "join": stdlib.JoinFunc,
			"format": stdlib.FormatFunc, "concat": stdlib.ConcatFunc, "trimspace": stdlib.TrimSpaceFunc,
			"replace": stdlib.ReplaceFunc, "jsonencode": stdlib.JSONEncodeFunc,
		},
	}
	for typ, byName := range l.resources {
		objs := map[string]cty.Value{}
		for name, rd := range byName {
			objs[name] = cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(rd.ID)})
		}
		l.ctx.Variables[typ] = cty.ObjectVal(objs)
	}
}

// evalLocals evaluates locals in dependency order: each pass evaluates
// those whose local.* references are all known, until none is left or a
// pass makes no progress (a cycle).
func (l *loader) evalLocals() {
	values := map[string]cty.Value{}
	pending := slices.Clone(l.localOrder)
	for len(pending) > 0 {
		var next []string
		for _, name := range pending {
			a := l.localDecls[name]
			if !l.localDepsReady(a.Expr, values) {
				next = append(next, name)
				continue
			}
			values[name] = l.eval(a.Expr)
			l.ctx.Variables["local"] = cty.ObjectVal(values)
		}
		if len(next) == len(pending) {
			for _, name := range next {
				l.d.errorf(l.localDecls[name].NameRange, "local.%s depends on itself through other locals; break the cycle", name)
				values[name] = cty.DynamicVal
			}
			l.ctx.Variables["local"] = cty.ObjectVal(values)
			return
		}
		pending = next
	}
}

func (l *loader) localDepsReady(expr hcl.Expression, values map[string]cty.Value) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" {
			continue
		}
		name := attrStep(tr, 1)
		if _, declared := l.localDecls[name]; !declared {
			continue // eval reports it
		}
		if _, ok := values[name]; !ok {
			return false
		}
	}
	return true
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

// checkRefs reports references the simulator cannot resolve, with what to
// write instead, before HCL's own, less specific "unknown variable".
func (l *loader) checkRefs(expr hcl.Expression) bool {
	ok := true
	for _, tr := range expr.Variables() {
		root, rng := tr.RootName(), tr.SourceRange()
		name := attrStep(tr, 1)
		switch root {
		case "var":
			if _, declared := l.varDecls[name]; name != "" && !declared {
				l.d.errorf(rng, "var.%s is not declared%s; add variable %q { default = ... } to a .tf file", name, suggest(name, slices.Collect(maps.Keys(l.varDecls))), name)
				ok = false
			}
		case "local":
			if _, declared := l.localDecls[name]; name != "" && !declared {
				l.d.errorf(rng, "local.%s is not defined%s; add it to a locals block", name, suggest(name, slices.Collect(maps.Keys(l.localDecls))))
				ok = false
			}
		case "data":
			l.d.errorf(rng, "data sources are not read by the simulator (there is no Cloudflare API behind it); write the value literally or pass it in a variable")
			ok = false
		case "module", "each", "count", "path", "terraform", "self":
			l.d.errorf(rng, "%s.* references are not supported by the simulator; write the value literally or pass it in a variable", root)
			ok = false
		default:
			byName, isType := l.resources[root]
			if !isType {
				if strings.HasPrefix(root, "cloudflare_") {
					l.d.errorf(rng, "no %s resource is declared in this directory; declare it or fix the reference", root)
					ok = false
				}
				continue // HCL reports other unknown names itself
			}
			if name == "" {
				continue
			}
			if _, declared := byName[name]; !declared {
				l.d.errorf(rng, "no %s named %q is declared%s; declare it or fix the reference", root, name, suggest(name, slices.Collect(maps.Keys(byName))))
				ok = false
				continue
			}
			if attr := attrStep(tr, 2); attr != "" && attr != "id" {
				l.d.errorf(rng, "%s.%s.%s: the simulator can only resolve .id of a resource (there is no API to read other attributes back); use .id or write the value literally", root, name, attr)
				ok = false
			}
		}
	}
	return ok
}
