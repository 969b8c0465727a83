"""archbench: what each change to the decoder-only transformer buys, measured."""

__version__ = "0.1.0"
