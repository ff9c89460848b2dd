// Command kustomizer is lockstep's resident Kustomize build service: it builds
// kustomization folders with Kustomize's library the way Flux's kustomize-controller
// does, for as long as its standard input stays open, so a build costs a couple of
// milliseconds instead of starting a process.
//
// Each request is one line of JSON,
//
//	{"root": "/artifact", "dir": "/artifact/path", "schema": false}
//
// and each answer one line of JSON, {"output": "<the objects as YAML>"} or
// {"error": "<the error>"}, in the order of the requests. A build runs as Flux's
// (github.com/fluxcd/pkg/kustomize Build, at the versions kustomize-controller v1.9.6
// pins): Kustomize's options without load restrictions but on Flux's file system
// confined to the artifact root (any file under it may be read, nothing outside, links
// followed only inside it), plugins other than the built-in ones disabled, no final
// reordering of the objects (Reorder left unset, as Flux leaves it: they come out in
// the order the kustomization lists them), a panic answered as an error. Flux resets Kustomize's global OpenAPI schema around every
// build, which parses the built-in schema again each time (tens of milliseconds); here
// the schema is reset only around the builds that change it ("schema": their
// kustomizations name openapi or crds), and every other build starts from the same
// built-in schema Flux's reset gives. Builds run one at a time; lockstep runs several
// processes.
//
// lockstep bounds each process (lockstep/render/process.py): its memory with
// RLIMIT_DATA, past which Go's runtime stops the process ("out of memory"), and the
// CPU time of each build with RLIMIT_CPU, whose SIGXCPU Go would ignore: the process
// exits with status 152 (128 + SIGXCPU, as a shell reports it) instead.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	securefs "github.com/fluxcd/pkg/kustomize/filesys"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/openapi"
)

const cpuLimitExit = 152

type request struct {
	Root   string `json:"root"`
	Dir    string `json:"dir"`
	Schema bool   `json:"schema"`
}

type answer struct {
	Output *string `json:"output,omitempty"`
	Error  *string `json:"error,omitempty"`
}

func failed(err error) answer {
	message := err.Error()
	return answer{Error: &message}
}

func builtInSchema() {
	openapi.ResetOpenAPI()
	_ = openapi.Schema()
}

func build(r request) (result answer) {
	if r.Schema {
		builtInSchema()
		defer builtInSchema()
	}
	defer func() {
		if recovered := recover(); recovered != nil {
			result = failed(fmt.Errorf("recovered from kustomize build panic: %v", recovered))
		}
	}()
	fs, err := securefs.MakeFsOnDiskSecure(r.Root)
	if err != nil {
		return failed(err)
	}
	options := &krusty.Options{
		LoadRestrictions: types.LoadRestrictionsNone,
		PluginConfig:     types.DisabledPluginConfig(),
	}
	objects, err := krusty.MakeKustomizer(options).Run(fs, r.Dir)
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

// exitOnCPULimit ends the process when the kernel signals that the build's CPU time
// is up.
func exitOnCPULimit() {
	limit := make(chan os.Signal, 1)
	signal.Notify(limit, syscall.SIGXCPU)
	go func() {
		<-limit
		fmt.Fprintln(os.Stderr, "fatal error: the build exceeded its CPU time limit")
		os.Exit(cpuLimitExit)
	}()
}

func main() {
	exitOnCPULimit()
	builtInSchema()
	requests := bufio.NewScanner(os.Stdin)
	requests.Buffer(make([]byte, 64*1024), 1<<20)
	answers := json.NewEncoder(os.Stdout)
	for requests.Scan() {
		var r request
		result := answer{}
		if err := json.Unmarshal(requests.Bytes(), &r); err != nil {
			result = failed(fmt.Errorf("invalid request: %w", err))
		} else {
			result = build(r)
		}
		if err := answers.Encode(result); err != nil {
			os.Exit(1)
		}
	}
}
