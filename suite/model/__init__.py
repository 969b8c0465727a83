"""The one composable decoder. `build_model(cfg)` turns any ModelConfig into a runnable nn.Module."""

from suite.model.attention import KVCache, LayerCache
from suite.model.decoder import Block, Decoder, build_model, init_weights

__all__ = ["Block", "Decoder", "KVCache", "LayerCache", "build_model", "init_weights"]
