package tfconfig

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Limits on evaluation. Terraform's functions and templates can build
// values far larger than the file that asks for them: a four-line
// setproduct(range(1000), range(1000), range(1000)) is a billion
// elements, and forty locals that each double a string reached 21 GB.
// Every value the loader builds (a template, a function's result, a for
// expression, a list or object constructor, an operator) is measured
// before it is used, and loading stops at the first that is too large.
const (
	// MaxElements is the most elements of one list, set, map or object.
	// Cloudflare caps a Zero Trust list at a few thousand items, so no
	// real configuration comes near it.
	MaxElements = 100_000
	// MaxValueBytes is the largest value: the length of a string, or the
	// total of a collection's elements (each counted with its overhead).
	MaxValueBytes = 16 << 20
	// MaxEvalBytes bounds everything one load builds, the sum over every
	// value measured, so that many values under MaxValueBytes cannot add
	// up to gigabytes either.
	MaxEvalBytes = 256 << 20
)

// meter measures the values of one load against the limits.
type meter struct {
	used int64
	// failed is set once a limit was hit: the rest of the load is
	// evaluated as unknown, cheaply, and the one error says which limit.
	failed bool
}

// Per-value overhead in the measure, so that a million empty strings or
// small numbers count for what they cost in memory.
const valueOverhead = 16

// size measures v, stopping once it exceeds limit; err names the
// element limit when a collection has too many elements.
func size(v cty.Value, limit int64) (int64, error) {
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() || v.Type().IsCapsuleType() {
		return valueOverhead, nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return valueOverhead + int64(len(v.AsString())), nil
	case ty == cty.Number:
		// A number costs little to hold, but its decimal form (in a
		// template, or from tostring) has one digit per 3.3 bits of
		// exponent: 1e600000000 is a 600 MB string.
		exp := v.AsBigFloat().MantExp(nil)
		return valueOverhead + int64(abs(exp))*3/10 + 1, nil
	case ty.IsListType() || ty.IsSetType() || ty.IsMapType() || ty.IsTupleType() || ty.IsObjectType():
		if n := v.LengthInt(); n > MaxElements {
			return 0, fmt.Errorf("a collection of %d elements is more than the %d the simulator evaluates", n, MaxElements)
		}
		total := int64(valueOverhead)
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if ty.IsMapType() || ty.IsObjectType() {
				total += int64(len(k.AsString()))
			}
			n, err := size(e, limit-total)
			if err != nil {
				return 0, err
			}
			if total += n; total > limit {
				return total, nil
			}
		}
		return total, nil
	default:
		return valueOverhead, nil
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// charge measures a value built at rng. It returns an error diagnostic,
// once, when the value is too large or the load's budget is spent.
func (m *meter) charge(v cty.Value) error {
	if m.failed {
		return errBudgetSpent
	}
	n, err := size(v, MaxValueBytes)
	switch {
	case err != nil:
	case n > MaxValueBytes:
		err = fmt.Errorf("this builds a value larger than %d MiB, the most the simulator evaluates", MaxValueBytes>>20)
	default:
		if m.used += n; m.used > MaxEvalBytes {
			err = fmt.Errorf("evaluating the configuration builds more than %d MiB of values in all, the most the simulator evaluates", MaxEvalBytes>>20)
		}
	}
	if err != nil {
		m.failed = true
	}
	return err
}

// errBudgetSpent is returned after the first limit error, which alone is
// reported.
var errBudgetSpent = fmt.Errorf("the evaluation limits were exceeded")

const limitHint = "; a Terraform configuration for Zero Trust needs nothing this large: build smaller values, or write them out"

// metered is an expression whose value is measured before it is used. It
// embeds the expression it measures, and so is an hclsyntax.Expression
// that the parent node (a copy, see instrument) evaluates as its child.
type metered struct {
	hclsyntax.Expression
	l *loader
}

// Value evaluates the expression unless a limit was already hit, and
// measures the result.
func (e metered) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if e.l.meter.failed {
		return cty.DynamicVal, nil
	}
	v, hd := e.Expression.Value(ctx)
	if hd.HasErrors() {
		return v, hd
	}
	if err := e.l.meter.charge(v); err != nil {
		return cty.DynamicVal, append(hd, limitDiag(err, e.Range()))
	}
	return v, hd
}

func limitDiag(err error, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: err.Error() + limitHint, Subject: rng.Ptr()}
}

// instrument returns a copy of expr in which every node that builds a
// value is metered. The parsed tree itself is left alone: the decoders
// inspect its node types for positions. Nodes that only pass a value on
// (references, parentheses, conditionals, indexes) are not measured,
// since they build nothing new, but their children are.
func (l *loader) instrument(expr hcl.Expression) hcl.Expression {
	e, ok := expr.(hclsyntax.Expression)
	if !ok {
		return expr
	}
	return l.instrumentNode(e)
}

func (l *loader) instrumentNode(e hclsyntax.Expression) hclsyntax.Expression {
	if e == nil {
		return nil
	}
	build := func(n hclsyntax.Expression) hclsyntax.Expression { return metered{Expression: n, l: l} }
	each := func(in []hclsyntax.Expression) []hclsyntax.Expression {
		out := make([]hclsyntax.Expression, len(in))
		for i, x := range in {
			out[i] = l.instrumentNode(x)
		}
		return out
	}
	switch n := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		return build(n)
	case *hclsyntax.TemplateExpr:
		c := *n
		c.Parts = each(n.Parts)
		return build(&c)
	case *hclsyntax.TemplateWrapExpr:
		c := *n
		c.Wrapped = l.instrumentNode(n.Wrapped)
		return &c
	case *hclsyntax.TemplateJoinExpr:
		c := *n
		c.Tuple = l.instrumentNode(n.Tuple)
		return build(&c)
	case *hclsyntax.FunctionCallExpr:
		// The result is measured by the function itself (meteredFunctions),
		// before as well as after the call.
		c := *n
		c.Args = each(n.Args)
		return &c
	case *hclsyntax.TupleConsExpr:
		c := *n
		c.Exprs = each(n.Exprs)
		return build(&c)
	case *hclsyntax.ObjectConsExpr:
		c := *n
		c.Items = make([]hclsyntax.ObjectConsItem, len(n.Items))
		for i, it := range n.Items {
			// Keys stay as they are: HCL reads a bare name as a literal
			// key only from its own node type.
			c.Items[i] = hclsyntax.ObjectConsItem{KeyExpr: it.KeyExpr, ValueExpr: l.instrumentNode(it.ValueExpr)}
		}
		return build(&c)
	case *hclsyntax.ForExpr:
		c := *n
		c.CollExpr = l.instrumentNode(n.CollExpr)
		c.KeyExpr = l.instrumentNode(n.KeyExpr)
		c.ValExpr = l.instrumentNode(n.ValExpr)
		c.CondExpr = l.instrumentNode(n.CondExpr)
		return build(&c)
	case *hclsyntax.BinaryOpExpr:
		c := *n
		c.LHS, c.RHS = l.instrumentNode(n.LHS), l.instrumentNode(n.RHS)
		return build(&c)
	case *hclsyntax.UnaryOpExpr:
		c := *n
		c.Val = l.instrumentNode(n.Val)
		return build(&c)
	case *hclsyntax.ConditionalExpr:
		c := *n
		c.Condition, c.TrueResult, c.FalseResult = l.instrumentNode(n.Condition), l.instrumentNode(n.TrueResult), l.instrumentNode(n.FalseResult)
		return &c
	case *hclsyntax.ParenthesesExpr:
		c := *n
		c.Expression = l.instrumentNode(n.Expression)
		return &c
	case *hclsyntax.IndexExpr:
		c := *n
		c.Collection, c.Key = l.instrumentNode(n.Collection), l.instrumentNode(n.Key)
		return &c
	case *hclsyntax.RelativeTraversalExpr:
		c := *n
		c.Source = l.instrumentNode(n.Source)
		return &c
	case *hclsyntax.SplatExpr:
		// Each refers to the splat's own placeholder node and is left as
		// it is; it only selects from the source.
		c := *n
		c.Source = l.instrumentNode(n.Source)
		return &c
	default:
		return e
	}
}

// evalStatic evaluates an expression without a context (variable
// defaults, tfvars), metered like the others.
func (l *loader) evalStatic(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	return l.instrument(expr).Value(nil)
}
