// Command mutate measures the test suite with hand-written mutants: each
// mutant (a file of scripts/mutants/) is a plausible one- or two-line bug.
// On a copy of a tree it applies one mutant at a time, runs the tests of
// the mutant's package and reports whether they caught it (killed), missed
// it (survived), ran past the time limit (timeout), or whether the mutant
// no longer applies (stale: its "from" text is not in the file, or is
// there more than once) or no longer builds (broken). It prints one line
// per mutant, then killed/total per package, then the survivors. It exits
// 0 whatever it measured: it is a measurement, not a check.
//
// It is run by scripts/mutate.sh; see the usage there, and
// scripts/mutants/README for the format of a mutant.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// mutant is one hand-written bug.
type mutant struct {
	id       string   // the file name without .mutant
	pkg      string   // the package of the bug, relative to the tree: server, server/redisbroker, ...
	tests    []string // the packages whose tests run, in order (default: pkg)
	file     string   // the file to change, relative to the tree
	desc     string   // what the code does then
	generate string   // a command run (sh -c, in the tree) after applying, e.g. code generation
	from, to string
}

// Outcomes.
const (
	killed   = "killed"
	survived = "survived"
	timeout  = "timeout"
	stale    = "stale"
	broken   = "broken"
	skipped  = "skipped"
)

type result struct {
	m       *mutant
	outcome string
	dur     time.Duration
	detail  string // the failing tests, or why stale/broken/skipped
}

func main() {
	var (
		tree     = flag.String("tree", ".", "the tree to measure (copied; never changed)")
		dir      = flag.String("mutants", "", "the directory of mutants (default: scripts/mutants beside this program's module)")
		race     = flag.Bool("race", false, "run the tests with -race")
		limit    = flag.Duration("timeout", 6*time.Minute, "time limit of one package test run")
		only     = flag.String("only", "", "run only the mutants whose id matches this regular expression")
		testRun  = flag.String("test.run", "", "pass -run to go test (better: leave it empty and run the whole package)")
		baseline = flag.Bool("baseline", true, "first run each package's tests unmutated; a package whose tests fail then is skipped")
		keep     = flag.Bool("keep", false, "keep the scratch copy of the tree")
		list     = flag.Bool("list", false, "list the mutants and exit")
		check    = flag.Bool("check", false, "only report which mutants apply to the tree (stale or not) and build, and exit")
	)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: mutate [flags] [package...]\n\npackages are paths relative to the tree (server, server/redisbroker, entreactive, server/admin); default all\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	if *dir == "" {
		*dir = defaultMutantsDir()
	}
	mutants, err := load(*dir)
	if err != nil {
		fatal(err)
	}
	pkgs := flag.Args()
	for i, p := range pkgs {
		pkgs[i] = cleanPkg(p)
	}
	var re *regexp.Regexp
	if *only != "" {
		if re, err = regexp.Compile(*only); err != nil {
			fatal(err)
		}
	}
	mutants = slices.DeleteFunc(mutants, func(m *mutant) bool {
		return (len(pkgs) > 0 && !slices.Contains(pkgs, m.pkg)) || (re != nil && !re.MatchString(m.id))
	})
	if *list {
		for _, m := range mutants {
			fmt.Printf("%-45s %-20s %s\n", m.id, m.pkg+"/", m.desc)
		}
		return
	}
	if len(mutants) == 0 {
		fatal(errors.New("no mutant selected"))
	}

	src, err := filepath.Abs(*tree)
	if err != nil {
		fatal(err)
	}
	if *check {
		for _, m := range mutants {
			b, err := os.ReadFile(filepath.Join(src, m.file))
			n := 0
			if err == nil {
				_, n = apply(string(b), m.from, m.to)
			}
			state := "applies"
			switch {
			case n != 1:
				state = fmt.Sprintf("STALE (%d matches)", n)
			case m.generate != "":
				state = "applies (not built: it needs its generate step)"
			default:
				if err := buildWith(src, m); err != nil {
					state = "BROKEN: " + err.Error()
				}
			}
			fmt.Printf("%-45s %s\n", m.id, state)
		}
		return
	}
	scratch, err := os.MkdirTemp("", "entreactive-mutate-")
	if err != nil {
		fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(scratch)
	}
	work := filepath.Join(scratch, "tree")
	logs := filepath.Join(scratch, "logs")
	if *keep {
		fmt.Printf("scratch copy: %s\n", scratch)
	}
	if err := copyTree(src, work, filepath.Join(scratch, "git")); err != nil {
		fatal(err)
	}
	_ = os.MkdirAll(logs, 0o755)
	head := gitHead(src)
	fmt.Printf("tree %s (%s), %d mutants, race %v, timeout %s per package run, %s\n",
		src, head, len(mutants), *race, *limit, time.Now().Format(time.RFC3339))
	fmt.Printf("databases: postgres %s, mariadb %s\n", set("ENTREACTIVE_POSTGRES_DSN"), set("ENTREACTIVE_MARIADB_DSN"))

	r := &runner{work: work, git: filepath.Join(scratch, "git"), logs: logs, race: *race, limit: *limit, testRun: *testRun}
	start := time.Now()

	broken := map[string]string{} // package → why its baseline failed
	if *baseline {
		for _, p := range testedPackages(mutants) {
			t0 := time.Now()
			out, ok, _ := r.test(p, "", "baseline-"+strings.ReplaceAll(p, "/", "-"))
			if !ok {
				fmt.Printf("baseline %s/ failed (%s), retrying once: %s\n", p, time.Since(t0).Round(time.Second), failures(out))
				t0 = time.Now()
				out, ok, _ = r.test(p, "", "baseline2-"+strings.ReplaceAll(p, "/", "-"))
			}
			d := time.Since(t0)
			if ok {
				fmt.Printf("baseline %s/ passes (%s)\n", p, d.Round(time.Second))
			} else {
				broken[p] = "baseline fails: " + failures(out)
				fmt.Printf("baseline %s/ FAILS (%s): its mutants are skipped: %s\n", p, d.Round(time.Second), failures(out))
			}
		}
	}

	var results []result
	for _, m := range mutants {
		var res result
		res = result{m: m}
		for _, p := range m.tests {
			if why, ok := broken[p]; ok {
				res.outcome, res.detail = skipped, p+"/: "+why
			}
		}
		if res.outcome == "" {
			res = r.run(m)
		}
		results = append(results, res)
		line := fmt.Sprintf("%-8s %-45s %6s", res.outcome, m.id, res.dur.Round(time.Second))
		switch res.outcome {
		case survived:
			line += "  " + m.desc
			if res.detail != "" {
				line += " [" + strings.TrimSuffix(res.detail, "; ") + "]"
			}
		default:
			if res.detail != "" {
				line += "  " + res.detail
			}
		}
		fmt.Println(line)
	}
	summary(results, time.Since(start))
}

// buildWith builds m's package in tree with m applied, through an
// overlay: the tree is not changed.
func buildWith(tree string, m *mutant) error {
	b, err := os.ReadFile(filepath.Join(tree, m.file))
	if err != nil {
		return err
	}
	mutated, _ := apply(string(b), m.from, m.to)
	dir, err := os.MkdirTemp("", "mutate-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, filepath.Base(m.file))
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(file, []byte(mutated), 0o644); err != nil {
		return err
	}
	js := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(tree, m.file), file)
	if err := os.WriteFile(overlay, []byte(js), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-overlay", overlay, "./"+filepath.ToSlash(filepath.Dir(m.file)))
	cmd.Dir = tree
	if out, err := cmd.CombinedOutput(); err != nil {
		return errors.New(firstLine(buildError(string(out))))
	}
	return nil
}

// runner runs the tests of a package in the scratch tree.
type runner struct {
	work, git, logs string
	race            bool
	limit           time.Duration
	testRun         string
}

// run applies m, runs its package's tests and puts the tree back.
func (r *runner) run(m *mutant) (res result) {
	res.m = m
	path := filepath.Join(r.work, m.file)
	orig, err := os.ReadFile(path)
	if err != nil {
		res.outcome, res.detail = stale, "file not found: "+m.file
		return res
	}
	mutated, n := apply(string(orig), m.from, m.to)
	switch n {
	case 1:
	case 0:
		res.outcome, res.detail = stale, "\"from\" not found in "+m.file
		return res
	default:
		res.outcome, res.detail = stale, fmt.Sprintf("\"from\" found %d times in %s: make it unique", n, m.file)
		return res
	}
	defer r.restore()
	if err := os.WriteFile(path, []byte(mutated), 0o644); err != nil {
		fatal(err)
	}
	if m.generate != "" {
		cmd := exec.Command("sh", "-c", m.generate)
		cmd.Dir = r.work
		if out, err := cmd.CombinedOutput(); err != nil {
			res.outcome, res.detail = broken, "generate: "+firstLine(string(out))
			return res
		}
	}
	start := time.Now()
	defer func() { res.dur = time.Since(start) }()
	res.outcome = survived
	for i, pkg := range m.tests {
		name := m.id
		if len(m.tests) > 1 {
			name += fmt.Sprintf(".%d", i+1)
		}
		out, ok, timedOut := r.test(pkg, "", name)
		if ok {
			continue
		}
		switch {
		case buildFailed(out):
			res.outcome, res.detail = broken, "does not build: "+firstLine(buildError(out))
			return res
		case timedOut:
			res.outcome, res.detail = timeout, pkg+"/: "+failures(out)
			return res
		}
		// A failure counts once it happens again: the failing tests run
		// once more, alone; should they pass, the whole package runs again
		// (-failfast stopped it at the first failure) and decides.
		failed := failures(out)
		if names := topTests(out); len(names) > 0 {
			if _, ok, _ := r.test(pkg, "^("+strings.Join(names, "|")+")$", name+".again"); !ok {
				res.outcome, res.detail = killed, pkg+"/: "+failed
				return res
			}
			out, ok, timedOut = r.test(pkg, "", name+".whole")
			switch {
			case ok:
				res.detail += fmt.Sprintf("%s/: %s failed once and passed again; ", pkg, strings.Join(names, " "))
				continue
			case timedOut:
				res.outcome, res.detail = timeout, pkg+"/: "+failures(out)
				return res
			}
			failed = failures(out) + " (on a second run; the first: " + failed + ")"
		}
		res.outcome, res.detail = killed, pkg+"/: "+failed
		return res
	}
	return res
}

// topTests returns the top-level tests that failed in a go test output.
func topTests(out string) []string {
	var names []string
	for _, m := range failRe.FindAllStringSubmatch(out, -1) {
		top, _, _ := strings.Cut(m[1], "/")
		if !slices.Contains(names, top) {
			names = append(names, top)
		}
	}
	return names
}

// apply replaces the lines from of src by the lines to and reports how
// many times from is in src (the change is made when it is there once).
// Lines are compared without their leading and trailing blanks, so that a
// mutant does not depend on the file's indentation; the lines of to get the
// indentation of the first line replaced, on top of their own relative
// indentation.
func apply(src, from, to string) (string, int) {
	lines := strings.Split(src, "\n")
	want := strings.Split(from, "\n")
	for i := range want {
		want[i] = strings.TrimSpace(want[i])
	}
	var at []int
	for i := 0; i+len(want) <= len(lines); i++ {
		match := true
		for k, w := range want {
			if strings.TrimSpace(lines[i+k]) != w {
				match = false
				break
			}
		}
		if match {
			at = append(at, i)
		}
	}
	if len(at) != 1 {
		return src, len(at)
	}
	i := at[0]
	indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
	var repl []string
	if to != "" {
		tl := strings.Split(to, "\n")
		common := -1
		for _, l := range tl {
			if strings.TrimSpace(l) == "" {
				continue
			}
			n := len(l) - len(strings.TrimLeft(l, " \t"))
			if common < 0 || n < common {
				common = n
			}
		}
		for _, l := range tl {
			if strings.TrimSpace(l) == "" {
				repl = append(repl, "")
				continue
			}
			repl = append(repl, indent+strings.TrimRight(l[common:], " \t"))
		}
	}
	out := append(slices.Clone(lines[:i]), repl...)
	out = append(out, lines[i+len(want):]...)
	return strings.Join(out, "\n"), 1
}

// test runs the tests of pkg; the output goes to logs/name.log.
func (r *runner) test(pkg, run, name string) (out string, ok, timedOut bool) {
	args := []string{"test", "-count=1", "-failfast", "-timeout", r.limit.String()}
	if r.race {
		args = append(args, "-race")
	}
	if run == "" {
		run = r.testRun
	}
	if run != "" {
		args = append(args, "-run", run)
	}
	args = append(args, "./"+pkg)
	// go test's own -timeout ends a hung test binary with a stack dump;
	// this one ends the whole run (the build included) a little later.
	ctx, cancel := context.WithTimeout(context.Background(), r.limit+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = r.work
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	out = buf.String()
	_ = os.WriteFile(filepath.Join(r.logs, name+".log"), buf.Bytes(), 0o644)
	timedOut = ctx.Err() != nil || strings.Contains(out, "panic: test timed out")
	return out, err == nil, timedOut
}

// restore puts the scratch tree back as copied (a generate step may have
// changed other files too).
func (r *runner) restore() {
	for _, args := range [][]string{{"checkout", "--", "."}, {"clean", "-fdq"}} {
		cmd := exec.Command("git", append([]string{"--git-dir", r.git, "--work-tree", r.work}, args...)...)
		cmd.Dir = r.work
		if out, err := cmd.CombinedOutput(); err != nil {
			fatal(fmt.Errorf("restore the scratch tree: git %s: %v: %s", args[0], err, out))
		}
	}
}

var failRe = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

// failures names the failing tests of a go test output.
func failures(out string) string {
	var names []string
	for _, m := range failRe.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	if strings.Contains(out, "panic: test timed out") {
		names = append(names, "(test timed out)")
	} else if strings.Contains(out, "panic:") || strings.Contains(out, "fatal error:") {
		names = append(names, "(panic)")
	} else if strings.Contains(out, "WARNING: DATA RACE") {
		names = append(names, "(data race)")
	}
	if len(names) == 0 {
		return firstLine(lastLines(out, 3))
	}
	if len(names) > 4 {
		names = append(names[:4], fmt.Sprintf("+%d more", len(names)-4))
	}
	return strings.Join(names, " ")
}

func buildFailed(out string) bool {
	return strings.Contains(out, "[build failed]") || strings.Contains(out, "[setup failed]")
}

func buildError(out string) string {
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, ".go:") {
			return strings.TrimSpace(line)
		}
	}
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// summary prints killed/total per package and the survivors.
func summary(results []result, took time.Duration) {
	fmt.Printf("\n== summary (%s)\n", took.Round(time.Second))
	fmt.Println("killed: the tests failed; timeout: they ran past the limit (counted as caught: CI would fail too);")
	fmt.Println("stale, broken and skipped mutants are not counted")
	byPkg := map[string][]result{}
	var pkgs []string
	for _, r := range results {
		if _, ok := byPkg[r.m.pkg]; !ok {
			pkgs = append(pkgs, r.m.pkg)
		}
		byPkg[r.m.pkg] = append(byPkg[r.m.pkg], r)
	}
	sort.Strings(pkgs)
	var allCaught, allTotal int
	for _, p := range pkgs {
		counts := map[string]int{}
		for _, r := range byPkg[p] {
			counts[r.outcome]++
		}
		caught := counts[killed] + counts[timeout]
		total := caught + counts[survived]
		allCaught += caught
		allTotal += total
		line := fmt.Sprintf("%s/: %d/%d killed (%s)", p, caught, total, percent(caught, total))
		var extra []string
		for _, o := range []string{timeout, stale, broken, skipped} {
			if counts[o] > 0 {
				extra = append(extra, fmt.Sprintf("%d %s", counts[o], o))
			}
		}
		if len(extra) > 0 {
			line += "; " + strings.Join(extra, ", ")
		}
		fmt.Println(line)
	}
	fmt.Printf("all: %d/%d killed (%s)\n", allCaught, allTotal, percent(allCaught, allTotal))
	var surv, other []result
	for _, r := range results {
		switch r.outcome {
		case survived:
			surv = append(surv, r)
		case stale, broken, skipped:
			other = append(other, r)
		}
	}
	if len(surv) > 0 {
		fmt.Printf("\nsurvivors (%d):\n", len(surv))
		for _, r := range surv {
			fmt.Printf("  %-45s %s\n", r.m.id, r.m.desc)
		}
	}
	if len(other) > 0 {
		fmt.Printf("\nnot counted (%d):\n", len(other))
		for _, r := range other {
			fmt.Printf("  %-8s %-45s %s\n", r.outcome, r.m.id, r.detail)
		}
	}
}

func percent(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f %%", 100*float64(a)/float64(b))
}

func testedPackages(ms []*mutant) []string {
	var out []string
	for _, m := range ms {
		for _, p := range m.tests {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func cleanPkg(p string) string {
	return strings.Trim(strings.TrimPrefix(filepath.ToSlash(filepath.Clean(p)), "./"), "/")
}

func set(env string) string {
	if os.Getenv(env) != "" {
		return "on"
	}
	return "off (" + env + " not set)"
}

// copyTree copies src (without its .git) to dst and records the copy in a
// git repository at gitDir, for restore.
func copyTree(src, dst, gitDir string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	tar := fmt.Sprintf("tar -C %q --exclude=./.git -cf - . | tar -C %q -xf -", src, dst)
	if out, err := exec.Command("sh", "-c", tar).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s: %v: %s", src, err, out)
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=mutate", "-c", "user.email=mutate@localhost", "commit", "-qm", "copy", "--no-verify"},
	} {
		cmd := exec.Command("git", append([]string{"--git-dir", gitDir, "--work-tree", dst}, args...)...)
		cmd.Dir = dst
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s in the copy: %v: %s", args[0], err, out)
		}
	}
	return nil
}

func gitHead(dir string) string {
	out, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%h %s").Output()
	if err != nil {
		return "not a git tree"
	}
	s := strings.TrimSpace(string(out))
	if len(s) > 70 {
		s = s[:70] + "…"
	}
	if st, _ := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
		s += ", with uncommitted changes"
	}
	return s
}

func defaultMutantsDir() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if mod := strings.TrimSpace(string(out)); mod != "" && mod != os.DevNull {
			return filepath.Join(filepath.Dir(mod), "scripts", "mutants")
		}
	}
	return filepath.Join("scripts", "mutants")
}

// load reads every *.mutant file of dir.
func load(dir string) ([]*mutant, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.mutant"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.mutant file in %s", dir)
	}
	sort.Strings(files)
	var out []*mutant
	for _, f := range files {
		m, err := parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// parse reads one mutant:
//
//	# comments
//	package: server
//	tests: server server/redisbroker (optional; default: package)
//	file: server/writer.go
//	desc: what the code does then
//	generate: a command (optional)
//	--- from
//	exact lines of the file
//	--- to
//	the lines that replace them (none: they are deleted)
//
// The from and to texts are whole lines, compared without their leading
// and trailing blanks (see apply); blank lines around them are ignored.
func parse(path string) (*mutant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &mutant{id: strings.TrimSuffix(filepath.Base(path), ".mutant")}
	var from, to []string
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "--- from":
			section = "from"
			continue
		case line == "--- to":
			section = "to"
			continue
		case section == "from":
			from = append(from, line)
			continue
		case section == "to":
			to = append(to, line)
			continue
		case strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key: value, --- from or --- to", path, n)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "package":
			m.pkg = cleanPkg(v)
		case "file":
			m.file = filepath.ToSlash(filepath.Clean(v))
		case "tests":
			for _, p := range strings.Fields(v) {
				m.tests = append(m.tests, cleanPkg(p))
			}
		case "desc":
			m.desc = v
		case "generate":
			m.generate = v
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q", path, n, k)
		}
	}
	m.from, m.to = strings.Join(trimBlank(from), "\n"), strings.Join(trimBlank(to), "\n")
	if len(m.tests) == 0 && m.pkg != "" {
		m.tests = []string{m.pkg}
	}
	switch {
	case m.pkg == "" || m.file == "" || m.desc == "":
		return nil, fmt.Errorf("%s: package, file and desc are required", path)
	case strings.TrimSpace(m.from) == "":
		return nil, fmt.Errorf("%s: empty \"from\"", path)
	case m.from == m.to:
		return nil, fmt.Errorf("%s: \"from\" and \"to\" are the same", path)
	}
	return m, nil
}

// trimBlank drops the blank lines that begin and end lines.
func trimBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mutate:", err)
	os.Exit(2)
}
