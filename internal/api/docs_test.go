package api

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The user documentation lives at the repository root; these tests read it
// from this package's directory.
const (
	docsRepoRoot     = "../.."
	docsAPIPage      = docsRepoRoot + "/docs/API.md"
	docsConceptsPage = docsRepoRoot + "/docs/CONCEPTS.md"
)

var (
	// docsRouteHeading is a route's section in docs/API.md: "### POST /v1/clusters".
	docsRouteHeading = regexp.MustCompile(`^#{2,4}\s+([A-Z]+)\s+(/\S*)\s*$`)
	// docsRouteRow is a row of the route summary: "| `POST /v1/clusters` | …".
	docsRouteRow = regexp.MustCompile(`^\|\s*` + "`" + `([A-Z]+) (/[^` + "`" + `\s]*)` + "`" + `\s*\|`)
	// docsStatusLine lists the status codes of the route section it is in.
	docsStatusLine = regexp.MustCompile(`^Status:\s*(.*)$`)
	docsStatusCode = regexp.MustCompile("`" + `(\d{3})` + "`")
	docsHeading    = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*$`)
	// docsCitation is a citation such as docs/CONCEPTS.md#tracking-host-order.
	docsCitation = regexp.MustCompile(`docs/(CONCEPTS|API)\.md#([A-Za-z0-9_-]+)`)
	// docsLocalLink is a link inside one page: ](#monitoring).
	docsLocalLink = regexp.MustCompile(`\]\(#([A-Za-z0-9_-]+)\)`)
)

// docsOpenAPIRoutes reads openapi.json: "METHOD /path" -> its response codes.
func docsOpenAPIRoutes(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	out := map[string][]string{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if method == "parameters" {
				continue
			}
			var o struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil {
				t.Fatalf("openapi.json %s %s: %v", method, path, err)
			}
			var codes []string
			for c := range o.Responses {
				codes = append(codes, c)
			}
			slices.Sort(codes)
			out[strings.ToUpper(method)+" "+path] = codes
		}
	}
	return out
}

// docsAPIRoutes reads docs/API.md: the route headings with the status codes
// of their sections, and the rows of the route summary.
func docsAPIRoutes(t *testing.T, text string) (headings map[string][]string, rows map[string]bool) {
	t.Helper()
	headings, rows = map[string][]string{}, map[string]bool{}
	current := ""
	for i, line := range strings.Split(text, "\n") {
		if m := docsRouteHeading.FindStringSubmatch(line); m != nil {
			current = m[1] + " " + m[2]
			if _, dup := headings[current]; dup {
				t.Errorf("docs/API.md:%d: route %s has two sections", i+1, current)
			}
			headings[current] = nil
			continue
		}
		if docsHeading.MatchString(line) {
			current = ""
			continue
		}
		if m := docsRouteRow.FindStringSubmatch(line); m != nil {
			key := m[1] + " " + m[2]
			if rows[key] {
				t.Errorf("docs/API.md:%d: route %s is twice in the summary", i+1, key)
			}
			rows[key] = true
		}
		if m := docsStatusLine.FindStringSubmatch(line); m != nil && current != "" {
			for _, c := range docsStatusCode.FindAllStringSubmatch(m[1], -1) {
				headings[current] = append(headings[current], c[1])
			}
			slices.Sort(headings[current])
		}
	}
	return headings, rows
}

func docsDiff(want map[string][]string, have map[string]bool) (missing, extra []string) {
	for k := range want {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return missing, extra
}

// TestDocsRoutes keeps docs/API.md in step with the OpenAPI document (which
// TestOpenAPIMatchesRoutes keeps in step with the route table): the same
// routes as section headings and as summary rows, and the same status codes.
func TestDocsRoutes(t *testing.T) {
	raw, err := os.ReadFile(docsAPIPage)
	if err != nil {
		t.Fatal(err)
	}
	spec := docsOpenAPIRoutes(t)
	if len(spec) == 0 {
		t.Fatal("openapi.json has no routes")
	}
	headings, rows := docsAPIRoutes(t, string(raw))
	headed := map[string]bool{}
	for k := range headings {
		headed[k] = true
	}
	for what, have := range map[string]map[string]bool{"section heading": headed, "summary row": rows} {
		missing, extra := docsDiff(spec, have)
		for _, r := range missing {
			t.Errorf("docs/API.md has no %s for %s, which openapi.json documents", what, r)
		}
		for _, r := range extra {
			t.Errorf("docs/API.md has a %s for %s, which openapi.json does not document", what, r)
		}
	}
	for route, codes := range headings {
		want, ok := spec[route]
		if !ok {
			continue
		}
		if !slices.Equal(codes, want) {
			t.Errorf("docs/API.md %s lists status %v; openapi.json has %v", route, codes, want)
		}
	}
}

// docsSlug is the anchor a Markdown heading gets (GitHub's rule): lower case,
// punctuation other than hyphens and underscores dropped, spaces to hyphens.
func docsSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// docsAnchors lists the heading anchors of a Markdown page, with GitHub's -1,
// -2 … suffixes for repeated headings.
func docsAnchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		m := docsHeading.FindStringSubmatch(line)
		if fence || m == nil {
			continue
		}
		s := docsSlug(m[1])
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// TestDocsAnchors checks that every citation of a section of docs/API.md or
// docs/CONCEPTS.md, in the code and in the documentation, and every link
// inside those two pages, names a heading that exists.
func TestDocsAnchors(t *testing.T) {
	pages := map[string]map[string]bool{}
	for name, path := range map[string]string{"API": docsAPIPage, "CONCEPTS": docsConceptsPage} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		pages[name] = docsAnchors(string(raw))
		for _, m := range docsLocalLink.FindAllStringSubmatch(string(raw), -1) {
			if !pages[name][m[1]] {
				t.Errorf("docs/%s.md links to #%s, which is not a heading of it", name, m[1])
			}
		}
	}
	cited := 0
	err := filepath.WalkDir(docsRepoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "testdata", "waymark-data", "test-artifacts", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(path); ext != ".go" && ext != ".md" {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range docsCitation.FindAllStringSubmatch(string(raw), -1) {
			cited++
			if !pages[m[1]][m[2]] {
				rel, _ := filepath.Rel(docsRepoRoot, path)
				t.Errorf("%s cites docs/%s.md#%s, which is not a heading there", rel, m[1], m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cited == 0 {
		t.Error("no citations of docs/API.md or docs/CONCEPTS.md found: is the walk reading the repository?")
	}
}
