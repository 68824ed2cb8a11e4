"""musubi-tuner's timetable: epochs, the checkpoints and states it writes (and removes again), the
sample calls, and the learning rate of every parameter group at every optimizer step.

Built on musubi's step numbers (`musubi_steps.build`: S = max_train_steps, E = num_train_epochs,
U steps per epoch, P processes). The loop (training/trainer_base.py:1767-2177 at 30c658c4; the
full fine-tune scripts' own train() the same, see versions/data/musubi.json "schedule"):

    sample before training when should_sample_images(args, 0, epoch=0)       (sample_at_first)
    for epoch in range(E):
        for batch in dataloader:
            accumulate: optimizer.step(); lr_scheduler.step()   (P scheduler steps per sync)
            if sync_gradients:
                global_step += 1
                sample when should_sample_images(args, global_step, epoch=None)   (every n steps)
                save a step checkpoint when global_step % save_every_n_steps == 0 (+ state, removal)
            if global_step >= max_train_steps: break
        save an epoch checkpoint when (epoch+1) % save_every_n_epochs == 0 and epoch+1 < E
        sample when should_sample_images(args, global_step, epoch+1)
    state at the end (save_state / save_state_on_train_end), final model

should_sample_images (training/sampling_prompts.py:132-143) fires at the end of an epoch when the
epoch is a multiple of sample_every_n_epochs OR the step is a multiple of sample_every_n_steps,
so a step that ends an epoch and is a multiple of sample_every_n_steps is sampled twice (musubi
#825, #1048), and sample_every_n_epochs does not silence the step samples (unlike sd-scripts).

The checkpoint loop is sd-scripts' (engine.schedule.checkpoint_timetable), with musubi's names;
the scheduler is get_lr_scheduler (engine.lr_schedulers.build with the "musubi" profile, RexLR
included); the series engine.schedule.per_step_values. The engine never prints.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kohya_tune.engine import lr_schedulers as lrs
from kohya_tune.engine.plan import Origin, PlanError, TrainerRefusal, resolve_file
from kohya_tune.engine.musubi_steps import key_values
from kohya_tune.engine.schedule import (Epoch, LrFacts, NotModelled, Sample, Schedule,
                                        adafactor_series, checkpoint_timetable, per_step_values)
from kohya_tune.load import documents
from kohya_tune.versions import musubi as mv

# the longest run kohya-tune lists step by step (the LR series, every checkpoint and sample);
# a longer one is refused rather than left to run for minutes (real runs are far below it)
MAX_LISTED_STEPS = 250_000


@dataclass
class Run:
    """The step numbers a Schedule reads, under sd-scripts' StepReport names."""
    max_train_steps: int
    num_train_epochs: int
    num_update_steps_per_epoch: int
    num_batches_per_epoch: int
    num_processes: int
    gradient_accumulation_steps: int
    steps_source: str
    musubi: object                      # the MusubiReport
    notes: list = field(default_factory=list)
    plan = None

    @property
    def last_epoch_steps(self) -> int:
        if not self.num_train_epochs:
            return 0
        return self.max_train_steps - (self.num_train_epochs - 1) * self.num_update_steps_per_epoch


@dataclass
class MusubiSchedule(Schedule):
    failure: TrainerRefusal | None = None   # what stops the run part-way (output_dir, output_name)
    failure_step: int | None = None
    sampled_twice: list = field(default_factory=list)   # steps sampled by both calls


class _Origins:
    def __init__(self, report, path_map=()):
        self.doc = report.args_doc
        self.path_map = list(path_map)

    def get(self, name: str, whole_file: bool = False):
        """Where `name` is set in the training config (with `whole_file`: the file itself when
        the key is not there, for what its absence causes)."""
        if self.doc is None or not isinstance(self.doc.data, dict):
            return None
        path = documents.flat_arg_path(self.doc.data, name)
        if path is None:
            return Origin(self.doc, ()) if whole_file else None
        return Origin(self.doc, path)


def schedule_args(report) -> dict:
    """musubi's namespace for the keys the loop reads: its argparse defaults, then the config's
    values as they are (read_config_from_file puts them in the namespace unconverted,
    parser_common.py:794-806)."""
    args = dict(mv.schedule()["argparse_defaults"])
    args.update(report.args)
    n = report.numbers
    args["max_train_steps"] = n["max_train_steps"]
    args["gradient_accumulation_steps"] = n["gradient_accumulation_steps"]
    return args


def _count(origins: _Origins, args: dict, name: str):
    """An every-n / keep-n option as the loop uses it (None: off); Python arithmetic on the value
    as the config gives it: a float still works, anything else stops the run."""
    value = args.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TrainerRefusal(f"TypeError: {name} is {value!r} ({type(value).__name__}); musubi-tuner does not "
                             f"convert values from a config file, so the loop's arithmetic on it fails",
                             origins.get(name))
    return value


class Namer:
    """utils/train_utils.py:17-24, 84-93 (30c658c4): str.format of the output name (None gives
    'None'), always '.safetensors'; the final name is output_name + '.safetensors'."""
    folder = False

    def __init__(self, args: dict, placeholder: str | None = None):
        self.formats = mv.schedule()["names"]
        self.name = args.get("output_name") if placeholder is None else placeholder

    def _fmt(self, template: str, number=None) -> str:
        return (template.replace("{name}", "{0}").replace("{epoch", "{1").replace("{step", "{1")
                .format(self.name, number))

    def epoch(self, n) -> str:
        return self._fmt(self.formats["epoch_file"], n)

    def step(self, n) -> str:
        return self._fmt(self.formats["step_file"], n)

    def epoch_state(self, n) -> str:
        return self._fmt(self.formats["epoch_state"], n)

    def step_state(self, n) -> str:
        return self._fmt(self.formats["step_state"], n)

    def last_state(self) -> str:
        return self._fmt(self.formats["last_state"])

    def last(self) -> str:
        if not isinstance(self.name, str):
            return "(none: " + self.failure_text() + ")"
        return self.name + ".safetensors"

    def failure_text(self) -> str | None:
        if isinstance(self.name, str):
            return None
        return f"TypeError: unsupported operand type(s) for +: '{type(self.name).__name__}' and 'str'"


def compute(report, lr_series: bool = True) -> MusubiSchedule:
    """The timetable of a MusubiReport that has its numbers (report.numbers). PlanError: a run too
    long to list; TrainerRefusal: what stops musubi before or at the first step."""
    n = report.numbers
    S, E, U = n["max_train_steps"], n["num_train_epochs"], n["num_update_steps_per_epoch"]
    P = n["num_processes"]
    origins = _Origins(report, getattr(report.settings, "path_map", ()) or ())
    if not (isinstance(S, int) and not isinstance(S, bool)):
        source = n["steps_source"] if n["steps_source"] != "default" else "max_train_steps"
        raise TrainerRefusal(f"TypeError: {type(S).__name__!r} object cannot be interpreted as an integer "
                             f"(max_train_steps is {S!r}, from {source}: the loop's progress bar is "
                             f"tqdm(range(max_train_steps)), training/trainer_base.py:1929)",
                             origins.get(source))
    if U <= 0 or S < 0 or E < 0:
        raise PlanError(f"gradient_accumulation_steps {n['gradient_accumulation_steps']} gives {U} steps per epoch "
                        f"and max_train_steps {S}: musubi-tuner's loop does not train a plan of that kind "
                        f"(kohya-tune lists no timetable for it); use a positive gradient_accumulation_steps",
                        report.config.path)
    if S > MAX_LISTED_STEPS:
        origin = origins.get(n["steps_source"])
        raise PlanError(f"max_train_steps {S}: kohya-tune lists a timetable of at most {MAX_LISTED_STEPS:,} "
                        f"steps (`kohya-tune steps` gives the numbers)",
                        *((origin.doc.path, *origin.doc.position(origin.keypath)) if origin else (report.config.path,)))
    run = Run(S, E, U, n["num_batches_per_epoch"], P, n["gradient_accumulation_steps"], n["steps_source"],
              report, notes=list(report.notes))
    args = schedule_args(report)
    script = mv.schedule_script(report.script)
    notes: list[str] = []
    if args.get("resume"):
        notes.append("resume is set: the trainer loads a saved state first; this timetable starts at step 1 "
                     "(kohya-tune resume explains a resumed run)")
    epochs = [Epoch(e, (e - 1) * U + 1, min(e * U, S)) for e in range(1, E + 1)]

    every_epochs = _count(origins, args, "save_every_n_epochs")
    every_steps = _count(origins, args, "save_every_n_steps")
    counts = {name: _count(origins, args, name) for name in
              ("save_last_n_epochs", "save_last_n_epochs_state", "save_last_n_steps", "save_last_n_steps_state")}
    for name, value, where in (("save_every_n_epochs", every_epochs, "the end of epoch 1"),
                               ("save_every_n_steps", every_steps, "step 1")):
        if value == 0 and E:
            raise TrainerRefusal("ZeroDivisionError: integer modulo by zero", origins.get(name),
                                 f"{name} = 0: the loop divides by it at {where}")
    save_state = bool(args.get("save_state"))
    alone = report.args_doc is None
    if alone:
        notes.append("a dataset config alone: output_dir and output_name are the training config's, not "
                     "known here (the names show <output_name>)")
    namer = Namer(args, "<output_name>" if alone else None)
    checkpoints = checkpoint_timetable(
        epochs, S, every_epochs=every_epochs, every_steps=every_steps,
        last_n_epochs=counts["save_last_n_epochs"], last_n_epochs_state=counts["save_last_n_epochs_state"],
        last_n_steps=counts["save_last_n_steps"], last_n_steps_state=counts["save_last_n_steps_state"],
        save_state=save_state, state_on_end=save_state or bool(args.get("save_state_on_train_end")),
        namer=namer)
    samples, twice = _samples(origins, args, script, epochs, notes)

    failure, failure_at = (None, None) if alone else _failure(args, origins, namer, checkpoints, samples, S)
    failure_step = None
    if failure is not None:
        # what happened before the failing call, in the loop's order
        checkpoints = [c for c in checkpoints if _order(c) < failure_at]
        samples = [x for x in samples if _order(x) < failure_at]
        twice = [k for k in twice if (k, 4) < failure_at]
        failure_step = failure_at[0]

    lr, lr_note = None, None
    try:
        lr = lr_facts(run, args, script, origins, keep_series=lr_series)
    except NotModelled as exc:
        lr_note = str(exc)
    return MusubiSchedule(report=run, profile=mv.label(), args=args, epochs=epochs, checkpoints=checkpoints,
                          samples=samples, lr=lr, save_every_n_epochs=every_epochs, notes=notes, lr_note=lr_note,
                          failure=failure, failure_step=failure_step, sampled_twice=twice)


def _samples(origins, args: dict, script: dict, epochs: list[Epoch], notes: list) -> tuple[list, list]:
    """The sample calls (training/sampling_prompts.py:132-143 should_sample_images; the calls at
    trainer_base.py:1999, 2091-2095, 2156)."""
    every_steps = _count(origins, args, "sample_every_n_steps")
    every_epochs = _count(origins, args, "sample_every_n_epochs")
    at_first = bool(args.get("sample_at_first"))
    if not script["samples"]:
        if every_steps is not None or every_epochs is not None or at_first:
            notes.append("this script never samples (its sample_images does nothing: hv_train.py:669-670)")
        return [], []
    out: list[Sample] = []
    if at_first:
        out.append(Sample("first", 0, 0))
    if every_steps == 0 and epochs:
        raise TrainerRefusal("ZeroDivisionError: integer modulo by zero", origins.get("sample_every_n_steps"),
                             "sample_every_n_steps = 0: should_sample_images divides by it at step 1")
    if every_epochs == 0 and epochs:
        raise TrainerRefusal("ZeroDivisionError: integer modulo by zero", origins.get("sample_every_n_epochs"),
                             "sample_every_n_epochs = 0: should_sample_images divides by it at the end of epoch 1")
    twice = []
    for ep in epochs:
        if every_steps is not None:
            for k in range(ep.first_step, ep.last_step + 1):
                if k % every_steps == 0:
                    out.append(Sample("step", ep.epoch, k))
        k = ep.last_step
        by_steps = every_steps is not None and k % every_steps == 0
        by_epochs = every_epochs is not None and ep.epoch % every_epochs == 0
        if by_steps or by_epochs:
            out.append(Sample("epoch", ep.epoch, k))
            if by_steps:
                twice.append(k)
    if twice:
        notes.append(f"{len(twice)} step{'s' if len(twice) != 1 else ''} end{'s' if len(twice) == 1 else ''} an epoch "
                     f"on a multiple of sample_every_n_steps {every_steps}: sampled twice there (once in the "
                     f"step, once at the epoch's end: should_sample_images checks the step again; musubi "
                     f"#825, #1048)")
    prompts = args.get("sample_prompts")
    if out and not prompts:
        notes.append("samples are due but sample_prompts is not set: musubi logs \"No prompt file\" each "
                     "time and makes none (trainer_base.py:823-825)")
    elif prompts and isinstance(prompts, str) and origins.doc is not None and \
            resolve_file(prompts, origins.path_map, origins.doc.directory) is None:
        notes.append(f"sample_prompts {prompts!r} is not found here: musubi reads it before training "
                     f"(process_sample_prompts, trainer_base.py:1481-1492) and stops if it is missing there too")
    return out, twice


def _order(event) -> tuple:
    """(step, place) of a call in the loop: at a step, the step's sample, its checkpoint (and
    state), the epoch's checkpoint (and state), the epoch's sample; after the last step the final
    state, then the final model (trainer_base.py:2084-2176)."""
    if isinstance(event, Sample):
        return (event.step, {"first": 0, "step": 1, "epoch": 4}[event.when])
    trigger = event.trigger if event.kind == "state" else event.kind
    return (event.step, {"step": 2, "epoch": 3, "final": 6}[trigger] - (1 if event.kind == "state" and trigger == "final" else 0))


def _failure(args, origins, namer: Namer, checkpoints, samples, S):
    """What stops the run part-way, and the call where it does: output_dir not set
    (os.makedirs(None) at the first save, os.path.join(None, "sample") at the first sample with
    prompts: trainer_base.py:1939, 834; train_utils.py:124, 146, 172 for states) or an
    output_name that is not a string (the final name is output_name + '.safetensors',
    train_utils.py:92-93, after everything else)."""
    if args.get("output_dir") is None:
        uses = [(_order(c), c) for c in checkpoints]
        if args.get("sample_prompts"):
            uses += [(_order(x), x) for x in samples]
        at, first = min(uses, key=lambda u: u[0])
        what = ("the sample before training" if isinstance(first, Sample) and first.when == "first" else
                f"the first sample (step {at[0]})" if isinstance(first, Sample) else
                f"the first save ({first.file}, step {at[0]})")
        return (TrainerRefusal("TypeError: expected str, bytes or os.PathLike object, not NoneType",
                               origins.get("output_dir", whole_file=True),
                               f"output_dir is not set: {what} fails after {at[0]} of {S} steps "
                               f"(trainer_base.py:834, 1939: os.path.join / os.makedirs of None); nothing is saved"),
                at)
    text = namer.failure_text()
    if text is not None:
        return (TrainerRefusal(text, origins.get("output_name", whole_file=True),
                               f"output_name is {namer.name!r}: the run trains all {S} steps and writes "
                               f"the files listed, then the final save fails (train_utils.py:92-93: "
                               f"output_name + '.safetensors')"), (S, 6))
    return None, None


# --------------------------------------------------------------------------------------------
# the learning rate


def _groups(args: dict, script: dict, notes: list) -> list[tuple[str, object]]:
    """The optimizer's parameter groups and their LR (None: the optimizer's lr)."""
    lr = args.get("learning_rate")
    if script["groups"] == "dit":
        return [("dit", lr)]
    module = args.get("network_module")
    if isinstance(module, str) and module.split(".")[0] != "networks":
        notes.append(f"network_module {module}: the groups are those musubi's networks.lora builds "
                     f"('unet', with LoRA+ 'unet plus'); that module may split them differently")
    ratio = None
    values = args.get("network_args")
    if isinstance(values, str):
        values = [values]
    for item in values if isinstance(values, list) else []:
        if isinstance(item, str) and item.count("=") == 1:
            key, value = item.split("=")
            if key == "loraplus_lr_ratio":
                try:
                    ratio = float(value)
                except ValueError:
                    raise TrainerRefusal(f"ValueError: could not convert string to float: {value!r} "
                                         f"(network_args loraplus_lr_ratio, networks/lora.py:480)") from None
    groups = []
    # networks/lora.py:785-825 assemble_params: lora_down (and lora_up without LoRA+) at lr, lora_up
    # at lr * ratio; a group whose LR is 0 or None is left out ("NO LR skipping!")
    for name, value in (("unet", lr), ("unet plus", None if ratio is None or lr is None else lr * ratio)):
        if name == "unet plus" and ratio is None:
            continue
        if value == 0 or value is None:
            notes.append(f"the {name} group has LR {value}: musubi leaves it out of the optimizer ('NO LR skipping!')")
            continue
        groups.append((name, value))
    return groups


def _scheduler_kwargs(values) -> dict:
    """lr_scheduler_args as get_lr_scheduler reads them (trainer_base.py:301-306)."""
    parsed = key_values(values, literal=True)
    if isinstance(parsed, str):
        raise lrs.SchedulerError(parsed)
    return parsed


def optimizer_name(args: dict) -> str:
    value = args.get("optimizer_type")
    return value if isinstance(value, str) else ""


def lr_facts(run: Run, args: dict, script: dict, origins, keep_series: bool = True) -> LrFacts:
    profile = dict(mv.schedule()["profile"])
    if not script.get("rex"):
        profile["rex"] = False
    notes: list[str] = []
    custom = args.get("lr_scheduler_type")
    if custom:
        raise NotModelled(f"custom lr_scheduler_type {custom!r}: not modelled (musubi builds it with "
                          f"lr_scheduler_args alone, trainer_base.py:314-325)")
    opt = optimizer_name(args)
    if opt.lower().endswith("schedulefree"):
        raise NotModelled(f"{opt} is a schedule-free optimizer: musubi builds no scheduler (a dummy one, "
                          f"trainer_base.py:260-285) and the LR stays as set")
    groups = _groups(args, script, notes)   # learning_rate is checked by musubi_steps already
    if not groups:
        raise TrainerRefusal("ValueError: optimizer got an empty parameter list", origins.get("learning_rate"),
                             "learning_rate is 0: networks/lora.py leaves every group out ('NO LR skipping!')")
    default_lr = args.get("learning_rate")
    kwargs = key_values(args.get("optimizer_args"), literal=True)
    if isinstance(kwargs, str):   # steps refuses it first (musubi_steps._check_training_start)
        raise TrainerRefusal(kwargs, origins.get("optimizer_args"))
    adafactor = opt.lower() == "adafactor"
    lr_args = dict(args)
    relative = adafactor and kwargs.get("relative_step", True) is not False
    if adafactor and not relative and kwargs.get("warmup_init", False):
        relative = True   # trainer_base.py:194-198
    bases = [lr for _, lr in groups]
    if relative:
        # trainer_base.py:201-211: the scheduler becomes "adafactor:<learning_rate>"
        lr_args["lr_scheduler"] = f"adafactor:{default_lr}"
        notes.append(f"Adafactor with relative_step: musubi replaces lr_scheduler by adafactor:{default_lr}")
        bases = [None for _ in groups]
    optimizer = lrs.FakeOptimizer(None if relative else default_lr, bases)
    P = run.num_processes
    try:
        built = lrs.build(profile, lr_args, num_processes=P, optimizer=optimizer, optimizer_is_adafactor=adafactor,
                          parse_kwargs=_scheduler_kwargs)
    except lrs.SchedulerError as exc:
        name = "lr_warmup_steps" if "num_warmup_steps" in str(exc) else "lr_scheduler"
        raise TrainerRefusal(str(exc), origins.get(name) or origins.get("lr_scheduler")) from None
    S = run.max_train_steps
    if built.scheduler.kind == "adafactor":
        per_step = adafactor_series(None, run, profile, kwargs, built, len(groups))
        if not keep_series:
            per_step = []
    else:
        per_step = per_step_values(built.scheduler, bases, S, P, keep_series, origins.get("lr_warmup_steps"))
    warm = built.num_warmup_steps
    warm_steps = warm / P if isinstance(warm, (int, float)) and not isinstance(warm, bool) else None
    return LrFacts(scheduler=built.name, groups=[g for g, _ in groups], base=bases, warmup_steps=warm,
                   num_training_steps=built.num_training_steps, per_step=per_step,
                   function=built.scheduler.function, scheduler_steps_per_step=P, every_batch=False,
                   extra={**built.extra, "notes": notes}, warmup_optimizer_steps=warm_steps)
