package entreactivegen

import (
	"slices"
	"testing"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func TestBuildTagIsMergedIntoTheUsersTags(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		want  []string
	}{
		{"no flags", nil, []string{"-tags", "entreactivegen"}},
		{"other flags kept", []string{"-mod=mod"}, []string{"-mod=mod", "-tags", "entreactivegen"}},
		{"separate value", []string{"-tags", "a,b", "-v"}, []string{"-v", "-tags", "a,b,entreactivegen"}},
		{"equals form", []string{"-tags=a b"}, []string{"-tags", "a,b,entreactivegen"}},
		{"two flags", []string{"-tags", "a", "--tags=b"}, []string{"-tags", "a,b,entreactivegen"}},
		{"already there", []string{"-tags", "entreactivegen,a"}, []string{"-tags", "entreactivegen,a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mergeBuildTag(tt.flags, "entreactivegen"); !slices.Equal(got, tt.want) {
				t.Errorf("mergeBuildTag(%q) = %q, want %q", tt.flags, got, tt.want)
			}
		})
	}
}

func TestExtensionKeepsBuildTagsGivenBeforeIt(t *testing.T) {
	ex, err := NewExtension()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &gen.Config{}
	for _, opt := range []entc.Option{entc.BuildTags("netgo"), entc.Extensions(ex)} {
		if err := opt(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"-tags", "netgo,entreactivegen"}; !slices.Equal(cfg.BuildFlags, want) {
		t.Errorf("build flags = %q, want %q", cfg.BuildFlags, want)
	}
	if len(cfg.Templates) != len(AllTemplates) || len(cfg.Hooks) != 1 {
		t.Errorf("extension added %d templates and %d hooks", len(cfg.Templates), len(cfg.Hooks))
	}
}
