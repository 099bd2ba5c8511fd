# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speech codec (stage 2 of the JEPA + DAAM tokenizer, issue 16).

So far: :mod:`espnet_echo.codec.packing`, mixed-radix packing of Finite Scalar Quantization
(FSQ) codes into integer tokens, the paper configuration (47.5 tokens/s) and the header
spec of token files.
"""
