package doccheck

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// root is the repository's root, from this package's directory.
const root = "../.."

// pages are the documentation files whose links are checked, relative to
// root; docs/*.md is added by the test.
var pages = []string{"README.md", "CONTRIBUTING.md", "example/README.md"}

var (
	link       = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	codeSpan   = regexp.MustCompile("`[^`]*`")
	heading    = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// TestRelativeLinksResolve checks every relative link of the documentation:
// its file exists, and its anchor, if any, is a heading of that file.
func TestRelativeLinksResolve(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no docs/*.md")
	}
	files := append([]string(nil), pages...)
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	checked := 0
	for _, page := range files {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(page)))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links(string(src)) {
			checked++
			if err := resolve(page, l.target); err != nil {
				t.Errorf("%s:%d: link %s: %v", page, l.line, l.target, err)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found: the check checks nothing")
	}
}

type pageLink struct {
	line   int
	target string
}

// links returns the relative links of a Markdown page, outside code
// blocks and code spans.
func links(src string) []pageLink {
	var out []pageLink
	fence := ""
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		for _, m := range link.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			out = append(out, pageLink{i + 1, target})
		}
	}
	return out
}

// resolve checks one relative link of page.
func resolve(page, target string) error {
	file, anchor, _ := strings.Cut(target, "#")
	dest := page
	if file != "" {
		dest = path.Join(path.Dir(page), file)
		if dest == ".." || strings.HasPrefix(dest, "../") {
			return fmt.Errorf("points outside the repository")
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
			return fmt.Errorf("no file %s", dest)
		}
	}
	if anchor == "" {
		return nil
	}
	if !strings.HasSuffix(dest, ".md") {
		return fmt.Errorf("an anchor into %s, which is not Markdown", dest)
	}
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dest)))
	if err != nil {
		return err
	}
	if !anchors(string(src))[anchor] {
		return fmt.Errorf("%s has no heading whose anchor is #%s", dest, anchor)
	}
	return nil
}

// anchors returns the anchors GitHub gives the headings of a Markdown page
// (outside code blocks), and its explicit <a name> and <a id> anchors.
func anchors(src string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fence := ""
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// slug is GitHub's anchor of a heading's text: Markdown links keep their
// text, the text is lowercased, characters other than letters, digits,
// spaces, hyphens and underscores are dropped, and spaces become hyphens.
func slug(text string) string {
	text = inlineLink.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlug(t *testing.T) {
	for text, want := range map[string]string{
		"Serve the events over Socket.IO":                     "serve-the-events-over-socketio",
		"Cluster: fan-out over 1, 2 and 3 nodes on one Redis": "cluster-fan-out-over-1-2-and-3-nodes-on-one-redis",
		"Durable path":                       "durable-path",
		"Targeted: `targeted` — 200 users":   "targeted-targeted--200-users",
		"The `reactive` event":               "the-reactive-event",
		"Soft delete and privacy":            "soft-delete-and-privacy",
		"entreactive / Node, per case (x)":   "entreactive--node-per-case-x",
		"See [the docs](docs/rules.md) here": "see-the-docs-here",
	} {
		if got := slug(text); got != want {
			t.Errorf("slug(%q) = %q, want %q", text, got, want)
		}
	}
	a := anchors("# A\n\n## A\n\n```\n# not a heading\n```\n### B\n")
	for _, want := range []string{"a", "a-1", "b"} {
		if !a[want] {
			t.Errorf("anchors: no %q in %v", want, a)
		}
	}
	if a["not-a-heading"] {
		t.Error("anchors: a comment in a code block counted as a heading")
	}
}
