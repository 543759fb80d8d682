package tfconfig

import (
	"maps"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// isOverrideFile reports whether Terraform treats the file as an override
// file: override.tf or *_override.tf.
func isOverrideFile(name string) bool {
	return name == "override.tf" || strings.HasSuffix(name, "_override.tf")
}

// override merges one override file into the blocks of the other files, as
// Terraform does after loading them: a resource or variable block replaces
// the attributes it sets (whole attributes: an object value is not merged
// key by key) and the nested blocks of the types it has; a locals block
// replaces the locals it defines. An override block for something no other
// file declares is an error, as in Terraform. Other blocks (provider,
// terraform, output…) change nothing the simulator reads and are ignored.
func (l *loader) override(body *hclsyntax.Body) {
	for _, b := range body.Blocks {
		switch b.Type {
		case "resource":
			if len(b.Labels) != 2 {
				l.d.errorf(b.TypeRange, `a resource block takes two labels, its type and its name: resource "cloudflare_zero_trust_list" "name" { ... }`)
				continue
			}
			rd := l.resources[b.Labels[0]][b.Labels[1]]
			if rd == nil {
				l.d.errorf(b.DefRange(), "this override block changes resource %s.%s, which no other .tf file declares; an override file (override.tf, *_override.tf) only changes blocks declared elsewhere: declare the resource in a regular .tf file", b.Labels[0], b.Labels[1])
				continue
			}
			rd.block = mergeBlock(rd.block, b)
		case "variable":
			if len(b.Labels) != 1 {
				l.d.errorf(b.TypeRange, `a variable block takes one label, its name: variable "cloudflare_account_id" { ... }`)
				continue
			}
			v := l.varDecls[b.Labels[0]]
			if v == nil {
				l.d.errorf(b.DefRange(), "this override block changes variable %q, which no other .tf file declares; declare it in a regular .tf file", b.Labels[0])
				continue
			}
			v.block = mergeBlock(v.block, b)
		case "locals":
			for _, name := range sortedKeys(b.Body.Attributes) {
				a := b.Body.Attributes[name]
				if _, ok := l.localDecls[name]; !ok {
					l.d.errorf(a.NameRange, "this overrides local.%s, which no other .tf file defines; define it in a locals block of a regular .tf file", name)
					continue
				}
				l.localDecls[name] = a
			}
		}
	}
	l.topLevelAttributes(body)
}

// mergeBlock returns base with over's attributes and nested blocks put in
// place of its own.
func mergeBlock(base, over *hclsyntax.Block) *hclsyntax.Block {
	body := *base.Body
	body.Attributes = maps.Clone(base.Body.Attributes)
	maps.Copy(body.Attributes, over.Body.Attributes)
	replaced := map[string]bool{}
	for _, b := range over.Body.Blocks {
		replaced[b.Type] = true
	}
	body.Blocks = nil
	for _, b := range base.Body.Blocks {
		if !replaced[b.Type] {
			body.Blocks = append(body.Blocks, b)
		}
	}
	body.Blocks = append(body.Blocks, over.Body.Blocks...)
	merged := *base
	merged.Body = &body
	return &merged
}
