package metrics

import (
	"runtime/debug"
	"testing"
)

// build_info's version is this module's, whether it is the binary's main
// module or one of its dependencies; "(devel)" when the binary says
// nothing of it.
func TestModuleVersion(t *testing.T) {
	for name, c := range map[string]struct {
		bi   *debug.BuildInfo
		want string
	}{
		"no build info":         {nil, "(devel)"},
		"main, from a checkout": {&debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}}, "(devel)"},
		"main, go install @v":   {&debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v1.2.3"}}, "v1.2.3"},
		"a dependency": {&debug.BuildInfo{
			Main: debug.Module{Path: "example.com/app", Version: "v9.0.0"},
			Deps: []*debug.Module{{Path: "golang.org/x/crypto", Version: "v0.1.0"}, {Path: modulePath, Version: "v0.4.0"}},
		}, "v0.4.0"},
		"a replaced dependency": {&debug.BuildInfo{
			Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.4.0", Replace: &debug.Module{Path: "../reactive"}}},
		}, "v0.4.0"},
		"a dependency replaced by a version": {&debug.BuildInfo{
			Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.4.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v0.4.1"}}},
		}, "v0.4.1"},
		"not a dependency": {&debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v9.0.0"}}, "(devel)"},
	} {
		if got := moduleVersion(c.bi); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}
