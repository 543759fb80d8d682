package tfconfig

import (
	"strings"
	"testing"
)

// TestExpressionErrorPositions checks that a rule-language error points at
// the right column of the .tf file: exactly for literal text (escapes
// included) and for the seed's "${"$"}${…}" idiom, at the reference for
// values that come from elsewhere.
func TestExpressionErrorPositions(t *testing.T) {
	tests := []struct {
		name   string
		attr   string // the traffic or identity line, as written in the file
		filter string
		at     string // the error must point at the first occurrence of this text in attr
	}{
		{"plain literal", `traffic = "net.dst.ipx == 10.0.0.1"`, "l4", "net.dst.ipx"},
		{"after escaped quotes", `identity = "identity.email == \"a\\\\b\" and identity.bad == \"x\""`, "l4", "identity.bad"},
		{"after a unicode escape", `identity = "identity.name == \"\u00e9t\u00e9\" or identity.bad == \"x\""`, "l4", "identity.bad"},
		{"after an escaped interpolation", `traffic = "http.request.uri == \"/$${x}\" and net.bad == 1"`, "http", "net.bad"},
		{"seed idiom, field", `traffic = "net.dst.ipx in ${"$"}${cloudflare_zero_trust_list.l.id}"`, "l4", "net.dst.ipx"},
		{"seed idiom, the list itself", `traffic = "net.dst.port in ${"$"}${cloudflare_zero_trust_list.l.id}"`, "l4", `${"$"}`},
		{"literal after an interpolation", `traffic = "net.dst.ip in ${var.set} and net.bad == 1"`, "l4", "net.bad"},
		{"inside an interpolated value", `traffic = "net.dst.ip in ${var.bad_set}"`, "l4", "${var.bad_set}"},
		{"a variable", `traffic = var.bad_traffic`, "l4", "var.bad_traffic"},
		{"end of expression", `identity = "identity.email == "`, "l4", `"` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := `variable "set" { default = "{10.0.0.1 10.0.0.2}" }
variable "bad_set" { default = "{10.0.0.1 nope}" }
variable "bad_traffic" { default = "net.dst.ipx == 1" }
resource "cloudflare_zero_trust_list" "l" {
  name  = "L"
  type  = "IP"
  items = ["10.0.0.10"]
}
resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "P"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["` + tt.filter + `"]
  ` + tt.attr + `
}
`
			const line = 15
			wantCol := strings.Index(tt.attr+"\n", tt.at) + 3 // two spaces of indentation, 1-based
			_, diags := loadString(t, src)
			errs := diags.Errors()
			if len(errs) != 1 {
				t.Fatalf("want one error, got:\n%s", diags.String())
			}
			if errs[0].Line != line || errs[0].Column != wantCol {
				t.Errorf("error at %d:%d, want %d:%d (at %q): %s", errs[0].Line, errs[0].Column, line, wantCol, tt.at, errs[0])
			}
		})
	}
}

func TestMapLiteral(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		val    string
		quoted bool
		want   []int
	}{
		{"plain", `ab`, "ab", true, []int{0, 1, 2}},
		{"escaped quote", `a\"b`, `a"b`, true, []int{0, 1, 3, 4}},
		{"unicode escape", `\u00e9x`, "éx", true, []int{0, 0, 6, 7}},
		{"doubled marker", `$${x}`, "${x}", true, []int{0, 2, 3, 4, 5}},
		{"heredoc indentation", "  a\n  b\n", "a\nb\n", false, []int{2, 3, 6, 7, 8}},
		{"unalignable", `xyz`, "abc", true, []int{3, 3, 3, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapLiteral([]byte(tt.raw), tt.val, tt.quoted)
			if len(got) != len(tt.want) {
				t.Fatalf("mapLiteral = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("mapLiteral = %v, want %v", got, tt.want)
				}
			}
		})
	}
}
