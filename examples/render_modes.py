"""Render docs/modes.png: the five padding modes side by side, and one mode per axis.

Top row: a synthetic 96x96 landscape padded by 24 pixels on every side with
`padrewrite.layers.Padding2D` in each mode, then with one mode per axis
(constant height, circular width: a 360° panorama); a dashed frame marks the
original image. Bottom row: the 1D example [1, 2, 3] padded by 2 with
`Padding1D`. Every result is checked against numpy.pad (axis by axis for the
per-axis mode) before it is drawn.

    python examples/render_modes.py [--out docs/modes.png]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SIZE = 96
PAD = 24
ROW = [1.0, 2.0, 3.0]
ROW_PAD = 2
# One colour per mode: title, frame and the pad cells of the 1D row.
COLOURS = {
    "constant": "#8c8c8c",
    "reflect": "#1f77b4",
    "replicate": "#2ca02c",
    "symmetric": "#9467bd",
    "circular": "#d62728",
}
#: The per-axis example: one mode for the height, one for the width.
PER_AXIS = ("constant", "circular")
PER_AXIS_LABEL = "H=constant,W=circular"
COLOURS[PER_AXIS_LABEL] = "#ff7f0e"


def landscape(size=SIZE):
    """An RGB image in [0, 1] whose four edges all differ, so the modes do too."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype("float32") / (size - 1)
    sky_top, sky_low = np.array([0.16, 0.35, 0.72]), np.array([0.98, 0.78, 0.55])
    img = sky_top + (sky_low - sky_top) * yy[..., None] ** 0.8

    sun = (yy - 0.30) ** 2 + (xx - 0.72) ** 2
    img = np.where((sun < 0.012)[..., None], [1.0, 0.93, 0.35], img)
    glow = np.exp(-sun / 0.02)[..., None]
    img = img + 0.25 * glow * (np.array([1.0, 0.9, 0.5]) - img)

    far = 0.55 + 0.10 * np.sin(7.0 * xx + 0.6) + 0.05 * np.sin(19.0 * xx)
    img = np.where((yy > far)[..., None], [0.38, 0.45, 0.62], img)
    near = 0.72 + 0.09 * np.sin(4.0 * xx + 2.4)
    grass = np.array([0.20, 0.52, 0.20]) + 0.12 * (yy - near)[..., None]
    img = np.where((yy > near)[..., None], grass, img)

    # A red house touching the left edge and a path leading to the bottom edge.
    house = (xx < 0.20) & (yy > 0.60) & (yy < 0.80)
    roof = (yy > 0.46) & (yy <= 0.60) & (np.abs(xx - 0.10) < (yy - 0.46) * 1.0)
    img = np.where(house[..., None], [0.78, 0.18, 0.14], img)
    img = np.where(roof[..., None], [0.35, 0.18, 0.12], img)
    door = (xx > 0.08) & (xx < 0.13) & (yy > 0.70) & (yy < 0.80)
    img = np.where(door[..., None], [0.25, 0.12, 0.06], img)
    path = (yy > 0.80) & (np.abs(xx - (0.10 + 0.9 * (yy - 0.80))) < 0.04 + 0.2 * (yy - 0.8))
    img = np.where(path[..., None], [0.84, 0.74, 0.52], img)

    # A yellow bird top-left so reflect and symmetric are easy to tell apart.
    bird = ((yy - 0.08) ** 2 + (xx - 0.06) ** 2) < 0.0025
    img = np.where(bird[..., None], [0.98, 0.84, 0.10], img)
    return np.clip(img, 0.0, 1.0).astype("float32")


def pad_all(image, row):
    """Pad the image and the 1D row in every mode; check each against numpy.pad."""
    import numpy as np

    from padrewrite.layers import Padding1D, Padding2D
    from padrewrite.modes import MODES, NUMPY_NAMES

    results = {}
    for mode in MODES:
        padded = Padding2D(PAD, mode=mode)(image[None])[0]
        padded = np.asarray(padded)
        expected = np.pad(image, ((PAD, PAD), (PAD, PAD), (0, 0)), mode=NUMPY_NAMES[mode])
        np.testing.assert_array_equal(padded, expected)

        values = np.asarray(row, "float32")[None, :, None]
        padded_row = np.asarray(Padding1D(ROW_PAD, mode=mode)(values))[0, :, 0]
        expected_row = np.pad(np.asarray(row, "float32"), ROW_PAD, mode=NUMPY_NAMES[mode])
        np.testing.assert_array_equal(padded_row, expected_row)
        results[mode] = (padded, padded_row.astype(int).tolist())

    padded = np.asarray(Padding2D(PAD, mode=PER_AXIS)(image[None])[0])
    expected = np.pad(image, ((PAD, PAD), (0, 0), (0, 0)), mode=NUMPY_NAMES[PER_AXIS[0]])
    expected = np.pad(expected, ((0, 0), (PAD, PAD), (0, 0)), mode=NUMPY_NAMES[PER_AXIS[1]])
    np.testing.assert_array_equal(padded, expected)
    results[PER_AXIS_LABEL] = (padded, None)
    return results


def draw_note(ax, text, colour):
    """Text in place of the 1D row, for the per-axis example."""
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9.5, color=colour,
            transform=ax.transAxes)
    ax.axis("off")


def draw_row(ax, values, colour):
    """Cells for a padded 1D row: original cells white and bold, pad cells tinted."""
    from matplotlib.patches import Rectangle

    count = len(values)
    for i, value in enumerate(values):
        original = ROW_PAD <= i < count - ROW_PAD
        ax.add_patch(
            Rectangle(
                (i, 0),
                1,
                1,
                facecolor="white" if original else colour,
                alpha=1.0 if original else 0.25,
                edgecolor="none",
            )
        )
        ax.add_patch(Rectangle((i, 0), 1, 1, fill=False, edgecolor="#555555", lw=0.8))
        ax.text(
            i + 0.5,
            0.5,
            str(value),
            ha="center",
            va="center",
            fontsize=12,
            fontweight="bold" if original else "normal",
            color="black" if original else colour,
        )
    ax.add_patch(
        Rectangle((ROW_PAD, 0), count - 2 * ROW_PAD, 1, fill=False, edgecolor="black", lw=1.8)
    )
    ax.set_xlim(-0.1, count + 0.1)
    ax.set_ylim(-0.1, 1.1)
    ax.set_aspect("equal")
    ax.axis("off")


def render(out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from padrewrite.modes import NUMPY_NAMES

    results = pad_all(landscape(), ROW)
    modes = list(results)
    fig = plt.figure(figsize=(16.2, 3.75), dpi=100)
    grid = fig.add_gridspec(2, len(modes), height_ratios=[7.0, 1.1], hspace=0.04, wspace=0.06)
    for col, mode in enumerate(modes):
        padded, padded_row = results[mode]

        ax = fig.add_subplot(grid[0, col])
        ax.imshow(padded, interpolation="nearest")
        ax.add_patch(
            Rectangle(
                (PAD - 0.5, PAD - 0.5), SIZE, SIZE, fill=False, edgecolor="white", lw=1.6
            )
        )
        ax.add_patch(
            Rectangle(
                (PAD - 0.5, PAD - 0.5),
                SIZE,
                SIZE,
                fill=False,
                edgecolor="black",
                lw=1.6,
                linestyle=(0, (4, 4)),
            )
        )
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(COLOURS[mode])
            spine.set_linewidth(2.5)
        per_axis = mode == PER_AXIS_LABEL
        title = "constant (0)" if mode == "constant" else mode
        ax.text(
            0.5,
            1.10,
            title,
            transform=ax.transAxes,
            ha="center",
            va="bottom",
            fontsize=13,
            fontweight="bold",
            color=COLOURS[mode],
        )
        ax.text(
            0.5,
            1.02,
            "np.pad per axis" if per_axis
            else f"np.pad(mode='{NUMPY_NAMES[mode]}')",
            transform=ax.transAxes,
            ha="center",
            va="bottom",
            fontsize=10,
            family="monospace",
            color="#444444",
        )

        if per_axis:
            draw_note(fig.add_subplot(grid[1, col]),
                      "width wraps (360° panorama),\nheight padded with 0",
                      COLOURS[mode])
        else:
            draw_row(fig.add_subplot(grid[1, col]), padded_row, COLOURS[mode])

    fig.suptitle(
        f"padrewrite padding modes — {SIZE}×{SIZE} image padded by {PAD} px "
        f"(dashed frame = original), last: one mode per axis;  below: [1, 2, 3] padded by "
        f"{ROW_PAD}",
        fontsize=12.5,
        y=1.035,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight", pad_inches=0.08)
    plt.close(fig)
    return {mode: row for mode, (_, row) in results.items() if row is not None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "docs" / "modes.png",
        help="where to write the PNG (default: docs/modes.png)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    rows = render(args.out)
    width = max(len(mode) for mode in rows)
    for mode, row in rows.items():
        print(f"{mode:<{width}}  {row}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
