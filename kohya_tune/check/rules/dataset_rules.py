"""KT3xx: what the trainer does with the dataset folders (folder names, image discovery, captions,
reg balancing, buckets) and where the kohya_ss GUI's own count disagrees with it.

Every rule here reads the engine's facts (`ctx.facts`, kohya_tune.engine.facts): one scan per
file that records every subset, the files the trainer finds and passes over, each caption and
every refusal, also when the trainer would stop (then `ctx.report` is None). No rule lists a
folder or opens a file itself.
"""
from __future__ import annotations

import os

from kohya_tune.check.diagnostics import lit
from kohya_tune.check.rules.base import Rule
from kohya_tune.engine import buckets as bucketing
from kohya_tune.engine import facts as facts_mod
from kohya_tune.engine.plan import Origin

GUI, ARGS, DATASET = "gui", "args", "dataset"
CAPTION_EXTENSIONS = (".txt", ".caption", ".cap", ".tags", ".tag")
MAX_NAMES = 8


# --------------------------------------------------------------------------------------------
# shared helpers

def _names(items, limit: int = MAX_NAMES) -> str:
    items = list(items)
    text = ", ".join(str(i) for i in items[:limit])
    if len(items) > limit:
        text += f" and {len(items) - limit} more"
    return text


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _touch(ctx):
    """The plan, with its datasets built (the facts scan builds them)."""
    plan = ctx.plan
    if plan is not None:
        ctx.facts  # noqa: B018 - builds plan.datasets and the scan, records a refusal
    return plan


def _folder_key(plan, is_reg: bool) -> str:
    if is_reg:
        return "reg_data_dir"
    if "train_data_dir" not in plan.arg_origins and "image_folder" in plan.arg_origins:
        return "image_folder"
    return "train_data_dir"


def _folder_origin(plan, is_reg: bool) -> Origin | None:
    return plan.arg_origins.get(_folder_key(plan, is_reg))


def _folder_text(plan, is_reg: bool) -> str:
    return str(plan.args.get("reg_data_dir" if is_reg else "train_data_dir") or "")


def _join(base: str, name: str) -> str:
    if not base:
        return name
    sep = "\\" if "\\" in base and "/" not in base else "/"
    return base.rstrip("/\\") + sep + name


def _arg_origin(plan, name: str) -> Origin | None:
    origin = plan.arg_origins.get(name)
    if origin is None and plan.gui is not None:
        if name == "resolution":
            origin = plan.arg_origins.get("max_resolution")
    return origin


def _kind_word(sf) -> str:
    return "reg" if sf.is_reg else "train"


def _label(sf) -> str:
    return str(sf.plan.image_dir)


def _subset_origin(plan, splan, key: str = "image_dir") -> Origin | None:
    """A subset of a dataset config: its `key` (or the table when the key is not written there);
    a folder-mode subset: the train_data_dir / reg_data_dir key."""
    origin = splan.origin
    if origin is None:
        return None
    if plan.dataset_doc is not None and origin.doc is plan.dataset_doc and \
            origin.keypath[:1] == ("datasets",):
        return Origin(origin.doc, tuple(origin.keypath) + (key,))
    return origin


def subsets(ctx) -> list:
    """Every DreamBooth/ControlNet subset of the facts, in dataset and subset order (fine-tuning
    subsets have no folders to explain)."""
    found = ctx.facts
    if found is None:
        return []
    return [sf for d in found.datasets if d.plan.kind != "ft" for sf in d.subsets]


def _caption_ext(splan) -> str:
    return splan.caption_extension or ".caption"


def _rule_active(ctx, code: str, prefix: bool = False) -> bool:
    """Whether another rule runs on this file (selected, not ignored, and for this kind)."""
    if ctx.linter is None:
        return False
    return any((r.code.startswith(code) if prefix else r.code == code) and ctx.doc.kind in r.kinds
               for r in ctx.linter.rules_for(ctx.doc.path))


def _in_folder(sf) -> str:
    """How a message names a subset's folder: `train folder 'img/10_dog'`."""
    return f"{_kind_word(sf)} folder {lit(_label(sf))}"


def _where(count: int, index: int) -> str:
    """The dataset a message speaks of, when there are several."""
    return f"dataset {index}: " if count > 1 else ""


class SubsetRule(Rule):
    """A rule with at most one finding per DreamBooth/ControlNet subset (`subsets`), placed at
    the subset's `origin_key` (see `_subset_origin`). Subclasses say what in `finding`; no code,
    so the linter does not run this class itself."""
    needs = "plan"
    origin_key = "image_dir"

    def check(self, ctx):
        plan = _touch(ctx)
        for sf in subsets(ctx):
            text = self.finding(plan, sf)
            if text:
                yield ctx.origin_diagnostic(self, text, _subset_origin(plan, sf.plan, self.origin_key))

    def finding(self, plan, sf) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError


class RegBalanceRule(Rule):
    """A rule about reg balancing, at most one finding per dataset of the trainer's report:
    `finding(dres, regs, where)` gives (text, severity or None, the subset to place it at) for
    the used reg subsets `regs`, or None."""
    needs = "steps"

    def check(self, ctx):
        report = ctx.report
        plan = report.plan
        for d_index, dres in enumerate(report.datasets):
            regs = [s for s in dres.subsets if s.used and s.is_reg]
            found = self.finding(dres, regs, _where(len(report.datasets), d_index))
            if found is not None:
                text, severity, at = found
                yield ctx.origin_diagnostic(self, text, _reg_origin(plan, at), severity=severity)

    def finding(self, dres, regs, where):  # pragma: no cover - interface
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# KT300

class TrainerRefuses(Rule):
    """The trainer would stop.

    sd-scripts refuses this setup before the first step: a value it cannot use, a dataset with
    no image at all (`No data found`), a resolution it rejects, and so on. The message is the
    trainer's own, reported at the key it comes from.

    Some refusals are reported more precisely by other rules, which then take over (when they
    are enabled for the file): an empty caption file (KT309 lists every empty caption file, not
    just the first one the trainer trips over), rejected bucket settings (KT311 points at the
    offending key) and schema errors in the linted file itself (KT1xx, same key). A dataset
    config linted on its own is not blamed for a missing `resolution` (the command line may
    give it), nor is an args TOML that names no data at all (a fragment used with more
    command-line options), nor a GUI preset (no image folder yet: the GUI would refuse to start
    until one is filled in).

    Bad (args TOML, every subfolder of `img` lacks the `N_` prefix):

        train_data_dir = "img"      # img/sks dog/0000.png ...

    Fixed:

        train_data_dir = "img"      # img/10_sks dog/0000.png ...
    """
    code = "KT300"
    name = "trainer-refuses"
    severity = "error"
    summary = "the trainer would stop with an error before training"
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        if ctx.report is not None:
            return
        refusal = ctx.extra.get("refusal")
        if refusal is None:
            return
        message = refusal.message
        if "caption file is empty" in message and _rule_active(ctx, "KT309"):
            return
        if _rule_active(ctx, "KT311") and any(f[3] == "error" for f in bucket_findings(ctx)):
            if _is_bucket_message(message):
                return
        standalone = ctx.doc.kind == DATASET
        if standalone and "Invalid user config" in (getattr(refusal, "note", None) or "") and \
                _rule_active(ctx, "KT1", prefix=True):
            return  # the schema rules (KT1xx) report it at the offending key
        if standalone and "resolution is required" in message:
            return  # a dataset config on its own: --resolution may come from the command line
        if ctx.doc.kind == ARGS and plan is not None and \
                not any(plan.args.get(k) for k in ("train_data_dir", "dataset_config", "in_json")):
            return  # a fragment: the data and the rest come from the command line
        origin = refusal.origin
        if origin is not None and origin.doc is ctx.doc and _rule_active(ctx, "KT1", prefix=True):
            if "schema_issues" not in ctx.extra:
                from kohya_tune.check import schema

                ctx.extra["schema_issues"] = schema.issues(ctx.doc)
            if any(tuple(i.keypath) == tuple(origin.keypath) for i in ctx.extra["schema_issues"]):
                return  # a wrong type or key the schema rules report at the same place
        severity = None
        if message.startswith("the GUI"):
            text = message
            if "is empty" in message:
                # a preset: partial by design, its folders are filled in before training (the
                # linter says once that the dataset rules need folders)
                ctx.extra["preset"] = True
                return
        else:
            text = f"the trainer stops: {message}"
        if origin is None and plan is not None:
            if plan.mode == "dataset_config":
                origin = plan.arg_origins.get("dataset_config")
            elif plan.mode == "folders":
                origin = _folder_origin(plan, False)
        if message.startswith("No data found") and plan is not None:
            skipped = [sf.plan.folder_name for sf in _skipped(ctx)]
            if skipped:
                text += f" (subfolders it skipped: {_names(lit(n) for n in skipped)})"
        yield ctx.origin_diagnostic(self, text, origin, severity=severity)


def _is_bucket_message(message: str) -> bool:
    keys = (bucketing.MIN_RESO_MESSAGE, bucketing.MAX_RESO_MESSAGE, "bucket_reso_steps is",
            "the max_size should be larger than", "ZeroDivisionError")
    return any(k in message for k in keys)


# --------------------------------------------------------------------------------------------
# KT301 / KT302: folder names

def _skipped(ctx) -> list:
    """Folder mode: the subfolders the trainer never makes a subset of (facts SubsetFacts)."""
    found = ctx.facts
    return [sf for d in found.datasets for sf in d.skipped_folders] if found is not None else []


class FolderNoRepeatPrefix(Rule):
    """Subfolder without a repeat prefix.

    In folder mode (train_data_dir / reg_data_dir without a dataset config) sd-scripts uses only
    subfolders named `<repeats>_<class tokens>`: the text before the first `_` must parse with
    Python's `int()`. Any other subfolder (`sks dog`, `dog_10`) is skipped with the log line
    `ignore directory without repeats`, and none of its images are trained.

    Bad (train_data_dir = "img"):

        img/10_sks dog/0000.png
        img/sks cat/0000.png        # skipped: no repeat count

    Fixed:

        img/10_sks dog/0000.png
        img/10_sks cat/0000.png     # 10 repeats, class tokens "sks cat"
    """
    code = "KT301"
    name = "folder-no-repeat-prefix"
    severity = "warning"
    summary = "a subfolder without an N_ prefix is skipped by the trainer"
    kinds = frozenset({GUI, ARGS})
    needs = "plan"

    def check(self, ctx):
        plan = _touch(ctx)
        for sf in _skipped(ctx):
            if sf.state != facts_mod.NO_PREFIX:
                continue
            name, is_reg, n = sf.plan.folder_name, sf.is_reg, len(sf.images)
            if name.startswith(".") and n == 0:
                continue  # .ipynb_checkpoints and the like
            key = _folder_key(plan, is_reg)
            folder = _join(_folder_text(plan, is_reg), name)
            head = name.split("_")[0]
            yield ctx.origin_diagnostic(
                self, f"folder {lit(folder)} has no repeat prefix (int() cannot parse {lit(head)}): the "
                      f"trainer skips it (\"ignore directory without repeats\") and its "
                      f"{_plural(n, 'image')} are never used; rename it to e.g. "
                      f"'10_{name}' for 10 repeats ({key})", _folder_origin(plan, is_reg))


class FolderRepeatsBelowOne(SubsetRule):
    """Repeat count below one.

    A folder named `0_dog` or `-1_dog` (or a dataset-config subset with `num_repeats = 0`)
    parses, but sd-scripts ignores subsets with fewer than 1 repeat: for folders silently, with no
    log line. The kohya_ss GUI's own step count includes the folder anyway (0 steps for `0_`,
    and a negative prefix *subtracts* its images from the GUI's total).

    Bad:

        img/10_sks dog/0000.png
        img/0_sks cat/0000.png      # ignored

    Fixed:

        img/10_sks dog/0000.png
        img/1_sks cat/0000.png
    """
    code = "KT302"
    name = "folder-repeats-below-one"
    severity = "warning"
    summary = "a folder or subset with fewer than 1 repeat is ignored by the trainer"
    origin_key = "num_repeats"

    def check(self, ctx):
        plan = _touch(ctx)
        for sf in _skipped(ctx):
            if sf.state != facts_mod.REPEATS_BELOW_ONE:
                continue
            name, is_reg, n = sf.plan.folder_name, sf.is_reg, len(sf.images)
            repeats = int(name.split("_")[0])
            folder = _join(_folder_text(plan, is_reg), name)
            text = (f"folder {lit(folder)} has repeat prefix {repeats} (less than 1): the trainer "
                    f"skips it silently and its {_plural(n, 'image')} are never used")
            gui = plan.gui
            if gui is not None and not is_reg and gui.total_steps is not None:
                gui_exts = _gui_exts(plan)
                g = _gui_count(sf.listing, gui_exts)
                if repeats == 0:
                    text += "; the GUI's own count adds 0 steps for it"
                else:
                    text += (f"; the GUI's own count subtracts {abs(repeats) * g} steps for it "
                             f"({repeats} x {g})")
            yield ctx.origin_diagnostic(self, text, _folder_origin(plan, is_reg))
        yield from super().check(ctx)

    def finding(self, plan, sf):
        if plan.dataset_doc is None or sf.state != facts_mod.REPEATS_BELOW_ONE:
            return None
        return (f"{_kind_word(sf)} subset {lit(_label(sf))} has num_repeats "
                f"{sf.plan.num_repeats} (less than 1): the trainer ignores it and its "
                f"{_plural(len(sf.images), 'image')} are never used")


# --------------------------------------------------------------------------------------------
# KT303: subsets without images, images outside subfolders

class SubsetWithoutImages(SubsetRule):
    """Folder or subset without images.

    The trainer ignores a subset in which its image search (`<dir>/*.png`, `*.jpg` ... no
    recursion) finds nothing (`no images found`). In folder mode only the subfolders of
    train_data_dir / reg_data_dir are searched: images sitting directly in train_data_dir are
    never used.

    Bad:

        img/0000.png                # train_data_dir = "img": not in an N_name subfolder

    Fixed:

        img/10_sks dog/0000.png
    """
    code = "KT303"
    name = "subset-without-images"
    severity = "warning"
    summary = "a folder or subset where the trainer finds no image (ignored)"

    def finding(self, plan, sf):
        if sf.state == facts_mod.NOT_A_DIRECTORY:
            return (f"{_in_folder(sf)} does not exist while the rest of the dataset is here: the "
                    f"trainer skips this subset (\"not directory\"); if it is on the training "
                    f"machine, map it with --path-map FROM=TO")
        if sf.state != facts_mod.NO_IMAGES:
            return None
        other = [n for files in sf.not_found.values() for n in files]
        sub = list(sf.listing.dirs) if sf.listing is not None else []
        tail = ""
        if other:
            tail = f" ({_plural(len(other), 'image-like file')} it does not match: {_names(sorted(other))})"
        elif sub:
            tail = f" (subfolders are not searched: {_names(sorted(sub))})"
        return (f"{_in_folder(sf)} contains no image the trainer finds: it ignores this subset "
                f"(\"no images found\"){tail}")

    def check(self, ctx):
        yield from super().check(ctx)
        plan = ctx.plan
        if plan.mode != "folders":
            return
        for root in ctx.facts.roots:
            is_reg, text, images = root.is_reg, root.text, root.loose_images
            if not text or not images:
                continue
            names = [os.path.basename(p) for p in images]
            key = _folder_key(plan, is_reg)
            yield ctx.origin_diagnostic(
                self, f"{_plural(len(images), 'image')} sit directly in {key} {lit(text)} "
                      f"({_names(names)}): the trainer only reads its N_name subfolders, so they "
                      f"are never used; move them into a subfolder such as "
                      f"{lit(_join(text, '10_name'))}", _folder_origin(plan, is_reg))


# --------------------------------------------------------------------------------------------
# KT304 / KT305: reg balancing

def _reg_origin(plan, sres) -> Origin | None:
    return _subset_origin(plan, sres.plan)


class RegImagesUnused(RegBalanceRule):
    """Some reg images are never used.

    sd-scripts balances regularization images against the train image-steps T of the dataset:
    it registers reg images (in subset/folder order, then file-name order), each with its own
    repeats, until T is reached. When the reg image-steps R exceed T, the rest are never
    registered: they cost caching time but are not trained. A whole reg folder that is never
    reached is a warning; otherwise this is informational.

    Bad (T = 10 x 4 = 40):

        img/10_sks dog/   4 images
        reg/1_dog/      120 images     # only the first 40 are used

    Fixed:

        reg/1_dog/       40 images     # or more train repeats
    """
    code = "KT304"
    name = "reg-images-unused"
    severity = "info"
    summary = "more reg image-steps than train image-steps: the rest are never used"

    def finding(self, dres, regs, where):
        T, R = dres.num_train_images, dres.num_reg_images
        if not (R > T > 0):
            return None
        total = sum(s.image_count for s in regs)
        used = sum(s.reg_used_images for s in regs)
        parts = [f"{lit(s.plan.image_dir)}: {s.reg_used_images} of {s.image_count} images"
                 for s in regs]
        dead = [s for s in regs if s.reg_used_images == 0]
        text = (f"{where}{R} reg image-steps found, {dres.num_reg_images_used} used: the trainer "
                f"registers reg images in folder order, then file-name order, until the "
                f"{T} train image-steps are matched; {total - used} of {total} reg images are "
                f"never used ({'; '.join(parts)})")
        severity = None
        if dead:
            severity = "warning"
            text += f"; reg folder {_names(lit(s.plan.image_dir) for s in dead)} is not used at all"
        first = next((s for s in regs if s.reg_used_images < s.image_count), regs[0])
        return text, severity, first


class RegImagesRepeated(RegBalanceRule):
    """Reg images are repeated to match the train images.

    When a dataset has fewer reg image-steps R than train image-steps T (but at least one), the
    trainer adds one repeat per reg image, round-robin in file order, until the reg image-steps
    equal T. Every reg image is then seen more often than its folder's repeat count says, so a
    handful of reg images can dominate the prior-preservation loss.

    Bad (T = 10 x 5 = 50):

        reg/1_dog/   8 images        # each reg image is used 6 or 7 times per epoch

    Fixed:

        reg/1_dog/  50 images        # each used once
    """
    code = "KT305"
    name = "reg-images-repeated"
    severity = "info"
    summary = "fewer reg image-steps than train image-steps: reg images are repeated up to T"

    def finding(self, dres, regs, where):
        T, R = dres.num_train_images, dres.num_reg_images
        if not (0 < R < T):
            return None
        m = sum(s.image_count for s in regs)
        if m == 0:
            return None
        q, rem = divmod(T - R, m)
        parts = []
        start = 0
        lows, highs = [], []
        for s in regs:
            n, r = s.image_count, s.num_repeats
            hi = r + q + (1 if start < rem else 0)
            lo = r + q + (1 if start + n - 1 < rem else 0)
            lows.append(lo)
            highs.append(hi)
            span = f"{lo}" if lo == hi else f"{lo}-{hi}"
            parts.append(f"{lit(s.plan.image_dir)}: {n} images with num_repeats {r} -> {span} "
                         f"times each")
            start += n
        lo, hi = min(lows), max(highs)
        span = f"{lo}" if lo == hi else f"{lo} to {hi}"
        return (f"{where}{R} reg image-steps found for {T} train image-steps: the trainer "
                f"repeats the {m} reg images up to {dres.num_reg_images_used}, so each is "
                f"used {span} times per epoch ({'; '.join(parts)})", None, regs[0])


# --------------------------------------------------------------------------------------------
# KT306 / KT307: files the glob does not match

def _optional_ext_note(plan, ext: str) -> str | None:
    for package, exts in (plan.sd.get("optional_image_extensions") or {}).items():
        if ext in exts or ext.lower() in [e.lower() for e in exts]:
            return f"{ext} is read only when {package} is installed in the trainer's environment"
    return None


class ImageExtensionNotFound(SubsetRule):
    """Image file the trainer's search does not match.

    sd-scripts finds images with `glob("<dir>/*<ext>")` for each of `.png .jpg .jpeg .webp .bmp`
    in lower case and in ALL CAPS (plus `.avif` / `.jxl` only when the optional pillow plugins
    are installed). On Linux the match is case-sensitive, so `0001.Jpg` or `0002.jPeg` are not
    found; `.jfif`, `.gif`, `.tif` are never read. These images are silently not trained (the
    kohya_ss GUI's own count, which matches case-insensitively, still counts the mixed-case ones).

    Bad:

        img/10_sks dog/0001.Jpg
        img/10_sks dog/0002.jfif

    Fixed:

        img/10_sks dog/0001.jpg
        img/10_sks dog/0002.jpg      # converted
    """
    code = "KT306"
    name = "image-extension-not-found"
    severity = "warning"
    summary = "image files whose extension the trainer's search does not match (on Linux)"

    def finding(self, plan, sf):
        files = sorted(sf.not_found.get("case", []) + sf.not_found.get("extension", []))
        if not files or sf.state == facts_mod.DUPLICATE:
            return None
        known = {e.lower() for e in plan.sd.image_extensions}
        case, other, optional = [], [], []
        notes = []
        for f in files:
            ext = os.path.splitext(f)[1]
            if ext.lower() in known:
                case.append(f)
            else:
                note = _optional_ext_note(plan, ext)
                if note:
                    optional.append(f)
                    if note not in notes:
                        notes.append(note)
                else:
                    other.append(f)
        parts = []
        if case:
            parts.append(f"mixed-case extension (rename to lower case): {_names(case)}")
        if other:
            exts = sorted({os.path.splitext(f)[1] for f in other})
            parts.append(f"{'/'.join(exts)} not read by sd-scripts (convert them): {_names(other)}")
        if optional:
            parts.append(f"{'; '.join(notes)}: {_names(optional)}")
        return (f"{_plural(len(files), 'file')} in {_in_folder(sf)} "
                f"{'looks like an image' if len(files) == 1 else 'look like images'} but "
                f"the trainer's search does not find {'it' if len(files) == 1 else 'them'} on Linux: "
                f"{'; '.join(parts)}")


class HiddenImages(SubsetRule):
    """Hidden image files.

    The trainer's `glob("*.png")` never matches names that start with a dot, so `.0001.png`
    is not trained (macOS `._0001.png` resource-fork files are harmless). Files that begin with
    a dot are usually hidden by accident (or are copies made by a tool).

    Bad:

        img/10_sks dog/.0004.png

    Fixed:

        img/10_sks dog/0004.png
    """
    code = "KT307"
    name = "hidden-images"
    severity = "warning"
    summary = "image files starting with '.' are never found by the trainer"

    def finding(self, plan, sf):
        files = sorted(f for f in sf.not_found.get("hidden", []) if not f.startswith("._"))
        if not files or sf.state == facts_mod.DUPLICATE:
            return None
        return (f"{_plural(len(files), 'hidden image file')} in {_in_folder(sf)} ({_names(files)}): "
                f"names starting with '.' never match the trainer's glob, so they are not trained")


# --------------------------------------------------------------------------------------------
# KT308: the GUI's count

def _gui_exts(plan) -> tuple:
    from kohya_tune.engine import gui as gui_launch

    try:
        return tuple(gui_launch.load_profile(plan.gui.version)[1]["count"]["exts"])
    except (KeyError, ValueError, TypeError):
        return (".jpg", ".jpeg", ".png", ".webp")


def _gui_count(listing, exts: tuple) -> int:
    """The GUI's own image count of a folder (kohya_tune.engine.gui: lower-cased names ending
    with its extensions, files and folders alike), from the scan's listing."""
    if listing is None:
        return 0
    return len(_gui_files(listing, exts))


def _gui_files(listing, exts: tuple) -> set:
    from kohya_tune.engine import gui

    return gui.counted_names(listing.names, exts)


class GuiCountMismatch(Rule):
    """The kohya_ss GUI counts different images than the trainer.

    The GUI computes max_train_steps from its own image count: files in the N_name subfolders
    of train_data_dir whose lower-cased name ends with `.jpg .jpeg .png .webp`. The trainer
    matches `.png .jpg .jpeg .webp .bmp` in lower case or ALL CAPS only, skips hidden files and
    folders with fewer than 1 repeat. So `.Jpg` files and negative prefixes are counted only by
    the GUI, `.bmp` only by the trainer. The GUI also doubles its steps (reg factor 2) whenever
    reg_data_dir is set, even when the trainer finds no reg image there.

    Bad (GUI: 60 image-steps from 4 .png + 2 .Jpg, trainer: 70 from 4 .png + 3 .bmp):

        img/10_tok/0003.png
        img/10_tok/0004.bmp         # counted by the trainer only
        img/10_tok/0007.Jpg         # counted by the GUI only (on Linux)

    Fixed (9 .png files: both count 90):

        img/10_tok/0003.png
        img/10_tok/0004.png
        img/10_tok/0007.png
    """
    code = "KT308"
    name = "gui-count-mismatch"
    severity = "warning"
    summary = "the GUI's own image count differs from what the trainer uses"
    kinds = frozenset({GUI})
    needs = "steps"

    def check(self, ctx):
        report = ctx.report
        plan = report.plan
        gui = plan.gui
        if gui is None or plan.mode != "folders" or gui.tab == "finetune":
            return
        origin = _folder_origin(plan, False)
        if gui.total_steps is not None and gui.total_steps != report.num_train_images:
            reasons = self._reasons(plan, report)
            text = (f"the GUI counts {gui.total_steps} train image-steps (its total_steps) but the "
                    f"trainer uses {report.num_train_images}")
            if reasons:
                text += ": " + "; ".join(reasons)
            if gui.formula:
                text += f" (the GUI's max_train_steps = {gui.formula})"
            yield ctx.origin_diagnostic(self, text, origin)
        if gui.reg_factor == 2 and report.num_reg_images == 0 and gui.formula:
            reg = _folder_text(plan, True)
            yield ctx.origin_diagnostic(
                self, f"the GUI doubles its step count for reg_data_dir {lit(reg)} (reg factor 2: "
                      f"{gui.formula}) but the trainer finds no usable reg image there, so the "
                      f"dataset is not doubled and training runs twice the intended epochs",
                _folder_origin(plan, True) or origin)

    def _reasons(self, plan, report) -> list[str]:
        exts = _gui_exts(plan)
        out = []
        found = report.facts
        folders = [sf for d in found.datasets for sf in d.subsets + d.skipped_folders
                   if not sf.is_reg and sf.plan.folder_name is not None]
        for sf in sorted(folders, key=lambda s: s.plan.folder_name):
            name = sf.plan.folder_name
            if sf.state == facts_mod.NO_PREFIX or sf.listing is None:
                continue
            gui_files = _gui_files(sf.listing, exts)
            trainer_files = {os.path.basename(p) for p in sf.images} if sf.used else set()
            if sf.state == facts_mod.REPEATS_BELOW_ONE:
                repeats = sf.plan.num_repeats
                if repeats < 0 and gui_files:
                    out.append(f"folder {lit(name)}: the GUI subtracts {abs(repeats) * len(gui_files)} "
                               f"for its negative prefix, the trainer skips it")
                continue
            only_gui = sorted(gui_files - trainer_files)
            only_trainer = sorted(trainer_files - gui_files)
            if only_gui:
                out.append(f"folder {lit(name)}: counted only by the GUI: {_names(only_gui)}")
            if only_trainer:
                out.append(f"folder {lit(name)}: used only by the trainer: {_names(only_trainer)}")
        if any(d.validation_split > 0 for d in plan.datasets):
            out.append("validation_split moves images out of the trainer's training set")
        return out


# --------------------------------------------------------------------------------------------
# KT309: empty caption files

class EmptyCaptionFile(SubsetRule):
    """Empty caption file.

    For every image the trainer reads `<image stem><caption_extension>` when it exists. An empty
    caption file stops it with `AssertionError: caption file is empty`. This rule lists every
    empty caption file the trainer would read (the trainer reports only the first), in the
    subsets it uses; KT300 leaves this refusal to it.

    Only files with the subset's caption_extension count (default `.caption`; set
    `caption_extension = ".txt"` for .txt captions).

    Bad:

        img/10_sks dog/0001.png
        img/10_sks dog/0001.txt      # 0 bytes, caption_extension = ".txt"

    Fixed:

        img/10_sks dog/0001.txt      # "a photo of sks dog"  (or delete the file)
    """
    code = "KT309"
    name = "empty-caption-file"
    severity = "error"
    summary = "an empty caption file makes the trainer stop"

    def finding(self, plan, sf):
        empty = list(sf.captions.empty) if sf.captions is not None else []
        if sf.held_out_captions is not None:
            empty += sf.held_out_captions.empty
        if not empty:
            return None
        empty = sorted({os.path.basename(path) for path in empty})
        return (f"{_plural(len(empty), 'empty caption file')} in {_in_folder(sf)}: {_names(empty)}; "
                f"the trainer stops with \"AssertionError: caption file is empty\" (write a "
                f"caption or delete the file)")


# --------------------------------------------------------------------------------------------
# KT310: reg folder order

def _reg_usage(report) -> str:
    parts = []
    for dres in report.datasets:
        for s in dres.subsets:
            if s.used and s.is_reg:
                parts.append(f"{lit(s.plan.folder_name or s.plan.image_dir)}: "
                             f"{s.reg_used_images}/{s.image_count} images")
    return ", ".join(parts)


def _outcome(report) -> str:
    return (f"{report.num_reg_images_used} reg image-steps used ({_reg_usage(report)}), "
            f"{report.num_batches} batches, {report.max_train_steps} steps, "
            f"{report.num_train_epochs} epochs")


class RegFolderOrder(Rule):
    """Reg folder use depends on the file system's listing order.

    In folder mode the trainer takes the subfolders of reg_data_dir in the order the file system
    lists them (`Path.iterdir()`): unsorted on Linux ext4, usually alphabetical on Windows NTFS.
    Reg balancing registers reg images in that order until the train image-steps are matched,
    so with several reg folders the same config can use different reg images, and give a
    different number of batches and epochs, on another machine.

    Bad (T = 40, batch 4; the dogs are 512x512, the cats 640x384):

        reg/1_dog/   30 images
        reg/2_cat/   30 images      # 20 or 21 batches, depending on which is listed first

    Fixed (R = 20 + 2 x 10 = 40 <= T: every reg image is used, in any order):

        reg/1_dog/   20 images
        reg/2_cat/   10 images
    """
    code = "KT310"
    name = "reg-folder-order"
    severity = "warning"
    summary = "several reg folders whose use depends on the directory listing order"
    kinds = frozenset({GUI, ARGS})
    needs = "steps"

    def check(self, ctx):
        report = ctx.report
        other = report.order_variant
        if other is None:
            return
        plan = report.plan
        order = [s.folder_name for d in plan.datasets for s in d.subsets if s.is_reg]
        yield ctx.origin_diagnostic(
            self, f"the reg folders are balanced in the order the file system lists them "
                  f"({_names(lit(n) for n in order)}), which differs between machines: here "
                  f"{_outcome(report)}; in alphabetical order (as on Windows/NTFS) "
                  f"{_outcome(other)}", _folder_origin(plan, True))


# --------------------------------------------------------------------------------------------
# KT311: bucket settings

def _value_origin(plan, dplan, d_index: int, name: str) -> Origin | None:
    """Where a dataset value comes from: [[datasets]], [general], then the trainer's args."""
    doc = plan.dataset_doc
    if doc is not None and isinstance(doc.data, dict):
        datasets = doc.data.get("datasets") or []
        if d_index < len(datasets) and isinstance(datasets[d_index], dict) and \
                datasets[d_index].get(name) is not None:
            return Origin(doc, ("datasets", d_index, name))
        general = doc.data.get("general") or {}
        if isinstance(general, dict) and general.get(name) is not None:
            return Origin(doc, ("general", name))
    return _arg_origin(plan, name)


def bucket_findings(ctx) -> list:
    """[(d_index, key, message, severity)] for the bucket settings of every dataset."""
    if "kt3_buckets" in ctx.extra:
        return ctx.extra["kt3_buckets"]
    out: list = []
    ctx.extra["kt3_buckets"] = out
    plan = _touch(ctx)
    if plan is None:
        return out
    profile = facts_mod.bucket_profile(plan)
    script = f"{plan.script}.py"
    kinds = {"db": "dreambooth", "ft": "fine_tune", "cn": "controlnet"}
    for d_index, dplan in enumerate(plan.datasets):
        if not dplan.enable_bucket:
            continue
        res = dplan.resolution
        lo, hi, steps = dplan.min_bucket_reso, dplan.max_bucket_reso, dplan.bucket_reso_steps
        where = _where(len(plan.datasets), d_index)
        message = facts_mod.bucket_steps_error(plan, dplan)
        if steps == 0:
            out.append((d_index, "bucket_reso_steps", f"{where}bucket_reso_steps is 0: the trainer "
                        f"stops with ZeroDivisionError", "error"))
            continue
        if message:
            first = message.split("\n")[0]
            out.append((d_index, "bucket_reso_steps", f"{where}the trainer stops with "
                        f"\"AssertionError: {first}\" (required by {script} in sd-scripts "
                        f"{plan.sd.label})", "error"))
        if res is None:
            continue
        dataset_kind = kinds.get(dplan.kind, "dreambooth")
        adj_lo, adj_hi = lo, hi
        if dataset_kind in profile.range_checked_datasets:
            if profile.round_min_max_to_steps:
                adj_lo, adj_hi, _ = bucketing.adjust_min_max_bucket_reso_by_steps(
                    res, lo, hi, steps, check=False)
            err = bucketing.bucket_range_error(res, adj_lo, adj_hi)
            rounded = lambda a, b: f" ({a} after rounding to bucket_reso_steps {steps})" if a != b else ""  # noqa: E731
            if err == bucketing.MIN_RESO_MESSAGE:
                out.append((d_index, "min_bucket_reso",
                            f"{where}min_bucket_reso {lo}{rounded(adj_lo, lo)} is above the "
                            f"resolution {res[0]}x{res[1]} (smallest side {min(res)}): the trainer "
                            f"stops with \"AssertionError: min_bucket_reso must be equal or less "
                            f"than resolution\"", "error"))
            elif err == bucketing.MAX_RESO_MESSAGE:
                out.append((d_index, "max_bucket_reso",
                            f"{where}max_bucket_reso {hi}{rounded(adj_hi, hi)} is below the "
                            f"resolution {res[0]}x{res[1]} (largest side {max(res)}): the trainer "
                            f"stops with \"AssertionError: max_bucket_reso must be equal or "
                            f"greater than resolution\"", "error"))
        if profile.manager_init_asserts and not dplan.bucket_no_upscale and \
                not any(f[0] == d_index and f[3] == "error" for f in out):
            if adj_hi < max(res) or adj_hi < adj_lo:
                out.append((d_index, "max_bucket_reso",
                            f"{where}max_bucket_reso {adj_hi} is below "
                            f"{'the resolution ' + str(max(res)) if adj_hi < max(res) else 'min_bucket_reso ' + str(adj_lo)}: "
                            f"the trainer stops with \"AssertionError: the max_size should be "
                            f"larger than ...\"", "error"))
        if not message and (res[0] % steps or res[1] % steps):
            out.append((d_index, "resolution",
                        f"{where}resolution {res[0]}x{res[1]} is not a multiple of "
                        f"bucket_reso_steps {steps}: the buckets get sizes that are not multiples "
                        f"of {steps} (e.g. the square bucket is "
                        f"{int((res[0] * res[1]) ** 0.5) // steps * steps}, not {res[0]})",
                        "warning"))
    return out


class BucketSettingsRejected(Rule):
    """Bucket settings the trainer rejects.

    With `enable_bucket`, sd-scripts asserts that `min_bucket_reso <= min(resolution)` and
    `max_bucket_reso >= max(resolution)` (v0.9.0+ after rounding min down and max up to
    multiples of `bucket_reso_steps`), and v0.7.0+ requires `bucket_reso_steps` to be divisible
    by 64 (SD1/2 scripts), 32 (SDXL) or the script's own value. A resolution that is not a
    multiple of `bucket_reso_steps` is accepted but gives oddly sized buckets (warning).

    A dataset config linted on its own is checked only for values it writes itself, and the
    divisor of `bucket_reso_steps` only when the script is known (`--script`).

    Bad:

        resolution = "512,512"
        min_bucket_reso = 640

    Fixed:

        resolution = "512,512"
        min_bucket_reso = 256
    """
    code = "KT311"
    name = "bucket-settings-rejected"
    severity = "error"
    summary = "bucket settings the trainer rejects (or that give odd bucket sizes)"
    needs = "plan"

    def check(self, ctx):
        plan = _touch(ctx)
        standalone = ctx.doc.kind == DATASET
        for d_index, key, message, severity in bucket_findings(ctx):
            dplan = plan.datasets[d_index]
            origin = _value_origin(plan, dplan, d_index, key)
            if standalone:
                # a dataset config on its own: the command line may set the other values, and
                # the script (which decides the required divisor) is unknown unless --script
                if origin is None or (key == "bucket_reso_steps" and not ctx.settings.script):
                    continue
            origin = origin or dplan.origin or _value_origin(plan, dplan, d_index, "resolution")
            yield ctx.origin_diagnostic(self, message, origin, severity=severity)


# --------------------------------------------------------------------------------------------
# KT312: duplicate subsets

class DuplicateSubset(Rule):
    """The same image_dir twice in one dataset.

    sd-scripts compares subsets of a dataset by their `image_dir` string: a subset whose
    image_dir is already registered is ignored (`ignore duplicated subset`), whatever its repeats
    or `is_reg`. Setting reg_data_dir to the same folder as train_data_dir therefore gives no reg
    images at all. (The same folder in different `[[datasets]]` is allowed.)

    Bad:

        train_data_dir = "img"
        reg_data_dir = "img"

    Fixed:

        train_data_dir = "img"
        reg_data_dir = "reg"
    """
    code = "KT312"
    name = "duplicate-subset"
    severity = "warning"
    summary = "the same image_dir twice in one dataset: the later subset is ignored"
    needs = "plan"

    def check(self, ctx):
        plan = _touch(ctx)
        items = subsets(ctx)
        for item in items:
            if item.state != facts_mod.DUPLICATE:
                continue
            first = next(i for i in items if i.dataset == item.dataset
                         and i.index == item.duplicate_of)
            where = f" of dataset {item.dataset}" if len(plan.datasets) > 1 else ""
            text = (f"{_kind_word(item)} subset {lit(_label(item))} ({item.plan.num_repeats} repeats) "
                    f"repeats the image_dir of {_kind_word(first)} subset {first.index}{where} "
                    f"({first.plan.num_repeats} repeats): the trainer ignores it "
                    f"(\"ignore duplicated subset\")")
            if plan.mode == "folders" and item.is_reg and not first.is_reg:
                text += "; reg_data_dir holds the same folders as train_data_dir, so no reg image is used"
            yield ctx.origin_diagnostic(self, text, _subset_origin(plan, item.plan))


# --------------------------------------------------------------------------------------------
# KT313: missing captions

class MissingCaptionFiles(SubsetRule):
    """Images without a caption file.

    An image without `<stem><caption_extension>` is trained with the class tokens (the folder
    name after `N_`, or the subset's `class_tokens`) as its caption, or an empty caption in a
    dataset config without class_tokens; sd-scripts logs a warning. When caption files exist
    with another extension, the subset's `caption_extension` (default `.caption`) is usually
    the mistake.

    Bad:

        caption_extension = ".caption"     # default
        # img/10_sks dog/0001.png, 0001.txt

    Fixed:

        caption_extension = ".txt"
    """
    code = "KT313"
    name = "missing-caption-files"
    severity = "info"
    summary = "images without a caption file are trained with the class tokens"
    needs = "plan"

    def finding(self, plan, sf):
        if not sf.used or sf.from_cache or sf.captions is None:
            return None
        ext = _caption_ext(sf.plan)
        missing = [os.path.basename(p) for p, path in zip(sf.images, sf.captions.files)
                   if path is None]
        if not missing:
            return None
        tokens = sf.plan.class_tokens
        caption = f"the class tokens {lit(tokens)}" if tokens else "an empty caption"
        text = (f"{len(missing)} of {_plural(len(sf.images), 'image')} in {_in_folder(sf)} "
                f"{'has' if len(missing) == 1 else 'have'} no {ext} caption file "
                f"({_names(missing)}): the trainer uses {caption} for them")
        others = {}
        names = sf.listing.files
        for name in missing:
            stem = os.path.splitext(name)[0]
            for cext in CAPTION_EXTENSIONS:
                if cext != ext and stem + cext in names:
                    others[cext] = others.get(cext, 0) + 1
        if others:
            cext, count = max(others.items(), key=lambda kv: kv[1])
            text += (f"; {count} of them have a {cext} file: set caption_extension = "
                     f"\"{cext}\" if those are the captions")
        return text
