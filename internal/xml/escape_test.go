package xml

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// escapeRef is appendEscaped written the plain way, one rune at a time,
// to check the table-driven one against.
func escapeRef(s string, attr bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '"' && attr:
			b.WriteString("&quot;")
		case r == '\'' && attr:
			b.WriteString("&apos;")
		case r == '\r':
			b.WriteString("&#xD;")
		case r == '\n' && attr:
			b.WriteString("&#xA;")
		case r == '\t' && attr:
			b.WriteString("&#x9;")
		case r < 0x20 && r != '\n' && r != '\t':
			b.WriteString("\uFFFD")
		case r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF:
			// An invalid byte, or a character XML cannot carry (U+FFFD
			// itself is written as it is, the same bytes).
			b.WriteString("\uFFFD")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", `a<b>&"c"'d'`, "tab\there\nnl\rcr", "\x00\x1f", "héllo wörld ☃", "\xff\xfe", "\uFFFE\uFFFF", "a\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, attr := range []bool{false, true} {
			if got, want := string(appendEscaped(nil, s, attr)), escapeRef(s, attr); got != want {
				t.Fatalf("appendEscaped(%q, attr=%v) = %q, want %q", s, attr, got, want)
			}
		}
	})
}
