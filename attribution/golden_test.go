package attribution_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/cases")

// caseSpec is testdata/cases/NAME/case.json: the rule of docs/rules.md the case checks, and how to run it.
type caseSpec struct {
	Rule    string `json:"rule"`
	Program string `json:"program"`
	AsOf    string `json:"as_of"`
}

// Every folder of testdata/cases is an input folder of the offline contract, a case.json, and the
// lines it must give (want.ndjson, rewritten by go test -update after a reviewed change).
func TestGoldenCases(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/cases/*")
	if len(dirs) == 0 {
		t.Fatal("no cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var spec caseSpec
			data, err := os.ReadFile(filepath.Join(dir, "case.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &spec); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(spec.Rule, "§") {
				t.Fatalf("case.json must name the rule of docs/rules.md it checks, got %q", spec.Rule)
			}
			progData, _ := os.ReadFile(filepath.Join(dir, "programs.json")) // none: the presets alone
			progs, err := attribution.ParsePrograms("programs.json", progData)
			if err != nil {
				t.Fatal(err)
			}
			p := progs[spec.Program]
			asOf, err := time.Parse(time.RFC3339, spec.AsOf)
			if err != nil {
				t.Fatal(err)
			}
			in, err := attribution.ReadDir(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			lines, err := attribution.Compute(&p, in, asOf)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			for _, l := range lines {
				b, _ := json.Marshal(l)
				got.Write(b)
				got.WriteByte('\n')
			}
			wantFile := filepath.Join(dir, "want.ndjson")
			if *update {
				if err := os.WriteFile(wantFile, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test -update, then review the file)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s (%s): lines differ\n got:\n%s\nwant:\n%s", filepath.Base(dir), spec.Rule, got.String(), want)
			}
		})
	}
}
