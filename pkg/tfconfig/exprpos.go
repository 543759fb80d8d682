package tfconfig

import (
	"strconv"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// exprPos maps a byte offset within the string an attribute produced (a
// traffic or identity expression) to the file position that produced that
// byte, so that a rule-language error points into the .tf file. Literal
// text maps exactly, escapes included; text from an interpolation maps to
// the "${" that opened it; anything else maps to the start of the value.
// from is the interpolated expression that produced the byte, or nil.
func (l *loader) exprPos(f *field, off int) (pos Pos, from hclsyntax.Expression) {
	fallback := posOf(f.rng)
	t, ok := f.syntax().(*hclsyntax.TemplateExpr)
	if !ok {
		return fallback, nil
	}
	file := l.parser.Files()[t.SrcRange.Filename]
	if file == nil || t.SrcRange.End.Byte > len(file.Bytes) || t.SrcRange.Start.Byte >= t.SrcRange.End.Byte {
		return fallback, nil
	}
	src := file.Bytes
	quoted := src[t.SrcRange.Start.Byte] == '"'
	out := 0
	for i, part := range t.Parts {
		s, ok := l.partString(part)
		if !ok {
			return fallback, nil
		}
		last := i == len(t.Parts)-1
		if off < out+len(s) || (last && off == out+len(s)) {
			rel := off - out
			if lit, ok := part.(*hclsyntax.LiteralValueExpr); ok {
				r := lit.SrcRange
				offs := mapLiteral(src[r.Start.Byte:r.End.Byte], s, quoted)
				return posAtByte(t.SrcRange.Start, src, r.Start.Byte+offs[rel], t.SrcRange.Filename), nil
			}
			if last && rel == len(s) {
				return posAtByte(t.SrcRange.Start, src, part.Range().End.Byte, t.SrcRange.Filename), nil
			}
			return posAtByte(t.SrcRange.Start, src, interpStart(src, part.Range().Start.Byte), t.SrcRange.Filename), part
		}
		out += len(s)
	}
	return fallback, nil
}

// partString evaluates one template part the way the template did;
// diagnostics were reported when the whole template was evaluated.
func (l *loader) partString(part hclsyntax.Expression) (string, bool) {
	v, hd := part.Value(l.ctx)
	if hd.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return "", false
	}
	v, _ = v.UnmarkDeep()
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", false
	}
	return s.AsString(), true
}

// posAtByte returns the position of byte b of src, counting from base,
// which must be at or before b.
func posAtByte(base hcl.Pos, src []byte, b int, file string) Pos {
	line, col := base.Line, base.Column
	for i := base.Byte; i < b && i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return Pos{File: file, Line: line, Column: col}
}

// interpStart returns the offset of the "${" before an interpolated
// expression that starts at b, or b when there is none.
func interpStart(src []byte, b int) int {
	i := b - 1
	for i >= 0 && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r' || src[i] == '~') {
		i--
	}
	if i >= 1 && src[i] == '{' && src[i-1] == '$' {
		return i - 1
	}
	return b
}

// mapLiteral returns, for each byte of val (and one past its end), the
// offset in raw of the source text that produced it: raw is a template's
// literal text as written, val what it means. Escapes (\" \\ \n \uXXXX in
// quoted strings), doubled template markers ($${ %%{) and text HCL removed
// (heredoc indentation) are accounted for; when the two cannot be aligned
// the remaining bytes map to the end of raw rather than failing.
func mapLiteral(raw []byte, val string, quoted bool) []int {
	offs := make([]int, len(val)+1)
	i, j := 0, 0
	for j < len(val) {
		switch {
		case i >= len(raw):
			offs[j] = len(raw)
			j++
		case quoted && raw[i] == '\\' && i+1 < len(raw):
			n, produced := escapeSize(raw[i:])
			for k := 0; k < produced && j < len(val); k++ {
				offs[j] = i
				j++
			}
			i += n
		case (raw[i] == '$' || raw[i] == '%') && i+2 < len(raw) && raw[i+1] == raw[i] && raw[i+2] == '{' &&
			j+1 < len(val) && val[j] == raw[i] && val[j+1] == '{':
			offs[j], offs[j+1] = i, i+2
			i, j = i+3, j+2
		case raw[i] == val[j]:
			offs[j] = i
			i, j = i+1, j+1
		default:
			i++
		}
	}
	offs[len(val)] = len(raw)
	return offs
}

// escapeSize returns how many source bytes the escape at the start of s
// takes and how many bytes it produces.
func escapeSize(s []byte) (n, produced int) {
	var digits int
	switch s[1] {
	case 'u':
		digits = 4
	case 'U':
		digits = 8
	default:
		return 2, 1
	}
	if len(s) < 2+digits {
		return len(s), 1
	}
	r, err := strconv.ParseUint(string(s[2:2+digits]), 16, 32)
	if err != nil || !utf8.ValidRune(rune(r)) {
		return 2 + digits, 1
	}
	return 2 + digits, utf8.RuneLen(rune(r))
}
