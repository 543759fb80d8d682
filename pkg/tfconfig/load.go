package tfconfig

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/ztagent/ztagent/internal/didyoumean"
)

// loader holds the state of one Load.
type loader struct {
	d      diags
	parser *hclparse.Parser
	dir    string // the directory as the user named it, for file names in diagnostics
	// decoding is the type of the resource being decoded, whose provider
	// v5 schema judges the attributes the decoder does not ask for.
	decoding string
	ctx      *hcl.EvalContext
	// static is set for the simulator file, which has no variables or
	// references: values are evaluated without a context, and HCL says
	// that variables are not allowed there.
	static bool
	// meter measures what evaluation builds against the limits of
	// budget.go.
	meter meter

	varDecls   map[string]*varDecl
	tfvars     map[string]tfvar
	localDecls map[string]*hclsyntax.Attribute
	localOrder []string
	// tfvarsBroken is set when a tfvars file could not be read or parsed:
	// a variable without a value may have been set there, so that is not
	// reported as well.
	tfvarsBroken bool

	// resources indexes every resource block, simulated or not, by type and
	// label, so that references to any of them resolve to a synthetic ID.
	resources map[string]map[string]*resourceDecl
	decls     []*resourceDecl
	skipped   []*skipGroup
	// v4 is set when a provider v4 resource type was declared (an error
	// each): the configuration is a v4 one, and checks that assume v5
	// would only add noise.
	v4 bool
	// orgWarpSet says the organization sets warp_auth_session_duration,
	// whether or not its value could be read.
	orgWarpSet bool

	cfg *Config
	// Positions the cross-resource checks need, kept beside the typed
	// structs so that those stay plain data.
	gw       []*gwMeta
	apps     []*appMeta
	profiles []*profileMeta
	// tokenRefs are the service_token selectors' token_id values.
	tokenRefs []tokenRef
}

// tokenRef is one service_token selector's token_id and where it is.
type tokenRef struct {
	id  string
	rng hcl.Range
}

type resourceDecl struct {
	Resource
	block *hclsyntax.Block
	// attrs are the resource's arguments that references may read besides
	// id: those written with a value known before any resource exists
	// (literals, variables, locals), as Terraform knows them at plan time.
	attrs map[string]cty.Value
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
	TypeAccessPolicy: true, TypeOrganization: true, TypeDeviceProfile: true, TypeDeviceCustomProfile: true,
	TypeServiceToken: true,
}

// metaArguments are resource arguments that tell Terraform how to apply a
// resource, not what it configures. The simulator never evaluates them:
// provider = cloudflare.zt names a provider configuration, not a value.
// (count and for_each are reported as unsupported by decode.)
var metaArguments = []string{"provider", "depends_on"}

// Load reads every *.tf file in dir, the variable values of
// terraform.tfvars and *.auto.tfvars (and their .json forms) and variable
// defaults, and returns the simulated resources with references resolved.
// Override files (override.tf, *_override.tf) are merged into the others
// as Terraform merges them. It collects every problem rather than stopping
// at the first; the Config is fit for use only when the Diagnostics hold no
// error. When a .tf file cannot be read or parsed, only those problems are
// reported: nothing is decoded, as Terraform does not go on either.
func Load(dir string) (*Config, Diagnostics) {
	return load(newOSDir(dir), dir)
}

// load reads from fsys but names files as dir/name, so that tests and the
// fuzzer can load from memory.
func load(fsys fs.FS, dir string) (cfg *Config, ds Diagnostics) {
	l := &loader{
		parser:     hclparse.NewParser(),
		dir:        dir,
		varDecls:   map[string]*varDecl{},
		tfvars:     map[string]tfvar{},
		localDecls: map[string]*hclsyntax.Attribute{},
		resources:  map[string]map[string]*resourceDecl{},
		cfg:        &Config{Dir: dir},
	}
	defer func() {
		if r := recover(); r != nil {
			cfg, ds = l.cfg, l.d.recovered(r, Pos{File: dir})
		}
	}()
	if !l.parseDir(fsys) {
		return l.cfg, l.d.finish()
	}
	l.loadVarValues(fsys)
	l.buildContext()
	l.evalLocals()
	l.addConfiguredAttributes()
	for _, rd := range l.decls {
		if supported[rd.Type] {
			l.decode(rd)
		}
	}
	l.check()
	if len(l.cfg.GatewayPolicies) == 0 && !l.d.list.HasErrors() {
		l.d.at(Warning, Pos{File: l.dir}, "no %s is declared in this directory, so the edge enforces no Gateway policy and allows every DNS query, connection and request (reason no_match); add one, or pass the directory that holds your policies to --terraform", TypeGatewayPolicy)
	}
	return l.cfg, l.d.finish()
}

func (l *loader) filename(name string) string { return filepath.Join(l.dir, name) }

// parseDir parses the *.tf files in name order, indexes their blocks and
// merges the override files into them. It returns false when the directory
// or one of its .tf files could not be read or parsed: HCL recovers only
// part of a broken file, and decoding that part, or references into what
// was lost, would report mistakes that are not there.
func (l *loader) parseDir(fsys fs.FS) bool {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		l.d.at(Error, Pos{File: l.dir}, "cannot read the Terraform directory: %v; pass the directory that holds your .tf files to --terraform", unwrapPathError(err))
		return false
	}
	var primary, overrides []*hclsyntax.Body
	found, ok := false, true
	for _, e := range entries {
		name := e.Name()
		if ignoredFile(name) {
			continue
		}
		if strings.HasSuffix(name, ".tf.json") {
			l.d.at(Info, l.filePos(name), "skipping %s: the simulator reads Terraform's native syntax (.tf), not its JSON form", name)
			continue
		}
		if !strings.HasSuffix(name, ".tf") {
			continue
		}
		regular, readable := l.regularFile(fsys, name)
		if !regular {
			ok = ok && readable
			found = found || !readable
			continue
		}
		found = true
		body, parsed := l.parseFile(fsys, name)
		switch {
		case !parsed:
			ok = false
		case isOverrideFile(name):
			overrides = append(overrides, body)
		default:
			primary = append(primary, body)
		}
	}
	if !found {
		l.d.at(Error, Pos{File: l.dir}, "no .tf files in this directory; pass the directory that holds your Terraform configuration to --terraform")
		return false
	}
	if !ok {
		return false
	}
	for _, body := range primary {
		l.index(body)
	}
	for _, body := range overrides {
		l.override(body)
	}
	for _, g := range l.skipped {
		l.d.infof(g.first, "skipping %s (%s): %s", g.key, strings.Join(g.names, ", "), g.reason)
	}
	return true
}

// filePos is the position of a file as a whole: its first line.
func (l *loader) filePos(name string) Pos {
	return Pos{File: l.filename(name), Line: 1, Column: 1}
}

// regularFile reports whether name (after symbolic links) is a regular
// file. A named pipe, socket or device named *.tf is skipped with an info
// line, since reading it could block forever; so is a directory. readable
// is false when name could not be examined at all (reported as an error).
func (l *loader) regularFile(fsys fs.FS, name string) (regular, readable bool) {
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		l.d.at(Error, l.filePos(name), "cannot read this file: %v; check that it exists and that you may read it (a symbolic link must point to an existing file)", unwrapPathError(err))
		return false, false
	}
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return true, true
	case m.IsDir():
		l.d.at(Info, l.filePos(name), "skipping %s: it is a directory, not a .tf file", name)
	default:
		l.d.at(Info, l.filePos(name), "skipping %s: it is a %s, not a regular file, and reading it could block forever", name, fileKind(m))
	}
	return false, true
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file"
	}
}

// parseFile reads and parses one .tf file; ok is false when it could not
// be read or has syntax errors (both reported).
func (l *loader) parseFile(fsys fs.FS, name string) (*hclsyntax.Body, bool) {
	src, err := readConfigFile(fsys, name)
	if err != nil {
		l.d.at(Error, l.filePos(name), "cannot read this file: %v; %s", err, readErrorHint(err, "check its permissions (the simulator reads every .tf file of the directory)"))
		return nil, false
	}
	f, ok := l.parseHCL(src, l.filename(name))
	if !ok {
		return nil, false
	}
	body, ok := f.Body.(*hclsyntax.Body)
	return body, ok
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
	l.topLevelAttributes(body)
}

func (l *loader) topLevelAttributes(body *hclsyntax.Body) {
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
		l.v4 = true
		l.d.errorf(b.LabelRanges[0], "%s is a Cloudflare provider v4 resource type; the simulator reads provider v5, where it is %s: rename the type and convert the block to v5 syntax (Cloudflare's tf-migrate tool does both)", typ, v5)
		return
	}
	if !supported[typ] {
		l.skip("resources of type "+typ, "the simulator loads only gateway policies, lists, identity providers, Access applications and policies, the organization, the device profiles (default and custom) and service tokens", b.TypeRange, name)
	}
}

// decode turns one supported resource block into its typed struct.
func (l *loader) decode(rd *resourceDecl) {
	l.decoding = rd.Type
	defer func() { l.decoding = "" }()
	o := bodyObject(l, rd.block.Body, rd.block.DefRange(), rd.Address())
	o.typ = rd.Type
	o.skip(metaArguments...)
	o.ignore("account_id", "zone_id")
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
	case TypeDeviceCustomProfile:
		l.decodeCustomProfile(rd.Resource, o)
	case TypeServiceToken:
		l.decodeServiceToken(rd.Resource, o)
	}
	o.finish()
}

// eval evaluates an expression in the configuration's context. An unknown
// result means an error has been reported.
func (l *loader) eval(expr hcl.Expression) cty.Value {
	return l.evalIn(expr, l.ctx)
}

// evalIn evaluates an expression in ctx, after checking its references
// and function calls against what the simulator provides.
func (l *loader) evalIn(expr hcl.Expression, ctx *hcl.EvalContext) cty.Value {
	if expr == nil || (!l.static && !l.checkExpr(expr)) {
		return cty.DynamicVal
	}
	if l.static {
		ctx = nil
	}
	v, hd := l.instrument(expr).Value(ctx)
	l.d.hcl(hd, expr.Range())
	if hd.HasErrors() {
		return cty.DynamicVal
	}
	v, _ = v.UnmarkDeep()
	return v
}

// suggest returns ` (did you mean "x"?)` for the closest of names to
// name, or "" when none is close (didyoumean.Closest decides).
func suggest(name string, names []string) string {
	best := didyoumean.Closest(name, names)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// sortedKeys returns the keys of m in order, for suggest and messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
