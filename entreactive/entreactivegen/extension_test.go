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

func TestTemplateFuncsOnTheTestSchemas(t *testing.T) {
	g, err := entc.LoadGraph("../internal/ent/schema", &gen.Config{
		BuildFlags: []string{"-tags", "entreactivegen"},
		Features:   []gen.Feature{gen.FeaturePrivacy, gen.FeatureIntercept, gen.FeatureUpsert},
	})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]*gen.Type{}
	for _, n := range g.Nodes {
		types[n.Name] = n
	}
	task, team, label := types["Task"], types["Team"], types["Label"]
	fields := map[string]*gen.Field{}
	for _, f := range task.Fields {
		fields[f.Name] = f
	}

	refs := refEdges(team)
	if len(refs) != 1 || refs[0].Edge.Name != "tasks" || refs[0].Target != task || refs[0].Changed != "task.FieldTeamID" || !refs[0].Field {
		t.Errorf("refEdges(Team) = %+v, want tasks, changed task.FieldTeamID", refs)
	}
	if refs := refEdges(label); len(refs) != 0 {
		t.Errorf("refEdges(Label) = %+v: an M2M edge has no foreign key in the tasks table", refs)
	}
	if refs := refEdges(task); len(refs) != 0 {
		t.Errorf("refEdges(Task) = %+v: the task owns its keys", refs)
	}
	if got := changedEdges(task); got != "task.EdgeLabels" {
		t.Errorf("changedEdges(Task) = %q, want the M2M edge only", got)
	}
	if got := updateDefaultCase(task); got != "task.FieldUpdateTime" {
		t.Errorf("updateDefaultCase(Task) = %q", got)
	}
	if got := sensitiveCase(task); got != "task.FieldSecret" {
		t.Errorf("sensitiveCase(Task) = %q", got)
	}
	for name, want := range map[string]string{
		"text":        "a.Text != b.Text",
		"update_time": "!a.UpdateTime.Equal(b.UpdateTime)",
		"team_id":     "!glue.SamePointee(a.TeamID, b.TeamID)",
	} {
		if got := differs(fields[name], "a", "b"); got != want {
			t.Errorf("differs(%s) = %q, want %q", name, got, want)
		}
	}
}
