"""Sequence mixers beyond softmax attention, as plain-tensor math: a chunked form for prefill and
training beside a recurrent step for decoding, each with a fixed-size state.

Layout: activations are sequence-major, (B, T, H, D) per head or (B, T, C) per channel, as in
transformers and flash-linear-attention, so projections reshape without a transpose and the
references compare one to one. Recurrent states are (B, H, Dk, Dv) (Mamba-2: (B, H, P, N));
short-convolution states are the last w-1 inputs, (B, C, w-1).
"""
