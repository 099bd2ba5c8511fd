# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""The decoding options of :class:`~espnet_echo.inference.speech2echo.Speech2Echo` as
command-line flags, shared by ``echo_inference`` (data dirs) and ``echo_infer``
(files)."""

import argparse

from espnet2.utils.types import str2bool


def add_speech2echo_arguments(p: argparse.ArgumentParser, chunk_s: float = 10.0) -> None:
    """Add every Speech2Echo option (but the model files) to ``p``.

    Args:
        p: The parser.
        chunk_s: Default of ``--chunk_s``.
    """
    p.add_argument("--device", default="cpu")
    p.add_argument("--fs", type=int, default=16000, help="sample rate of the model")
    p.add_argument("--diar_threshold", type=float, default=0.5)
    p.add_argument("--min_speaker_sec", type=float, default=0.3)
    p.add_argument("--beam_size", type=int, default=1, help="1 = greedy CTC")
    p.add_argument("--ctc_weight", type=float, default=0.3)
    p.add_argument("--diar_mode", choices=("eend", "vbx"), default="eend",
                   help="eend: the diarization head's slots; vbx: blind diarization "
                   "(speaker-head embeddings, PLDA, VBx; any number of speakers)")
    p.add_argument("--plda_file", default=None,
                   help="PLDA of --diar_mode vbx (default: <model dir>/plda.npz, written "
                   "by espnet_echo.bin.fit_plda)")
    p.add_argument("--num_speakers", type=int, default=None, help="vbx: exact count")
    p.add_argument("--min_speakers", type=int, default=None, help="vbx: lower bound")
    p.add_argument("--max_speakers", type=int, default=None, help="vbx: upper bound")
    p.add_argument("--vbx_threshold", type=float, default=0.6,
                   help="vbx: AHC cut (cosine distance) of the VBx initialisation")
    p.add_argument("--loopP", type=float, default=0.97, help="vbx: speaker-turn loop prob.")
    p.add_argument("--Fa", type=float, default=0.9, help="vbx: acoustic scaling")
    p.add_argument("--Fb", type=float, default=17.0, help="vbx: speaker regularisation")
    p.add_argument("--min_speech_share", type=float, default=0.5,
                   help="vbx: least speech share of an embedding window")
    p.add_argument("--chunk_s", type=float, default=chunk_s,
                   help="recordings longer than this (s) are processed in overlapping "
                   "chunks (every head; speakers linked, tracks and words stitched)")
    p.add_argument("--chunk_hop_s", type=float, default=None,
                   help="hop between chunks (s); default chunk_s / 2")
    p.add_argument("--chunk_batch", type=int, default=1, help="chunks per forward pass")
    p.add_argument("--tasks", nargs="+", default=None,
                   help="heads to run (e.g. diar sep); default: all the policy reads")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "auto"), default="float32",
                   help="bfloat16: the forward pass under bf16 autocast (frontend, "
                   "normalisation, separation waveform encoder/decoder stay fp32); an "
                   "error where the device lacks bf16; auto: bfloat16 where supported, "
                   "else float32")
    p.add_argument("--quantize", choices=("none", "int8"), default="none",
                   help="int8: dynamic int8 quantisation of every nn.Linear (CPU, with "
                   "--dtype float32)")
    p.add_argument("--solo_passthrough", type=str2bool, default=True,
                   help="a chunk with one active speaker gives that speaker the mixture, "
                   "not a separated slot (nothing to separate; an imperfect separator "
                   "only distorts a lone talker); false: always the separated slot")
    p.add_argument("--num_threads", type=int, default=0, help="torch threads (0: keep)")
