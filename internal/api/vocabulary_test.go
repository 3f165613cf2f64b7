package api

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/waymark-mail/waymark/internal/event"
)

// TestOpenAPIVocabulary: the OpenAPI document's enums of event types,
// classes and webhook event names are the vocabulary of package event,
// so a new type or notice cannot be left out of the contract.
func TestOpenAPIVocabulary(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	type operation struct {
		Parameters []struct {
			Name   string
			Schema struct{ Enum []string }
		}
		RequestBody struct {
			Content map[string]struct {
				Schema struct {
					Properties map[string]struct {
						Items struct{ Enum []string }
					}
				}
			}
		}
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct{ Enum []string }
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	same := func(what string, got []string, want []string) {
		t.Helper()
		g, w := slices.Clone(got), slices.Clone(want)
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("%s: openapi.json has %v, package event %v", what, got, want)
		}
	}
	var types, classes []string
	for _, ty := range event.Types {
		types = append(types, string(ty))
	}
	for _, c := range event.Classes {
		classes = append(classes, string(c))
	}
	op := func(path, method string) operation {
		var o operation
		if err := json.Unmarshal(doc.Paths[path][method], &o); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return o
	}
	for _, p := range op("/v1/events", "get").Parameters {
		if p.Name == "type" {
			same("GET /v1/events type", p.Schema.Enum, types)
		}
	}
	same("Event.class", doc.Components.Schemas["Event"].Properties["class"].Enum, append(classes, ""))
	hooks := op("/v1/webhooks", "post").RequestBody.Content["application/json"].Schema.Properties["events"].Items.Enum
	same("POST /v1/webhooks events", hooks, append(event.Names(), "*"))
}
