// Command envsubst expands postBuild variables with the envsubst library that Flux's
// kustomize-controller uses, in its lenient mode (an undefined variable is empty) or
// its strict mode (an undefined variable is an error), so the Python engine's output
// can be compared with Go's.
//
// It reads a JSON array of cases from stdin:
//
//	[{"text": "...", "variables": {"name": "value"}, "strict": false}]
//
// and writes one result per case: {"output": "..."} or {"error": "..."}.
package main

import (
	"encoding/json"
	"os"

	"github.com/fluxcd/pkg/envsubst"
)

type testCase struct {
	Text      string            `json:"text"`
	Variables map[string]string `json:"variables"`
	Strict    bool              `json:"strict"`
}

type result struct {
	Output *string `json:"output,omitempty"`
	Error  *string `json:"error,omitempty"`
}

func expand(c testCase) result {
	lookup := func(name string) (string, bool) {
		value, defined := c.Variables[name]
		if c.Strict {
			return value, defined
		}
		return value, true
	}
	output, err := envsubst.Eval(c.Text, lookup)
	if err != nil {
		message := err.Error()
		return result{Error: &message}
	}
	return result{Output: &output}
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	results := make([]result, 0, len(cases))
	for _, c := range cases {
		results = append(results, expand(c))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
}
