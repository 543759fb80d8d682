package tfconfig

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions are the Terraform functions the simulator evaluates: those of
// go-cty's stdlib that Terraform exposes under the same name and meaning,
// and a few of Terraform's own written here. docs/TERRAFORM.md
// ("Functions") lists them; TestDocsListFunctions keeps the two in step.
var functions = map[string]function.Function{
	// Conversion.
	"tostring": stdlib.MakeToFunc(cty.String),
	"tonumber": stdlib.MakeToFunc(cty.Number),
	"tobool":   stdlib.MakeToFunc(cty.Bool),
	"tolist":   stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	"toset":    stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
	"tomap":    stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
	"try":      tryfunc.TryFunc,
	"can":      tryfunc.CanFunc,
	// Terraform's sensitive and nonsensitive only mark values; the
	// simulator keeps secrets in secret.Value instead.
	"sensitive":    passThroughFunc,
	"nonsensitive": passThroughFunc,

	// Strings.
	"chomp":      stdlib.ChompFunc,
	"endswith":   affixFunc(strings.HasSuffix),
	"format":     stdlib.FormatFunc,
	"formatlist": stdlib.FormatListFunc,
	"indent":     stdlib.IndentFunc,
	"join":       stdlib.JoinFunc,
	"lower":      stdlib.LowerFunc,
	"regex":      stdlib.RegexFunc,
	"regexall":   stdlib.RegexAllFunc,
	"replace":    replaceFunc,
	"split":      stdlib.SplitFunc,
	"startswith": affixFunc(strings.HasPrefix),
	"strrev":     stdlib.ReverseFunc,
	"substr":     stdlib.SubstrFunc,
	"title":      stdlib.TitleFunc,
	"trim":       stdlib.TrimFunc,
	"trimprefix": stdlib.TrimPrefixFunc,
	"trimspace":  stdlib.TrimSpaceFunc,
	"trimsuffix": stdlib.TrimSuffixFunc,
	"upper":      stdlib.UpperFunc,

	// Collections.
	"chunklist":       stdlib.ChunklistFunc,
	"coalesce":        coalesceFunc,
	"coalescelist":    stdlib.CoalesceListFunc,
	"compact":         stdlib.CompactFunc,
	"concat":          stdlib.ConcatFunc,
	"contains":        stdlib.ContainsFunc,
	"distinct":        stdlib.DistinctFunc,
	"element":         stdlib.ElementFunc,
	"flatten":         stdlib.FlattenFunc,
	"keys":            stdlib.KeysFunc,
	"length":          lengthFunc,
	"lookup":          stdlib.LookupFunc,
	"merge":           stdlib.MergeFunc,
	"range":           stdlib.RangeFunc,
	"reverse":         stdlib.ReverseListFunc,
	"setintersection": stdlib.SetIntersectionFunc,
	"setproduct":      stdlib.SetProductFunc,
	"setsubtract":     stdlib.SetSubtractFunc,
	"setunion":        stdlib.SetUnionFunc,
	"slice":           stdlib.SliceFunc,
	"sort":            stdlib.SortFunc,
	"values":          stdlib.ValuesFunc,
	"zipmap":          stdlib.ZipmapFunc,

	// Numbers.
	"abs":      stdlib.AbsoluteFunc,
	"ceil":     stdlib.CeilFunc,
	"floor":    stdlib.FloorFunc,
	"log":      stdlib.LogFunc,
	"max":      stdlib.MaxFunc,
	"min":      stdlib.MinFunc,
	"parseint": stdlib.ParseIntFunc,
	"pow":      stdlib.PowFunc,
	"signum":   stdlib.SignumFunc,

	// Encoding and time.
	"csvdecode":  stdlib.CSVDecodeFunc,
	"jsondecode": stdlib.JSONDecodeFunc,
	"jsonencode": stdlib.JSONEncodeFunc,
	"formatdate": stdlib.FormatDateFunc,
	"timeadd":    stdlib.TimeAddFunc,
}

// lengthFunc is Terraform's length: the number of characters of a string,
// or of elements of a collection (go-cty's own takes collections only).
var lengthFunc = function.New(&function.Spec{
	Description: "Returns the number of characters in a string or of elements in a list, set, tuple, map or object.",
	Params:      []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType}},
	Type:        function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].Type() == cty.String {
			return stdlib.Strlen(args[0])
		}
		return stdlib.Length(args[0])
	},
})

// replaceFunc is Terraform's replace: a substring wrapped in slashes is a
// regular expression.
var replaceFunc = function.New(&function.Spec{
	Description: "Replaces each occurrence of substr (a regular expression when written /like this/) in str with replace.",
	Params: []function.Parameter{
		{Name: "str", Type: cty.String},
		{Name: "substr", Type: cty.String},
		{Name: "replace", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		sub := args[1].AsString()
		if len(sub) > 1 && sub[0] == '/' && sub[len(sub)-1] == '/' {
			return stdlib.RegexReplace(args[0], cty.StringVal(sub[1:len(sub)-1]), args[2])
		}
		return stdlib.Replace(args[0], args[1], args[2])
	},
})

// coalesceFunc is Terraform's coalesce: the first argument that is
// neither null nor an empty string (go-cty's own skips only nulls).
var coalesceFunc = function.New(&function.Spec{
	Description: "Returns the first of its arguments that is neither null nor an empty string.",
	VarParam: &function.Parameter{
		Name: "vals", Type: cty.DynamicPseudoType,
		AllowUnknown: true, AllowDynamicType: true, AllowNull: true,
	},
	Type: func(args []cty.Value) (cty.Type, error) {
		return stdlib.CoalesceFunc.ReturnTypeForValues(args)
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		kept := make([]cty.Value, 0, len(args))
		for _, a := range args {
			if a.IsKnown() && !a.IsNull() && a.Type() == cty.String && a.AsString() == "" {
				continue
			}
			kept = append(kept, a)
		}
		return stdlib.Coalesce(kept...)
	},
})

var passThroughFunc = function.New(&function.Spec{
	Description: "Returns its argument unchanged.",
	Params: []function.Parameter{{
		Name: "value", Type: cty.DynamicPseudoType,
		AllowNull: true, AllowUnknown: true, AllowDynamicType: true, AllowMarked: true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) { return args[0], nil },
})

func affixFunc(has func(s, affix string) bool) function.Function {
	return function.New(&function.Spec{
		Description: "Reports whether a string starts (or ends) with another.",
		Params:      []function.Parameter{{Name: "str", Type: cty.String}, {Name: "affix", Type: cty.String}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(has(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

// checkFunctions reports calls to functions the simulator does not
// provide, so that the message says so (HCL's own "There is no function
// named" reads as if Terraform had none).
func (l *loader) checkFunctions(expr hcl.Expression) bool {
	e, ok := expr.(hclsyntax.Expression)
	if !ok {
		return true
	}
	ok = true
	hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		call, isCall := n.(*hclsyntax.FunctionCallExpr)
		if !isCall {
			return nil
		}
		if _, known := functions[call.Name]; known {
			return nil
		}
		ok = false
		if strings.Contains(call.Name, "::") {
			l.d.errorf(call.NameRange, "%s: provider-defined functions are not supported by the simulator; compute the value another way, or write it literally or in a variable", call.Name)
			return nil
		}
		l.d.errorf(call.NameRange, "function %s is not supported by the simulator%s; docs/TERRAFORM.md (\"Functions\") lists those it evaluates: compute the value another way, or write it literally or in a variable", call.Name, suggest(call.Name, sortedKeys(functions)))
		return nil
	})
	return ok
}
