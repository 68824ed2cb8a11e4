"""Save the default config of one GUI tag's tab with the GUI's own "Save" button.

Run with the Python of the GUI oracle venv of that tag (tools/gen_gui_cases.py does it):

    VENV/bin/python tools/gui_save_defaults.py --oracle DIR --src SRC --tab lora OUT.json

It builds the tab exactly as the GUI oracle does (its stubs and its Browser, imported from DIR,
the ../shared/oracles/gui_oracle folder), types OUT.json into the configuration box and clicks
the save button (save_configuration with save_as False): the file is the config a fresh tab of
that release saves, every key with the type that release writes.
"""
import argparse, contextlib, importlib, inspect, io, json, logging, os, sys
ap = argparse.ArgumentParser()
ap.add_argument("--oracle", required=True)
ap.add_argument("--src", required=True); ap.add_argument("--tab", required=True); ap.add_argument("out")
o = ap.parse_args()
sys.path.insert(0, os.path.abspath(o.oracle))
import gui_oracle as go  # noqa: E402

src = os.path.abspath(o.src); out = os.path.abspath(o.out)
go.install_stubs(); sys.path.insert(0, src)
logging.basicConfig(level=logging.INFO, stream=io.StringIO(), force=True)
import gradio as gr
new_layout = os.path.isdir(os.path.join(src, "kohya_gui"))
mod_name = go.TABS[o.tab][0] if new_layout else go.TABS[o.tab][1]
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    os.chdir(src)
    module = importlib.import_module(mod_name)
    tab_fn = getattr(module, go.TABS[o.tab][2])
    kwargs = {}
    sig = inspect.signature(tab_fn).parameters
    if "headless" in sig: kwargs["headless"] = True
    if "config" in sig:
        from kohya_gui.class_gui_config import KohyaSSGUIConfig
        try: kwargs["config"] = KohyaSSGUIConfig(config_file_path=os.path.join(src, ".no-gui-config.toml"))
        except TypeError: kwargs["config"] = KohyaSSGUIConfig()
    if "use_shell_flag" in sig: kwargs["use_shell_flag"] = False
    with gr.Blocks() as demo:
        with gr.Tab(o.tab): tab_fn(**kwargs)
    b = go.Browser(demo, gr)
    os.chdir(os.path.dirname(out))
    # the load dep tells us the config-file box
    load, box = go.find_load(b)
    saves = []
    for d in b.deps:
        if not any(t == "click" for _, t in d["_targets"]): continue
        fn = getattr(b.block_fn(d), "fn", None)
        name = getattr(fn, "__name__", "") + getattr(fn, "__qualname__", "")
        if "save_configuration" in name:
            saves.append(d)
    assert saves, "no save dep"
    b.values[box] = out
    for d in saves:
        # the plain Save button: its first flag input is False (save_as False) or a closure entry
        flags = [b.values.get(i) for i in d["inputs"][:1]]
        if flags and go.truthy_flag(flags[0]):
            continue
        b.run(d, "click[save]")
        if os.path.exists(out):
            break
print(json.dumps({"saved": os.path.exists(out), "errors": b.errors}))
