"""Pictures of a Schedule: the LR curve of every parameter group over the optimizer steps, with
the epoch boundaries, the warm-up, the checkpoints and the samples marked.

SVG and HTML (a page with the SVG and the timetable) are written by kohya-tune itself: plain
text, no dependency. PNG needs matplotlib, the optional extra `pip install 'kohya-tune[plot]'`;
without it --plot FILE.png stops with a message saying so. Files are written to a temporary file
in the same folder, then renamed.
"""
from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

from kohya_tune.engine.schedule import Schedule

FORMATS = (".svg", ".html", ".htm", ".png")
WIDTH, HEIGHT = 960, 480
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
MISSING_MATPLOTLIB = ("PNG pictures need matplotlib, which is not installed: "
                      "pip install 'kohya-tune[plot]' (or write FILE.svg / FILE.html, which need nothing)")


class PlotError(Exception):
    pass


def check_target(path: str) -> str | None:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        return f"the picture format comes from the file name: use .svg, .html or .png, not {suffix or 'no suffix'!r}"
    parent = Path(path).parent
    if str(parent) and not parent.is_dir():
        return f"folder {str(parent)!r} does not exist"
    return None


def write(schedule: Schedule, path: str) -> None:
    if schedule.lr is None:
        raise PlotError(f"no learning-rate curve to draw ({schedule.lr_note})")
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        data = png_bytes(schedule)
        _write_atomic(path, data)
    elif suffix == ".svg":
        _write_atomic(path, svg(schedule).encode("utf-8"))
    else:
        _write_atomic(path, page(schedule).encode("utf-8"))


def _write_atomic(path: str, data: bytes) -> None:
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent or "."))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------------
# geometry shared by SVG and PNG


def _series(schedule: Schedule):
    lr = schedule.lr
    return [(name, [row[i] for row in lr.per_step]) for i, name in enumerate(lr.groups)]


def _top(schedule: Schedule) -> list[float]:
    """The curve of the group with the highest LR: checkpoints are marked on it."""
    return max((values for _, values in _series(schedule)), key=lambda v: max(v, default=0.0))


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


def _nice_ticks(top: float, count: int = 5) -> list[float]:
    if top <= 0:
        return [0.0]
    import math

    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    ticks = []
    v = 0.0
    while v <= top * 1.0001:
        ticks.append(v)
        v += step
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.1e}"


def svg(schedule: Schedule, width: int = WIDTH, height: int = HEIGHT) -> str:
    series = _series(schedule)
    S = len(schedule.lr.per_step)
    top = max((max(v) for _, v in series if v), default=0.0) or 1.0
    ticks = _nice_ticks(top)
    ymax = max(ticks[-1], top)
    left, right, up, down = 80, 20, 50, 90
    pw, ph = width - left - right, height - up - down

    def x(step: float) -> float:
        return left + (step - 1) / max(1, S - 1) * pw

    def y(v: float) -> float:
        return up + ph - v / ymax * ph

    esc = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<title>{esc(_title(schedule))}</title>',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="22" font-size="14">{esc(_title(schedule))}</text>']
    lr = schedule.lr
    if lr.warmup_optimizer_steps:
        end = min(S, 1 + lr.warmup_optimizer_steps)
        parts.append(f'<rect x="{x(1):.1f}" y="{up}" width="{max(0.0, x(end) - x(1)):.1f}" height="{ph}" '
                     f'fill="#fff3cd"><title>warm-up: {lr.warmup_steps} scheduler steps</title></rect>')
    for e in schedule.epochs[:-1]:
        xe = x(e.last_step + 0.5)
        parts.append(f'<line x1="{xe:.1f}" y1="{up}" x2="{xe:.1f}" y2="{up + ph}" stroke="#cccccc" '
                     f'stroke-dasharray="4 3"><title>end of epoch {e.epoch} (step {e.last_step})</title></line>')
    for t in ticks:
        parts.append(f'<line x1="{left}" y1="{y(t):.1f}" x2="{left + pw}" y2="{y(t):.1f}" stroke="#eeeeee"/>')
        parts.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    parts.append(f'<line x1="{left}" y1="{up + ph}" x2="{left + pw}" y2="{up + ph}" stroke="black"/>')
    parts.append(f'<line x1="{left}" y1="{up}" x2="{left}" y2="{up + ph}" stroke="black"/>')
    for k in sorted({1, S, *[e.last_step for e in schedule.epochs]}):
        parts.append(f'<text x="{x(k):.1f}" y="{up + ph + 16}" text-anchor="middle">{k}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{up + ph + 34}" text-anchor="middle">optimizer step</text>')
    parts.append(f'<text x="18" y="{up + ph / 2}" transform="rotate(-90 18 {up + ph / 2})" '
                 f'text-anchor="middle">learning rate</text>')
    for i, (name, values) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        points = " ".join(f"{x(k):.2f},{y(v):.2f}" for k, v in enumerate(values, start=1))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}">'
                     f'<title>{esc(name)}</title></polyline>')
        parts.append(f'<text x="{left + 10 + 170 * i}" y="{height - 14}" fill="{color}">'
                     f'&#9472;&#9472; {esc(name)} (base {_fmt(lr.base[i]) if lr.base[i] is not None else "-"})</text>')
    main = _top(schedule)
    for c in schedule.checkpoints:
        if c.kind in ("epoch", "step", "final"):
            v = main[c.step - 1] if 0 < c.step <= len(main) else 0.0
            fill = "black" if c.kept else "white"
            parts.append(f'<path d="M {x(c.step):.1f} {y(v) - 9:.1f} l -5 -9 l 10 0 z" fill="{fill}" '
                         f'stroke="black"><title>{esc(c.file)} (step {c.step}, '
                         f'{"kept" if c.kept else "removed at step " + str(c.removed_at)})</title></path>')
    for s in schedule.samples:
        xs = x(max(1, s.step))
        parts.append(f'<circle cx="{xs:.1f}" cy="{up + ph + 50}" r="4" fill="#2ca02c">'
                     f'<title>samples at step {s.step} ({s.when})</title></circle>')
    parts.append(f'<text x="{width - right}" y="{height - 14}" text-anchor="end">'
                 f'&#9660; checkpoint (filled: kept)   &#9679; samples   dashed: epoch ends</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


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


def png_bytes(schedule: Schedule, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    try:
        import matplotlib
    except ImportError:
        raise PlotError(MISSING_MATPLOTLIB) from None
    import io

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    lr = schedule.lr
    steps = list(range(1, len(lr.per_step) + 1))
    for i, (name, values) in enumerate(_series(schedule)):
        ax.plot(steps, values, color=COLORS[i % len(COLORS)], label=f"{name} (base {_fmt(lr.base[i] or 0)})")
    for e in schedule.epochs[:-1]:
        ax.axvline(e.last_step + 0.5, color="#cccccc", linestyle="--", linewidth=0.8)
    if lr.warmup_optimizer_steps:
        ax.axvspan(1, min(len(steps), 1 + lr.warmup_optimizer_steps), color="#fff3cd")
    main = _top(schedule)
    marked = False
    for c in schedule.checkpoints:
        if c.kind in ("epoch", "step", "final") and 0 < c.step <= len(main):
            ax.plot([c.step], [main[c.step - 1]], marker="v", color="black", linestyle="none",
                    markerfacecolor="black" if c.kept else "white",
                    label=None if marked else "checkpoint (filled: kept at the end)")
            marked = True
    if schedule.samples:
        ax.plot([max(1, s.step) for s in schedule.samples], [0] * len(schedule.samples), "o", color="#2ca02c",
                label="samples")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_title(_title(schedule), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
