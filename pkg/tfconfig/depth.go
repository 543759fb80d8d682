package tfconfig

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxNesting is how deeply a configuration file may nest blocks, brackets,
// strings, template sequences and chains of unary operators or
// conditionals. HCL's parser, its evaluator and the JSON parser recurse
// once per level, and Go cannot recover from a stack overflow: 60,000
// levels (a 120 KB file) killed edged, reload included. Real Terraform
// rarely nests more than ten levels, so 64 is generous.
const MaxNesting = 64

// nestingMsg is the error for a file that nests too deeply.
const nestingMsg = "this is nested more than %d levels deep (brackets, blocks, strings, template sequences, unary operators and conditionals count); the simulator refuses such files before parsing them, so that one cannot exhaust its stack: flatten the structure, e.g. move inner parts into locals"

// scanEntry is one level of an HCL file's nesting.
type scanEntry struct {
	open hclsyntax.TokenType // the opening token; 0 for an operator chain, TokenTemplateControl for an open %{if}/%{for}
}

// checkHCLNesting lexes src with HCL's own lexer and reports, at the
// first token too deep, whether the file nests deeper than MaxNesting
// levels as the parser would recurse on it. It over-counts rather than
// under-counts: a unary operator or a "?" counts as a level until the end
// of the list item, argument or line it is in.
func (l *loader) checkHCLNesting(src []byte, filename string) bool {
	toks, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos) // the parser reports lexer errors
	var stack []scanEntry
	popChains := func() {
		for len(stack) > 0 && stack[len(stack)-1].open == 0 {
			stack = stack[:len(stack)-1]
		}
	}
	// innermostBracket is the innermost real bracket, ignoring chains.
	innermostBracket := func() hclsyntax.TokenType {
		for i := len(stack) - 1; i >= 0; i-- {
			if o := stack[i].open; o != 0 && o != hclsyntax.TokenTemplateControl {
				return o
			}
		}
		return hclsyntax.TokenNil
	}
	var prev hclsyntax.TokenType
	// directive is what the current %{ ... } sequence opens (+1: if or
	// for), closes (-1: endif or endfor) or neither (0).
	directive, inControl := 0, false
	for i := range toks {
		t := &toks[i]
		push := false
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp:
			stack = append(stack, scanEntry{open: t.Type})
			push = true
		case hclsyntax.TokenTemplateControl:
			// A pseudo-bracket closed by TokenTemplateSeqEnd; OBrack stands
			// in so that it is not mistaken for an open directive.
			stack = append(stack, scanEntry{open: hclsyntax.TokenOBrack})
			push, inControl, directive = true, true, 0
		case hclsyntax.TokenIdent:
			if inControl && prev == hclsyntax.TokenTemplateControl {
				switch string(t.Bytes) {
				case "if", "for":
					directive = 1
				case "endif", "endfor":
					directive = -1
				}
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			popChains()
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			if t.Type == hclsyntax.TokenTemplateSeqEnd && inControl {
				inControl = false
				switch directive {
				case 1:
					stack = append(stack, scanEntry{open: hclsyntax.TokenTemplateControl})
					push = true
				case -1:
					popChains()
					if len(stack) > 0 && stack[len(stack)-1].open == hclsyntax.TokenTemplateControl {
						stack = stack[:len(stack)-1]
					}
				}
			}
		case hclsyntax.TokenBang, hclsyntax.TokenQuestion:
			stack = append(stack, scanEntry{})
			push = true
		case hclsyntax.TokenMinus:
			if !endsTerm(prev) {
				stack = append(stack, scanEntry{})
				push = true
			}
		case hclsyntax.TokenComma:
			popChains()
		case hclsyntax.TokenNewline:
			// Newlines end an item only in block bodies and object
			// constructors; inside parentheses and brackets HCL skips them.
			if o := innermostBracket(); o == hclsyntax.TokenNil || o == hclsyntax.TokenOBrace {
				popChains()
			}
		}
		if push && len(stack) > MaxNesting {
			l.d.errorf(t.Range, nestingMsg, MaxNesting)
			return false
		}
		if t.Type != hclsyntax.TokenComment {
			prev = t.Type
		}
	}
	return true
}

// endsTerm reports whether a token can end an operand, so that a "-"
// after it is the binary minus rather than a negation.
func endsTerm(t hclsyntax.TokenType) bool {
	switch t {
	case hclsyntax.TokenIdent, hclsyntax.TokenNumberLit, hclsyntax.TokenCBrace, hclsyntax.TokenCBrack,
		hclsyntax.TokenCParen, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenStar:
		return true
	}
	return false
}

// jsonNestingOffset returns the offset of the first bracket of src that
// opens more than max levels of JSON arrays and objects, or -1. Brackets
// inside strings do not count.
func jsonNestingOffset(src []byte, max int) int {
	depth, inString, escaped := 0, false, false
	for i, c := range src {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > max {
				return i
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return -1
}

// checkJSONNesting reports whether a JSON file nests no deeper than
// MaxNesting levels, as an error at the first bracket too deep otherwise.
func (l *loader) checkJSONNesting(src []byte, filename string) bool {
	off := jsonNestingOffset(src, MaxNesting)
	if off < 0 {
		return true
	}
	l.d.at(Error, offsetPos(src, off, filename), nestingMsg, MaxNesting)
	return false
}

// offsetPos is the line and column (in characters) of byte off of src.
func offsetPos(src []byte, off int, filename string) Pos {
	p := Pos{File: filename, Line: 1, Column: 1}
	for _, r := range string(src[:off]) {
		if r == '\n' {
			p.Line, p.Column = p.Line+1, 1
		} else {
			p.Column++
		}
	}
	return p
}

// parseHCL checks that src is text that does not nest too deeply, then
// parses it; ok is false when it could not be parsed (all reported).
func (l *loader) parseHCL(src []byte, filename string) (*hcl.File, bool) {
	if !l.checkText(src, filename) || !l.checkHCLNesting(src, filename) {
		return nil, false
	}
	f, hd := l.parser.ParseHCL(src, filename)
	l.d.hcl(hd, fileRange(filename))
	return f, f != nil && !hd.HasErrors()
}

// parseJSON is parseHCL for the JSON form of tfvars.
func (l *loader) parseJSON(src []byte, filename string) (*hcl.File, bool) {
	if !l.checkText(src, filename) || !l.checkJSONNesting(src, filename) {
		return nil, false
	}
	f, hd := l.parser.ParseJSON(src, filename)
	l.d.hcl(hd, fileRange(filename))
	return f, f != nil && !hd.HasErrors()
}
