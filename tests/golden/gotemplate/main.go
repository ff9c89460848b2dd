// Command gotemplate renders ImageUpdateAutomation commit message templates with Go's
// text/template and sprig's hermetic functions, on data shaped like Flux's
// TemplateData, so the Python engine's output can be compared with Go's.
//
// It reads a JSON array of cases from stdin:
//
//	[{"template": "...", "automation": ["ns", "name"],
//	  "changes": {"path": [{"old": "", "new": "", "setter": "", "object": {...} | null}]},
//	  "values": {"k": "v"}}]
//
// and writes one result per case: {"output": "..."} or {"error": "..."}.
package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// NamespacedName stands for k8s.io/apimachinery's types.NamespacedName.
type NamespacedName struct {
	Namespace string
	Name      string
}

func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

// TypeMeta, NameMeta and ResourceIdentifier stand for kustomize kyaml's.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

type NameMeta struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

type ResourceIdentifier struct {
	TypeMeta `json:",inline"`
	NameMeta `json:",inline"`
}

// ObjectIdentifier, Change, ObjectChanges and Result stand for the
// image-automation-controller's update package.
type ObjectIdentifier struct {
	ResourceIdentifier
}

type Change struct {
	OldValue string
	NewValue string
	Setter   string
}

type ObjectChanges map[ObjectIdentifier][]Change

type Result struct {
	FileChanges map[string]ObjectChanges
}

// Changes lists the distinct changes. Flux walks its maps in random order; this walks
// files by path and objects in sorted order, the order the Python engine documents.
func (r Result) Changes() []Change {
	seen := map[Change]bool{}
	var result []Change
	for _, path := range sortedPaths(r.FileChanges) {
		objects := r.FileChanges[path]
		for _, obj := range sortedObjects(objects) {
			for _, change := range objects[obj] {
				if !seen[change] {
					seen[change] = true
					result = append(result, change)
				}
			}
		}
	}
	return result
}

// Objects merges the files' objects; for an object in several files, the last file by
// path wins.
func (r Result) Objects() ObjectChanges {
	result := ObjectChanges{}
	for _, path := range sortedPaths(r.FileChanges) {
		for obj, changes := range r.FileChanges[path] {
			result[obj] = changes
		}
	}
	return result
}

func sortedPaths(files map[string]ObjectChanges) []string {
	paths := make([]string, 0, len(files))
	for path := range files {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	return paths
}

func sortedObjects(objects ObjectChanges) []ObjectIdentifier {
	ids := make([]ObjectIdentifier, 0, len(objects))
	for id := range objects {
		ids = append(ids, id)
	}
	key := func(id ObjectIdentifier) string {
		return strings.Join([]string{id.APIVersion, id.Kind, id.Name, id.Namespace}, "\x00")
	}
	sort.Slice(ids, func(i, j int) bool { return key(ids[i]) < key(ids[j]) })
	return ids
}

// TemplateData is the value the template runs on, as in Flux's source package.
type TemplateData struct {
	AutomationObject NamespacedName
	Changed          Result
	Values           map[string]string
}

type inputChange struct {
	Old    string `json:"old"`
	New    string `json:"new"`
	Setter string `json:"setter"`
	Object *struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		Namespace  string `json:"namespace"`
	} `json:"object"`
}

type inputCase struct {
	Template   string                   `json:"template"`
	Automation [2]string                `json:"automation"`
	Changes    map[string][]inputChange `json:"changes"`
	Values     map[string]string        `json:"values"`
}

type output struct {
	Output *string `json:"output,omitempty"`
	Error  *string `json:"error,omitempty"`
}

const defaultMessageTemplate = `Update from image update automation`

func render(c inputCase) output {
	data := TemplateData{
		AutomationObject: NamespacedName{Namespace: c.Automation[0], Name: c.Automation[1]},
		Changed:          Result{FileChanges: map[string]ObjectChanges{}},
		Values:           c.Values,
	}
	for path, changes := range c.Changes {
		if len(changes) == 0 {
			continue
		}
		objects := ObjectChanges{}
		for _, change := range changes {
			var id ObjectIdentifier
			if change.Object != nil {
				id.APIVersion = change.Object.APIVersion
				id.Kind = change.Object.Kind
				id.Name = change.Object.Name
				id.Namespace = change.Object.Namespace
			}
			objects[id] = append(objects[id], Change{change.Old, change.New, change.Setter})
		}
		data.Changed.FileChanges[path] = objects
	}
	text := c.Template
	if text == "" {
		text = defaultMessageTemplate
	}
	tmpl, err := template.New("commit message").Funcs(sprig.HermeticTxtFuncMap()).Parse(text)
	if err != nil {
		message := err.Error()
		return output{Error: &message}
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		message := err.Error()
		return output{Error: &message}
	}
	rendered := b.String()
	return output{Output: &rendered}
}

func main() {
	var cases []inputCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		os.Stderr.WriteString("reading cases: " + err.Error() + "\n")
		os.Exit(2)
	}
	results := make([]output, len(cases))
	for i, c := range cases {
		results[i] = render(c)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Stderr.WriteString("writing results: " + err.Error() + "\n")
		os.Exit(2)
	}
}
