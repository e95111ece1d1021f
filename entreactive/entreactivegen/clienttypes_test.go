package entreactivegen_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"entgo.io/ent"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/entc/load"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivegen"
)

// Kind is a reactive schema with a field of every kind the client types
// map.
type Kind struct{ ent.Schema }

// meta is the Go type of a JSON field.
type meta struct {
	Source string `json:"source"`
}

func (Kind) Mixin() []ent.Mixin { return []ent.Mixin{entreactive.Placeholder()} }

func (Kind) Fields() []ent.Field {
	return []ent.Field{
		field.Int("count"),
		field.Int64("big"),
		field.Uint64("huge"),
		field.Float("ratio").Comment("Share of the total, 0 to 1."),
		field.Bool("done"),
		field.String("title"),
		field.Text("body").Optional(),
		field.String("nickname").Optional().Nillable(),
		field.Enum("status").Values("open", "closed"),
		field.Enum("priority").Values("low", "high").Optional().Nillable(),
		field.Time("due_at"),
		field.Time("done_at").Optional().Nillable(),
		field.UUID("ref", uuid.UUID{}),
		field.Bytes("blob").Optional(),
		field.JSON("tags", []string{}).Optional(),
		field.JSON("scores", map[string]int{}),
		field.JSON("matrix", [][]*float64{}),
		field.JSON("meta", meta{}),
		field.JSON("extra", &meta{}),
		field.JSON("raw", json.RawMessage{}),
		field.String("password").Sensitive(),
		field.String("display_name").StructTag(`json:"displayName"`),
		field.Int("owner_id").Optional(),
	}
}

func (Kind) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("owner", Owner.Type).Field("owner_id").Unique(),
		edge.To("labels", Label.Type),
		edge.To("parent", Label.Type).Unique(),
	}
}

// Label is reactive and has string ids.
type Label struct{ ent.Schema }

func (Label) Mixin() []ent.Mixin { return []ent.Mixin{entreactive.Placeholder()} }

func (Label) Fields() []ent.Field {
	return []ent.Field{field.String("id"), field.String("name")}
}

// Owner is not reactive.
type Owner struct{ ent.Schema }

func (Owner) Fields() []ent.Field {
	return []ent.Field{field.String("name"), field.String("secret").Sensitive()}
}

// kindGraph returns the graph of Kind, Label and Owner, in that order or
// reversed.
func kindGraph(t *testing.T, reversed bool) *gen.Graph {
	t.Helper()
	schemas := []ent.Interface{Kind{}, Label{}, Owner{}}
	if reversed {
		slices.Reverse(schemas)
	}
	return graphOf(t, schemas...)
}

// graphOf returns the graph entc loads from schemas.
func graphOf(t *testing.T, schemas ...ent.Interface) *gen.Graph {
	t.Helper()
	var loaded []*load.Schema
	for _, s := range schemas {
		b, err := load.MarshalSchema(s)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := load.UnmarshalSchema(b)
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, ls)
	}
	storage, err := gen.NewStorage("sql")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gen.NewGraph(&gen.Config{Package: "example.com/app/ent", Storage: storage}, loaded...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// clientTypes runs the extension's hooks over g with opts and returns the
// files they wrote into a temporary directory, by name.
func clientTypes(t *testing.T, g *gen.Graph, opts ...func(dir string) entreactivegen.ExtensionOption) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	var options []entreactivegen.ExtensionOption
	for _, o := range opts {
		options = append(options, o(dir))
	}
	ex, err := entreactivegen.NewExtension(options...)
	if err != nil {
		t.Fatal(err)
	}
	if err := runHooks(ex, g); err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// runHooks runs the extension's generation hooks over g, as entc does
// around its own generation (which is left out here).
func runHooks(ex *entreactivegen.Extension, g *gen.Graph) error {
	var generator gen.Generator = gen.GenerateFunc(func(*gen.Graph) error { return nil })
	for _, h := range slices.Backward(ex.Hooks()) {
		generator = h(generator)
	}
	return generator.Generate(g)
}

func typeScriptIn(name string) func(string) entreactivegen.ExtensionOption {
	return func(dir string) entreactivegen.ExtensionOption {
		return entreactivegen.WithTypeScript(filepath.Join(dir, name))
	}
}

func jsonSchemaIn(name string) func(string) entreactivegen.ExtensionOption {
	return func(dir string) entreactivegen.ExtensionOption {
		return entreactivegen.WithJSONSchema(filepath.Join(dir, name))
	}
}

// kindTypes is the TypeScript type and JSON Schema of each key of
// KindData.
var kindTypes = []struct {
	key, ts, schema string
}{
	{"id", "number", `{"type":"integer"}`},
	{"count", "number", `{"type":"integer"}`},
	{"big", "number", `{"type":"integer"}`},
	{"huge", "number", `{"type":"integer"}`},
	{"ratio", "number", `{"description":"Share of the total, 0 to 1.","type":"number"}`},
	{"done", "boolean", `{"type":"boolean"}`},
	{"title", "string", `{"type":"string"}`},
	{"body", "string", `{"type":"string"}`},
	{"nickname", "string | null", `{"type":["string","null"]}`},
	{"status", `"open" | "closed"`, `{"type":"string","enum":["open","closed"]}`},
	{"priority", `"low" | "high" | null`, `{"type":["string","null"],"enum":["low","high",null]}`},
	{"due_at", "string", `{"type":"string","format":"date-time"}`},
	{"done_at", "string | null", `{"type":["string","null"],"format":"date-time"}`},
	{"ref", "string", `{"type":"string","format":"uuid"}`},
	{"blob", "string | null", `{"type":["string","null"],"contentEncoding":"base64"}`},
	{"tags", "string[] | null", `{"type":["array","null"],"items":{"type":"string"}}`},
	{"scores", "Record<string, number> | null", `{"type":["object","null"],"additionalProperties":{"type":"integer"}}`},
	{"matrix", "((number | null)[] | null)[] | null", `{"type":["array","null"],"items":{"type":["array","null"],"items":{"type":["number","null"]}}}`},
	{"meta", "Record<string, unknown>", `{"type":"object"}`},
	{"extra", "unknown", `{}`},
	{"raw", "unknown", `{}`},
	{"displayName", "string", `{"type":"string"}`},
	{"owner_id", "number", `{"type":"integer"}`},
}

func TestTypeScriptMapsEachFieldKind(t *testing.T) {
	files := clientTypes(t, kindGraph(t, false), typeScriptIn("reactive.ts"))
	ts := string(files["reactive.ts"])
	data := tsBlock(t, ts, "export interface KindData {")
	var want []string
	for _, k := range kindTypes {
		want = append(want, k.key+": "+k.ts+";")
	}
	want = append(want, "edges?: KindEdges;")
	if got := tsMembers(data); !slices.Equal(got, want) {
		t.Errorf("KindData members:\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(data, "/** Share of the total, 0 to 1. */\n  ratio: number;") {
		t.Errorf("the field's comment is not on ratio:\n%s", data)
	}

	edges := tsMembers(tsBlock(t, ts, "export interface KindEdges {"))
	wantEdges := []string{"owner?: Record<string, unknown> | null;", "labels?: LabelData[];", "parent?: LabelData | null;"}
	if !slices.Equal(edges, wantEdges) {
		t.Errorf("KindEdges members:\n got %q\nwant %q", edges, wantEdges)
	}
	if got, want := tsMembers(tsBlock(t, ts, "export interface LabelData {")), []string{"id: string;", "name: string;"}; !slices.Equal(got, want) {
		t.Errorf("LabelData members: got %q, want %q", got, want)
	}

	for _, want := range []string{
		`export type KindField = "count" | "big" | "huge" | "ratio" | "done" | "title" | "body" | "nickname" | "status" | "priority" | "due_at" | "done_at" | "ref" | "blob" | "tags" | "scores" | "matrix" | "meta" | "extra" | "raw" | "display_name" | "owner_id" | "labels" | "parent";`, // labels (O2M, its key in the labels table) and parent (a unique edge whose key has no field) are named in changed themselves
		"export type ReactiveEvent = KindEvent | LabelEvent;",
		"export type LabelEvent = LabelCreateEvent | LabelUpdateEvent | LabelDeleteEvent;",
	} {
		if !strings.Contains(ts, want+"\n") {
			t.Errorf("module lacks %s", want)
		}
	}
	update := tsMembers(tsBlock(t, ts, "export interface LabelUpdateEvent {"))
	wantUpdate := []string{`action: "update";`, `model: "Label";`, "id: string;", "data: LabelData;", "changed: LabelField[];", "timestamp: number;"}
	if !slices.Equal(update, wantUpdate) {
		t.Errorf("LabelUpdateEvent members:\n got %q\nwant %q", update, wantUpdate)
	}
	if create := tsMembers(tsBlock(t, ts, "export interface LabelCreateEvent {")); slices.Contains(create, "changed: LabelField[];") {
		t.Errorf("a create event has changed: %q", create)
	}
}

func TestClientTypesLeaveOutSensitiveFieldsAndPlainSchemas(t *testing.T) {
	files := clientTypes(t, kindGraph(t, false), typeScriptIn("reactive.ts"), jsonSchemaIn("reactive.schema.json"))
	for name, b := range files {
		for _, secret := range []string{"password", "secret", "OwnerData", "OwnerEvent"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s mentions %q", name, secret)
			}
		}
	}
}

func TestJSONSchemaMapsEachFieldKind(t *testing.T) {
	files := clientTypes(t, kindGraph(t, false), jsonSchemaIn("reactive.schema.json"))
	var doc struct {
		Schema string                                `json:"$schema"`
		OneOf  []map[string]string                   `json:"oneOf"`
		Defs   map[string]map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(files["reactive.schema.json"], &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %q", doc.Schema)
	}
	var refs []string
	for _, r := range doc.OneOf {
		refs = append(refs, r["$ref"])
	}
	wantRefs := []string{"#/$defs/KindCreateEvent", "#/$defs/KindUpdateEvent", "#/$defs/KindDeleteEvent",
		"#/$defs/LabelCreateEvent", "#/$defs/LabelUpdateEvent", "#/$defs/LabelDeleteEvent"}
	if !slices.Equal(refs, wantRefs) {
		t.Errorf("oneOf = %q, want %q", refs, wantRefs)
	}

	data := doc.Defs["KindData"]
	var props map[string]json.RawMessage
	var required []string
	if err := json.Unmarshal(data["properties"], &props); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data["required"], &required); err != nil {
		t.Fatal(err)
	}
	var wantRequired []string
	for _, k := range kindTypes {
		wantRequired = append(wantRequired, k.key)
		if got := compact(t, props[k.key]); got != k.schema {
			t.Errorf("%s: schema %s, want %s", k.key, got, k.schema)
		}
	}
	if !slices.Equal(required, wantRequired) {
		t.Errorf("required = %q, want %q", required, wantRequired)
	}
	if got := compact(t, props["edges"]); got != `{"$ref":"#/$defs/KindEdges"}` {
		t.Errorf("edges: %s", got)
	}
	if len(props) != len(kindTypes)+1 || string(data["additionalProperties"]) != "false" {
		t.Errorf("KindData has %d properties (want %d) and additionalProperties %s (want false)",
			len(props), len(kindTypes)+1, data["additionalProperties"])
	}
	if got, want := compact(t, doc.Defs["KindEdges"]["properties"]),
		`{"labels":{"type":"array","items":{"$ref":"#/$defs/LabelData"}},`+
			`"owner":{"anyOf":[{"type":"object"},{"type":"null"}]},`+
			`"parent":{"anyOf":[{"$ref":"#/$defs/LabelData"},{"type":"null"}]}}`; got != want {
		t.Errorf("KindEdges properties:\n got %s\nwant %s", got, want)
	}
	if got, want := compact(t, doc.Defs["LabelUpdateEvent"]["required"]), `["action","model","id","data","timestamp","changed"]`; got != want {
		t.Errorf("LabelUpdateEvent required %s, want %s", got, want)
	}
	if got, want := compact(t, doc.Defs["LabelCreateEvent"]["properties"]),
		`{"action":{"const":"create"},"data":{"$ref":"#/$defs/LabelData"},"id":{"type":"string"},"model":{"const":"Label"},`+
			`"timestamp":{"description":"When the event was produced, in milliseconds since the Unix epoch.","type":"integer"}}`; got != want {
		t.Errorf("LabelCreateEvent properties:\n got %s\nwant %s", got, want)
	}
}

func TestJSONSchemaIsValidAndJudgesEvents(t *testing.T) {
	files := clientTypes(t, kindGraph(t, false), jsonSchemaIn("reactive.schema.json"))
	sch := compileSchema(t, files["reactive.schema.json"])
	label := `{"action":"update","model":"Label","id":"l1","data":{"id":"l1","name":"x"},"changed":["name"],"timestamp":1700000000000}`
	tests := []struct {
		name, event string
		valid       bool
	}{
		{"update", label, true},
		{"create", `{"action":"create","model":"Label","id":"l1","data":{"id":"l1","name":""},"timestamp":1}`, true},
		{"create with changed", `{"action":"create","model":"Label","id":"l1","data":{"id":"l1","name":""},"changed":[],"timestamp":1}`, false},
		{"update without changed", strings.Replace(label, `"changed":["name"],`, "", 1), false},
		{"unknown changed field", strings.Replace(label, `["name"]`, `["id"]`, 1), false},
		{"missing key", strings.Replace(label, `,"name":"x"`, "", 1), false},
		{"extra key", strings.Replace(label, `"name":"x"`, `"name":"x","secret":"s"`, 1), false},
		{"numeric id", strings.Replace(label, `"id":"l1","data"`, `"id":1,"data"`, 1), false},
		{"unknown model", strings.Replace(label, `"Label"`, `"Owner"`, 1), false},
		{"fractional timestamp", strings.Replace(label, "1700000000000", "1.5", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(v); (err == nil) != tt.valid {
				t.Errorf("valid = %v, want %v: %v", err == nil, tt.valid, err)
			}
		})
	}
}

func TestClientTypesAreDeterministic(t *testing.T) {
	opts := []func(string) entreactivegen.ExtensionOption{typeScriptIn("reactive.ts"), jsonSchemaIn("reactive.schema.json")}
	first := clientTypes(t, kindGraph(t, false), opts...)
	again := clientTypes(t, kindGraph(t, false), opts...)
	reversed := clientTypes(t, kindGraph(t, true), opts...)
	if len(first) != 2 {
		t.Fatalf("wrote %d files, want 2", len(first))
	}
	for name, b := range first {
		if !bytes.Equal(b, again[name]) || !bytes.Equal(b, reversed[name]) {
			t.Errorf("%s differs between runs or with the schemas' order", name)
		}
	}
}

func TestClientTypesAreWrittenOnlyWhenAsked(t *testing.T) {
	if files := clientTypes(t, kindGraph(t, false)); len(files) != 0 {
		t.Errorf("without options the extension wrote %d files", len(files))
	}
	files := clientTypes(t, kindGraph(t, false), typeScriptIn("only.ts"))
	if _, ok := files["only.ts"]; !ok || len(files) != 1 {
		t.Errorf("WithTypeScript alone wrote %d files", len(files))
	}
	for _, opt := range []entreactivegen.ExtensionOption{entreactivegen.WithTypeScript(""), entreactivegen.WithJSONSchema("")} {
		if _, err := entreactivegen.NewExtension(opt); err == nil || !strings.HasPrefix(err.Error(), "entreactivegen: ") {
			t.Errorf("an empty path: error %v", err)
		}
	}
}

func TestClientTypesCreateTheirFolders(t *testing.T) {
	dir := t.TempDir()
	ts := filepath.Join(dir, "web", "src", "reactive.ts")
	js := filepath.Join(dir, "schemas", "reactive.schema.json")
	ex, err := entreactivegen.NewExtension(entreactivegen.WithTypeScript(ts), entreactivegen.WithJSONSchema(js))
	if err != nil {
		t.Fatal(err)
	}
	if err := runHooks(ex, kindGraph(t, false)); err != nil {
		t.Fatalf("writing into folders that do not exist yet: %v", err)
	}
	for _, path := range []string{ts, js} {
		if b, err := os.ReadFile(path); err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v", path, len(b), err)
		}
	}
}

// Reactive is a reactive schema whose name makes ReactiveEvent, which the
// module declares for all schemas.
type Reactive struct{ ent.Schema }

func (Reactive) Mixin() []ent.Mixin { return []ent.Mixin{entreactive.Placeholder()} }

// LabelCreate is a reactive schema whose name makes LabelCreateEvent, which
// Label makes too.
type LabelCreate struct{ ent.Schema }

func (LabelCreate) Mixin() []ent.Mixin { return []ent.Mixin{entreactive.Placeholder()} }

func TestClientTypesRefuseNamesThatCollide(t *testing.T) {
	for _, tt := range []struct {
		name    string
		schemas []ent.Interface
		want    string
	}{
		{"the module's", []ent.Interface{Reactive{}}, "entreactivegen: client types: schema Reactive declares ReactiveEvent, as the module does: rename one of them"},
		{"another schema's", []ent.Interface{Label{}, LabelCreate{}}, "entreactivegen: client types: schema LabelCreate declares LabelCreateEvent, as schema Label does: rename one of them"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ex, err := entreactivegen.NewExtension(entreactivegen.WithJSONSchema(filepath.Join(t.TempDir(), "reactive.schema.json")))
			if err != nil {
				t.Fatal(err)
			}
			if err := runHooks(ex, graphOf(t, tt.schemas...)); err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %s", err, tt.want)
			}
		})
	}
}

// compileSchema compiles a JSON Schema document, asserting formats.
func compileSchema(t *testing.T, doc []byte) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	if err := c.AddResource("reactive.schema.json", v); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("reactive.schema.json")
	if err != nil {
		t.Fatalf("the JSON Schema does not compile: %v", err)
	}
	return sch
}

// tsBlock returns the lines after start up to the closing brace.
func tsBlock(t *testing.T, ts, start string) string {
	t.Helper()
	i := strings.Index(ts, start+"\n")
	if i < 0 {
		t.Fatalf("module lacks %q", start)
	}
	block := ts[i+len(start)+1:]
	return block[:strings.Index(block, "\n}")]
}

// member matches a property line of an interface.
var member = regexp.MustCompile(`^  [^/ ].*;$`)

// tsMembers returns the property lines of a block, trimmed.
func tsMembers(block string) []string {
	var out []string
	for _, line := range strings.Split(block, "\n") {
		if member.MatchString(line) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// compact returns raw JSON without insignificant space.
func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.String()
}
