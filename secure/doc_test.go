package secure

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
	if f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Package secure ") {
		t.Errorf("doc.go has no package doc starting with %q", "Package secure ")
	}
}
