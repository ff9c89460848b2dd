// Command resmapyaml prints objects the way Flux's kustomize-controller serialises a
// build before it takes the digest it records in status.history: each object is read
// into a Kustomize resource from its JSON (as postBuild substitution reads it back) and
// the resource map is printed with ResMap.AsYaml, so the Python emitter can be compared
// with Go's.
//
// It reads a JSON array of cases from stdin, each case a JSON array of objects:
//
//	[[{"apiVersion": "v1", "kind": "ConfigMap", ...}], ...]
//
// and writes one result per case: {"output": "..."} or {"error": "..."}.
package main

import (
	"encoding/json"
	"os"

	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
)

type result struct {
	Output *string `json:"output,omitempty"`
	Error  *string `json:"error,omitempty"`
}

func failed(err error) result {
	message := err.Error()
	return result{Error: &message}
}

func asYaml(objects []json.RawMessage) result {
	resources := provider.NewDefaultDepProvider().GetResourceFactory()
	m := resmap.New()
	for _, raw := range objects {
		res, err := resources.FromBytes(raw)
		if err != nil {
			return failed(err)
		}
		if err := res.UnmarshalJSON(raw); err != nil {
			return failed(err)
		}
		if err := m.Append(res); err != nil {
			return failed(err)
		}
	}
	output, err := m.AsYaml()
	if err != nil {
		return failed(err)
	}
	text := string(output)
	return result{Output: &text}
}

func main() {
	var cases [][]json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	results := make([]result, 0, len(cases))
	for _, c := range cases {
		results = append(results, asYaml(c))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
}
