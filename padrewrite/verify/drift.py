"""How much a rewrite in a non-zero mode changed a model's outputs, and where.

A model trained with zero padding and rewritten to reflect (or replicate, ...)
padding computes something else near the borders. `measure_drift` runs the
original and the rewritten model on the same seeded random inputs and reports,
per output:

- `max_abs`, `mean_abs`: of `|rewritten - original|`;
- `scale`: the largest `|original|` over the samples, and both errors divided
  by it (`max_rel`, `mean_rel`), so that outputs of any size compare;
- for outputs with spatial axes (channels last; rank = the rewritten layers'
  spatial rank + 2): the **border band** and how much of the difference sits in
  it. The band is, on each side of each spatial axis, the sum of the pads the
  rewrite applied on that side (`before` pads for the leading edge, `after`
  pads for the trailing one), in output pixels. This is a simple upper bound
  of the area the padding reaches when every layer keeps the resolution;
  strides shrink the real area and upsampling grows it. Reported:
  `border_pixel_share` (the band's share of the pixels), `border_diff_share`
  (its share of the summed difference) and the mean difference in the band and
  in the interior. Outputs without a band (a scalar or a vector has no
  spatial axes) say why in `band_reason`.

`heatmap` gives, for a 4D output, `|difference|` averaged over samples and
channels (H x W); `save_heatmap` draws it with matplotlib (the optional extra
`padrewrite[plots]`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from padrewrite.atomic import atomic_path
from padrewrite.errors import InputError

# `render_drift` is `padrewrite.output.render.drift_lines`: a report's text lines.
from padrewrite.output.render import drift_lines as render_drift

__all__ = ["DriftReport", "OutputDrift", "measure_drift", "render_drift", "save_heatmap"]


@dataclasses.dataclass(frozen=True)
class OutputDrift:
    """The drift of one output; band fields are None without a border band, and
    then `band_reason` says why (an output without spatial axes, such as a scalar;
    no rewritten layer padding as many spatial axes as the output has)."""

    name: str
    max_abs: float
    mean_abs: float
    scale: float
    max_rel: float
    mean_rel: float
    band: tuple[tuple[int, int], ...] | None = None
    border_pixel_share: float | None = None
    border_diff_share: float | None = None
    border_mean_abs: float | None = None
    interior_mean_abs: float | None = None
    heatmap: str | None = None
    band_reason: str | None = None

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if self.band is not None:
            data["band"] = [list(side) for side in self.band]
        return data


@dataclasses.dataclass(frozen=True)
class DriftReport:
    """Result of `measure_drift`. `maps` holds the heat maps by output (not in JSON)."""

    mode: str
    samples: int
    outputs: tuple[OutputDrift, ...]
    maps: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "samples": self.samples,
                "outputs": [output.to_dict() for output in self.outputs]}


def measure_drift(original, rewritten, report, *, samples: int = 3, input_shapes=None,
                  seed: int = 0) -> DriftReport:
    """Compare `rewritten` with `original` on `samples` seeded random batches.

    `report` is the rewrite's `RewriteReport` (its pads give the band).
    """
    from padrewrite.keras_side.cpu import require_runnable
    from padrewrite.verify.parity import make_inputs, run_on_inputs

    require_runnable(original, rewritten)
    io, _, batches = make_inputs(original, input_shapes=input_shapes, samples=samples,
                                 seed=seed, extremes=False)
    before = [[] for _ in io.output_names]
    after = [[] for _ in io.output_names]
    for batch in batches:
        for store, model in ((before, original), (after, rewritten)):
            # A model that cannot run on these inputs: the input's or a bug (`run_on_inputs`).
            outputs = run_on_inputs(model, io, batch, input_shapes=input_shapes,
                                original=original)
            for index, array in enumerate(outputs):
                store[index].append(np.asarray(array, np.float64))
    results, maps = [], {}
    for index, name in enumerate(io.output_names):
        want = _samples(before[index])
        have = _samples(after[index])
        diff = np.abs(have - want)
        scale = float(np.max(np.abs(want), initial=0.0))
        max_abs, mean_abs = float(diff.max(initial=0.0)), float(diff.mean()) if diff.size else 0.0
        fields = dict(
            name=name, max_abs=max_abs, mean_abs=mean_abs, scale=scale,
            max_rel=max_abs / scale if scale else 0.0, mean_rel=mean_abs / scale if scale else 0.0,
        )
        band, reason = _band(report, before[index][0].shape)
        if band is not None:
            fields.update(_split(diff, band))
            fields["band"] = band
        fields["band_reason"] = reason
        results.append(OutputDrift(**fields))
        if diff.ndim == 4:
            maps[name] = diff.mean(axis=(0, 3))
    return DriftReport(str(report.mode), len(batches), tuple(results), maps)


def heatmap_paths(path, names) -> dict:
    """`{output: PNG path}`: `path` itself for one image output, else `<stem>-<output>.png`."""
    path = Path(path)
    if len(names) == 1:
        return {names[0]: path}
    return {name: path.with_name(f"{path.stem}-{name}{path.suffix or '.png'}") for name in names}


def check_plotting() -> None:
    """Raise `InputError` when matplotlib (the `plots` extra) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(
            "--drift-png needs matplotlib: pip install 'padrewrite[plots]' "
            "(or pip install matplotlib)."
        ) from None


def save_heatmap(heatmap, path, *, title: str) -> None:
    """Draw `heatmap` (H x W) with a colour bar to the PNG `path`, atomically."""
    check_plotting()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    figure, axes = plt.subplots(figsize=(6, 5))
    try:
        image = axes.imshow(heatmap, cmap="magma", interpolation="nearest")
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("W (pixels)")
        axes.set_ylabel("H (pixels)")
        figure.colorbar(image, ax=axes, label="mean |rewritten - original|")
        figure.tight_layout()
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=100)
    finally:
        plt.close(figure)


def _samples(arrays) -> np.ndarray:
    """One output's arrays over the samples, joined along the batch axis; outputs
    without one (rank 0, such as a mean over everything) are stacked instead."""
    if arrays[0].ndim == 0:
        return np.stack(arrays)
    return np.concatenate(arrays)


def _band(report, shape):
    """`(band, None)`, band per spatial axis `(before, after)`: the sum of the pads
    applied on each side, for an output of one sample's `shape` (batch, spatial
    axes, channels); `(None, why)` when it has no such band."""
    spatial_rank = len(shape) - 2
    if spatial_rank < 1:
        return None, (f"no border band: the output has no spatial axes "
                      f"(shape {tuple(shape)})")
    band = [[0, 0] for _ in range(spatial_rank)]
    found = False
    for record in report.rewritten:
        if record.pads is None or len(record.pads) != spatial_rank:
            continue
        for axis, pad in enumerate(record.pads):
            if pad is not None:
                band[axis][0] += pad[0]
                band[axis][1] += pad[1]
                found = True
    if not found:
        return None, (f"no border band: no rewritten layer pads {spatial_rank} spatial "
                      f"ax{'i' if spatial_rank == 1 else 'e'}s (the output's shape is "
                      f"{tuple(shape)})")
    return tuple(tuple(side) for side in band), None


def _split(diff, band) -> dict:
    """Shares and means of `diff` (N, *spatial, C) in the border band and the interior."""
    border = np.zeros(diff.shape[1:-1], dtype=bool)
    for axis, (before, after) in enumerate(band):
        size = diff.shape[1 + axis]
        index = [slice(None)] * border.ndim
        index[axis] = slice(0, min(before, size))
        border[tuple(index)] = True
        index[axis] = slice(max(size - after, 0), size)
        border[tuple(index)] = True
    per_position = diff.sum(axis=(0, diff.ndim - 1))
    count = diff.shape[0] * diff.shape[-1]
    total = float(per_position.sum())
    inside = ~border
    return dict(
        border_pixel_share=float(border.mean()),
        border_diff_share=float(per_position[border].sum() / total) if total else 0.0,
        border_mean_abs=float(per_position[border].sum() / (border.sum() * count))
        if border.any() else 0.0,
        interior_mean_abs=float(per_position[inside].sum() / (inside.sum() * count))
        if inside.any() else 0.0,
    )
