"""Synthesis of new shapes from the parts of a collection (Kalogerakis et al. 2012, section 5): draw
from the part model, pick for every label the training part that best matches the draw (and has
slots for the parts already chosen), place the parts so their slots meet, keep what passes the
checks and is not a copy of a training shape, and rank by the model's likelihood.

The geometry (placing parts, the overlap the training shapes allow) comes from shapespace.assembly
and is handed in by the caller, so this module stays free of mesh code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .part_model import PartModel, PartTable, part_features


@dataclass
class Assembly:
    sources: dict  # label -> name of the training shape the part comes from
    score: float  # log-likelihood under the part model (higher: more plausible)
    placement: object  # shapespace.assembly.Placement
    rank: int = 0  # with variety: its place among assemblies of the same structure

    @property
    def key(self) -> tuple:
        return tuple(sorted(self.sources.items()))


def assembly_table(model: PartModel, parts: dict, contacts) -> PartTable:
    """The model's view of an assembled shape: counts, adjacency within the assembly, features."""
    count = len(model.labels)
    counts = np.zeros((1, count), dtype=np.int64)
    adjacency = np.zeros((1, count), dtype=np.int64)
    width = len(part_features(next(iter(parts.values()))))
    features = np.full((1, count, width), np.nan)
    touching = {}
    for a, b in contacts:
        touching.setdefault(a, set()).add(b)
        touching.setdefault(b, set()).add(a)
    for j, label in enumerate(model.labels):
        if label in parts:
            counts[0, j] = parts[label].components
            adjacency[0, j] = len(touching.get(label, ()))
            features[0, j] = part_features(parts[label])
    return PartTable(list(model.labels), counts, adjacency, features, ["assembly"])


class PartSynthesizer:
    """Draws, places and ranks assemblies from a fitted model and the training shapes' parts."""

    def __init__(self, model: PartModel, table: PartTable, parts_per_shape: list, place, overlaps: dict):
        """place(parts, labels, overlaps) -> Placement (shapespace.assembly.solve_placement); overlaps:
        what the training shapes allow (shapespace.assembly.training_overlaps)."""
        self.model, self.table, self.parts = model, table, parts_per_shape
        self.place, self.overlaps = place, overlaps
        self.names = list(table.names)
        self.training = {tuple(sorted((label, name) for label in parts)) for name, parts in
                         zip(self.names, parts_per_shape)}
        self.style_posteriors = [model.style_posterior(table, j) for j in range(len(model.labels))]
        self.reduced = []
        for j, label in enumerate(model.labels):
            present = table.counts[:, j] > 0
            z = np.full((len(self.names), model.means[j].shape[1]), np.nan)
            if present.any():
                z[present] = model.reduce(j, table.features[present, j])
            self.reduced.append(z)

    def _choose(self, draw: dict, rng) -> dict | None:
        chosen = {}
        for j, label in enumerate(self.model.labels):
            count, style, features = draw[label]
            if count == 0:
                continue
            rows = np.flatnonzero(self.table.counts[:, j] > 0)
            same_count = rows[self.table.counts[rows, j] == count]
            rows = same_count if len(same_count) else rows
            scores = []
            for row in rows:
                part = self.parts[row][label]
                links = sum(1 for b, other in chosen.items() if b in part.contacts and label in other.contacts)
                if chosen and links == 0:
                    scores.append(-np.inf)  # nothing already chosen to attach to
                    continue
                distance = float(((self.reduced[j][row] - features) ** 2).sum())
                scores.append(np.log(self.style_posteriors[j][row, style] + 1e-12) - 0.5 * distance + links)
            scores = np.array(scores)
            if not np.isfinite(scores).any():
                return None
            best = rows[int(np.argmax(scores + 1e-9 * rng.random(len(scores))))]
            chosen[label] = self.parts[best][label]
        return chosen or None

    def evaluate(self, chosen: dict) -> Assembly | None:
        """Place chosen parts; None when the result fails a check or copies a training shape."""
        sources = {label: part.source for label, part in chosen.items()}
        if tuple(sorted(sources.items())) in self.training or len(set(sources.values())) == 1:
            return None  # a training shape again
        placement = self.place(chosen, self.model.labels, self.overlaps)
        if not placement.valid:
            return None
        score = float(self.model.log_likelihood(assembly_table(self.model, chosen, placement.contacts))[0])
        return Assembly(sources, score, placement)

    def assemble(self, count: int, seed: int = 0, draws: int | None = None, variety: bool = False,
                 progress=None, should_stop=None) -> list:
        """Up to `count` distinct valid assemblies, most plausible first (the same seed, the same list).
        With `variety`, the best assembly of each structure (which labels, how many pieces) comes
        before the second best of any: shapes with more parts score lower, and would never show.
        progress(fraction, message) is called after each draw; when should_stop() says so, the search
        ends early and ranks what it has (the caller decides whether to keep it)."""
        rng = np.random.default_rng(seed)
        found = {}
        draws = draws or 30 * count
        wanted = 3 * count
        valid = 0
        for draw in range(draws):
            if should_stop is not None and should_stop():
                break
            chosen = self._choose(self.model.sample(rng), rng)
            if chosen is not None:
                key = tuple(sorted((label, part.source) for label, part in chosen.items()))
                if key not in found:
                    found[key] = self.evaluate(chosen)
                    valid += found[key] is not None
            if progress is not None:  # done when the draws run out or enough assemblies passed
                progress(max((draw + 1) / draws, valid / wanted),
                         f"{valid} of {wanted} candidates passed the checks, draw {draw + 1}/{draws}")
            if valid >= wanted:
                break
        ranked = sorted((a for a in found.values() if a is not None), key=lambda a: -a.score)
        if variety:
            seen: dict = {}
            for assembly in ranked:  # rank within its structure, then by score
                structure = tuple(sorted((label, self._pieces(assembly, label)) for label in assembly.sources))
                assembly.rank = seen[structure] = seen.get(structure, -1) + 1
            ranked = sorted(ranked, key=lambda a: (a.rank, -a.score))
        return ranked[:count]

    def _pieces(self, assembly, label) -> int:
        return self.parts[self.names.index(assembly.sources[label])][label].components

    def alternatives(self, sources: dict, label: str, progress=None, should_stop=None) -> list:
        """Valid assemblies that swap the part of `label` for another training part, most plausible first.
        progress(fraction, message) is called after each training shape tried; when should_stop() says
        so, the search ends early with what it has."""
        current = {l: self.parts[self.names.index(name)][l] for l, name in sources.items()}
        out = []
        for row, parts in enumerate(self.parts):
            if should_stop is not None and should_stop():
                break
            if progress is not None:
                progress(row / len(self.parts), f"trying the {label} of shape {row + 1}/{len(self.parts)}")
            part = parts.get(label)
            if part is None or part.source == sources.get(label):
                continue
            candidate = dict(current)
            candidate[label] = part
            assembly = self.evaluate(candidate)
            if assembly is not None:
                out.append(assembly)
        return sorted(out, key=lambda a: -a.score)
