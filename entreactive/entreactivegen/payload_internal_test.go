package entreactivegen

import "testing"

func TestJSONNameFollowsEncodingJSON(t *testing.T) {
	for _, tt := range []struct{ tag, want string }{
		{`json:"done,omitempty"`, "done"},
		{`json:"nickname,omitempty" yaml:"nick"`, "nickname"},
		{`json:",omitempty"`, "GoName"},
		{`yaml:"y"`, "GoName"},
		{`json:"-"`, ""},
		{`json:"-,"`, "-"},
	} {
		if got := jsonName(tt.tag, "GoName"); got != tt.want {
			t.Errorf("jsonName(%s) = %q, want %q", tt.tag, got, tt.want)
		}
	}
}
