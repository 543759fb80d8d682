package tfconfig

import (
	"fmt"
	"math"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// meteredFunctions returns the functions of functions.go for one load,
// each refusing arguments or a result over the limits of budget.go. Some
// are also checked before they run, from their arguments, because their
// result can be far larger than what they are given: range, setproduct,
// replace, indent, format and formatlist, and jsondecode (whose nesting
// is the JSON parser's recursion).
func (l *loader) meteredFunctions() map[string]function.Function {
	out := make(map[string]function.Function, len(functions))
	for name, f := range functions {
		switch name {
		case "try", "can":
			// Their arguments are unevaluated expressions (evaluated, and
			// metered, by the functions themselves); wrapping them would
			// evaluate each twice, and nested calls exponentially often.
			out[name] = f
		default:
			out[name] = l.meterFunction(name, f)
		}
	}
	return out
}

func (l *loader) meterFunction(name string, f function.Function) function.Function {
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		// The checks run with the type, which comes first: jsondecode
		// parses its argument already to find the type of its result.
		Type: func(args []cty.Value) (cty.Type, error) {
			if l.meter.failed {
				return cty.DynamicPseudoType, errBudgetSpent
			}
			if err := precheck(name, args); err != nil {
				l.meter.failed = true
				return cty.DynamicPseudoType, fmt.Errorf("%v%s", err, limitHint)
			}
			return f.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, err := f.Call(args)
			if err != nil {
				return v, err
			}
			if err := l.meter.charge(v); err != nil {
				return cty.DynamicVal, fmt.Errorf("%v%s", err, limitHint)
			}
			return v, nil
		},
	})
}

// precheck refuses a call whose arguments exceed MaxValueBytes together,
// or whose result would exceed the limits as computed from them.
func precheck(name string, args []cty.Value) error {
	var total int64
	for _, a := range args {
		n, err := size(a, MaxValueBytes+1-total)
		if err != nil {
			return err
		}
		if total += n; total > MaxValueBytes {
			return fmt.Errorf("its arguments are larger than %d MiB together, the most the simulator evaluates", MaxValueBytes>>20)
		}
	}
	switch name {
	case "range":
		return checkRange(args)
	case "setproduct":
		product := 1.0
		for _, a := range args {
			if n, ok := knownLength(a); ok {
				product *= float64(n)
			}
		}
		if product > MaxElements {
			return fmt.Errorf("the product would have %.0f elements, more than the %d the simulator evaluates", product, MaxElements)
		}
	case "replace":
		if err := checkReplace(args); err != nil {
			return err
		}
	case "indent":
		if s, ok := knownString(args, 1); ok && !args[0].IsNull() && args[0].IsKnown() {
			spaces, _ := args[0].AsBigFloat().Float64()
			if bound := float64(len(s)) + float64(strings.Count(s, "\n"))*spaces; bound > MaxValueBytes {
				return fmt.Errorf("the result would be larger than %d MiB", MaxValueBytes>>20)
			}
		}
	case "format", "formatlist":
		if f, ok := knownString(args, 0); ok {
			if w := largestWidth(f); w > maxFormatWidth {
				return fmt.Errorf("a width or precision of %d is more than the %d the simulator formats", w, maxFormatWidth)
			}
		}
	case "jsondecode":
		if s, ok := knownString(args, 0); ok && jsonNestingOffset([]byte(s), MaxNesting) >= 0 {
			return fmt.Errorf("the JSON is nested more than %d levels deep, more than the simulator decodes", MaxNesting)
		}
	}
	return nil
}

// maxFormatWidth bounds the width and precision of format's verbs: a
// width is padding, and %1000000000s is a gigabyte of it.
const maxFormatWidth = 10_000

// largestWidth returns the largest number in a format verb of f (a width
// or a precision, as in %10s or %.3f), or 0.
func largestWidth(f string) int {
	largest := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		for i++; i < len(f) && strings.IndexByte("+-# 0.[]*", f[i]) >= 0 || i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
			if f[i] < '0' || f[i] > '9' {
				continue
			}
			n := 0
			for ; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
				if n < math.MaxInt32/10 {
					n = n*10 + int(f[i]-'0')
				}
			}
			largest = max(largest, n)
			i--
		}
	}
	return largest
}

func checkRange(args []cty.Value) error {
	nums := make([]float64, len(args))
	for i, a := range args {
		if !a.IsKnown() || a.IsNull() || a.Type() != cty.Number {
			return nil // range reports it
		}
		nums[i], _ = a.AsBigFloat().Float64()
	}
	start, end, step := 0.0, 0.0, 1.0
	switch len(nums) {
	case 1:
		end = nums[0]
	case 2:
		start, end = nums[0], nums[1]
	case 3:
		start, end, step = nums[0], nums[1], nums[2]
	default:
		return nil
	}
	if step == 0 {
		return nil
	}
	if n := math.Ceil(math.Abs(end-start) / math.Abs(step)); n > MaxElements {
		return fmt.Errorf("the range would have %.0f elements, more than the %d the simulator evaluates", n, MaxElements)
	}
	return nil
}

func knownLength(v cty.Value) (int, bool) {
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
		return 0, false
	}
	return v.LengthInt(), true
}

func knownString(args []cty.Value, i int) (string, bool) {
	if i >= len(args) {
		return "", false
	}
	v, _ := args[i].Unmark()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// checkReplace bounds replace's result: for a plain substring, exactly;
// for a regular expression, by one match per character and one more, and
// each $n in the replacement repeating at most the whole string in all.
func checkReplace(args []cty.Value) error {
	s, ok1 := knownString(args, 0)
	sub, ok2 := knownString(args, 1)
	r, ok3 := knownString(args, 2)
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	var bound float64
	if len(sub) > 1 && sub[0] == '/' && sub[len(sub)-1] == '/' || sub == "" {
		bound = float64(len(s)+1)*float64(len(r)) + float64(strings.Count(r, "$"))*float64(len(s)) + float64(len(s))
	} else {
		bound = float64(len(s)) + float64(strings.Count(s, sub))*float64(len(r))
	}
	if bound > MaxValueBytes {
		return fmt.Errorf("the result could be larger than %d MiB (a %d-byte string, each match replaced by %d bytes)", MaxValueBytes>>20, len(s), len(r))
	}
	return nil
}
