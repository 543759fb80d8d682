package tfconfig

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Severity says whether a diagnostic stops the configuration from loading.
type Severity int

// Severities, most severe first.
const (
	// Error makes the configuration unusable: edged refuses to start.
	Error Severity = iota
	// Warning is almost certainly a mistake, but the configuration loads.
	Warning
	// Info only tells what was skipped.
	Info
)

// String returns "error", "warning" or "info".
func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	default:
		return "info"
	}
}

// Pos is a position in a configuration file. Line and Column are 1-based;
// columns count characters, as HCL does.
type Pos struct {
	File   string
	Line   int
	Column int
}

// String returns "file:line:col". A position without a line is a
// directory as a whole (one that cannot be read, or holds no .tf file, or
// a warning about the whole configuration): String returns just its path.
// Problems with a file as a whole (it cannot be read) are at its line 1,
// column 1.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

func posOf(r hcl.Range) Pos {
	return Pos{File: r.Filename, Line: r.Start.Line, Column: r.Start.Column}
}

// Diagnostic is one problem found while loading, positioned at the attribute,
// object key or value it is about.
type Diagnostic struct {
	Severity Severity
	Pos
	Message string
}

// String returns "file:line:col: message" for errors, and
// "file:line:col: warning: message" or "file:line:col: info: message" for
// the others, the form editors and CI annotate.
func (d Diagnostic) String() string {
	if d.Severity == Error {
		return fmt.Sprintf("%s: %s", d.Pos, d.Message)
	}
	return fmt.Sprintf("%s: %s: %s", d.Pos, d.Severity, d.Message)
}

// Diagnostics is every problem found in one load, in file and position
// order once the load returns.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	return slices.ContainsFunc(ds, func(d Diagnostic) bool { return d.Severity == Error })
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics { return ds.only(Error) }

// Warnings returns only the warnings.
func (ds Diagnostics) Warnings() Diagnostics { return ds.only(Warning) }

func (ds Diagnostics) only(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// String joins the diagnostics one per line. (Diagnostics is deliberately
// not an error: a nil Diagnostics in an error interface would not be nil.)
func (ds Diagnostics) String() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// sort orders the diagnostics by file, line and column, keeping the order
// of diagnostics at the same position, so output is stable across runs.
func (ds Diagnostics) sort() {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// diags collects diagnostics during one load.
type diags struct {
	list Diagnostics
}

func (d *diags) add(sev Severity, r hcl.Range, format string, args ...any) {
	d.list = append(d.list, Diagnostic{Severity: sev, Pos: posOf(r), Message: fmt.Sprintf(format, args...)})
}

func (d *diags) errorf(r hcl.Range, format string, args ...any) { d.add(Error, r, format, args...) }

func (d *diags) warnf(r hcl.Range, format string, args ...any) { d.add(Warning, r, format, args...) }

func (d *diags) infof(r hcl.Range, format string, args ...any) { d.add(Info, r, format, args...) }

func (d *diags) at(sev Severity, p Pos, format string, args ...any) {
	d.list = append(d.list, Diagnostic{Severity: sev, Pos: p, Message: fmt.Sprintf(format, args...)})
}

// hcl converts HCL's own diagnostics (syntax errors, type errors…),
// keeping their positions and joining summary and detail into one line. A
// diagnostic without a subject is placed at fallback, so that every
// diagnostic names a file and a line.
func (d *diags) hcl(hds hcl.Diagnostics, fallback hcl.Range) {
	for _, hd := range hds {
		sev := Error
		if hd.Severity == hcl.DiagWarning {
			sev = Warning
		}
		msg := hd.Summary
		if hd.Detail != "" {
			msg += ": " + strings.TrimSuffix(hd.Detail, ".")
		}
		p := posOf(fallback)
		if hd.Subject != nil {
			p = posOf(*hd.Subject)
		}
		d.list = append(d.list, Diagnostic{Severity: sev, Pos: p, Message: msg})
	}
}
