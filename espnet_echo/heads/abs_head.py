# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Interface of a task head on top of the shared encoder (the head contract)."""

from abc import ABC, abstractmethod
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

#: What ``infer``/``decode`` return: named tensors, batch first.
HeadOutput = Dict[str, torch.Tensor]

#: Standard entries of a :data:`HeadOutput`, read by the inference policy
#: (:class:`espnet_echo.inference.speech2echo.Speech2Echo`). A head lists the ones it
#: produces in ``output_kinds``; other keys of its output are private to its loss.
OUTPUT_KINDS = {
    "activity": "speaker activity posteriors (B, T, S) in [0, 1], zero on padding, "
    "with 'activity_lengths' (B,) valid encoder frames",
    "sources": "separated waveforms (B, S, N), zero past the mixture length, with "
    "'source_energy_db' (B, S) slot energy relative to the mixture (dB)",
    "tokens": "token ids per slot (B, S, L), padded with -1, without blank/sos/eos, "
    "with 'token_lengths' (B, S), 'token_frames' (B, S, L) (the encoder frame of each "
    "token, -1 on padding) and 'token_activity' (B, T, S) (each slot's speech activity "
    "in [0, 1], e.g. its non-blank CTC posterior); produced by decode()",
    "speaker_frames": "frame-level speaker features (B, T, E), zero on padding, with "
    "'speaker_frames_lengths' (B,); pooled into L2-normalised embeddings by the head's "
    "embed()",
}


class AbsEchoHead(torch.nn.Module, ABC):
    """A task head over (RWSE-fused) encoder features.

    The contract (what the joint model and the task rely on, and all they rely on):

    * ``ref_kinds`` declares the reference kinds the loss needs. Each kind is built
      from the batch by the model (``espnet_echo.unified.references``: ``spk_labels``,
      ``speech_ref``, ``num_spk``, ``text``, ``spk_ids``), which also names the data
      option to add when it is missing; the task checks the training data against the same
      declaration. A kind may give several keyword arguments (``text`` gives ``text``
      and ``text_lengths``).
    * ``build_args`` names the constructor arguments the task fills in
      (``encoder_output_size``, ``num_spk`` and, for token outputs, ``vocab_size`` and
      ``token_list``; for speaker classifiers ``num_train_speakers``; for heads that
      think in seconds ``frame_shift_s``).
    * :meth:`infer` computes the network output from features (and the mixture
      waveform, for heads that need it) and returns named tensors; training and
      inference share it.
    * :meth:`loss` turns that output and the references into
      ``(loss, stats, perm)``. ``perm`` (B, S) is the slot assignment chosen by PIT
      (``espnet_echo.layers.pit``): ``perm[b, :K]`` are the slots of references
      ``0 .. K - 1``, the rest the null slots in ascending order. It is returned,
      never stored on the head.
    * :meth:`decode` adds search results (e.g. beam search) to an output at inference;
      ``decode_options`` lists the options it reads from the flat option mapping.
    * ``output_kinds`` lists the standard entries (:data:`OUTPUT_KINDS`) the head's
      inference output carries.

    Args:
        encoder_output_size: Feature dimension D of the encoder features.
        num_spk: Number of output slots S.

    Raises:
        ValueError: ``num_spk < 1`` or ``encoder_output_size < 1``.
    """

    #: Reference kinds ``loss`` needs (keys of ``unified.references.REFERENCE_KINDS``).
    ref_kinds: Tuple[str, ...] = ()
    #: Standard output entries (:data:`OUTPUT_KINDS`) of ``infer`` + ``decode``.
    output_kinds: Tuple[str, ...] = ()
    #: Constructor arguments the task sets (a user value must agree with it).
    build_args: Tuple[str, ...] = ("encoder_output_size", "num_spk")
    #: Options ``decode`` reads from the inference option mapping.
    decode_options: Tuple[str, ...] = ()

    def __init__(self, encoder_output_size: int, num_spk: int):
        super().__init__()
        if num_spk < 1:
            raise ValueError(f"num_spk must be >= 1, got {num_spk}")
        if encoder_output_size < 1:
            raise ValueError(
                f"encoder_output_size must be >= 1, got {encoder_output_size}"
            )
        self.encoder_output_size = encoder_output_size
        self.num_spk = num_spk

    def _check_feats(self, feats: torch.Tensor, feats_lens: torch.Tensor) -> None:
        """Raise ValueError unless feats is (B, T, D) and feats_lens is (B,)."""
        if feats.dim() != 3 or feats.size(-1) != self.encoder_output_size:
            raise ValueError(
                f"feats must be (B, T, {self.encoder_output_size}), "
                f"got {tuple(feats.shape)}"
            )
        if feats_lens.shape != (feats.size(0),):
            raise ValueError(
                f"feats_lens must be ({feats.size(0)},), got {tuple(feats_lens.shape)}"
            )

    @abstractmethod
    def infer(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
    ) -> HeadOutput:
        """Network output of the head.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).
            speech: Mixture waveforms (B, N) (only heads that read the waveform need
                it).
            speech_lengths: Valid samples (B,).

        Returns:
            Named tensors (see the head's docstring and :data:`OUTPUT_KINDS`).

        Raises:
            ValueError: shape errors.
        """
        raise NotImplementedError

    @abstractmethod
    def loss(
        self, output: HeadOutput, **refs: torch.Tensor
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """Training loss of an :meth:`infer` output.

        Args:
            output: What :meth:`infer` returned.
            **refs: The references of the kinds named in ``ref_kinds``.

        Returns:
            loss: Scalar tensor.
            stats: Detached scalars for logging (keys without the task prefix), or None
                where nothing could be measured.
            perm: Long (B, S), the PIT assignment (see the class docstring).

        Raises:
            ValueError: missing or malformed references.
        """
        raise NotImplementedError

    def decode(self, output: HeadOutput, options: Mapping[str, Any]) -> HeadOutput:
        """Add search results to an :meth:`infer` output (default: none).

        Args:
            output: What :meth:`infer` returned.
            options: Inference options; the head reads the keys in ``decode_options``.

        Returns:
            The output, possibly with more entries.
        """
        return output

    def forward(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
        **refs: torch.Tensor,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """``loss(infer(feats, feats_lens, speech, speech_lengths), **refs)``."""
        return self.loss(self.infer(feats, feats_lens, speech, speech_lengths), **refs)
