// Command semver answers semver questions the way Flux does: versions parsed by
// fluxcd/pkg/version's ParseVersion, ranges by Masterminds/semver v3's NewConstraint
// and Check, order by Version.Compare. Python's lockstep.semver is compared with it.
//
// It reads {"versions": [...], "ranges": [...]} as JSON from stdin and writes
//
//	{"versions": [true|false, ...],          // whether each string is a version
//	 "ranges": [true|false, ...],            // whether each range parses
//	 "checks": [[true|false, ...], ...],     // per range, per valid version: Check
//	 "order": [[-1|0|1, ...], ...]}          // per valid version pair: Compare
package main

import (
	"encoding/json"
	"os"

	"github.com/Masterminds/semver/v3"
	"github.com/fluxcd/pkg/version"
)

type input struct {
	Versions []string `json:"versions"`
	Ranges   []string `json:"ranges"`
}

type output struct {
	Versions []bool   `json:"versions"`
	Ranges   []bool   `json:"ranges"`
	Checks   [][]bool `json:"checks"`
	Order    [][]int  `json:"order"`
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	out := output{Versions: []bool{}, Ranges: []bool{}, Checks: [][]bool{}, Order: [][]int{}}
	var parsed []*semver.Version
	for _, text := range in.Versions {
		v, err := version.ParseVersion(text)
		out.Versions = append(out.Versions, err == nil)
		if err == nil {
			parsed = append(parsed, v)
		}
	}
	for _, text := range in.Ranges {
		c, err := semver.NewConstraint(text)
		out.Ranges = append(out.Ranges, err == nil)
		checks := []bool{}
		if err == nil {
			for _, v := range parsed {
				checks = append(checks, c.Check(v))
			}
		}
		out.Checks = append(out.Checks, checks)
	}
	for _, left := range parsed {
		row := []int{}
		for _, right := range parsed {
			row = append(row, left.Compare(right))
		}
		out.Order = append(out.Order, row)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
