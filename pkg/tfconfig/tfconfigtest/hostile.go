// Package tfconfigtest generates hostile configuration files, for tests
// that check that loading them fails with one clear error instead of
// exhausting the edge's stack, memory or patience. The files are made at
// test time and never committed.
package tfconfigtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SimFile as a Case's File means the simulator file (--sim).
const SimFile = "<sim>"

// Bomb is the nesting depth of the nesting cases: it overflowed Go's 1 GB
// stack in HCL's parser before the loader checked nesting.
const Bomb = 60_000

// Case is one hostile file.
type Case struct {
	Name string
	// File is the file's name inside the Terraform directory, or SimFile.
	File string
	Src  []byte
	// Special, when set, makes File a named pipe ("fifo") or a symbolic
	// link to /dev/urandom ("urandom") instead of a file holding Src.
	Special string
	// Want is part of the one error the load must report.
	Want string
}

const nested = "nested more than 64 levels"

func repeat(s string, n int) string { return strings.Repeat(s, n) }

// Cases returns every hostile file: nesting bombs (item 2), evaluation
// bombs (item 3), special and oversized files (item 10), an over-long
// password (item 16), and binary or very broken files (item 18).
func Cases() []Case {
	list := repeat("[", Bomb) + repeat("]", Bomb)
	object := repeat("{a=", Bomb) + "1" + repeat("}", Bomb)
	local := func(expr string) []byte { return []byte("locals {\n  a = " + expr + "\n}\n") }
	cs := []Case{
		{Name: "tf-list", File: "bomb.tf", Src: local(list), Want: nested},
		{Name: "tf-object", File: "bomb.tf", Src: local(object), Want: nested},
		{Name: "tf-blocks", File: "bomb.tf", Src: []byte(repeat("x {\n", Bomb) + repeat("}\n", Bomb)), Want: nested},
		{Name: "tf-parens", File: "bomb.tf", Src: local(repeat("(", Bomb) + "1" + repeat(")", Bomb)), Want: nested},
		{Name: "tf-not", File: "bomb.tf", Src: local(repeat("!", Bomb) + "true"), Want: nested},
		{Name: "tf-negate", File: "bomb.tf", Src: local(repeat("- ", Bomb) + "1"), Want: nested},
		{Name: "tf-conditional", File: "bomb.tf", Src: local("(" + repeat("true ? 1 : ", Bomb) + "0)"), Want: nested},
		{Name: "tf-template", File: "bomb.tf", Src: local(repeat(`"${`, Bomb) + "1" + repeat(`}"`, Bomb)), Want: nested},
		{Name: "tf-directive", File: "bomb.tf", Src: local(`"` + repeat("%{if true}", Bomb) + "x" + repeat("%{endif}", Bomb) + `"`), Want: nested},
		{Name: "tfvars-list", File: "terraform.tfvars", Src: []byte("a = " + list + "\n"), Want: nested},
		{Name: "tfvars-json", File: "bomb.auto.tfvars.json", Src: []byte(`{"a": ` + list + "}\n"), Want: nested},
		{Name: "sim-list", File: SimFile, Src: []byte("team = " + list + "\n"), Want: nested},

		{Name: "eval-setproduct", File: "bomb.tf", Src: local("setproduct(range(1000), range(1000), range(1000))"), Want: "1000000000 elements"},
		{Name: "eval-doubling", File: "bomb.tf", Src: doubling(40), Want: "larger than 16 MiB"},
		{Name: "eval-range", File: "bomb.tf", Src: local("range(1e9)"), Want: "more than the 100000"},
		{Name: "eval-format-width", File: "bomb.tf", Src: local(`format("%1000000000s", "x")`), Want: "width or precision of 1000000000"},
		{Name: "eval-replace", File: "bomb.tf", Src: local(`replace(format("%10000s", ""), " ", format("%10000s", ""))`), Want: "could be larger than 16 MiB"},
		{Name: "eval-indent", File: "bomb.tf", Src: local(`indent(100000000, join("\n", range(1000)))`), Want: "larger than 16 MiB"},
		{Name: "eval-jsondecode", File: "bomb.tf", Src: local(`jsondecode(join("", [for i in range(1000) : "["]))`), Want: nested},
		{Name: "eval-number", File: "bomb.tf", Src: local(`"${1e600000000}"`), Want: "larger than 16 MiB"},
		{Name: "eval-nested-for", File: "bomb.tf", Src: local(`[for i in range(1000) : [for j in range(1000) : [for k in range(1000) : k]]]`), Want: "MiB"},
		{Name: "eval-join-shared", File: "bomb.tf", Src: []byte("locals {\n  s = join(\"\", [for i in range(1000) : format(\"%1000s\", \"\")])\n  a = join(\"\", [for i in range(1000) : local.s])\n}\n"), Want: "MiB"},
		{Name: "eval-tfvars-number", File: "terraform.tfvars", Src: []byte("a = \"${1e600000000}\"\n"), Want: "larger than 16 MiB"},

		{Name: "file-too-large", File: "big.tf", Src: bytes.Repeat([]byte("# a comment line that is exactly sixty-four bytes long ........\n"), 5<<20/64), Want: "larger than 4 MiB"},
		{Name: "sim-too-large", File: SimFile, Src: bytes.Repeat([]byte("# a comment line that is exactly sixty-four bytes long ........\n"), 5<<20/64), Want: "larger than 4 MiB"},
		{Name: "file-binary", File: "binary.tf", Src: binary(1 << 20), Want: "NUL byte"},
		{Name: "file-latin1", File: "latin1.tf", Src: []byte("locals {\n  a = \"caf\xe9\"\n}\n"), Want: "not UTF-8"},
		{Name: "file-many-errors", File: "broken.tf", Src: manyErrors(2000), Want: "more problems in this file"},
		{Name: "sim-long-password", File: SimFile, Src: []byte("team = \"acme\"\n\nidp {\n  user \"alice@example.com\" {\n    password = \"" + repeat("p", 73) + "\"\n  }\n}\n"), Want: "at most 72 bytes"},
		{Name: "sim-fifo", File: SimFile, Special: "fifo", Want: "named pipe (FIFO), not a regular file"},
		{Name: "sim-urandom", File: SimFile, Special: "urandom", Want: "device, not a regular file"},
	}
	return cs
}

// doubling is n locals, each twice the one before: 2^n bytes at the end.
func doubling(n int) []byte {
	var b strings.Builder
	b.WriteString("locals {\n  d0 = \"x\"\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  d%d = \"${local.d%d}${local.d%d}\"\n", i, i-1, i-1)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// binary is n bytes of a compiled program's look: text and NUL bytes.
func binary(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7919 % 251)
	}
	return b
}

// manyErrors is n resources, each with an error.
func manyErrors(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "resource \"cloudflare_zero_trust_gateway_policy\" \"p%d\" {\n  bogus = 1\n}\n", i)
	}
	return []byte(b.String())
}

// Write puts c in place: into tfDir, or at simPath for SimFile, replacing
// what is there.
func Write(tfDir, simPath string, c Case) error {
	path := filepath.Join(tfDir, c.File)
	if c.File == SimFile {
		path = simPath
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	switch c.Special {
	case "":
		return os.WriteFile(path, c.Src, 0o644)
	case "urandom":
		return os.Symlink("/dev/urandom", path)
	default:
		return makeSpecial(path, c.Special)
	}
}

// Path returns where Write puts c.
func Path(tfDir, simPath string, c Case) string {
	if c.File == SimFile {
		return simPath
	}
	return filepath.Join(tfDir, c.File)
}
