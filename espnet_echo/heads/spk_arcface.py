# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""ArcFace speaker head: frame-level speaker features, pooled windows, AAM-softmax."""

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from espnet2.spk.loss.aamsoftmax import AAMSoftmax
from typeguard import typechecked

from espnet_echo.heads.abs_head import AbsEchoHead, HeadOutput

#: Smallest weight sum / variance in the statistics pooling (as ECAPA's ``eps``).
_EPS = 1e-5


def _length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Bool (B, T): frame t of utterance b is valid."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class ArcFaceSpkHead(AbsEchoHead):
    """Speaker embeddings of single-speaker windows, trained with AAM-softmax (ArcFace).

    Network: a per-frame projection of the RWSE features (``Linear -> ReLU ->
    LayerNorm``, twice) gives frame-level speaker features (B, T, E), E =
    ``hidden_size`` (:meth:`infer`). A window is a non-negative weighting of frames;
    :meth:`embed` pools it with weighted statistics pooling (weighted mean and
    weighted standard deviation over frames, the x-vector pooling of Snyder et al.,
    ICASSP 2018, with weights as in ECAPA-TDNN's attentive statistics pooling,
    Desplanques et al., Interspeech 2020; ESPnet's ``espnet2/spk/pooling/
    chn_attn_stat_pooling.py``), then a linear layer to ``embed_dim`` and L2
    normalisation. The projection is per frame and the pooling is order-free, so a
    window's embedding does not depend on the order of its frames.

    Training (:meth:`loss`): for every source ``k`` of a mixture with a training
    speaker id (``spk_ids[b, k] >= 0``), the frames where the reference activity
    (``spk_labels``, frames of the encoder) says that ``k`` is the *only* active
    speaker are its solo frames; overlapped frames are never given to one speaker.
    The ``window_s``-long span (``round(window_s / frame_shift_s)`` frames) with the
    most solo frames (the first such span) is kept; if it holds at least
    ``min_solo_frames`` solo frames, they are pooled with :meth:`embed` and scored
    against the training speaker with ESPnet's ``AAMSoftmax``
    (``espnet2/spk/loss/aamsoftmax.py``; Deng et al., ArcFace, CVPR 2019). So each
    (mixture, source) gives at most one training window.

    Not done: the clean sources (``speech_ref``) as extra training windows, which
    would need one more encoder pass per source.

    Inference: ``window_s``/``hop_s`` are stored for the caller (the VBx pipeline cuts
    the recording into windows of that length and hop and pools them with
    :meth:`embed`); the head itself works in frames.

    Output of :meth:`infer`: ``speaker_frames`` (B, T, E), zero on padded frames, and
    ``speaker_frames_lengths`` (B,).

    Args:
        encoder_output_size: Feature dimension D of the encoder features.
        num_spk: Number of source slots S (the width of ``spk_labels``/``spk_ids``).
        num_train_speakers: Number of training speakers (classes of the AAM-softmax;
            the task sets it from ``--spk_list``).
        frame_shift_s: Seconds per encoder frame (the task sets it from the frontend
            hop and the encoder subsampling).
        embed_dim: Embedding size.
        hidden_size: Size E of the frame-level speaker features.
        margin: Angular margin of the AAM-softmax (radians).
        scale: Logit scale of the AAM-softmax.
        window_s: Window length in seconds (training windows; inference windows).
        hop_s: Hop between inference windows in seconds (not used in training).
        min_solo_frames: Fewest solo frames a training window needs.
        dropout_rate: Dropout on the input features.

    Raises:
        ValueError: a size, count or duration out of range, or ``min_solo_frames``
            longer than the training window.
    """

    ref_kinds = ("spk_labels", "spk_ids")
    output_kinds = ("speaker_frames",)
    build_args = ("encoder_output_size", "num_spk", "num_train_speakers", "frame_shift_s")

    @typechecked
    def __init__(
        self,
        encoder_output_size: int,
        num_spk: int = 3,
        num_train_speakers: int = 1,
        frame_shift_s: float = 0.04,
        embed_dim: int = 128,
        hidden_size: int = 256,
        margin: float = 0.2,
        scale: float = 30.0,
        window_s: float = 1.5,
        hop_s: float = 0.75,
        min_solo_frames: int = 5,
        dropout_rate: float = 0.0,
    ):
        super().__init__(encoder_output_size, num_spk)
        if num_train_speakers < 1:
            raise ValueError(f"num_train_speakers must be >= 1, got {num_train_speakers}")
        if embed_dim < 1 or hidden_size < 1:
            raise ValueError(
                f"embed_dim and hidden_size must be >= 1, got {embed_dim}, {hidden_size}"
            )
        if not 0.0 <= margin < math.pi / 2 or scale <= 0:
            raise ValueError(
                f"need 0 <= margin < pi/2 and scale > 0, got margin={margin}, "
                f"scale={scale}"
            )
        if frame_shift_s <= 0 or window_s <= 0 or hop_s <= 0:
            raise ValueError(
                f"frame_shift_s, window_s and hop_s must be > 0 (seconds), got "
                f"{frame_shift_s}, {window_s}, {hop_s}"
            )
        self.num_train_speakers = num_train_speakers
        self.frame_shift_s = frame_shift_s
        self.embed_dim = embed_dim
        self.hidden_size = hidden_size
        self.window_s = window_s
        self.hop_s = hop_s
        self.window_frames = max(1, int(round(window_s / frame_shift_s)))
        if not 1 <= min_solo_frames <= self.window_frames:
            raise ValueError(
                f"min_solo_frames must be in 1..{self.window_frames} (the frames of a "
                f"{window_s} s window at {frame_shift_s} s per frame), got "
                f"{min_solo_frames}"
            )
        self.min_solo_frames = min_solo_frames
        self.frame_proj = torch.nn.Sequential(
            torch.nn.Dropout(dropout_rate),
            torch.nn.Linear(encoder_output_size, hidden_size),
            torch.nn.ReLU(),
            torch.nn.LayerNorm(hidden_size),
            torch.nn.Linear(hidden_size, hidden_size),
            torch.nn.ReLU(),
            torch.nn.LayerNorm(hidden_size),
        )
        self.embed_proj = torch.nn.Linear(2 * hidden_size, embed_dim)
        self.aam = AAMSoftmax(
            nout=embed_dim, nclasses=num_train_speakers, margin=margin, scale=scale
        )

    # ----------------------------------------------------------------- network
    def infer(
        self,
        feats: torch.Tensor,
        feats_lens: torch.Tensor,
        speech: Optional[torch.Tensor] = None,
        speech_lengths: Optional[torch.Tensor] = None,
    ) -> HeadOutput:
        """Frame-level speaker features.

        Args:
            feats: Encoder features (B, T, D).
            feats_lens: Valid frames (B,).
            speech: Unused (the head reads only the features).
            speech_lengths: Unused.

        Returns:
            ``speaker_frames`` (B, T, E), zero on padded frames, and
            ``speaker_frames_lengths`` (B,) long.

        Raises:
            ValueError: feats not (B, T, D) or feats_lens not (B,).
        """
        self._check_feats(feats, feats_lens)
        lengths = feats_lens.to(feats.device).long()
        mask = _length_mask(lengths, feats.size(1))
        frames = self.frame_proj(feats) * mask[:, :, None].to(feats.dtype)
        return {"speaker_frames": frames, "speaker_frames_lengths": lengths}

    def embed(self, speaker_frames: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings of weighted windows of frames.

        Weighted statistics pooling (x-vector, Snyder et al. 2018; weighted as in
        ECAPA-TDNN's ``chn_attn_stat_pooling.py`` in ESPnet): per window ``w``,
        ``mu = Σ_t a_t x_t / Σ_t a_t`` and ``sigma = sqrt(Σ_t a_t x_t² / Σ_t a_t - mu²)``
        (clamped at 1e-5 before the root), then ``Linear([mu; sigma])`` and L2
        normalisation. Training pools its windows with this method.

        A window whose weights sum to 0 has no frames: its row is all zero (not a unit
        vector); callers mask such windows.

        Args:
            speaker_frames: Frame-level speaker features (B, T, E) from :meth:`infer`.
            weights: Non-negative frame weights of W windows (B, W, T), e.g. 0/1
                masks; padded frames must have weight 0.

        Returns:
            Embeddings (B, W, embed_dim), unit norm, or zero for empty windows.

        Raises:
            ValueError: speaker_frames not (B, T, E), weights not (B, W, T), or a
                negative weight.
        """
        if speaker_frames.dim() != 3 or speaker_frames.size(-1) != self.hidden_size:
            raise ValueError(
                f"speaker_frames must be (B, T, {self.hidden_size}), got "
                f"{tuple(speaker_frames.shape)}"
            )
        bs, t, _ = speaker_frames.shape
        if weights.dim() != 3 or weights.size(0) != bs or weights.size(2) != t:
            raise ValueError(
                f"weights must be (B={bs}, W, T={t}), got {tuple(weights.shape)}"
            )
        if (weights < 0).any():
            raise ValueError("weights must be non-negative")
        w = weights.to(speaker_frames.dtype)
        total = w.sum(-1, keepdim=True)  # (B, W, 1)
        denom = total.clamp_min(_EPS)
        mean = torch.bmm(w, speaker_frames) / denom
        second = torch.bmm(w, speaker_frames * speaker_frames) / denom
        std = torch.sqrt((second - mean * mean).clamp_min(_EPS))
        emb = F.normalize(self.embed_proj(torch.cat([mean, std], dim=-1)), dim=-1)
        return emb * (total > 0).to(emb.dtype)

    # -------------------------------------------------------------------- loss
    def training_windows(
        self, spk_labels: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Frame weights of the training window of every (mixture, source).

        Args:
            spk_labels: Frame-level 0/1 activity (B, T, S') aligned to the frames.
            lengths: Valid frames (B,).

        Returns:
            0/1 weights (B, S', T): the solo frames of source k within the
            ``window_frames``-long span that holds most of them (the first such span;
            the whole utterance when it is shorter).

        Raises:
            ValueError: spk_labels not (B, T, S').
        """
        if spk_labels.dim() != 3 or spk_labels.size(0) != lengths.size(0):
            raise ValueError(
                f"spk_labels must be (B={lengths.size(0)}, T, S), got "
                f"{tuple(spk_labels.shape)}"
            )
        bs, t, _ = spk_labels.shape
        valid = _length_mask(lengths.to(spk_labels.device), t)
        active = (spk_labels > 0.5) & valid[:, :, None]
        solo = active & (active.sum(-1, keepdim=True) == 1)
        solo = solo.transpose(1, 2).float()  # (B, S', T)
        win = min(self.window_frames, t)
        csum = F.pad(solo.cumsum(-1), (1, 0))  # (B, S', T + 1)
        counts = csum[:, :, win:] - csum[:, :, : t - win + 1]  # (B, S', T - win + 1)
        start = counts.argmax(-1)  # first maximum
        frames = torch.arange(t, device=solo.device)
        in_win = (frames >= start[..., None]) & (frames < start[..., None] + win)
        return solo * in_win.float()

    def loss(
        self,
        output: HeadOutput,
        spk_labels: Optional[torch.Tensor] = None,
        spk_ids: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """AAM-softmax loss of the single-speaker training windows.

        Args:
            output: :meth:`infer` output (``speaker_frames``,
                ``speaker_frames_lengths``).
            spk_labels: Frame-level 0/1 activity (B, T, S') aligned to the encoder
                frames, columns in source order.
            spk_ids: Training-speaker index of each source (B, S''), -1 for a
                speaker outside the training list and for padding; S'' <= S'
                (or the extra columns are -1).
            **kwargs: Ignored (other references).

        Returns:
            loss: Scalar AAM-softmax cross entropy over the windows; when the batch
                has none, ``0 *`` a sum over the head's parameters and features (so
                every parameter gets a gradient and DDP does not wait).
            stats: ``loss``, ``acc`` (top-1 accuracy of the AAM classifier, None
                without windows), ``num_windows``.
            perm: Identity (B, S): the references are in source order.

        Raises:
            ValueError: missing or malformed references, or a speaker id
                ``>= num_train_speakers``.
        """
        if spk_labels is None or spk_ids is None:
            raise ValueError("ArcFaceSpkHead.loss needs spk_labels and spk_ids")
        frames = output["speaker_frames"]
        lengths = output["speaker_frames_lengths"]
        bs, t, _ = frames.shape
        if spk_labels.dim() != 3 or spk_labels.shape[:2] != (bs, t):
            raise ValueError(
                f"spk_labels must be (B={bs}, T={t}, S) aligned to the encoder frames, "
                f"got {tuple(spk_labels.shape)}"
            )
        if spk_ids.dim() != 2 or spk_ids.size(0) != bs:
            raise ValueError(f"spk_ids must be (B={bs}, S), got {tuple(spk_ids.shape)}")
        ids = spk_ids.to(frames.device).long()
        n_lab = spk_labels.size(2)
        if ids.size(1) > n_lab:
            if (ids[:, n_lab:] >= 0).any():
                raise ValueError(
                    f"spk_ids has {ids.size(1)} speaker columns with ids beyond the "
                    f"{n_lab} columns of spk_labels"
                )
            ids = ids[:, :n_lab]
        elif ids.size(1) < n_lab:
            ids = F.pad(ids, (0, n_lab - ids.size(1)), value=-1)
        if (ids >= self.num_train_speakers).any():
            raise ValueError(
                f"spk_ids has the speaker index {int(ids.max())} but the head has "
                f"num_train_speakers={self.num_train_speakers} (--spk_list): the spk_ids "
                "files were made with another speaker list (rerun "
                "espnet_echo.bin.make_spk_ids)"
            )

        weights = self.training_windows(spk_labels.to(frames.device), lengths)
        ok = (ids >= 0) & (weights.sum(-1) >= self.min_solo_frames)  # (B, S')
        perm = torch.arange(self.num_spk, device=frames.device).expand(bs, -1)
        num_windows = int(ok.sum())
        if num_windows == 0:
            touch = frames.sum() + sum(p.sum() for p in self.parameters())
            loss = 0.0 * touch
            stats = dict(loss=loss.detach(), acc=None, num_windows=torch.tensor(0.0))
            return loss, stats, perm
        emb = self.embed(frames, weights)[ok]  # (N, embed_dim)
        loss, acc, _ = self.aam(emb, ids[ok])
        stats = dict(
            loss=loss.detach(),
            acc=acc.detach(),
            num_windows=torch.tensor(float(num_windows)),
        )
        return loss, stats, perm
