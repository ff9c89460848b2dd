// Command kustomizer is lockstep's resident Kustomize build service: it builds
// kustomization folders with Kustomize's own library for as long as its standard
// input stays open, so a build costs a couple of milliseconds instead of starting a
// kubectl process.
//
// Each request is one line of JSON, {"dir": "/absolute/folder"}; each answer is one
// line of JSON, {"output": "<the objects as YAML>"} or {"error": "<Kustomize's
// error>"}, in the order of the requests. Builds run one at a time: Kustomize's
// library is not safe for concurrent builds; lockstep runs several processes. Loads
// are restricted to each kustomization's folder, plugins other than Kustomize's
// built-in ones are disabled, and a panic inside Kustomize answers as an error.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

type request struct {
	Dir string `json:"dir"`
}

type answer struct {
	Output *string `json:"output,omitempty"`
	Error  *string `json:"error,omitempty"`
}

func failed(err error) answer {
	message := err.Error()
	return answer{Error: &message}
}

func build(dir string) (result answer) {
	defer func() {
		if recovered := recover(); recovered != nil {
			result = failed(fmt.Errorf("kustomize panicked: %v", recovered))
		}
	}()
	options := krusty.MakeDefaultOptions()
	options.LoadRestrictions = types.LoadRestrictionsRootOnly
	options.PluginConfig = types.DisabledPluginConfig()
	objects, err := krusty.MakeKustomizer(options).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return failed(err)
	}
	output, err := objects.AsYaml()
	if err != nil {
		return failed(err)
	}
	text := string(output)
	return answer{Output: &text}
}

func main() {
	requests := bufio.NewScanner(os.Stdin)
	requests.Buffer(make([]byte, 64*1024), 1<<20)
	answers := json.NewEncoder(os.Stdout)
	for requests.Scan() {
		var r request
		result := answer{}
		if err := json.Unmarshal(requests.Bytes(), &r); err != nil {
			result = failed(fmt.Errorf("invalid request: %w", err))
		} else {
			result = build(r.Dir)
		}
		if err := answers.Encode(result); err != nil {
			os.Exit(1)
		}
	}
}
