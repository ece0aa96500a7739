package stunserver

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestPackageDoc checks that the package documents itself.
func TestPackageDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Package stunserver ") {
		t.Errorf("doc.go has no package doc starting with %q", "Package stunserver ")
	}
}

// TestMaxGrowth pins the figure the package doc gives.
func TestMaxGrowth(t *testing.T) {
	if got := New(nil).MaxGrowth(); got != 116 {
		t.Errorf("MaxGrowth() = %d, want 116 as the package doc says", got)
	}
	if got := New(&Config{OmitSoftware: true}).MaxGrowth(); got != 104 {
		t.Errorf("MaxGrowth() without SOFTWARE = %d, want 104", got)
	}
}
