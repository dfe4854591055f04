// Package apidoc serves the OpenAPI 3 document of the product's HTTP APIs (openapi.json), at
// /api/v1/openapi.json on the admin listener. A test of the binary compares its routes with the
// routes each package registers, both ways.
package apidoc

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

//go:embed openapi.json
var document []byte

// Path is where the document is served.
const Path = "/api/v1/openapi.json"

// Handler serves the document. It needs no token: it says what the APIs are, nothing of the data.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(document)
	})
}

// Routes returns the documented routes as "METHOD /path" (the path as http.ServeMux patterns
// write it), sorted.
func Routes() ([]string, error) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(document, &doc); err != nil {
		return nil, err
	}
	var out []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete", "head", "options":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
