"""Pictures of a Schedule: the LR curve of every parameter group over the optimizer steps, with
the epochs, the warm-up, the checkpoints and the samples marked.

What the picture says is what the schedule says:
- groups whose LR is the same at every step (a text encoder at the U-Net's LR) are one line
  labelled with both names ("identical"), not two lines drawn over each other;
- the step axis has step numbers below and the epoch numbers above (every epoch, or every k-th
  when they would touch);
- the legend lists every mark (each curve, the warm-up band, the epoch ends, checkpoints,
  samples) and sits outside the plotting area, its entries laid out so none overlaps another.

SVG and HTML (a page with the SVG and the timetable) are written by kohya-tune itself: plain
text, no dependency. PNG needs matplotlib, the optional extra `pip install 'kohya-tune[plot]'`;
without it --plot FILE.png is refused before anything is computed. Files are written through
`edit.rewrite.write_atomic`: a temporary file in the same folder, then renamed; a new file gets
the user's umask, a replaced one keeps its mode, a read-only one is refused.
"""
from __future__ import annotations

import html
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

from kohya_tune.engine.schedule import Schedule

FORMATS = (".svg", ".html", ".htm", ".png")
WIDTH, HEIGHT = 960, 480
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
WARMUP_COLOR = "#fff3cd"
EPOCH_COLOR = "#bbbbbb"
SAMPLE_COLOR = "#2ca02c"
MISSING_MATPLOTLIB = ("PNG pictures need matplotlib, which is not installed: "
                      "pip install 'kohya-tune[plot]' (or write FILE.svg / FILE.html, which need nothing)")
CHAR_WIDTH = 7.0   # px per character of the 12 px sans-serif legend text (a safe upper estimate)


class PlotError(Exception):
    pass


def check_target(path: str) -> str | None:
    """What is wrong with the --plot target, before the schedule is computed (None: fine)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        return f"the picture format comes from the file name: use .svg, .html or .png, not {suffix or 'no suffix'!r}"
    parent = Path(path).parent
    if str(parent) and not parent.is_dir():
        return f"folder {str(parent)!r} does not exist"
    if suffix == ".png" and not _has_matplotlib():
        return MISSING_MATPLOTLIB
    return None


def _has_matplotlib() -> bool:
    import sys

    if "matplotlib" in sys.modules:
        return sys.modules["matplotlib"] is not None
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def write(schedule: Schedule, path: str) -> None:
    from kohya_tune.edit import rewrite

    if schedule.lr is None:
        raise PlotError(f"no learning-rate curve to draw ({schedule.lr_note})")
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        data = png_bytes(schedule)
    elif suffix == ".svg":
        data = svg(schedule).encode("utf-8")
    else:
        data = page(schedule).encode("utf-8")
    try:
        rewrite.write_atomic(path, data)
    except rewrite.RewriteError as exc:
        raise PlotError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# what is drawn, shared by SVG and PNG

@dataclass
class Curve:
    names: list          # the groups that follow it
    values: list         # the LR at optimizer steps 1..S
    bases: list          # each group's base LR
    color: str

    @property
    def label(self) -> str:
        bases = sorted({_fmt(b) for b in self.bases if b is not None})
        base = f"base {bases[0]}" if len(bases) == 1 else "base " + " / ".join(bases) if bases else "base -"
        if len(self.names) == 1:
            return f"{self.names[0]} ({base})"
        return f"{' = '.join(self.names)} (identical curves, {base})"


def curves(schedule: Schedule) -> list[Curve]:
    """One curve per distinct series: groups with the same LR at every step share it."""
    lr = schedule.lr
    out: list[Curve] = []
    for i, name in enumerate(lr.groups):
        values = [row[i] for row in lr.per_step]
        for c in out:
            if c.values == values:
                c.names.append(name)
                c.bases.append(lr.base[i])
                break
        else:
            out.append(Curve([name], values, [lr.base[i]], COLORS[len(out) % len(COLORS)]))
    return out


def _finite(values) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(float(v))]


def _top_curve(all_curves: list[Curve]) -> list:
    """The curve with the highest LR: checkpoints are marked on it."""
    return max((c.values for c in all_curves), key=lambda v: max(_finite(v), default=0.0))


def _title(schedule: Schedule) -> str:
    plan = schedule.plan
    lr = schedule.lr
    warm = f", warm-up {lr.warmup_steps}" if lr.warmup_steps else ""
    if plan is None:  # a musubi-tuner run (engine.musubi_schedule): its report says who trains
        musubi = schedule.report.musubi
        who = f"{Path(musubi.config.path).name}: {musubi.script}.py, {schedule.profile}"
    else:
        who = f"{Path(plan.config.path).name}: {plan.script}.py, sd-scripts {plan.sd.label}"
    return (f"{who} - {lr.scheduler}{warm}, {schedule.report.max_train_steps} steps, "
            f"{schedule.report.num_train_epochs} epochs")


def _fmt(v) -> str:
    if v is None:
        return "-"
    v = float(v)
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values covering [low, high] (low <= 0 <= high here); any finite
    range, from subnormal to near the float maximum."""
    span = high - low
    if not math.isfinite(span) or span <= 0:
        return [low] if low == high else [low, high]
    raw = span / count
    exponent = math.floor(math.log10(raw))
    mag = math.pow(10.0, exponent) if exponent > -308 else raw
    step = next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), raw)
    if not math.isfinite(step) or step <= 0:
        return [low, high]
    first = math.floor(low / step)
    ticks = []
    k = first
    while len(ticks) < 4 * count + 2:
        v = k * step
        if v > high * (1 + 1e-9) + abs(step) * 1e-9:
            break
        if v >= low - abs(step) * 1e-9:
            ticks.append(v)
        k += 1
    return ticks or [low, high]


def value_range(all_curves: list[Curve]) -> tuple[float, float]:
    values = [v for c in all_curves for v in _finite(c.values)]
    low = min(values + [0.0])
    high = max(values + [0.0])
    if high == low:
        high = low + (abs(low) or 1.0)
    return low, high


def epoch_labels(schedule: Schedule, pixels: float) -> list:
    """(middle step, epoch number) to print on the step axis: every epoch, or every k-th when
    `pixels` per epoch would make the numbers touch (the last epoch always)."""
    eps = schedule.epochs
    if not eps:
        return []
    S = max(1, schedule.report.max_train_steps or 1)
    per_epoch = pixels * max(1, schedule.report.num_update_steps_per_epoch or 1) / S
    widest = len(str(eps[-1].epoch)) * CHAR_WIDTH + 6
    every = max(1, math.ceil(widest / max(per_epoch, 1e-9)))
    for nice in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if nice >= every:
            every = nice
            break
    candidates = [e for e in eps if e.epoch % every == 0 or e.epoch == 1 or e is eps[-1]]
    gap = widest * S / pixels          # the least distance, in steps, between two numbers
    shown: list = []
    for e in candidates:
        middle = (e.first_step + e.last_step) / 2
        if shown and middle - (shown[-1].first_step + shown[-1].last_step) / 2 < gap:
            if e is not eps[-1]:
                continue
            shown.pop()                # the last epoch's number wins over its neighbour's
        shown.append(e)
    return [((e.first_step + e.last_step) / 2, e.epoch) for e in shown]


def legend_entries(schedule: Schedule, all_curves: list[Curve]) -> list:
    """(kind, label, color) of everything drawn."""
    lr = schedule.lr
    out = [("line", c.label, c.color) for c in all_curves]
    if lr.warmup_optimizer_steps:
        out.append(("band", f"warm-up ({lr.warmup_steps} scheduler steps = "
                            f"{lr.warmup_optimizer_steps:g} optimizer steps)", WARMUP_COLOR))
    if len(schedule.epochs) > 1:
        out.append(("dash", "epoch end", EPOCH_COLOR))
    marks = [c for c in schedule.checkpoints if c.kind in ("epoch", "step", "final")]
    if marks:
        out.append(("filled", "checkpoint kept at the end", "black"))
        if any(not c.kept for c in marks):
            out.append(("hollow", "checkpoint removed later (save_last_n_*)", "black"))
    if schedule.samples:
        out.append(("dot", "sample images", SAMPLE_COLOR))
    return out


def layout_rows(entries: list, width: float, swatch: float = 28, gap: float = 18) -> list:
    """Rows of (x, entry) within `width`: every entry gets its text's estimated width plus a
    swatch, and moves to the next row rather than overlap the one before."""
    rows: list = [[]]
    x = 0.0
    for entry in entries:
        w = swatch + len(entry[1]) * CHAR_WIDTH
        if rows[-1] and x + w > width:
            rows.append([])
            x = 0.0
        rows[-1].append((x, entry))
        x += w + gap
    return rows


# --------------------------------------------------------------------------------------------
# SVG and HTML

def svg(schedule: Schedule, width: int = WIDTH, height: int = HEIGHT) -> str:
    all_curves = curves(schedule)
    lr = schedule.lr
    S = len(lr.per_step)
    left, right, up = 80, 20, 56
    pw = width - left - right
    entries = legend_entries(schedule, all_curves)
    rows = layout_rows(entries, pw)
    legend_h = 20 * len(rows)
    ph = max(160, height - up - 78 - legend_h)
    height = up + ph + 78 + legend_h
    low, high = value_range(all_curves)
    ticks = nice_ticks(low, high)
    ymin, ymax = min(ticks[0], low), max(ticks[-1], high)

    def x(step: float) -> float:
        return left + (step - 1) / max(1, S - 1) * pw

    def y(v) -> float:
        v = float(v)
        if not math.isfinite(v):
            v = ymax if v > 0 else ymin
        return up + ph - (v - ymin) / (ymax - ymin) * ph

    esc = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<title>{esc(_title(schedule))}</title>',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="20" font-size="14">{esc(_title(schedule))}</text>']
    if lr.warmup_optimizer_steps:
        end = min(S, 1 + lr.warmup_optimizer_steps)
        parts.append(f'<rect x="{x(1):.1f}" y="{up}" width="{max(0.0, x(end) - x(1)):.1f}" height="{ph}" '
                     f'fill="{WARMUP_COLOR}"><title>warm-up: {lr.warmup_steps} scheduler steps</title></rect>')
    for e in schedule.epochs[:-1]:
        xe = x(e.last_step + 0.5)
        parts.append(f'<line x1="{xe:.1f}" y1="{up}" x2="{xe:.1f}" y2="{up + ph}" stroke="{EPOCH_COLOR}" '
                     f'stroke-dasharray="4 3"><title>end of epoch {e.epoch} (step {e.last_step})</title></line>')
    for t in ticks:
        parts.append(f'<line x1="{left}" y1="{y(t):.1f}" x2="{left + pw}" y2="{y(t):.1f}" stroke="#eeeeee"/>')
        parts.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    parts.append(f'<line x1="{left}" y1="{up + ph}" x2="{left + pw}" y2="{up + ph}" stroke="black"/>')
    parts.append(f'<line x1="{left}" y1="{up}" x2="{left}" y2="{up + ph}" stroke="black"/>')
    # steps below, epochs above
    for k in _step_ticks(S):
        parts.append(f'<text x="{x(k):.1f}" y="{up + ph + 16}" text-anchor="middle">{k}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{up + ph + 32}" text-anchor="middle">optimizer step</text>')
    parts.append(f'<text x="{left - 6}" y="{up - 12}" text-anchor="end" font-size="11">epoch</text>')
    for middle, number in epoch_labels(schedule, pw):
        parts.append(f'<text x="{x(middle):.1f}" y="{up - 12}" text-anchor="middle" font-size="11">{number}</text>')
    parts.append(f'<text x="18" y="{up + ph / 2}" transform="rotate(-90 18 {up + ph / 2})" '
                 f'text-anchor="middle">learning rate</text>')
    for c in all_curves:
        points = " ".join(f"{x(k):.2f},{y(v):.2f}" for k, v in enumerate(c.values, start=1))
        parts.append(f'<polyline fill="none" stroke="{c.color}" stroke-width="2" points="{points}">'
                     f'<title>{esc(c.label)}</title></polyline>')
    main = _top_curve(all_curves)
    for c in schedule.checkpoints:
        if c.kind in ("epoch", "step", "final"):
            v = main[c.step - 1] if 0 < c.step <= len(main) else 0.0
            fill = "black" if c.kept else "white"
            parts.append(f'<path d="M {x(c.step):.1f} {y(v) - 4:.1f} l -5 -9 l 10 0 z" fill="{fill}" '
                         f'stroke="black"><title>{esc(c.file)} (step {c.step}, '
                         f'{"kept" if c.kept else "removed at step " + str(c.removed_at)})</title></path>')
    for s in schedule.samples:
        xs = x(max(1, s.step))
        parts.append(f'<circle cx="{xs:.1f}" cy="{up + ph - 5}" r="4" fill="{SAMPLE_COLOR}">'
                     f'<title>samples at step {s.step} ({s.when})</title></circle>')
    top = up + ph + 52
    for r, row in enumerate(rows):
        yy = top + 20 * r
        for dx, (kind, label, color) in row:
            parts.append(_svg_swatch(kind, left + dx, yy, color))
            parts.append(f'<text x="{left + dx + 28:.1f}" y="{yy + 4}">{esc(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _step_ticks(S: int) -> list[int]:
    ticks = sorted({int(t) for t in nice_ticks(0, S, 8) if 1 <= t <= S} | {1, S})
    # drop a round tick that would touch S's label
    if len(ticks) > 2 and (S - ticks[-2]) < S / 16:
        ticks.pop(-2)
    if len(ticks) > 2 and (ticks[1] - 1) < S / 16:
        ticks.pop(1)
    return ticks


def _svg_swatch(kind: str, x0: float, y0: float, color: str) -> str:
    if kind == "line":
        return f'<line x1="{x0:.1f}" y1="{y0}" x2="{x0 + 22:.1f}" y2="{y0}" stroke="{color}" stroke-width="2"/>'
    if kind == "band":
        return f'<rect x="{x0:.1f}" y="{y0 - 6}" width="22" height="12" fill="{color}" stroke="#e0c878"/>'
    if kind == "dash":
        return (f'<line x1="{x0:.1f}" y1="{y0}" x2="{x0 + 22:.1f}" y2="{y0}" stroke="{color}" '
                f'stroke-dasharray="4 3"/>')
    if kind in ("filled", "hollow"):
        fill = "black" if kind == "filled" else "white"
        return f'<path d="M {x0 + 11:.1f} {y0 + 5} l -5 -9 l 10 0 z" fill="{fill}" stroke="black"/>'
    return f'<circle cx="{x0 + 11:.1f}" cy="{y0}" r="4" fill="{color}"/>'


def page(schedule: Schedule) -> str:
    esc = html.escape
    rows = "\n".join(
        f"<tr><td>{c.step}</td><td>{c.epoch}</td><td>{esc(c.kind)}</td><td>{esc(c.file)}</td>"
        f"<td>{'kept' if c.kept else 'removed at step ' + str(c.removed_at)}</td></tr>"
        for c in schedule.checkpoints)
    samples = ", ".join(str(s.step) for s in schedule.samples) or "none"
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{esc(_title(schedule))}</title>"
            f"<style>body{{font-family:sans-serif}} td,th{{padding:2px 10px;text-align:left}}</style>"
            f"</head><body>\n<h1>{esc(_title(schedule))}</h1>\n{svg(schedule)}"
            f"<h2>Checkpoints</h2>\n<table><tr><th>step</th><th>epoch</th><th>kind</th><th>file</th>"
            f"<th>at the end</th></tr>\n{rows}\n</table>\n<h2>Samples</h2>\n<p>steps {esc(samples)}</p>\n"
            f"</body></html>\n")


# --------------------------------------------------------------------------------------------
# PNG (matplotlib)

def png_bytes(schedule: Schedule, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    import io

    fig, _, _ = png_figure(schedule, width, height)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def png_figure(schedule: Schedule, width: int = WIDTH, height: int = HEIGHT):
    """The matplotlib Figure of the PNG, its axes and its legend (drawn with Agg)."""
    try:
        import matplotlib
    except ImportError:
        raise PlotError(MISSING_MATPLOTLIB) from None

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    all_curves = curves(schedule)
    lr = schedule.lr
    S = len(lr.per_step)
    low, high = value_range(all_curves)
    # values in units of a power of ten named in the axis label (matplotlib's own offset text
    # would sit on the epoch numbers, and its tick locator fails near the float limits)
    scale = max(abs(low), abs(high))
    exponent = math.floor(math.log10(scale)) if scale > 0 else 0
    if -2 <= exponent <= 3:
        factor, unit = 1.0, ""
    elif -300 <= exponent <= 300:
        factor, unit = math.pow(10.0, exponent), f" (x 1e{exponent})"
    else:
        factor, unit = scale, f" (x {scale:.3g})"

    def ys(values):
        return [float(v) / factor if isinstance(v, (int, float)) and math.isfinite(float(v)) else float("nan")
                for v in values]

    entries = legend_entries(schedule, all_curves)
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    handles = []
    for kind, label, color in entries:
        if kind == "line":
            handles.append(Line2D([], [], color=color, linewidth=1.8, label=label))
        elif kind == "band":
            handles.append(Patch(facecolor=color, edgecolor="#e0c878", label=label))
        elif kind == "dash":
            handles.append(Line2D([], [], color=color, linestyle="--", linewidth=0.8, label=label))
        elif kind in ("filled", "hollow"):
            handles.append(Line2D([], [], marker="v", color="black", linestyle="none",
                                  markerfacecolor="black" if kind == "filled" else "white", label=label))
        else:
            handles.append(Line2D([], [], marker="o", color=color, linestyle="none", label=label))
    # the legend below the axes, outside the data: as many columns as fit the width (matplotlib
    # measures every entry, so none overlaps another)
    for ncol in range(len(handles), 0, -1):
        legend = fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8, frameon=False,
                            bbox_to_anchor=(0.5, 0.005), columnspacing=1.5, handlelength=2.2)
        box = legend.get_window_extent(renderer)
        if box.width <= width - 16 or ncol == 1:
            break
        legend.remove()
    bottom = (box.height + 52) / height
    top_margin = 62 / height
    ax = fig.add_axes([0.1, bottom, 0.87, max(0.2, 1 - bottom - top_margin)])
    steps = list(range(1, S + 1))
    for c in all_curves:
        ax.plot(steps, ys(c.values), color=c.color, linewidth=1.8)
    if lr.warmup_optimizer_steps:
        ax.axvspan(1, min(S, 1 + lr.warmup_optimizer_steps), color=WARMUP_COLOR, zorder=0)
    for e in schedule.epochs[:-1]:
        ax.axvline(e.last_step + 0.5, color=EPOCH_COLOR, linestyle="--", linewidth=0.8, zorder=0.5)
    main = ys(_top_curve(all_curves))
    for c in schedule.checkpoints:
        if c.kind in ("epoch", "step", "final") and 0 < c.step <= len(main):
            ax.plot([c.step], [main[c.step - 1]], marker="v", color="black", linestyle="none",
                    markerfacecolor="black" if c.kept else "white", markersize=7)
    if schedule.samples:
        ax.scatter([max(1, s.step) for s in schedule.samples], [0.03] * len(schedule.samples),
                   transform=ax.get_xaxis_transform(), color=SAMPLE_COLOR, s=22, zorder=3, clip_on=False)
    ax.set_xlim(0.5, S + 0.5)
    ymin, ymax = low / factor, high / factor
    pad = (ymax - ymin) * 0.05
    ax.set_ylim(ymin - (pad if ymin < 0 else 0), ymax + pad)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate" + unit)
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    top = ax.secondary_xaxis("top")
    labels = epoch_labels(schedule, 0.88 * width)
    top.set_xticks([m for m, _ in labels])
    top.set_xticklabels([str(n) for _, n in labels], fontsize=8)
    top.tick_params(length=0)
    top.set_xlabel("epoch", fontsize=9)
    fig.suptitle(_title(schedule), fontsize=9, y=0.985)
    return fig, ax, legend
