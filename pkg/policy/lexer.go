package policy

import (
	"strings"
)

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokString
	tokNumber
	tokIP     // an IP address or CIDR literal
	tokList   // $name
	tokLParen // (
	tokRParen // )
	tokLBrace // {
	tokRBrace // }
	tokComma
	tokRange // ..
	tokEq    // == eq
	tokNe    // != ne
	tokLt    // < lt
	tokLe    // <= le
	tokGt    // > gt
	tokGe    // >= ge
	tokAnd   // and &&
	tokOr    // or ||
	tokNot   // not !
	tokIn
	tokMatches // matches ~
	tokAny
)

var tokenNames = map[tokenKind]string{
	tokEOF: "end of expression", tokIdent: "field", tokString: "string", tokNumber: "number",
	tokIP: "IP address", tokList: "list reference", tokLParen: "'('", tokRParen: "')'",
	tokLBrace: "'{'", tokRBrace: "'}'", tokComma: "','", tokRange: "'..'", tokEq: "'=='",
	tokNe: "'!='", tokLt: "'<'", tokLe: "'<='", tokGt: "'>'", tokGe: "'>='", tokAnd: "'and'",
	tokOr: "'or'", tokNot: "'not'", tokIn: "'in'", tokMatches: "'matches'", tokAny: "'any'",
}

func (k tokenKind) String() string { return tokenNames[k] }

var keywords = map[string]tokenKind{
	"and": tokAnd, "or": tokOr, "not": tokNot, "in": tokIn, "matches": tokMatches, "any": tokAny,
	"eq": tokEq, "ne": tokNe, "lt": tokLt, "le": tokLe, "gt": tokGt, "ge": tokGe,
}

type token struct {
	kind tokenKind
	text string // identifier (canonical), string value, number, IP or list ID
	star bool   // the identifier carried [*]
	pos  int    // byte offset of the token's start
}

type lexer struct {
	src  string
	pos  int
	toks []token
}

// lex splits src into tokens, or returns the first lexical error.
func lex(src string) ([]token, *Error) {
	l := &lexer{src: src}
	for {
		l.skipSpace()
		if l.pos >= len(src) {
			l.toks = append(l.toks, token{kind: tokEOF, pos: l.pos})
			return l.toks, nil
		}
		if err := l.next(); err != nil {
			return nil, err
		}
	}
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) {
		switch l.src[l.pos] {
		case ' ', '\t', '\n', '\r':
			l.pos++
		default:
			return
		}
	}
}

func (l *lexer) emit(kind tokenKind, text string, start int) {
	l.toks = append(l.toks, token{kind: kind, text: text, pos: start})
}

// operators lists punctuation tokens, two-character ones first so that "<="
// is not read as "<" followed by "=".
var operators = []struct {
	text string
	kind tokenKind
}{
	{"==", tokEq}, {"!=", tokNe}, {"<=", tokLe}, {">=", tokGe}, {"&&", tokAnd}, {"||", tokOr},
	{"..", tokRange}, {"<", tokLt}, {">", tokGt}, {"!", tokNot}, {"~", tokMatches},
	{"(", tokLParen}, {")", tokRParen}, {"{", tokLBrace}, {"}", tokRBrace}, {",", tokComma},
}

func (l *lexer) next() *Error {
	start := l.pos
	rest := l.src[l.pos:]
	for _, op := range operators {
		if strings.HasPrefix(rest, op.text) {
			l.pos += len(op.text)
			l.emit(op.kind, op.text, start)
			return nil
		}
	}
	c := rest[0]
	switch {
	case c == '"':
		return l.lexString()
	case c == '$':
		l.pos++
		for l.pos < len(l.src) && isListChar(l.src[l.pos]) {
			l.pos++
		}
		if l.pos == start+1 {
			return errorAt(l.src, start, "expected a list name or ID after '$'")
		}
		l.emit(tokList, l.src[start+1:l.pos], start)
	case isDigit(c) || c == ':' || (isHex(c) && l.looksLikeIPv6()):
		return l.lexNumberOrIP()
	case isIdentStart(c):
		return l.lexIdent()
	case c == '=':
		return errorAt(l.src, start, "unexpected '='; use '==' to compare")
	case c == '&' || c == '|':
		return errorAt(l.src, start, "unexpected '"+string(c)+"'; use '"+string(c)+string(c)+"'")
	default:
		return errorAt(l.src, start, "unexpected character "+quoteRune(rest))
	}
	return nil
}

func (l *lexer) lexString() *Error {
	start := l.pos
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '"':
			l.pos++
			l.emit(tokString, b.String(), start)
			return nil
		case '\\':
			if l.pos+1 >= len(l.src) {
				return errorAt(l.src, l.pos, "unfinished escape at the end of the string")
			}
			switch e := l.src[l.pos+1]; e {
			case '"', '\\':
				b.WriteByte(e)
			default:
				// Regular expressions keep their escapes (\. \d …) as written.
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			l.pos += 2
		case '\n':
			return errorAt(l.src, start, "string is not closed before the end of the line")
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return errorAt(l.src, start, "string is not closed; add a '\"'")
}

// looksLikeIPv6 reports whether the word at pos is a hex group followed by
// ':' (an IPv6 literal such as fe80::1), not a field name.
func (l *lexer) looksLikeIPv6() bool {
	i := l.pos
	for i < len(l.src) && isHex(l.src[i]) {
		i++
	}
	return i < len(l.src) && l.src[i] == ':' && i-l.pos <= 4
}

func (l *lexer) lexNumberOrIP() *Error {
	start := l.pos
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == '.' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '.' {
			break // a range: 80..90
		}
		if !(isHex(c) || c == '.' || c == ':' || c == '/') {
			break
		}
		l.pos++
	}
	word := l.src[start:l.pos]
	if l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
		return errorAt(l.src, start, "malformed number or address "+quoteRune(l.src[start:]))
	}
	allDigits := true
	for i := 0; i < len(word); i++ {
		if !isDigit(word[i]) {
			allDigits = false
			break
		}
	}
	if allDigits {
		l.emit(tokNumber, word, start)
	} else {
		l.emit(tokIP, word, start)
	}
	return nil
}

// lexIdent reads a field name. "[*]" may follow the whole name or one of its
// segments (identity.groups[*].name); the canonical name drops it and the
// token remembers it.
func (l *lexer) lexIdent() *Error {
	start := l.pos
	var b strings.Builder
	star := false
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if isIdentChar(c) || c == '.' {
			b.WriteByte(c)
			l.pos++
			continue
		}
		if strings.HasPrefix(l.src[l.pos:], "[*]") {
			if star {
				return errorAt(l.src, l.pos, "only one [*] is allowed in a field")
			}
			star = true
			l.pos += 3
			continue
		}
		if c == '[' {
			return errorAt(l.src, l.pos, "only [*] may follow a field name (indexes are not supported)")
		}
		break
	}
	name := b.String()
	if strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return errorAt(l.src, start, "malformed field name "+strings.TrimSpace(l.src[start:l.pos]))
	}
	if kind, ok := keywords[name]; ok && !star {
		l.emit(kind, name, start)
		return nil
	}
	l.toks = append(l.toks, token{kind: tokIdent, text: name, star: star, pos: start})
	return nil
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isHex(c byte) bool        { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isListChar(c byte) bool   { return isIdentChar(c) || c == '-' }

func quoteRune(s string) string {
	for _, r := range s {
		return "'" + string(r) + "'"
	}
	return "''"
}

// errorAt returns an Error at byte offset off of src.
func errorAt(src string, off int, msg string) *Error {
	if off > len(src) {
		off = len(src)
	}
	line, col := 1, 1
	for i := 0; i < off; i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &Error{Offset: off, Line: line, Column: col, Msg: msg}
}
