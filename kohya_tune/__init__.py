"""kohya-tune: lint, explain and fix kohya_ss / sd-scripts training configs."""

__version__ = "0.1.0"
