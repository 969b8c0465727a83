"""Learn layer: tokenizer, task data, proxy training and the lm-eval adapter."""
