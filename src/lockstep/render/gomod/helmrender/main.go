// Command helmrender is lockstep's resident Helm rendering service: it renders,
// packages and inspects charts with Helm's own SDK (helm.sh/helm/v4, at the version
// the helm command of lockstep's tests pins), for as long as its standard input stays
// open, so a render costs milliseconds instead of starting a process.
//
// Each request is one line of JSON with an "op", and each answer one line of JSON,
// in the order of the requests; a refused request is answered {"error": "<Helm's
// message>"}, a panic too. The operations (render.go, chart.go):
//
//	{"op": "render", "chart": PATH, "values": {...}, "release": {...},
//	 "kubeVersion": "v1.37.0", "apiVersions": [...], "kubeconfig": "YAML",
//	 "set": ["a.b=1"], "setString": ["c=007"]}
//	{"op": "package", "chart": PATH, "values": "YAML", "dependencies": [PATH],
//	 "version": "1.0.0+abc", "out": DIR}
//	{"op": "inspect", "chart": PATH}
//	{"op": "sort", "files": {"chart/templates/x.yaml": "YAML", ...}}
//
// Requests run one at a time; lockstep runs several processes.
//
// lockstep bounds each process (lockstep/render/process.py): its memory with
// RLIMIT_DATA, past which Go's runtime stops the process ("out of memory"), and the
// CPU time of each request with RLIMIT_CPU, whose SIGXCPU Go would ignore: the process
// exits with status 152 (128 + SIGXCPU, as a shell reports it) instead.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const (
	cpuLimitExit = 152
	// maxRequestBytes bounds one request line, far beyond the values of any release
	// (Helm stores a release in one Secret of at most 1 MiB); past it the service ends.
	maxRequestBytes = 64 << 20
)

type request struct {
	Op           string            `json:"op"`
	Chart        string            `json:"chart"`
	Values       json.RawMessage   `json:"values"`
	Release      releaseRequest    `json:"release"`
	KubeVersion  string            `json:"kubeVersion"`
	SkipSchema   bool              `json:"skipSchemaValidation"`
	Reuse        *reusedRelease    `json:"reuse"`
	APIVersions  []string          `json:"apiVersions"`
	Set          []string          `json:"set"`
	SetString    []string          `json:"setString"`
	Kubeconfig   string            `json:"kubeconfig"`
	Dependencies []string          `json:"dependencies"`
	Out          string            `json:"out"`
	Version      string            `json:"version"`
	Files        map[string]string `json:"files"`
}

// reusedRelease is the deployed revision whose values an upgrade keeps (helm upgrade
// --reuse-values): its chart as the release stores it, and its user values.
type reusedRelease struct {
	Chart  json.RawMessage `json:"chart"`
	Config map[string]any  `json:"config"`
}

type releaseRequest struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	IsInstall bool   `json:"isInstall"`
	IsUpgrade bool   `json:"isUpgrade"`
}

type failure struct {
	Error string `json:"error"`
	// The chart the refusal is about, when it loaded.
	ChartName    string `json:"chartName,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
}

func answer(r request) (result any) {
	defer func() {
		if recovered := recover(); recovered != nil {
			result = failure{Error: fmt.Sprintf("recovered from a Helm panic: %v", recovered)}
		}
	}()
	var (
		done any
		err  error
	)
	switch r.Op {
	case "render":
		done, err = render(r)
	case "package":
		done, err = packageChart(r)
	case "inspect":
		done, err = inspect(r)
	case "sort":
		done, err = sortFiles(r.Files)
	default:
		err = fmt.Errorf("unknown op %q", r.Op)
	}
	var refused chartFailure
	if errors.As(err, &refused) {
		return failure{Error: err.Error(), ChartName: refused.name, ChartVersion: refused.version}
	}
	if err != nil {
		return failure{Error: err.Error()}
	}
	return done
}

// exitOnCPULimit ends the process when the kernel signals that the request's CPU
// time is up.
func exitOnCPULimit() {
	limit := make(chan os.Signal, 1)
	signal.Notify(limit, syscall.SIGXCPU)
	go func() {
		<-limit
		fmt.Fprintln(os.Stderr, "fatal error: the render exceeded its CPU time limit")
		os.Exit(cpuLimitExit)
	}()
}

func main() {
	exitOnCPULimit()
	requests := bufio.NewScanner(os.Stdin)
	requests.Buffer(make([]byte, 64*1024), maxRequestBytes)
	answers := json.NewEncoder(os.Stdout)
	for requests.Scan() {
		var r request
		var result any
		if err := json.Unmarshal(requests.Bytes(), &r); err != nil {
			result = failure{Error: fmt.Sprintf("invalid request: %v", err)}
		} else {
			result = answer(r)
		}
		if err := answers.Encode(result); err != nil {
			os.Exit(1)
		}
	}
}
