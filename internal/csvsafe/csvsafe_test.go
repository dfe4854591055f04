package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestCellNeutralisesFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"http://evil\")": "'=HYPERLINK(\"http://evil\")",
		"+1+cmd|' /C calc'!A0":        "'+1+cmd|' /C calc'!A0",
		"-2+3":                        "'-2+3",
		"@SUM(A1:A2)":                 "'@SUM(A1:A2)",
		"\t=1":                        "'\t=1",
		"\r=1":                        "'\r=1",
		"-13.50":                      "-13.50",
		"+7":                          "+7",
		"-0.5%":                       "-0.5%",
		"-":                           "'-",
		"-.5":                         "'-.5",
		"12.":                         "12.",
		"partner-a":                   "partner-a",
		"":                            "",
		"https://news.example/?a=b":   "https://news.example/?a=b",
	} {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriterWritesNeutralisedRecords(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Write([]string{"referer_host", "clicks"})
	w.Write([]string{"=cmd|'/c calc'!A1", "-3"})
	w.Flush()
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if recs[1][0] != "'=cmd|'/c calc'!A1" || recs[1][1] != "-3" {
		t.Fatalf("records %q", recs)
	}
}
