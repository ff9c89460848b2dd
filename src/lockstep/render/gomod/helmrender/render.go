// The render operation: a chart rendered as helm install and helm upgrade render it
// (pkg/action's Install.RunWithContext, Upgrade.prepareUpgrade and the unexported
// Configuration.renderResources they share), from Helm's exported functions, without
// a post-renderer and with CRDs left out of the manifest, as both leave them.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"k8s.io/client-go/tools/clientcmd"

	"helm.sh/helm/v4/pkg/action"
	ci "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"helm.sh/helm/v4/pkg/strvals"
)

const notesFile = "NOTES.txt"

type hook struct {
	Name              string   `json:"name"`
	Kind              string   `json:"kind"`
	Path              string   `json:"path"`
	Manifest          string   `json:"manifest"`
	Events            []string `json:"events"`
	Weight            int      `json:"weight"`
	DeletePolicies    []string `json:"deletePolicies"`
	OutputLogPolicies []string `json:"outputLogPolicies"`
}

type crd struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

type rendered struct {
	Manifest     string          `json:"manifest"`
	Hooks        []hook          `json:"hooks"`
	CRDs         []crd           `json:"crds"`
	Notes        string          `json:"notes"`
	Chart        json.RawMessage `json:"chart"`
	Config       map[string]any  `json:"config"`
	ChartName    string          `json:"chartName"`
	ChartVersion string          `json:"chartVersion"`
	AppVersion   string          `json:"appVersion"`
}

func render(r request) (*rendered, error) {
	config := map[string]any{}
	if len(r.Values) > 0 && string(r.Values) != "null" {
		if err := json.Unmarshal(r.Values, &config); err != nil {
			return nil, fmt.Errorf("invalid request: values: %w", err)
		}
	}
	if err := setValues(config, r.Set, r.SetString); err != nil {
		return nil, err
	}
	chrt, err := loadInstallable(r.Chart)
	if err != nil {
		return nil, err
	}
	done, err := renderLoaded(chrt, config, r)
	if err != nil {
		return nil, chartFailure{err: err, name: chrt.Metadata.Name, version: chrt.Metadata.Version}
	}
	return done, nil
}

// setValues merges values given as helm's --set and --set-string give them, in that
// order, over the values of the request.
func setValues(config map[string]any, set, setString []string) error {
	for _, line := range set {
		if err := strvals.ParseInto(line, config); err != nil {
			return fmt.Errorf("failed parsing --set data %q: %w", line, err)
		}
	}
	for _, line := range setString {
		if err := strvals.ParseIntoString(line, config); err != nil {
			return fmt.Errorf("failed parsing --set-string data %q: %w", line, err)
		}
	}
	return nil
}

// chartFailure is a refusal once the chart has loaded; the answer names the chart, as
// Helm's install and upgrade failures are told with it.
type chartFailure struct {
	err           error
	name, version string
}

func (f chartFailure) Error() string { return f.err.Error() }

func renderLoaded(chrt *chart.Chart, config map[string]any, r request) (*rendered, error) {
	var err error
	if r.Reuse != nil {
		if config, err = reuseValues(chrt, config, r.Reuse); err != nil {
			return nil, err
		}
	}
	if err := chartutil.ProcessDependencies(chrt, config); err != nil {
		return nil, fmt.Errorf("chart dependencies processing failed: %w", err)
	}
	caps, err := capabilities(r)
	if err != nil {
		return nil, err
	}
	options := common.ReleaseOptions{
		Name:      r.Release.Name,
		Namespace: r.Release.Namespace,
		Revision:  r.Release.Revision,
		IsInstall: r.Release.IsInstall,
		IsUpgrade: r.Release.IsUpgrade,
	}
	values, err := util.ToRenderValuesWithSchemaValidation(chrt, config, options, caps, r.SkipSchema)
	if err != nil {
		return nil, err
	}
	if constraint := chrt.Metadata.KubeVersion; constraint != "" &&
		!chartutil.IsCompatibleRange(constraint, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s",
			constraint, caps.KubeVersion.Version)
	}
	files, err := renderTemplates(chrt, values, r.Kubeconfig)
	if err != nil {
		return nil, err
	}
	notes := takeNotes(files, chrt.Name())
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	serialized, err := json.Marshal(chrt)
	if err != nil {
		return nil, fmt.Errorf("cannot serialize the chart: %w", err)
	}
	return &rendered{
		Manifest:     releaseManifest(manifests),
		Hooks:        hookList(hooks),
		CRDs:         crdList(chrt),
		Notes:        notes,
		Chart:        serialized,
		Config:       config,
		ChartName:    chrt.Metadata.Name,
		ChartVersion: chrt.Metadata.Version,
		AppVersion:   chrt.Metadata.AppVersion,
	}, nil
}

// sorted is a release's manifest and hooks sorted from its files.
type sorted struct {
	Manifest string `json:"manifest"`
	Hooks    []hook `json:"hooks"`
}

// sortFiles is what helm install and upgrade do with the files a post-renderer gave
// back (each document in the file its template was, by Helm's annotation): the hooks
// told from the other objects by their annotations, the objects in install order.
func sortFiles(files map[string]string) (*sorted, error) {
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	return &sorted{Manifest: releaseManifest(manifests), Hooks: hookList(hooks)}, nil
}

// reuseValues is what helm upgrade --reuse-values does before rendering: the user's
// values over those of the reused revision, and that revision's chart values (with its
// user values coalesced) in place of the new chart's own.
func reuseValues(chrt *chart.Chart, config map[string]any, reused *reusedRelease) (map[string]any, error) {
	previous := &chart.Chart{}
	if err := json.Unmarshal(reused.Chart, previous); err != nil {
		return nil, fmt.Errorf("invalid request: reuse.chart: %w", err)
	}
	previousValues, err := util.CoalesceValues(previous, reused.Config)
	if err != nil {
		return nil, fmt.Errorf("failed to rebuild old values: %w", err)
	}
	chrt.Values = previousValues
	return util.CoalesceTables(config, reused.Config), nil
}

// loadInstallable loads a chart as helm install does: Helm's loader, charts of
// apiVersion v1 and v2 only, no library charts, every dependency of Chart.yaml
// present under charts/.
func loadInstallable(chartPath string) (*chart.Chart, error) {
	loaded, err := load(chartPath)
	if err != nil {
		return nil, err
	}
	chrt, ok := loaded.(*chart.Chart)
	if !ok {
		return nil, errChartAPIVersion
	}
	switch chrt.Metadata.Type {
	case "", "application":
	default:
		return nil, fmt.Errorf("%s charts are not installable", chrt.Metadata.Type)
	}
	accessor, err := ci.NewAccessor(chrt)
	if err != nil {
		return nil, err
	}
	if wanted := accessor.MetaDependencies(); len(wanted) > 0 {
		if err := action.CheckDependencies(chrt, wanted); err != nil {
			return nil, fmt.Errorf("an error occurred while checking for chart dependencies: %w", err)
		}
	}
	return chrt, nil
}

// capabilities are Helm's defaults (as helm template's) with the request's Kubernetes
// version; the request's API versions, when given, replace the default ones, as a
// cluster's discovery does for helm install.
func capabilities(r request) (*common.Capabilities, error) {
	caps := common.DefaultCapabilities.Copy()
	if r.KubeVersion != "" {
		version, err := common.ParseKubeVersion(r.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("invalid kube version '%s': %w", r.KubeVersion, err)
		}
		caps.KubeVersion = *version
	}
	if r.APIVersions != nil {
		caps.APIVersions = common.VersionSet(r.APIVersions)
	}
	return caps, nil
}

// renderTemplates runs Helm's template engine; lookup reads the cluster of the
// kubeconfig document when one is given (as helm install does) and finds nothing
// otherwise (as helm template does).
func renderTemplates(chrt *chart.Chart, values common.Values, kubeconfig string) (map[string]string, error) {
	var templates engine.Engine
	if kubeconfig != "" {
		restConfig, err := clientcmd.RESTConfigFromKubeConfig([]byte(kubeconfig))
		if err != nil {
			return nil, fmt.Errorf("cannot read the kubeconfig for lookup: %w", err)
		}
		templates = engine.New(restConfig)
	}
	return templates.Render(chrt, values)
}

// takeNotes removes every NOTES.txt from the rendered files and returns the chart's
// own (not its subcharts', as without --render-subchart-notes).
func takeNotes(files map[string]string, chartName string) string {
	own := path.Join(chartName, "templates", notesFile)
	notes := ""
	for name, text := range files {
		if strings.HasSuffix(name, notesFile) {
			if name == own {
				notes = text
			}
			delete(files, name)
		}
	}
	return notes
}

// releaseManifest joins the manifests as Helm stores them in release.manifest.
func releaseManifest(manifests []releaseutil.Manifest) string {
	var text bytes.Buffer
	for _, m := range manifests {
		fmt.Fprintf(&text, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return text.String()
}

// hookList keeps the release's order of the hooks (by kind, as Helm stores them).
func hookList(hooks []*release.Hook) []hook {
	listed := make([]hook, 0, len(hooks))
	for _, h := range hooks {
		listed = append(listed, hook{
			Name:              h.Name,
			Kind:              h.Kind,
			Path:              h.Path,
			Manifest:          h.Manifest,
			Events:            texts(h.Events),
			Weight:            h.Weight,
			DeletePolicies:    texts(h.DeletePolicies),
			OutputLogPolicies: texts(h.OutputLogPolicies),
		})
	}
	return listed
}

func texts[T ~string](values []T) []string {
	converted := make([]string, 0, len(values))
	for _, value := range values {
		converted = append(converted, string(value))
	}
	return converted
}

// crdList holds the files of crds/ of the chart and of its enabled subcharts, named
// by their path from the top chart, in the order helm install creates them.
func crdList(chrt *chart.Chart) []crd {
	listed := []crd{}
	for _, object := range chrt.CRDObjects() {
		listed = append(listed, crd{Name: object.Filename, Content: string(object.File.Data)})
	}
	return listed
}
