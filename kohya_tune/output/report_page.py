"""`kohya-tune report CONFIG -o run.html`: one self-contained page to keep or to share.

The answer first (what the trainer will run, beside what the GUI believes), the lint findings,
the subsets and buckets as bar charts, the LR curve with checkpoints and samples (the SVG of
`output.plot`), the epochs, the file names, the notes. Everything is inline: no script, no font,
no picture from elsewhere, so the page opens the same in any browser, offline, and prints (the
charts keep their colours, sections do not split across pages).

The numbers come from the same contracts as the commands (`steps_report.to_json`,
`schedule_report.to_json`, the linter's diagnostics): the page shows, it never computes a number
of the run.
"""
from __future__ import annotations

import html
import math

from kohya_tune.engine.steps import bucket_key
from kohya_tune.output import plot, schedule_report, steps_report

esc = html.escape

CSS = """
:root { --ink:#1b1f24; --muted:#5b6570; --line:#d8dde3; --soft:#f4f6f8; --accent:#1f77b4;
        --reg:#9467bd; --warn:#b45309; --err:#b91c1c; --ok:#15803d; --info:#1d4ed8; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1060px; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: var(--muted); margin: 0; }
code, .mono { font-family: ui-monospace, "Cascadia Mono", Consolas, monospace; font-size: 13px; }
.answer { border: 2px solid var(--accent); border-radius: 8px; padding: 14px 18px; margin: 18px 0 8px;
          background: #f3f8fc; }
.answer .big { font-size: 20px; font-weight: 650; margin: 0; }
.answer.refused { border-color: var(--err); background: #fdf2f2; }
.answer .sub { margin: 6px 0 0; color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
table.narrow { width: auto; min-width: 420px; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.differs td { background: #fff7e6; }
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; font-weight: 600; color: #fff; }
.tag.error { background: var(--err); } .tag.warning { background: var(--warn); }
.tag.info { background: var(--info); } .tag.ok { background: var(--ok); }
.finding { padding: 6px 0; border-bottom: 1px solid var(--line); }
.finding .help { color: var(--muted); margin-left: 1.2em; }
.bars td.bar { width: 48%; }
.bar span { display: block; height: 14px; background: var(--accent); border-radius: 2px; min-width: 2px; }
.bar span.reg { background: var(--reg); }
.bar span.off { background: var(--line); }
.figure svg { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
.note { color: var(--muted); }
.kept { color: var(--ok); font-weight: 600; }
.removed { color: var(--muted); }
details summary { cursor: pointer; color: var(--muted); }
footer { margin-top: 36px; color: var(--muted); font-size: 13px; }
@media print {
  body { max-width: none; padding: 0; font-size: 12px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; }
  tr, .figure, .keep, .answer, .finding, h3 { break-inside: avoid; }
  h3 { break-after: avoid; }
  details { display: block; }
  details > summary { display: none; }
}
"""


def _n(value) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return esc(f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))


def _bar(value: int, biggest: int, cls: str = "") -> str:
    width = 0 if biggest <= 0 or not value else max(0.5, 100 * value / biggest)
    return f'<div class="bar"><span class="{cls}" style="width:{width:.1f}%"></span></div>'


def _head(title: str) -> list[str]:
    return ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>"]


def _header(plan, data: dict, version: str) -> list[str]:
    config = data["config"]
    sd = f"sd-scripts {data['sd_scripts']}" + (
        f" (profile {data['sd_scripts_profile']})" if data.get("sd_scripts_profile") not in (None, data["sd_scripts"]) else "")
    where = [f"{esc(data['script'])}.py", esc(sd)]
    if plan.gui is not None:
        where.insert(0, f"kohya_ss {esc(steps_report.gui_label(plan))} ({esc(plan.gui.tab)} tab)")
    out = [f"<header><h1>{esc(config)}</h1>",
           f'<p class="meta">{" &rarr; ".join(where)} &middot; {_n(data["trainer"]["num_processes"])} '
           f'process{"es" if data["trainer"]["num_processes"] != 1 else ""}</p>']
    if plan.gui is not None and plan.gui_version_source:
        out.append(f'<p class="meta">GUI version: {esc(plan.gui_version_source)}</p>')
    if plan.sd_scripts_source:
        out.append(f'<p class="meta">sd-scripts: {esc(plan.sd_scripts_source)}</p>')
    out.append(f'<p class="meta">made by kohya-tune {esc(version)}</p></header>')
    return out


def _answer(report, data: dict) -> list[str]:
    lines = steps_report.answer_lines(report, "\u2192")
    out = ['<section id="answer" class="answer">', f'<p class="big">{esc(lines[0])}</p>']
    for extra in lines[1:]:
        out.append(f'<p class="sub">{esc(extra.strip())}</p>')
    out.append("</section>")
    return out


def _believes(plan, data: dict) -> list[str]:
    """What the GUI (or the file) says beside what the trainer runs."""
    t, gui = data["trainer"], data["gui"]
    image_steps = sum(s["image_steps"] or 0 for d in t["datasets"] for s in d["subsets"]
                      if s["used"] and not s["is_reg"])
    rows = []
    if gui is not None:
        head = ("", f"the GUI ({esc(gui['version'])}) believes", "the trainer runs")
        epochs_gui = gui.get("max_train_epochs") if gui.get("max_train_epochs") not in (None, "", 0) else gui.get("epoch")
        rows = [
            ("epochs", epochs_gui, t["num_train_epochs"]),
            ("optimizer steps (max_train_steps)", gui.get("max_train_steps"), t["max_train_steps"]),
            ("train image-steps per epoch", gui.get("total_steps"), image_steps),
            ("steps per epoch", None, t["num_update_steps_per_epoch"]),
        ]
    else:
        head = ("", "the config asks for", "the trainer runs")
        args = plan.args
        rows = [
            ("epochs", args.get("max_train_epochs"), t["num_train_epochs"]),
            ("optimizer steps (max_train_steps)", args.get("max_train_steps") if args.get("max_train_epochs") is None else None,
             t["max_train_steps"]),
            ("train image-steps per epoch", None, image_steps),
            ("steps per epoch", None, t["num_update_steps_per_epoch"]),
        ]
    rows += [
        ("batches per epoch (all processes)", None, t["num_batches"]),
        ("processes, gradient accumulation", None, f"{t['num_processes']}, {t['gradient_accumulation_steps']}"),
        ("reg image-steps found, used", None, f"{t['num_reg_images']:,}, {t['num_reg_images_used']:,}"
         if t["num_reg_images"] else None),
    ]
    out = ['<section id="believes"><h2>What the GUI believes, what the trainer runs</h2>' if gui is not None
           else '<section id="believes"><h2>What the config asks for, what the trainer runs</h2>',
           '<table class="narrow">', f"<tr><th>{head[0]}</th><th class=\"num\">{head[1]}</th><th class=\"num\">{head[2]}</th></tr>"]
    for label, left, right in rows:
        if right is None and left is None:
            continue
        differs = left not in (None, "") and str(_n(left)) != str(_n(right))
        out.append(f'<tr class="{"differs" if differs else ""}"><td>{esc(label)}</td>'
                   f'<td class="num">{_n(left) if left not in (None, "") else "&ndash;"}</td>'
                   f'<td class="num">{_n(right)}</td></tr>')
    out.append("</table>")
    if gui is not None and gui.get("formula"):
        out.append(f'<p class="note">The GUI computes max_train_steps = <code>{esc(gui["formula"])}</code>; '
                   f'the trainer counts batches bucket by bucket (below).</p>')
    out.append("</section>")
    return out


def _findings(diagnostics, config: str) -> list[str]:
    out = ['<section id="findings"><h2>Lint findings</h2>']
    if diagnostics is None:
        out.append('<p class="note">not linted</p></section>')
        return out
    order = {"error": 0, "warning": 1, "info": 2}
    main = [d for d in diagnostics if d.severity in ("error", "warning")]
    infos = [d for d in diagnostics if d.severity not in ("error", "warning")]
    if not main:
        out.append(f'<p><span class="tag ok">clean</span> no error or warning in {esc(config)}.</p>')

    def one(d) -> str:
        where = f"{d.path}:{d.line}:{d.column}"
        text = (f'<div class="finding"><span class="tag {esc(d.severity)}">{esc(d.severity)}</span> '
                f'<code>{esc(d.code)}</code> <span class="mono">{esc(where)}</span><br>{esc(d.short)}')
        if d.advice:
            text += f'<div class="help">help: {esc(d.advice)}</div>'
        return text + "</div>"

    for d in sorted(main, key=lambda d: (order.get(d.severity, 3), d.path or "", d.line, d.column)):
        out.append(one(d))
    if infos:
        out.append(f"<details><summary>{len(infos)} info line{'s' if len(infos) != 1 else ''} "
                   f"(how the numbers come about)</summary>")
        out.extend(one(d) for d in infos)
        out.append("</details>")
    out.append("</section>")
    return out


def _dataset(report, data: dict) -> list[str]:
    t = data["trainer"]
    out = ['<section id="dataset"><h2>Subsets and buckets</h2>']
    if data.get("dataset_config"):
        out.append(f'<p class="note">datasets from <code>{esc(data["dataset_config"])}</code></p>')
    for i, (d, dj) in enumerate(zip(report.datasets, t["datasets"])):
        dp = d.plan
        res = f"{dp.resolution[0]}x{dp.resolution[1]}" if dp.resolution else "&ndash;"
        mode = ("buckets off (one bucket)" if not dp.enable_bucket else "buckets, no upscale"
                if dp.bucket_no_upscale else f"buckets {dp.min_bucket_reso}-{dp.max_bucket_reso}, step {dp.bucket_reso_steps}")
        out.append(f"<h3>Dataset {i}: batch_size {_n(dp.batch_size)}, resolution {res}, {esc(mode)}</h3>")
        subsets = dj["subsets"]
        biggest = max((s["image_steps"] or 0 for s in subsets), default=0)
        out.append('<table class="bars"><tr><th>subset</th><th class="num">images</th>'
                   '<th class="num">repeats</th><th class="num">image-steps per epoch</th><th></th></tr>')
        for s in subsets:
            name = s["folder"] or s["image_dir"]
            kind = "reg" if s["is_reg"] else "train"
            if not s["used"]:
                out.append(f'<tr><td>{esc(str(name))} <span class="note">({kind}, ignored: '
                           f'{esc(str(s["ignored_because"]))})</span></td><td class="num">{_n(s["images_in_folder"])}</td>'
                           f'<td class="num">{_n(s["num_repeats"])}</td><td class="num">0</td>'
                           f'<td class="bar">{_bar(0, biggest, "off")}</td></tr>')
                continue
            steps = s["image_steps"] or 0
            used = (f' <span class="note">({_n(s["reg_images_used"])} images used after balancing)</span>'
                    if s["is_reg"] else "")
            out.append(f'<tr><td>{esc(str(name))} <span class="note">{kind}</span>{used}</td>'
                       f'<td class="num">{_n(s["image_count"])}</td><td class="num">{_n(s["num_repeats"])}</td>'
                       f'<td class="num">{_n(steps)}</td>'
                       f'<td class="bar">{_bar(steps, biggest, "reg" if s["is_reg"] else "")}</td></tr>')
        for f in d.skipped_folders:
            out.append(f'<tr><td>{esc(f.label)} <span class="note">({"reg" if f.is_reg else "train"} folder, '
                       f'ignored: {esc(str(f.reason))})</span></td><td class="num">{_n(len(f.images))}</td>'
                       f'<td class="num">&ndash;</td><td class="num">0</td>'
                       f'<td class="bar">{_bar(0, biggest, "off")}</td></tr>')
        out.append("</table>")
        buckets = dj["buckets"]
        if buckets:
            biggest = max(buckets.values())
            out.append('<table class="bars"><tr><th>bucket (WxH)</th><th class="num">image-steps</th>'
                       '<th class="num">batches</th><th></th></tr>')
            for key in sorted(d.buckets):
                count = d.buckets[key]
                out.append(f'<tr><td class="mono">{esc(bucket_key(key))}</td><td class="num">{_n(count)}</td>'
                           f'<td class="num">{_n(math.ceil(count / dp.batch_size))}</td>'
                           f'<td class="bar">{_bar(count, biggest)}</td></tr>')
            out.append(f'<tr><th colspan="2">batches: each bucket rounds its last batch up</th>'
                       f'<th class="num">{_n(d.num_batches)}</th><th></th></tr></table>')
    out.append("</section>")
    return out


def _schedule(schedule, sj: dict) -> list[str]:
    out = ['<section id="schedule"><h2>Learning rate, checkpoints and samples</h2>']
    lr = sj["lr"]
    if schedule.lr is not None:
        groups = ", ".join(f"{esc(g)} {_n(b) if b is not None else '&ndash;'}" for g, b in zip(lr["groups"], lr["base"]))
        warm = f", warm-up {_n(lr['warmup_steps'])} scheduler steps" if lr["warmup_steps"] else ", no warm-up"
        out.append(f'<div class="keep"><p>{esc(lr["scheduler"])}{warm}; the scheduler counts '
                   f'{_n(lr["num_training_steps"])} steps ({_n(lr["scheduler_steps_per_step"])} per optimizer '
                   f'step). Base LR: {groups}.</p>')
        out.append(f'<div class="figure" id="lr-curve">{plot.svg(schedule)}</div></div>')
    else:
        out.append(f'<p class="note">No LR curve: {esc(str(schedule.lr_note))}</p>')
    epochs = sj["epochs"]
    out.append("<h3>Epochs</h3>")
    if epochs:
        out.append('<table class="narrow"><tr><th class="num">epoch</th><th class="num">optimizer steps</th>'
                   '<th class="num">steps</th></tr>')
        shown = epochs if len(epochs) <= 12 else epochs[:5] + [None] + epochs[-5:]
        for e in shown:
            if e is None:
                out.append(f'<tr><td class="num">&hellip;</td><td class="num">{len(epochs) - 10} more epochs</td><td></td></tr>')
                continue
            out.append(f'<tr><td class="num">{_n(e["epoch"])}</td><td class="num">{_n(e["first_step"])}'
                       f'&ndash;{_n(e["last_step"])}</td><td class="num">{_n(e["steps"])}</td></tr>')
        out.append("</table>")
    else:
        out.append('<p class="note">no epoch: no batches</p>')
    out.append("</section>")
    return out


def _files(sj: dict) -> list[str]:
    out = ['<section id="files"><h2>Files the run writes</h2>']
    where = sj.get("output_dir")
    if where:
        out.append(f'<p>in <code>{esc(str(where))}</code></p>')
    cps = sj["checkpoints"]
    if not cps:
        out.append('<p class="note">no checkpoint</p>')
    else:
        out.append('<table><tr><th class="num">step</th><th class="num">epoch</th><th>what</th><th>file</th>'
                   '<th>at the end</th></tr>')
        kinds = {"epoch": "epoch save", "step": "step save", "final": "final model", "state": "state"}
        for c in cps:
            end = ('<span class="kept">kept</span>' if c["kept"] else
                   f'<span class="removed">removed at step {_n(c["removed_at_step"])}</span>')
            name = c["file"] + ("/" if c.get("folder") else "")
            out.append(f'<tr><td class="num">{_n(c["step"])}</td><td class="num">{_n(c["epoch"])}</td>'
                       f'<td>{esc(kinds.get(c["kind"], c["kind"]))}</td><td class="mono">{esc(name)}</td>'
                       f"<td>{end}</td></tr>")
        out.append("</table>")
        kept = sum(1 for c in cps if c["kept"])
        out.append(f'<p class="note">{kept} of {len(cps)} remain at the end.</p>')
    samples = sj["samples"]
    out.append("<h3>Samples</h3>")
    if samples:
        steps = ", ".join(_n(s["step"]) for s in samples)
        out.append(f"<p>{len(samples)} sample run{'s' if len(samples) != 1 else ''} at steps {steps}</p>")
    else:
        out.append('<p class="note">no sample images</p>')
    out.append("</section>")
    return out


def _notes(notes) -> list[str]:
    if not notes:
        return []
    return (['<section id="notes"><h2>Notes</h2><ul>'] + [f"<li>{esc(str(n))}</li>" for n in notes]
            + ["</ul></section>"])


def _footer(command: str) -> list[str]:
    return [f'<footer>Made with <code>{esc(command)}</code>. Every number is computed as the '
            f'trainer and the GUI release compute it; <code>kohya-tune steps</code> and '
            f'<code>kohya-tune schedule</code> show the working.</footer>', "</body>", "</html>"]


def page(schedule, diagnostics=None, *, version: str = "", command: str = "kohya-tune report") -> str:
    """The page of a run the trainer accepts."""
    report = schedule.report
    plan = report.plan
    sj = schedule_report.to_json(schedule)
    data = steps_report.to_json(report)
    parts = _head(f"{data['config']}: kohya-tune report")
    parts += _header(plan, data, version)
    parts += _answer(report, data)
    parts += _believes(plan, data)
    parts += _findings(diagnostics, data["config"])
    parts += _dataset(report, data)
    parts += _schedule(schedule, sj)
    parts += _files(sj)
    parts += _notes(sj["notes"])
    parts += _footer(command)
    return "\n".join(parts) + "\n"


def refused_page(plan, refusal: str, diagnostics=None, *, version: str = "",
                 command: str = "kohya-tune report") -> str:
    """The page of a config the trainer (or the GUI) refuses: the reason first, the GUI's own
    numbers, the findings."""
    config = plan.config.path
    parts = _head(f"{config}: kohya-tune report")
    parts.append(f"<header><h1>{esc(config)}</h1>")
    parts += [f'<p class="meta">{esc(line)}</p>' for line in steps_report.header_lines(plan)]
    parts.append(f'<p class="meta">made by kohya-tune {esc(version)}</p></header>')
    parts += ['<section id="answer" class="answer refused">', '<p class="big">The trainer would not start</p>',
              f'<p class="sub mono">{esc(refusal)}</p></section>']
    gui = steps_report.gui_lines(plan, None)
    if gui:
        parts.append('<section id="believes"><h2>What the GUI counts and sends</h2><ul>')
        parts += [f"<li>{esc(line.strip())}</li>" for line in gui if line.strip()]
        parts.append("</ul></section>")
    parts += _findings(diagnostics, config)
    parts += _footer(command)
    return "\n".join(parts) + "\n"
