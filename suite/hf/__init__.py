"""Exchange layer: HF config.json <-> ModelConfig, safetensors weights, the import command, parity."""
