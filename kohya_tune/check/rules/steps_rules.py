"""KT2xx: how many steps and epochs the trainer really runs, and the settings that change it
without saying so (sd-scripts-steps.md §1, §3; kohya-gui-configs.md section (c))."""
from __future__ import annotations

import copy
import math

from kohya_tune.check.diagnostics import lit
from kohya_tune.load import documents
from kohya_tune.check.diagnostics import Fix
from kohya_tune.check.rules.base import Rule

GUI_ONLY = frozenset({"gui"})
ARGS_ONLY = frozenset({"args"})
GUI_AND_ARGS = frozenset({"gui", "args"})


# --------------------------------------------------------------------------------------------
# helpers shared with lr_rules

def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def arg_keypath(doc, key: str):
    """Where `key` is written in the file: a flattened args TOML key path, or a GUI key."""
    if doc.kind == documents.ARGS and isinstance(doc.data, dict):
        return documents.flat_arg_path(doc.data, key)
    if doc.kind == documents.GUI and isinstance(doc.data, dict) and key in doc.data:
        return (key,)
    return None


def first_keypath(doc, *keys) -> tuple:
    """The key path of the first of `keys` present in the file, else () (line 1)."""
    for key in keys:
        path = arg_keypath(doc, key)
        if path:
            return path
    return ()


def flat_args(doc) -> dict:
    return documents.flatten_args(doc.data) if isinstance(doc.data, dict) else {}


def gui_profile(plan) -> dict | None:
    if plan is None or plan.gui is None:
        return None
    from kohya_tune.engine import gui as gui_launch

    try:
        return gui_launch.load_profile(plan.gui.version)[1]
    except (ValueError, KeyError):
        return None


def sent_int(value):
    """An int the GUI sends (None for anything else, e.g. an unparsable CLI string)."""
    return value if is_int(value) else None


def run_text(steps: int, per_epoch: int) -> str:
    """'9 epochs (8 full of 14 steps + 13 steps)' for S steps at U steps per epoch."""
    if per_epoch <= 0:
        return "no epoch (no batches)"
    epochs = math.ceil(steps / per_epoch)
    full, rest = divmod(steps, per_epoch)
    word = "epoch" if epochs == 1 else "epochs"
    if rest == 0:
        return f"{epochs} {word} of {per_epoch} steps"
    if full == 0:
        return f"{epochs} {word}, cut short after {rest} of its {per_epoch} steps"
    return f"{epochs} {word} ({full} full of {per_epoch} steps + {rest} steps)"


def epochs_formula(epochs: int, plan) -> str:
    G = plan.args.get("gradient_accumulation_steps") or 1
    return f"{epochs} x ceil(N / {plan.num_processes} / {G}) steps, N being the batches per epoch"


def gui_step_origin(ctx) -> str:
    """How the GUI arrived at the max_train_steps it sends: its formula, a typed value or the
    widget's default."""
    gui = ctx.plan.gui
    if gui.formula:
        return f"computed by the GUI from epoch {gui.epoch}: {gui.formula}"
    raw = ctx.doc.data.get("max_train_steps") if isinstance(ctx.doc.data, dict) else None
    if raw is None:
        return "the GUI widget's default: the key is missing from the file"
    return "typed in"


# --------------------------------------------------------------------------------------------

class MaxEpochsOverride(Rule):
    """max_train_epochs silently overrides max_train_steps.

    Whenever `max_train_epochs` reaches sd-scripts (any value but None), the trainer recomputes
    `max_train_steps = max_train_epochs * ceil(N / num_processes / gradient_accumulation_steps)`
    and drops the `max_train_steps` it was given, logging only "override steps". A step budget
    written next to it has no effect; a run planned for 2500 steps can run 12 000.

    The GUI sends `max_train_epochs` when its field is not empty (v21-v23) or not 0 (v24+), and
    it also sends the `max_train_steps` it computes from `epoch`. When `max_train_epochs` equals
    `epoch` that computed value is simply not needed (this is the fix KT203 recommends), so
    nothing is reported; when they differ, the GUI shows one epoch count and the trainer runs
    the other. The one recommended fix keeps what the trainer does now and removes the setting
    it ignores: drop `max_train_steps` (args TOML), or make `epoch` equal `max_train_epochs`
    and `max_train_steps` 0 (GUI).

    Bad (args TOML):

        max_train_steps = 3000
        max_train_epochs = 12     # wins: 12 epochs of 40 steps = 480 steps

    Fixed (max_train_epochs decides, as it did):

        max_train_epochs = 12
    """
    code = "KT201"
    name = "max-epochs-override"
    severity = "warning"
    summary = "max_train_epochs silently overrides max_train_steps"
    kinds = GUI_AND_ARGS
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        if ctx.doc.kind == documents.GUI:
            gui = plan.gui
            if gui is None or gui.refused:
                return
            epochs = sent_int(gui.max_train_epochs)
            steps = sent_int(gui.max_train_steps)
            if not epochs or not steps:
                return
            if gui.formula and gui.epoch == epochs:
                return  # the computed steps are not needed: epoch and max_train_epochs agree
            steps_text = f"the max_train_steps {steps} it also sends ({gui_step_origin(ctx)})"
            where = "max_train_epochs {} (sent by the GUI)"
            advice = (f"set epoch to {epochs}" if gui.formula else
                      f"set epoch to {epochs} and max_train_steps to 0") + \
                " so that the file shows what the trainer runs"
        else:
            flat = flat_args(ctx.doc)
            epochs, steps = flat.get("max_train_epochs"), flat.get("max_train_steps")
            if not is_int(epochs) or not is_int(steps) or epochs == 0:
                return  # max_train_epochs = 0: KT209; non-ints: KT104
            steps_text = f"max_train_steps = {steps}"
            where = "max_train_epochs = {}"
            advice = "remove max_train_steps (max_train_epochs decides)"
        report = ctx.report
        if report is not None and report.steps_source == "max_train_epochs":
            real = (f"the trainer runs {report.max_train_steps} steps "
                    f"({run_text(report.max_train_steps, report.num_update_steps_per_epoch)})")
        else:
            real = f"the trainer runs {epochs_formula(epochs, plan)}"
        yield ctx.diagnostic(self, f"{where.format(epochs)} overrides {steps_text}: {real}, "
                                   f"not {steps} steps; {advice}",
                             keypath=first_keypath(ctx.doc, "max_train_epochs"))


class Default1600Steps(Rule):
    """The trainer falls back to its default of 1600 steps.

    sd-scripts' `--max_train_steps` defaults to 1600. When neither `max_train_steps` nor
    `max_train_epochs` reaches the trainer, it trains 1600 steps, whatever the dataset size or the
    `epoch` the GUI shows. This happens with an args TOML that sets neither, and with a GUI that
    sends neither: the GUI does not send a computed `max_train_steps` of 0 (no images counted,
    `epoch` 0 or missing in an old config), and with `dataset_config` set it counts no images, so
    a `max_train_steps` of 0 is not sent.

    Bad (args TOML):

        train_data_dir = "img"
        epoch = 10                # not an sd-scripts option: 1600 steps are trained

    Fixed:

        train_data_dir = "img"
        max_train_epochs = 10
    """
    code = "KT202"
    name = "default-1600-steps"
    severity = "warning"
    summary = "neither max_train_steps nor max_train_epochs reaches the trainer: 1600 steps"
    kinds = GUI_AND_ARGS
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        if ctx.doc.kind == documents.ARGS:
            flat = flat_args(ctx.doc)
            if "max_train_steps" in flat or "max_train_epochs" in flat:
                return
            why = "the file sets neither max_train_steps nor max_train_epochs"
            if "epoch" in flat:
                why += f" (epoch = {lit(flat['epoch'])} is not an sd-scripts option)"
            keypath = ()
        else:
            gui = plan.gui
            if gui is None or gui.refused:
                return
            if plan.args.get("max_train_steps") is not None or plan.args.get("max_train_epochs") is not None:
                return
            dc = bool(plan.args.get("dataset_config"))
            if not dc and gui.total_steps is None and gui.formula is None:
                return  # the GUI's image count is unknown here: cannot tell
            why = _gui_no_steps_reason(ctx, dc)
            keypath = first_keypath(ctx.doc, "max_train_steps", "epoch")
        report = ctx.report
        tail = ""
        if report is not None and report.steps_source == "default":
            tail = f" = {run_text(1600, report.num_update_steps_per_epoch)}"
            epoch = plan.gui.epoch if plan.gui is not None else flat_args(ctx.doc).get("epoch")
            if is_int(epoch) and epoch > 0:
                tail += f", where epoch is {epoch}"
        # one recommendation, the same as `solve --target-epochs` (by max_train_epochs in an args
        # TOML): an epoch count stays right on any number of processes, a step count does not (KT206)
        epoch = plan.gui.epoch if plan.gui is not None else flat_args(ctx.doc).get("epoch")
        if ctx.doc.kind == documents.ARGS and is_int(epoch) and epoch > 0:
            advice = f"write max_train_epochs = {epoch} in place of epoch"
        else:
            n = epoch if is_int(epoch) and epoch > 0 else "N"
            advice = (f"set max_train_epochs to the epochs you mean (`kohya-tune solve "
                      f"--target-epochs {n}` does that)")
        yield ctx.diagnostic(self, f"{why}: sd-scripts trains its default 1600 steps{tail}; {advice}",
                             keypath=keypath)


def _gui_no_steps_reason(ctx, dc: bool) -> str:
    gui = ctx.plan.gui
    raw = ctx.doc.data.get("max_train_steps")
    if dc:
        shown = "empty" if raw == "" else (raw if raw is not None else 0)
        return f"dataset_config is set, so the GUI counts no images, and max_train_steps {shown} is not sent"
    if gui.formula:
        text = f"the GUI computed max_train_steps {gui.formula}, and does not send 0"
        if gui.total_steps == 0:
            text += " (it counted no images: it only counts .jpg .jpeg .png .webp in N_name folders)"
        epoch_migration = [m for m in gui.migrations if m.startswith("epoch ")]
        if epoch_migration:
            text += f" ({epoch_migration[0]})"
        return text
    return "the GUI sends neither max_train_steps nor max_train_epochs"


class GuiEstimateDiffers(Rule):
    """The GUI's epoch-based max_train_steps does not give that many epochs.

    When the GUI computes `max_train_steps` from `epoch`, it uses
    `ceil(images x repeats / batch / grad_acc * epoch * reg_factor)`. The trainer counts
    differently: every aspect-ratio bucket rounds its last batch up, reg images are balanced to
    the train images instead of a flat x2, each of several processes runs its share of the
    batches, and files the GUI counts may be skipped. The run then stops at `max_train_steps`
    after a different number of epochs, often with a cut-short last epoch.

    Bad (GUI):

        "epoch": 10,
        "max_train_epochs": 0,
        "max_train_steps": 0        # the GUI computes 125; at 13 steps per epoch the 10th is cut short

    Fixed (the trainer derives the steps itself):

        "epoch": 10,
        "max_train_epochs": 10
    """
    code = "KT203"
    name = "gui-estimate-differs"
    severity = "warning"
    summary = "the GUI's step estimate from epoch gives a different number of epochs"
    kinds = GUI_ONLY
    needs = "steps"

    def check(self, ctx):
        plan, report = ctx.plan, ctx.report
        gui = plan.gui
        if gui is None or gui.refused or not gui.formula:
            return
        steps = sent_int(gui.max_train_steps)
        epoch = gui.epoch
        if not steps or not is_int(epoch) or epoch <= 0:
            return
        if report.steps_source != "max_train_steps" or report.max_train_steps != steps:
            return  # max_train_epochs overrides it (KT201)
        U = report.num_update_steps_per_epoch
        if U <= 0 or steps == epoch * U:
            return
        if report.num_processes > 1 and steps == epoch * _one_process_steps(report):
            return  # right for one process: the processes alone are the cause (KT206 says it)
        reasons = _estimate_reasons(plan, report, gui)
        because = f" ({'; '.join(reasons)})" if reasons else ""
        if report.num_train_epochs == epoch:
            runs = (f"its last epoch is cut short: {run_text(steps, U)}, not {epoch} full epochs "
                    f"({epoch * U} steps)")
        else:
            runs = f"it runs {run_text(steps, U)}, not {epoch}"
        yield ctx.diagnostic(
            self,
            f"epoch {epoch} gives max_train_steps {steps} (GUI formula {gui.formula}); the trainer "
            f"has {U} steps per epoch{because}, so {runs}; set max_train_epochs to {epoch} "
            f"(`kohya-tune solve --target-epochs {epoch}` does that)",
            keypath=first_keypath(ctx.doc, "epoch", "max_train_steps"))


def _one_process_steps(report) -> int:
    """Update steps per epoch the same batches would give on one process."""
    return math.ceil(report.num_batches / max(1, report.gradient_accumulation_steps))


def _estimate_reasons(plan, report, gui) -> list:
    out = []
    total = gui.total_steps or 0
    factor = gui.reg_factor or 1
    T, R = report.num_train_images, report.num_reg_images_used
    if total != T:
        out.append(f"the trainer counts {T} image-steps where the GUI counted {total}")
    if factor == 2 and R != T:
        out.append(f"reg balancing: the GUI doubles the count, the trainer adds {R} reg "
                   f"image-steps to {T}")
    batch = plan.datasets[0].batch_size if len(plan.datasets) == 1 else None
    if batch:
        flat = math.ceil((T + R) / batch)
        if report.num_batches != flat:
            out.append(f"buckets: each bucket rounds its last batch up, {report.num_batches} "
                       f"batches instead of ceil({T + R} / {batch}) = {flat}")
    P = report.num_processes
    if P > 1:
        out.append(f"{P} processes: each runs ceil({report.num_batches} / {P}) = "
                   f"{report.num_batches_per_epoch} batches per epoch, the GUI ignores processes")
    gui_batch = plan.args.get("train_batch_size") or 1
    gui_ga = plan.args.get("gradient_accumulation_steps") or 1
    if is_int(gui_batch) and is_int(gui_ga) and gui_batch > 0 and gui_ga > 0:
        per_epoch = total * factor / gui_batch / gui_ga
        if per_epoch != int(per_epoch):
            out.append(f"the GUI rounds only the total: {total * factor} / {gui_batch} / {gui_ga} = "
                       f"{per_epoch:g} steps per epoch, where the trainer rounds every epoch up")
    G = report.gradient_accumulation_steps
    if G > 1 and report.num_batches_per_epoch % G:
        out.append(f"gradient accumulation: ceil({report.num_batches_per_epoch} / {G}) = "
                   f"{report.num_update_steps_per_epoch} steps per epoch")
    return out


class EpochInArgsToml(Rule):
    """`epoch` in an args TOML does nothing.

    The GUI writes `epoch = N` into the TOML it passes to sd-scripts (v24+), but no sd-scripts
    argument reads it: the number of epochs comes from `max_train_epochs`, or from
    `max_train_steps` (default 1600). A hand-written TOML with only `epoch` trains 1600 steps.

    Bad:

        epoch = 10

    Fixed:

        max_train_epochs = 10
    """
    code = "KT204"
    name = "epoch-in-args-toml"
    severity = "warning"
    summary = "`epoch` in an args TOML: no sd-scripts argument reads it"
    kinds = ARGS_ONLY

    def check(self, ctx):
        flat = flat_args(ctx.doc)
        if "epoch" not in flat:
            return
        value = flat["epoch"]
        if is_int(value) and flat.get("max_train_epochs") == value and is_int(flat["max_train_epochs"]):
            return  # the file says what the trainer runs (as `solve --target-epochs` leaves it)
        message = f"epoch = {lit(value)}: no sd-scripts argument reads it (the GUI writes it; the trainer ignores it)"
        fix = None
        if "max_train_epochs" not in flat:
            if is_int(value) and value > 0:
                message += f"; to train {value} epochs write max_train_epochs = {value}"
                if "max_train_steps" in flat:
                    message += f" (it overrides max_train_steps = {lit(flat['max_train_steps'])})"
                else:
                    from kohya_tune.check.diagnostics import Edit

                    path = arg_keypath(ctx.doc, "epoch")
                    new = path[:-1] + ("max_train_epochs",)
                    fix = Fix(f"rename epoch to max_train_epochs = {value}",
                              [Edit(new, value, "epoch is not an sd-scripts option", after=path),
                               Edit(path, None, "replaced by max_train_epochs")])
        yield ctx.diagnostic(self, message, keypath=arg_keypath(ctx.doc, "epoch"), fix=fix)


class GuiStepsIgnoreEpoch(Rule):
    """A non-zero max_train_steps makes the GUI ignore epoch (GUI v24+).

    From v24 on, the GUI computes `max_train_steps` from `epoch` only when the "Max train steps"
    field is 0. Any other value, typed in or kept on screen, is sent as it is and `epoch` plays no
    part. The field's default is 1600 (v24.0.5+): an older config that lacks the
    `max_train_steps` key leaves 1600 on screen, so the run is 1600 steps whatever `epoch` says.

    The fix is the one `kohya-tune solve --target-epochs <epoch>` writes: `max_train_steps` 0,
    and where the GUI's estimate from `epoch` would not give that many whole epochs (KT203),
    `max_train_epochs` = `epoch` as well, so that following it never leads to another finding.

    Bad (GUI v24+, a config saved by v21):

        "epoch": 4,               # no "max_train_steps" key: 1600 steps are trained

    Fixed:

        "epoch": 4,
        "max_train_steps": 0
    """
    code = "KT205"
    name = "gui-steps-ignore-epoch"
    severity = "warning"
    summary = "GUI v24+: a non-zero max_train_steps makes the GUI ignore epoch"
    kinds = GUI_ONLY
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        gui = plan.gui
        prof = gui_profile(plan)
        if gui is None or gui.refused or prof is None:
            return
        if prof["steps"]["mode"].get(gui.tab) != "zero":
            return
        if gui.formula or sent_int(gui.max_train_epochs):
            return  # computed from epoch, or max_train_epochs decides (KT201)
        data = ctx.doc.data
        missing = data.get("max_train_steps") is None
        shown = prof["defaults"].get("max_train_steps") if missing else data.get("max_train_steps")
        if not is_number(shown) and sent_int(gui.max_train_steps):
            shown = sent_int(gui.max_train_steps)  # a legacy string ("30") the GUI loads as 30
        if not is_number(shown) or shown == 0:
            return
        epoch = gui.epoch
        how = ("missing from the file, so the GUI keeps its default " if missing else "")
        message = (f"max_train_steps is {how}{lit(shown)}, not 0: GUI {gui.version} sends it and "
                   f"ignores epoch {lit(epoch)}")
        sent = sent_int(gui.max_train_steps)
        if sent is not None and sent != shown:
            message += f" (it sends {sent})"
        would = None  # what the GUI would compute from epoch (unknown without its image count)
        if gui.total_steps is not None and is_int(epoch) and epoch > 0:
            from kohya_tune.engine.gui import _gui_steps

            try:
                would = _gui_steps(gui.total_steps, data.get("train_batch_size", 1) or 1,
                                   data.get("gradient_accumulation_steps", 1) or 1, epoch,
                                   gui.reg_factor or 1)
            except (TypeError, ValueError, ArithmeticError):
                would = None
            if would is not None:
                if would == shown:
                    return
                message += f"; with max_train_steps 0 it would compute {would} from epoch {epoch}"
        # one fix per situation (the same as `solve --target-epochs`): max_train_steps 0 when the
        # GUI's estimate from epoch gives `epoch` whole epochs, else max_train_epochs = epoch too
        # (what KT203 asks for that estimate), so that following this never causes KT203
        also_epochs = (is_int(epoch) and epoch > 0 and would is not None
                       and not _estimate_gives_epochs(ctx.report, would, epoch))
        if also_epochs:
            message += (f", which is not {epoch} whole epochs of the trainer's "
                        f"{ctx.report.num_update_steps_per_epoch} steps; set max_train_steps to 0 "
                        f"and max_train_epochs to {epoch} to train {epoch} epochs")
        else:
            message += "; set max_train_steps to 0 to train by epoch"
        fix = None
        if missing and "max_train_steps" not in data:
            from kohya_tune.check.diagnostics import Edit

            edits = [Edit(("max_train_steps",), 0, "the GUI's default 1600 ignores epoch",
                          after=("max_train_epochs",) if "max_train_epochs" in data else None)]
            description = "add \"max_train_steps\": 0 so that the GUI computes the steps from epoch"
            if also_epochs:
                edits.append(Edit(("max_train_epochs",), epoch, "the GUI's estimate from epoch "
                                  "gives another number of epochs (KT203)",
                                  after=None if "max_train_epochs" in data else ("epoch",)))
                description += f" and set \"max_train_epochs\": {epoch} so that the trainer runs {epoch} epochs"
            fix = Fix(description, edits)
        yield ctx.diagnostic(self, message, keypath=first_keypath(ctx.doc, "max_train_steps", "epoch"),
                             fix=fix)


def _estimate_gives_epochs(report, steps: int, epoch: int) -> bool:
    """Whether a max_train_steps the GUI computes from epoch runs `epoch` full epochs in the
    trainer (KT203 says nothing then). True when the trainer's numbers are unknown."""
    if report is None:
        return True
    U = report.num_update_steps_per_epoch
    return U <= 0 or steps == epoch * U


class MultiGpuStepPlan(Rule):
    """Several processes with a step count planned for one GPU.

    With `num_processes` P > 1 each process runs `ceil(N / P)` batches per epoch, so a fixed
    `max_train_steps` covers P times as many epochs as on one GPU (and each step sees P times as
    many images). The GUI's formula ignores the number of processes. `max_train_epochs` does not
    have the problem: the trainer divides by P itself.

    Bad (2 GPUs):

        max_train_steps = 400     # 10 epochs of 40 steps on one GPU, 20 of 20 on two

    Fixed:

        max_train_epochs = 10
    """
    code = "KT206"
    name = "multi-gpu-step-plan"
    severity = "warning"
    summary = "num_processes > 1 with a max_train_steps planned for one process"
    kinds = GUI_AND_ARGS
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        P = plan.num_processes
        if not is_int(P) or P <= 1:
            return
        steps = plan.args.get("max_train_steps")
        if plan.args.get("max_train_epochs") is not None or not is_int(steps) or steps <= 0:
            return
        gui = plan.gui
        if (gui is not None and gui.formula and ctx.report is not None and is_int(gui.epoch)
                and steps != gui.epoch * _one_process_steps(ctx.report)):
            return  # the GUI's estimate is off on one process too: KT203 gives every reason
        if plan.gui is not None and plan.gui.formula:
            origin = f"computed by the GUI for one process ({plan.gui.formula})"
        else:
            origin = "a fixed step count"
        report = ctx.report
        if report is not None:
            from kohya_tune.engine import steps as steps_mod

            one = copy.copy(plan)
            one.num_processes = 1
            try:
                single = steps_mod.trainer_numbers(one, report.num_batches)
            except Exception:  # noqa: BLE001 - refusals are reported elsewhere
                single = None
            numbers = (f"with {P} processes each epoch is {report.num_update_steps_per_epoch} steps, "
                       f"so it runs {run_text(steps, report.num_update_steps_per_epoch)}")
            if single is not None:
                numbers += (f"; on one process it would be "
                            f"{run_text(steps, single['num_update_steps_per_epoch'])}")
        else:
            numbers = f"each process runs about 1/{P} of the batches, so the run has {P} times the epochs"
        yield ctx.diagnostic(
            self, f"{P} processes ({plan.num_processes_source}) with max_train_steps {steps}, "
                  f"{origin}: {numbers}; {_epochs_advice(ctx, plan, report, steps)}",
            keypath=first_keypath(ctx.doc, "max_train_steps", "num_processes", "epoch"))


def _epochs_advice(ctx, plan, report, steps) -> str:
    """KT206's one fix: max_train_epochs, which the trainer divides by the processes itself (any
    max_train_steps with several processes is still a step count KT206 reports). For a GUI that
    computed the steps from epoch: max_train_epochs = epoch (KT201 is then silent)."""
    gui = plan.gui
    if gui is not None and gui.formula and is_int(gui.epoch) and gui.epoch > 0:
        n = gui.epoch
    elif report is not None:
        from kohya_tune.engine import steps as steps_mod

        one = copy.copy(plan)
        one.num_processes = 1
        try:
            single = steps_mod.trainer_numbers(one, report.num_batches)["num_update_steps_per_epoch"]
        except Exception:  # noqa: BLE001 - refusals are reported elsewhere
            single = 0
        n = math.ceil(steps / single) if single else None
    else:
        n = None
    if n:
        return (f"set max_train_epochs = {n}, as planned for one process (`kohya-tune solve "
                f"--target-epochs {n}` does that)")
    return "set max_train_epochs to the epochs you mean (`kohya-tune solve --target-epochs N` does that)"


class SaveEveryExceedsEpochs(Rule):
    """Epoch saves that never happen.

    sd-scripts saves at the end of epoch e when `e % save_every_n_epochs == 0` and e is not the
    last epoch (the last one is the final save). With `save_every_n_epochs` >= the number of
    epochs the run really has, only the final model is written. `save_n_epoch_ratio` k replaces
    `save_every_n_epochs` with `floor(epochs / k) or 1`; with more than the run's epochs it saves
    every epoch, fewer files than asked. `save_every_n_steps` beyond the run's steps never saves.

    Bad (the run has 9 epochs):

        save_every_n_epochs = 10

    Fixed:

        save_every_n_epochs = 3
    """
    code = "KT207"
    name = "save-every-exceeds-epochs"
    severity = "warning"
    summary = "save cadence longer than the run: only the final model is saved"
    kinds = GUI_AND_ARGS
    needs = "steps"

    def check(self, ctx):
        plan, report = ctx.plan, ctx.report
        E, S = report.num_train_epochs, report.max_train_steps
        ratio = plan.args.get("save_n_epoch_ratio")
        every = plan.args.get("save_every_n_epochs")
        if is_int(ratio) and ratio > 0:
            n = math.floor(E / ratio) or 1
            if is_int(every) and every > 0 and every != n:
                yield ctx.diagnostic(self, f"save_n_epoch_ratio = {ratio} replaces "
                                           f"save_every_n_epochs = {every}: the trainer saves every "
                                           f"floor({E} / {ratio}) or 1 = {n} epochs",
                                     keypath=first_keypath(ctx.doc, "save_every_n_epochs"))
            if ratio > E:
                yield ctx.diagnostic(self, f"save_n_epoch_ratio = {ratio} but the run has {E} "
                                           f"epochs: it saves every epoch, {E} files, not {ratio}",
                                     keypath=first_keypath(ctx.doc, "save_n_epoch_ratio"))
        elif is_int(every) and every > 1 and every >= E:
            yield ctx.diagnostic(self, f"save_every_n_epochs = {every} but the run has {E} "
                                       f"epoch{'s' if E != 1 else ''}: no epoch is saved before "
                                       f"the final model", keypath=first_keypath(ctx.doc, "save_every_n_epochs"))
        every_steps = plan.args.get("save_every_n_steps")
        if is_int(every_steps) and every_steps > S > 0:
            yield ctx.diagnostic(self, f"save_every_n_steps = {every_steps} but the run has {S} "
                                       f"steps: only the final model is saved",
                                 keypath=first_keypath(ctx.doc, "save_every_n_steps"))


class SampleEveryExceedsEpochs(Rule):
    """Sample cadence longer than the run: no sample image is generated.

    sd-scripts samples at the end of epochs with `e % sample_every_n_epochs == 0`, or, when
    `sample_every_n_epochs` is not set, at steps with `step % sample_every_n_steps == 0`
    (`sample_every_n_epochs` wins when both are set). A value beyond the run's epochs or steps
    never samples (except the step-0 sample of `sample_at_first`).

    Bad (the run has 400 steps):

        sample_every_n_steps = 2000

    Fixed:

        sample_every_n_steps = 200
    """
    code = "KT208"
    name = "sample-every-exceeds-epochs"
    severity = "warning"
    summary = "sample cadence longer than the run: no samples"
    kinds = GUI_AND_ARGS
    needs = "steps"

    def check(self, ctx):
        plan, report = ctx.plan, ctx.report
        E, S = report.num_train_epochs, report.max_train_steps
        first = " (only the step-0 sample of sample_at_first)" if plan.args.get("sample_at_first") else ""
        every = plan.args.get("sample_every_n_epochs")
        if is_int(every) and every > 0:
            if every > E:
                yield ctx.diagnostic(self, f"sample_every_n_epochs = {every} but the run has {E} "
                                           f"epoch{'s' if E != 1 else ''}: it never samples{first}",
                                     keypath=first_keypath(ctx.doc, "sample_every_n_epochs"))
            return  # sample_every_n_epochs replaces sample_every_n_steps
        steps = plan.args.get("sample_every_n_steps")
        if is_int(steps) and steps > S:
            yield ctx.diagnostic(self, f"sample_every_n_steps = {steps} but the run has {S} "
                                       f"steps: it never samples{first}",
                                 keypath=first_keypath(ctx.doc, "sample_every_n_steps"))


class ZeroTraining(Rule):
    """Zero training steps.

    `max_train_epochs = 0` reaching sd-scripts gives `max_train_steps = 0 x ...= 0`: the loop ends
    at once and an untrained model is saved. The same with `max_train_steps = 0` when
    `max_train_epochs` is not set; the v23 GUI sends a computed 0 (no images counted, epoch 0).

    Bad:

        max_train_epochs = 0

    Fixed:

        max_train_epochs = 10
    """
    code = "KT209"
    name = "zero-training"
    severity = "error"
    summary = "0 steps reach the trainer: nothing is trained"
    kinds = GUI_AND_ARGS
    needs = "plan"

    def check(self, ctx):
        plan = ctx.plan
        if plan.gui is not None and plan.gui.refused:
            return
        epochs = plan.args.get("max_train_epochs")
        steps = plan.args.get("max_train_steps")
        if is_int(epochs) and epochs == 0:
            yield ctx.diagnostic(self, "max_train_epochs 0 reaches the trainer: max_train_steps = "
                                       "0 x (steps per epoch) = 0, nothing is trained and an "
                                       "untrained model is saved",
                                 keypath=first_keypath(ctx.doc, "max_train_epochs"))
        elif epochs is None and is_int(steps) and steps == 0:
            gui = plan.gui
            if gui is not None and gui.formula:
                why = f"the GUI computed max_train_steps {gui.formula} and GUI {gui.version} sends the 0"
                if gui.total_steps == 0:
                    why += " (it counted no images)"
                keypath = first_keypath(ctx.doc, "max_train_steps", "epoch")
            else:
                why = "max_train_steps 0 reaches the trainer"
                keypath = first_keypath(ctx.doc, "max_train_steps")
            yield ctx.diagnostic(self, f"{why}: the training loop stops before the first step and "
                                       f"an untrained model is saved", keypath=keypath)
