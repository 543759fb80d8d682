package tfconfig

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// loader holds the state of one Load.
type loader struct {
	d      diags
	parser *hclparse.Parser
	dir    string // the directory as the user named it, for file names in diagnostics
	ctx    *hcl.EvalContext
	// static is set for the simulator file, which has no variables or
	// references: values are evaluated without a context, and HCL says
	// that variables are not allowed there.
	static bool

	varDecls   map[string]*varDecl
	tfvars     map[string]tfvar
	localDecls map[string]*hclsyntax.Attribute
	localOrder []string

	// resources indexes every resource block, simulated or not, by type and
	// label, so that references to any of them resolve to a synthetic ID.
	resources map[string]map[string]*resourceDecl
	decls     []*resourceDecl
	skipped   []*skipGroup

	cfg *Config
	// Positions the cross-resource checks need, kept beside the typed
	// structs so that those stay plain data.
	gw   []*gwMeta
	apps []*appMeta
}

type resourceDecl struct {
	Resource
	block *hclsyntax.Block
}

// skipGroup is one info line: every skipped block of one kind.
type skipGroup struct {
	key    string
	reason string
	first  hcl.Range
	names  []string
}

// supported lists the resource types the simulator decodes.
var supported = map[string]bool{
	TypeGatewayPolicy: true, TypeList: true, TypeIdentityProvider: true, TypeAccessApplication: true,
	TypeAccessPolicy: true, TypeOrganization: true, TypeDeviceProfile: true,
}

// renamedInV5 maps provider v4 resource types to their v5 names, so that a v4
// configuration is an error rather than a valid one with nothing loaded.
var renamedInV5 = map[string]string{
	"cloudflare_teams_rule":                     TypeGatewayPolicy,
	"cloudflare_zero_trust_gateway_rule":        TypeGatewayPolicy,
	"cloudflare_teams_list":                     TypeList,
	"cloudflare_access_identity_provider":       TypeIdentityProvider,
	"cloudflare_access_application":             TypeAccessApplication,
	"cloudflare_access_policy":                  TypeAccessPolicy,
	"cloudflare_access_organization":            TypeOrganization,
	"cloudflare_zero_trust_access_organization": TypeOrganization,
	"cloudflare_device_settings_policy":         TypeDeviceProfile,
	"cloudflare_zero_trust_device_profiles":     TypeDeviceProfile,
}

// Load reads every *.tf file in dir, the variable values of
// terraform.tfvars and *.auto.tfvars (and their .json forms) and variable
// defaults, and returns the simulated resources with references resolved.
// It collects every problem rather than stopping at the first; the Config is
// fit for use only when the Diagnostics hold no error.
func Load(dir string) (*Config, Diagnostics) {
	return load(os.DirFS(dir), dir)
}

// load reads from fsys but names files as dir/name, so that tests and the
// fuzzer can load from memory.
func load(fsys fs.FS, dir string) (*Config, Diagnostics) {
	l := &loader{
		parser:     hclparse.NewParser(),
		dir:        dir,
		varDecls:   map[string]*varDecl{},
		tfvars:     map[string]tfvar{},
		localDecls: map[string]*hclsyntax.Attribute{},
		resources:  map[string]map[string]*resourceDecl{},
		cfg:        &Config{Dir: dir},
	}
	l.parseDir(fsys)
	l.loadVarValues(fsys)
	l.buildContext()
	l.evalLocals()
	for _, rd := range l.decls {
		if supported[rd.Type] {
			l.decode(rd)
		}
	}
	l.check()
	l.d.list.sort()
	return l.cfg, l.d.list
}

func (l *loader) filename(name string) string { return filepath.Join(l.dir, name) }

// parseDir parses the *.tf files in name order and indexes their blocks.
func (l *loader) parseDir(fsys fs.FS) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		l.d.at(Error, Pos{File: l.dir}, "cannot read the Terraform directory: %v; pass the directory that holds your .tf files to --terraform", unwrapPathError(err))
		return
	}
	var found bool
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || ignoredFile(name) {
			continue
		}
		if strings.HasSuffix(name, ".tf.json") {
			l.d.at(Info, Pos{File: l.filename(name)}, "skipping %s: the simulator reads Terraform's native syntax (.tf), not its JSON form", name)
			continue
		}
		if !strings.HasSuffix(name, ".tf") {
			continue
		}
		if !e.Type().IsRegular() {
			// A FIFO or device would block ReadFile forever.
			l.d.at(Info, Pos{File: l.filename(name), Line: 1, Column: 1}, "skipping %s: not a regular file", name)
			continue
		}
		found = true
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			l.d.at(Error, Pos{File: l.filename(name), Line: 1, Column: 1}, "cannot read this file: %v; check its permissions (the simulator needs to read every .tf file)", unwrapPathError(err))
			continue
		}
		f, hd := l.parser.ParseHCL(src, l.filename(name))
		l.d.hcl(hd)
		if f == nil || hd.HasErrors() {
			// A partly parsed file would add false errors ("has no
			// action") about attributes the parser never reached.
			continue
		}
		if body, ok := f.Body.(*hclsyntax.Body); ok {
			l.index(body)
		}
	}
	if !found {
		l.d.at(Error, Pos{File: l.dir}, "no .tf files in this directory; pass the directory that holds your Terraform configuration to --terraform")
	}
	for _, g := range l.skipped {
		l.d.infof(g.first, "skipping %s (%s): %s", g.key, strings.Join(g.names, ", "), g.reason)
	}
}

// ignoredFile reports whether Terraform itself would ignore the file: hidden
// files and editor backups.
func ignoredFile(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		(strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"))
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// index records a file's top-level blocks: resources, variables and locals
// are kept; everything else is skipped with one info line per kind.
func (l *loader) index(body *hclsyntax.Body) {
	for _, b := range body.Blocks {
		switch b.Type {
		case "resource":
			if len(b.Labels) != 2 {
				l.d.errorf(b.TypeRange, `a resource block takes two labels, its type and its name: resource "cloudflare_zero_trust_list" "name" { ... }`)
				continue
			}
			l.declare(b)
		case "variable":
			l.declareVariable(b)
		case "locals":
			l.declareLocals(b)
		case "provider", "terraform", "output", "data", "module", "moved", "import", "check", "removed", "ephemeral":
			name := strings.Join(b.Labels, ".")
			if name == "" {
				name = fmt.Sprintf("%s:%d", path.Base(b.TypeRange.Filename), b.TypeRange.Start.Line)
			}
			l.skip(b.Type+" blocks", "the simulator does not use them", b.TypeRange, name)
		default:
			l.d.warnf(b.TypeRange, "%s is not a Terraform top-level block; it is ignored", b.Type)
		}
	}
	for name, a := range body.Attributes {
		l.d.errorf(a.NameRange, "%s = ... is not allowed at the top level of a .tf file; put it inside a resource, variable or locals block", name)
	}
}

func (l *loader) skip(key, reason string, rng hcl.Range, name string) {
	for _, g := range l.skipped {
		if g.key == key {
			g.names = append(g.names, name)
			return
		}
	}
	l.skipped = append(l.skipped, &skipGroup{key: key, reason: reason, first: rng, names: []string{name}})
}

func (l *loader) declare(b *hclsyntax.Block) {
	typ, name := b.Labels[0], b.Labels[1]
	byName := l.resources[typ]
	if byName == nil {
		byName = map[string]*resourceDecl{}
		l.resources[typ] = byName
	}
	if prev, ok := byName[name]; ok {
		l.d.errorf(b.LabelRanges[1], "resource %s.%s is declared twice (first at %s); rename one of them", typ, name, prev.Pos)
		return
	}
	rd := &resourceDecl{
		Resource: Resource{Type: typ, Label: name, ID: SyntheticID(typ, name), Pos: posOf(b.TypeRange)},
		block:    b,
	}
	byName[name] = rd
	l.decls = append(l.decls, rd)
	if v5, ok := renamedInV5[typ]; ok {
		l.d.errorf(b.LabelRanges[0], "%s is a Cloudflare provider v4 resource; the simulator reads provider v5, where it is %s (see Cloudflare's v5 upgrade guide)", typ, v5)
		return
	}
	if !supported[typ] {
		l.skip("resources of type "+typ, "the simulator loads only gateway policies, lists, identity providers, Access applications and policies, the organization and the device default profile", b.TypeRange, name)
	}
}

// decode turns one supported resource block into its typed struct.
func (l *loader) decode(rd *resourceDecl) {
	o := bodyObject(l, rd.block.Body, rd.block.DefRange(), rd.Address())
	o.ignore("depends_on", "provider", "account_id", "zone_id")
	for _, meta := range []string{"count", "for_each"} {
		if f := o.get(meta); f != nil {
			l.d.errorf(f.keyRng, "%s is not supported by the simulator: it loads each resource block as one resource; write one block per %s", meta, strings.TrimPrefix(rd.Type, "cloudflare_zero_trust_"))
		}
	}
	switch rd.Type {
	case TypeGatewayPolicy:
		l.decodeGatewayPolicy(rd.Resource, o)
	case TypeList:
		l.decodeList(rd.Resource, o)
	case TypeIdentityProvider:
		l.decodeIdentityProvider(rd.Resource, o)
	case TypeAccessApplication:
		l.decodeAccessApplication(rd.Resource, o)
	case TypeAccessPolicy:
		if p := l.decodeAccessPolicy(rd.Resource, o); p != nil {
			l.cfg.AccessPolicies = append(l.cfg.AccessPolicies, p)
		}
	case TypeOrganization:
		l.decodeOrganization(rd.Resource, o)
	case TypeDeviceProfile:
		l.decodeDeviceProfile(rd.Resource, o)
	}
	o.finish()
}

// eval evaluates an expression in the configuration's context. An unknown
// result means an error has been reported.
func (l *loader) eval(expr hcl.Expression) cty.Value {
	if expr == nil || (!l.static && !l.checkRefs(expr)) {
		return cty.DynamicVal
	}
	ctx := l.ctx
	if l.static {
		ctx = nil
	}
	v, hd := expr.Value(ctx)
	l.d.hcl(hd)
	if hd.HasErrors() {
		return cty.DynamicVal
	}
	v, _ = v.UnmarkDeep()
	return v
}

// suggest returns ` (did you mean "x"?)` for the closest of names to
// name, or "".
func suggest(name string, names []string) string {
	best, bestDist := "", len(name)/2+2
	slices.Sort(names)
	for _, n := range names {
		if d := editDistance(strings.ToLower(name), strings.ToLower(n)); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
