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

// Caps on the diagnostics of one load: a broken or hostile file can hold
// a problem on every byte (a 5 MB binary .tf gave 184,797 lines), and
// nobody reads past the first screen.
const (
	MaxDiagnosticsPerFile = 20
	MaxDiagnostics        = 50
)

// capped keeps at most MaxDiagnosticsPerFile diagnostics per file and
// MaxDiagnostics in all, errors before warnings before info lines, in
// position order, and says after each file how many of its problems were
// left out. The summary has the severity of the worst problem left out,
// so that HasErrors does not change.
func (ds Diagnostics) capped() Diagnostics {
	if len(ds) <= MaxDiagnostics && !ds.perFileOver() {
		return ds
	}
	order := make([]int, len(ds))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ds[a].Severity, ds[b].Severity) })
	keep := make([]bool, len(ds))
	perFile := map[string]int{}
	total := 0
	for _, i := range order {
		if total < MaxDiagnostics && perFile[ds[i].File] < MaxDiagnosticsPerFile {
			keep[i] = true
			perFile[ds[i].File]++
			total++
		}
	}
	var out Diagnostics
	for start := 0; start < len(ds); {
		end := start
		for end < len(ds) && ds[end].File == ds[start].File {
			end++
		}
		var left, leftErrors int
		firstLeft, sev := -1, Info
		for i := start; i < end; i++ {
			if keep[i] {
				out = append(out, ds[i])
				continue
			}
			left++
			sev = min(sev, ds[i].Severity)
			if ds[i].Severity == Error {
				leftErrors++
			}
			if firstLeft < 0 {
				firstLeft = i
			}
		}
		if left > 0 {
			out = append(out, Diagnostic{Severity: sev, Pos: ds[firstLeft].Pos, Message: fmt.Sprintf(
				"… and %d more problems in this file (%d of them errors) not shown; fix the ones above first", left, leftErrors)})
		}
		start = end
	}
	return out
}

func (ds Diagnostics) perFileOver() bool {
	n := map[string]int{}
	for _, d := range ds {
		n[d.File]++
		if n[d.File] > MaxDiagnosticsPerFile {
			return true
		}
	}
	return false
}

// finish sorts and caps the diagnostics at the end of a load.
func (d *diags) finish() Diagnostics {
	d.list.sort()
	return d.list.capped()
}

// recovered turns a panic during a load into an error, so that a bug in
// the loader or a library it calls refuses the configuration (and a reload
// keeps the old one) instead of killing edged.
func (d *diags) recovered(r any, p Pos) Diagnostics {
	d.at(Error, p, "internal error while loading the configuration (%v); nothing of it is used: please report this, with the file, to the ztagent developers", r)
	return d.finish()
}
