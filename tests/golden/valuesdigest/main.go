// Command valuesdigest digests Helm values with Flux's own function, so that lockstep's
// config digest can be compared with the one Flux's helm-controller records in
// status.lastAttemptedConfigDigest and status.history[].configDigest.
//
// Each value is read as the helm-controller reads spec.values (Go's JSON decoder into
// a map, numbers as float64), then digested by DigestValues of fluxcd/pkg/chartutil and
// written by its Encode with SortMapSlice, as DigestValues writes it.
//
// It reads a JSON array of values objects from stdin and writes one result per value:
// {"digest": "sha256:...", "text": "..."} or {"error": "..."}.
package main

import (
	"bytes"
	"encoding/json"
	"os"

	"github.com/fluxcd/pkg/chartutil"
	"github.com/opencontainers/go-digest"
)

type result struct {
	Digest string `json:"digest,omitempty"`
	Text   string `json:"text"`
	Error  string `json:"error,omitempty"`
}

func digested(raw json.RawMessage) result {
	values := map[string]interface{}{}
	if err := json.Unmarshal(raw, &values); err != nil {
		return result{Error: err.Error()}
	}
	var text bytes.Buffer
	if len(values) > 0 {
		if err := chartutil.Encode(&text, values, chartutil.SortMapSlice); err != nil {
			return result{Error: err.Error()}
		}
	}
	return result{Digest: chartutil.DigestValues(digest.Canonical, values).String(), Text: text.String()}
}

func main() {
	var cases []json.RawMessage
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	results := make([]result, 0, len(cases))
	for _, c := range cases {
		results = append(results, digested(c))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
}
