package herald_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The packages are layers and imports point one way:
// cmd → herald → {config, transport, webhooks, web, dashboard} → actors → pusher.
// This test is the machine that enforces it (the depguard of style.md).
// The Prometheus client stays in the root package (metrics.go): the layers
// below report observations and keep atomics.
func TestImportsPointOneWay(t *testing.T) {
	const mod = "github.com/herald-push/herald"
	rules := map[string]struct {
		stdlibOnly bool
		forbidden  []string
	}{
		"pusher":    {stdlibOnly: true},
		"actors":    {forbidden: []string{"github.com/lxzan/gws", "net/http", "github.com/knadh/", "github.com/prometheus/", mod + "/transport", mod + "/webhooks", mod + "/config", mod + "/web", mod + "/dashboard"}},
		"transport": {forbidden: []string{"github.com/knadh/", "github.com/prometheus/", mod + "/config", mod + "/webhooks", mod + "/web", mod + "/dashboard"}},
		"webhooks":  {forbidden: []string{"github.com/lxzan/gws", "github.com/knadh/", "github.com/prometheus/", mod + "/config", mod + "/transport", mod + "/web", mod + "/dashboard"}},
		"config":    {forbidden: []string{mod + "/actors", mod + "/transport", mod + "/webhooks", mod + "/web", mod + "/dashboard", "github.com/asynkron/", "github.com/prometheus/"}},
		"web":       {forbidden: []string{mod + "/actors", mod + "/transport", mod + "/webhooks", mod + "/config", mod + "/dashboard", "github.com/"}},
		"dashboard": {forbidden: []string{"github.com/lxzan/gws", "github.com/knadh/", "github.com/asynkron/", "github.com/prometheus/", mod + "/config", mod + "/transport", mod + "/webhooks", mod + "/web"}},
	}
	for dir, rule := range rules {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(files) == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				if rule.stdlibOnly && strings.Contains(strings.Split(path, "/")[0], ".") {
					t.Errorf("%s imports %s: %s must use the standard library only", f, path, dir)
				}
				for _, bad := range rule.forbidden {
					if strings.HasPrefix(path, bad) && !(dir == "web" && path == mod+"/pusher") {
						t.Errorf("%s imports %s, against the layering", f, path)
					}
				}
			}
		}
	}
}
