// The package and inspect operations: a chart saved as helm package saves it, with
// values.yaml replaced, dependency archives added under charts/ and the version set
// as by helm package --version (what a HelmChart artifact holds), and a chart's metadata read for deciding which dependencies to
// fetch.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/Masterminds/semver/v3"

	"helm.sh/helm/v4/pkg/action"
	ci "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	c2loader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

type packaged struct {
	Path    string `json:"path"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

type dependency struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Repository string `json:"repository"`
	Condition  string `json:"condition"`
	Alias      string `json:"alias"`
}

type chartInfo struct {
	Name         string       `json:"name"`
	Version      string       `json:"version"`
	AppVersion   string       `json:"appVersion"`
	Type         string       `json:"type"`
	KubeVersion  string       `json:"kubeVersion"`
	Dependencies []dependency `json:"dependencies"`
	Vendored     []string     `json:"vendored"`
}

// errChartAPIVersion is the refusal of a chart whose Chart.yaml has an apiVersion
// other than the two that Helm installs.
var errChartAPIVersion = errors.New("the apiVersion of Chart.yaml is not v1 or v2")

// load reads a chart folder or archive with Helm's loader. Its errors name files
// inside the chart, never where the chart lies on disk, and say why an archive does
// not load (Helm's loader of archive files keeps only "unable to load chart archive").
func load(chartPath string) (ci.Charter, error) {
	info, err := os.Stat(chartPath)
	if err != nil {
		return nil, err
	}
	var loaded ci.Charter
	if info.IsDir() {
		if _, err := os.Stat(filepath.Join(chartPath, "Chart.yaml")); err != nil {
			return nil, errors.New("the chart has no Chart.yaml")
		}
		loaded, err = loader.LoadDir(chartPath)
	} else {
		archive, openErr := os.Open(chartPath)
		if openErr != nil {
			return nil, openErr
		}
		defer archive.Close()
		loaded, err = loader.LoadArchive(archive)
	}
	if err != nil && err.Error() == "unsupported chart version" {
		return nil, errChartAPIVersion
	}
	return loaded, err
}

func loadChart(chartPath string) (*chart.Chart, error) {
	loaded, err := load(chartPath)
	if err != nil {
		return nil, err
	}
	chrt, ok := loaded.(*chart.Chart)
	if !ok {
		return nil, errChartAPIVersion
	}
	return chrt, nil
}

func packageChart(r request) (*packaged, error) {
	chrt, err := loadChart(r.Chart)
	if err != nil {
		return nil, err
	}
	if len(r.Values) > 0 && string(r.Values) != "null" {
		if err := replaceValues(chrt, r.Values); err != nil {
			return nil, err
		}
	}
	for _, archive := range r.Dependencies {
		if err := vendor(chrt, archive); err != nil {
			return nil, err
		}
	}
	if r.Version != "" {
		chrt.Metadata.Version = r.Version
	}
	if _, err := semver.NewVersion(chrt.Metadata.Version); err != nil {
		return nil, err
	}
	accessor, err := ci.NewAccessor(chrt)
	if err != nil {
		return nil, err
	}
	if wanted := accessor.MetaDependencies(); len(wanted) > 0 {
		if err := action.CheckDependencies(chrt, wanted); err != nil {
			return nil, err
		}
	}
	saved, err := chartutil.Save(chrt, r.Out)
	if err != nil {
		return nil, fmt.Errorf("failed to save: %w", err)
	}
	return &packaged{Path: saved, Name: chrt.Metadata.Name, Version: chrt.Metadata.Version}, nil
}

// replaceValues makes the YAML text (a JSON string in the request) the chart's
// values.yaml, as written into the package and as the values the chart holds.
func replaceValues(chrt *chart.Chart, raw []byte) error {
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return fmt.Errorf("invalid request: values must be YAML text: %w", err)
	}
	values, err := c2loader.LoadValues(bytes.NewReader([]byte(text)))
	if err != nil {
		return fmt.Errorf("cannot load values.yaml: %w", err)
	}
	chrt.Values = values
	for _, file := range chrt.Raw {
		if file.Name == chartutil.ValuesfileName {
			file.Data = []byte(text)
			return nil
		}
	}
	chrt.Raw = append(chrt.Raw, &common.File{
		Name: chartutil.ValuesfileName, Data: []byte(text), ModTime: chrt.ModTime,
	})
	return nil
}

// vendor adds the chart archive at archivePath under charts/, in place of a vendored
// chart of the same name.
func vendor(chrt *chart.Chart, archivePath string) error {
	added, err := loadChart(archivePath)
	if err != nil {
		return fmt.Errorf("dependency %s: %w", archivePath, err)
	}
	kept := []*chart.Chart{}
	for _, existing := range chrt.Dependencies() {
		if existing.Name() != added.Name() {
			kept = append(kept, existing)
		}
	}
	chrt.SetDependencies(append(kept, added)...)
	return nil
}

func inspect(r request) (*chartInfo, error) {
	chrt, err := loadChart(r.Chart)
	if err != nil {
		return nil, err
	}
	metadata := chrt.Metadata
	info := &chartInfo{
		Name:         metadata.Name,
		Version:      metadata.Version,
		AppVersion:   metadata.AppVersion,
		Type:         metadata.Type,
		KubeVersion:  metadata.KubeVersion,
		Dependencies: []dependency{},
		Vendored:     []string{},
	}
	for _, wanted := range metadata.Dependencies {
		if wanted == nil {
			continue
		}
		info.Dependencies = append(info.Dependencies, dependency{
			Name:       wanted.Name,
			Version:    wanted.Version,
			Repository: wanted.Repository,
			Condition:  wanted.Condition,
			Alias:      wanted.Alias,
		})
	}
	for _, vendored := range chrt.Dependencies() {
		info.Vendored = append(info.Vendored, vendored.Name())
	}
	return info, nil
}
