package falco

import (
	"fmt"
	"strings"
)

// node is a parsed condition.
type node interface{ String() string }

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

// macroRef is a bare identifier: a macro, resolved when rules compile.
type macroRef struct{ name string }

// cmpNode compares a field with values.
type cmpNode struct {
	field Field
	op    string
	// vals are the right-hand side: one value, or a list for in,
	// intersects and pmatch (list names are expanded at compile time).
	vals []string
	list bool
	// rhsField is set for comparisons with another field (val(f)).
	rhsField *Field
}

// Field is a field reference with its argument: proc.aname[2],
// evt.arg.flags, fd.types[].
type Field struct {
	Name string
	Arg  string
	// Transform is tolower, toupper, basename, b64 or "" (Falco 0.38+).
	Transform string
}

func (f Field) String() string {
	s := f.Name
	if f.Arg != "" {
		s += "[" + f.Arg + "]"
	}
	if f.Transform != "" {
		s = f.Transform + "(" + s + ")"
	}
	return s
}

func (n andNode) String() string  { return "(" + n.l.String() + " and " + n.r.String() + ")" }
func (n orNode) String() string   { return "(" + n.l.String() + " or " + n.r.String() + ")" }
func (n notNode) String() string  { return "not " + n.x.String() }
func (n macroRef) String() string { return n.name }
func (n cmpNode) String() string {
	if n.op == "exists" {
		return n.field.String() + " exists"
	}
	if n.rhsField != nil {
		return n.field.String() + " " + n.op + " val(" + n.rhsField.String() + ")"
	}
	if n.list {
		return n.field.String() + " " + n.op + " (" + strings.Join(n.vals, ", ") + ")"
	}
	return n.field.String() + " " + n.op + " " + n.vals[0]
}

// Operators of Falco's condition language.
var binaryOps = map[string]bool{
	"=": true, "==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"contains": true, "icontains": true, "bcontains": true, "startswith": true, "bstartswith": true,
	"endswith": true, "glob": true, "iglob": true, "regex": true,
	"in": true, "intersects": true, "pmatch": true,
}

var listOps = map[string]bool{"in": true, "intersects": true, "pmatch": true}

type token struct {
	kind string // "word", "str", "(", ")", ",", "op", "eof"
	text string
	pos  int
}

// lex splits a condition into tokens. Words are Falco's bare strings:
// anything up to a space, a parenthesis or a comma (paths, globs,
// numbers, field names with [args]).
func lex(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',':
			out = append(out, token{kind: string(c), text: string(c), pos: i})
			i++
		case c == '\'' || c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			out = append(out, token{kind: "str", text: b.String(), pos: i})
			i = j + 1
		case c == '=' || c == '!' || c == '<' || c == '>':
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			op := s[i:j]
			if op == "!" {
				return nil, fmt.Errorf("unexpected '!' at offset %d (not equal is !=)", i)
			}
			out = append(out, token{kind: "op", text: op, pos: i})
			i = j
		default:
			j := i
			depth := 0
			for j < len(s) {
				d := s[j]
				if d == '[' {
					depth++
				} else if d == ']' && depth > 0 {
					depth--
				} else if depth == 0 && (d == ' ' || d == '\t' || d == '\n' || d == '\r' || d == '(' || d == ')' || d == ',' || d == '=' || d == '<' || d == '>' || (d == '!' && j+1 < len(s) && s[j+1] == '=')) {
					break
				}
				j++
			}
			out = append(out, token{kind: "word", text: s[i:j], pos: i})
			i = j
		}
	}
	return append(out, token{kind: "eof", pos: len(s)}), nil
}

type parser struct {
	toks []token
	i    int
	// depth bounds nesting: a hostile rule file must not overflow the
	// stack.
	depth int
}

const maxDepth = 500

// parseCondition parses one condition.
func parseCondition(s string) (node, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, fmt.Errorf("unexpected %q at offset %d", t.text, t.pos)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) or() (node, error) {
	return p.binary("or", p.and, func(l, r node) node { return orNode{l, r} })
}

func (p *parser) and() (node, error) {
	return p.binary("and", p.unary, func(l, r node) node { return andNode{l, r} })
}

// binary parses operands joined by word, left-associative.
func (p *parser) binary(word string, operand func() (node, error), join func(l, r node) node) (node, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == "word" && p.peek().text == word {
		p.next()
		r, err := operand()
		if err != nil {
			return nil, err
		}
		l = join(l, r)
	}
	return l, nil
}

func (p *parser) unary() (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, fmt.Errorf("the condition nests deeper than %d", maxDepth)
	}
	t := p.peek()
	switch {
	case t.kind == "word" && t.text == "not":
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case t.kind == "(":
		p.next()
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != ")" {
			return nil, fmt.Errorf("missing ')' at offset %d", c.pos)
		}
		return x, nil
	case t.kind == "word":
		return p.comparison()
	case t.kind == "eof":
		return nil, fmt.Errorf("the condition ends where an expression was expected")
	}
	return nil, fmt.Errorf("unexpected %q at offset %d", t.text, t.pos)
}

// transformers Falco applies to a field.
var transformers = map[string]bool{"tolower": true, "toupper": true, "basename": true, "b64": true}

func (p *parser) field() (Field, error) {
	t := p.next()
	if t.kind != "word" {
		return Field{}, fmt.Errorf("expected a field at offset %d, found %q", t.pos, t.text)
	}
	if transformers[t.text] && p.peek().kind == "(" {
		p.next()
		f, err := p.field()
		if err != nil {
			return f, err
		}
		if c := p.next(); c.kind != ")" {
			return f, fmt.Errorf("missing ')' after %s(%s", t.text, f)
		}
		f.Transform = t.text
		return f, nil
	}
	return splitField(t.text), nil
}

func splitField(w string) Field {
	if i := strings.IndexByte(w, '['); i > 0 && strings.HasSuffix(w, "]") {
		return Field{Name: w[:i], Arg: w[i+1 : len(w)-1]}
	}
	return Field{Name: w}
}

func (p *parser) comparison() (node, error) {
	start := p.peek()
	// A bare identifier followed by and/or/)/eof is a macro.
	if start.kind == "word" && !transformers[start.text] {
		nx := p.toks[p.i+1]
		if nx.kind == "eof" || nx.kind == ")" || (nx.kind == "word" && (nx.text == "and" || nx.text == "or")) {
			p.next()
			return macroRef{start.text}, nil
		}
	}
	f, err := p.field()
	if err != nil {
		return nil, err
	}
	op := p.next()
	if op.kind != "op" && !(op.kind == "word" && (binaryOps[op.text] || op.text == "exists")) {
		return nil, fmt.Errorf("expected an operator after %s at offset %d, found %q", f, op.pos, op.text)
	}
	if op.text == "exists" {
		return cmpNode{field: f, op: "exists"}, nil
	}
	if !binaryOps[op.text] {
		return nil, fmt.Errorf("unknown operator %q at offset %d", op.text, op.pos)
	}
	n := cmpNode{field: f, op: op.text}
	if n.op == "==" {
		n.op = "="
	}
	if p.peek().kind == "(" {
		p.next()
		n.list = true
		for p.peek().kind != ")" {
			v := p.next()
			switch v.kind {
			case "word", "str":
				n.vals = append(n.vals, v.text)
			default:
				return nil, fmt.Errorf("expected a value in the list at offset %d, found %q", v.pos, v.text)
			}
			if p.peek().kind == "," {
				p.next()
			} else if p.peek().kind != ")" {
				return nil, fmt.Errorf("expected ',' or ')' in the list at offset %d", p.peek().pos)
			}
		}
		p.next()
		return n, nil
	}
	v := p.next()
	if v.kind != "word" && v.kind != "str" {
		return nil, fmt.Errorf("expected a value after %s %s at offset %d", f, n.op, v.pos)
	}
	if v.kind == "word" && v.text == "val" && p.peek().kind == "(" {
		p.next()
		rf, err := p.field()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != ")" {
			return nil, fmt.Errorf("missing ')' after val(%s", rf)
		}
		n.rhsField = &rf
		return n, nil
	}
	n.vals = []string{v.text}
	if listOps[n.op] {
		// "x in list_name": a list reference, expanded at compile time.
		n.list = true
	}
	return n, nil
}
