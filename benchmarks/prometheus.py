"""Reading the Prometheus text format: the engine's ``/metrics`` and the API server's.

:func:`parse_samples` turns an exposition into :class:`Samples`, which sum a metric
over the samples whose labels match, or group the sums by one label; the
difference of two scrapes (:meth:`Samples.since`) is what a workload measures.

Used by :mod:`benchmarks.engine` and :mod:`benchmarks.ground`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Samples:
    """The samples of one scrape: value by (metric name, sorted labels)."""

    values: dict[tuple[str, Labels], float]

    def sum(self, name: str, **labels: str) -> float:
        """The sum of ``name`` over the samples that carry all of ``labels``."""
        wanted = set(labels.items())
        return sum(
            value
            for (metric, sample_labels), value in self.values.items()
            if metric == name and wanted <= set(sample_labels)
        )

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """The sums of ``name`` (over samples carrying ``labels``), by the value of ``label``."""
        wanted = set(labels.items())
        sums: dict[str, float] = defaultdict(float)
        for (metric, sample_labels), value in self.values.items():
            if metric == name and wanted <= set(sample_labels):
                sums[dict(sample_labels).get(label, "")] += value
        return dict(sorted(sums.items()))

    def counts_by(self, name: str, label: str, **labels: str) -> dict[str, int]:
        """:meth:`by` rounded to whole counts, leaving out the zeros (for counters)."""
        return {
            key: round(value)
            for key, value in self.by(name, label, **labels).items()
            if round(value)
        }

    def plus(self, other: Samples) -> Samples:
        """The samples of two scrapes added up (two processes' counters as one's)."""
        values = dict(self.values)
        for key, value in other.values.items():
            values[key] = values.get(key, 0.0) + value
        return Samples(values)

    def since(self, earlier: Samples) -> Samples:
        """Each sample's increase since ``earlier`` (counters only make sense here)."""
        return Samples(
            {key: value - earlier.values.get(key, 0.0) for key, value in self.values.items()}
        )


def parse_samples(text: str) -> Samples:
    values: dict[tuple[str, Labels], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, label_text, value = match.groups()
        labels = tuple(sorted(_LABEL.findall(label_text or "")))
        try:
            values[name, labels] = float(value)
        except ValueError:
            continue
    return Samples(values)
