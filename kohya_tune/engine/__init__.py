"""Stage 3, engine: what the GUI and the trainer will really do with a config, as facts.

Holds: the Plan (`plan`, built by `normalize`: the trainer's arguments and its datasets and
subsets through sd-scripts' fallback chain), the trainer's own dataset-config validation
(`dataset_schema`), the GUI's side (`gui`: what a kohya_ss release counts, computes and sends),
the one scan of the dataset (`facts`, with `images` and `captions` for what the trainer finds on
disk), buckets (`buckets`), the trainer's step arithmetic (`steps`) and the same numbers for other
repeats from the same scan (`repeats`, for balance). The engine never prints.

May import: `kohya_tune.versions`, `kohya_tune.load`.
"""
