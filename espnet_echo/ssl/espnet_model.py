# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""ESPnetJEPAModel: JEPA self-supervised pretraining of any ESPnet encoder, optionally
GMM-anchored."""

import copy
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from espnet2.asr.encoder.abs_encoder import AbsEncoder
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from espnet2.asr.specaug.abs_specaug import AbsSpecAug
from espnet2.layers.abs_normalize import AbsNormalize
from espnet2.torch_utils.device_funcs import force_gatherable
from typeguard import typechecked

from espnet2.legacy.nets.pytorch_backend.nets_utils import make_pad_mask
from espnet_echo.ssl.ema import EMAMomentum, ema_update_
from espnet_echo.ssl.gmm import DiagonalGMM, anchor_weight, normalized_cluster_entropy
from espnet_echo.ssl.masking import BlockMasker, token_mask_to_frame_mask
from espnet_echo.ssl.monitors import CollapseMonitor
from espnet_echo.ssl.predictor import JEPAPredictor
from espnet_echo.unified.abs_model import AbsWaveformESPnetModel

LOSS_TYPES = ("mse", "smooth_l1")


def masked_latent_loss(
    pred: torch.Tensor, target: torch.Tensor, token_mask: torch.Tensor, loss_type: str = "mse"
) -> torch.Tensor:
    """Latent regression loss on masked tokens only.

    Args:
        pred: Predicted latents (B, T', D).
        target: Target latents (B, T', D), already normalised and detached.
        token_mask: Bool (B, T'), True = masked and not padding.
        loss_type: ``mse`` or ``smooth_l1`` (beta 1).

    Returns:
        torch.Tensor: Scalar, the element loss averaged over masked tokens and channels.
    """
    p, t = pred[token_mask], target[token_mask]
    if p.shape[0] == 0:
        raise ValueError("no masked tokens in the batch")
    if loss_type == "mse":
        return F.mse_loss(p, t)
    if loss_type == "smooth_l1":
        return F.smooth_l1_loss(p, t)
    raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {LOSS_TYPES}")


def pool_to_tokens(
    frames: torch.Tensor,
    frame_lengths: torch.Tensor,
    token_lengths: torch.Tensor,
    num_tokens: int,
) -> torch.Tensor:
    """Average frame-rate vectors down to the token rate, per utterance.

    The ``frame_lengths[b]`` valid frames of utterance ``b`` are split into
    ``token_lengths[b]`` adaptive-average bins (``F.adaptive_avg_pool1d``); with Echo ViT
    and a length that is a multiple of the patch stride that is exactly the 4 frames of
    each token. Padding tokens are zero.

    Args:
        frames: (B, T, K).
        frame_lengths: Valid frames (B,).
        token_lengths: Valid tokens (B,).
        num_tokens: Padded token length T'.

    Returns:
        torch.Tensor: (B, T', K).
    """
    out = frames.new_zeros(frames.shape[0], num_tokens, frames.shape[2])
    pairs = zip(frame_lengths.tolist(), token_lengths.tolist())
    for b, (n_frames, n_tokens) in enumerate(pairs):
        if n_tokens == 0:
            continue
        x = frames[b, :n_frames].T[None]  # (1, K, T_b)
        out[b, :n_tokens] = F.adaptive_avg_pool1d(x, n_tokens)[0].T
    return out


def _digest_to_tensor(digest: str) -> torch.Tensor:
    """SHA-256 hex -> its 32 byte values as float64 (survives ESPnet's model averaging)."""
    return torch.tensor(list(bytes.fromhex(digest)), dtype=torch.float64)


def _tensor_to_digest(values: torch.Tensor) -> str:
    return bytes(int(round(v)) for v in values.tolist()).hex()


class ESPnetJEPAModel(AbsWaveformESPnetModel):
    """JEPA pretraining: predict EMA-target latents of masked tokens from the context.

    Per training step (``forward`` in training mode):

    1. EMA update of ``target_encoder`` from ``encoder`` with momentum ``m(step)``
       (0.996 -> 1.0; at step 0 a plain copy, momentum 0), then ``step += 1``. The
       target is a frozen deep copy (``requires_grad=False``, always in eval mode) and
       never receives gradients.
       With ``--accum_grad N`` the update runs once per forward, i.e. N times per
       optimizer step.
    2. ``speech -> frontend`` (log-mel, B, T, F) ``-> normalize`` -> ``target_encoder``
       (no grad) gives the targets (B, T', D) and the token lengths.
    3. :class:`BlockMasker` draws a token mask (B, T'); it is mapped to input frames with
       the encoder's subsampling factor and those frames of the normalised features are
       set to 0 (the mean after global/utterance MVN). ``specaug`` (optional, training
       only) acts on the context branch only. The context ``encoder`` encodes the masked
       input; any ESPnet encoder works.
    4. :class:`JEPAPredictor` fills the masked tokens; the loss ``mse``/``smooth_l1``
       regresses ``F.layer_norm(target)`` (no affine) on masked non-padding tokens.
    5. GMM anchoring (``gmm_file``): posteriors of the frozen :class:`DiagonalGMM` on the
       raw frontend log-mel (before normalize), pooled to tokens; cluster head
       ``Linear(D, K)`` on the predictor output; ``L = L_jepa + lambda(step) * L_cluster``
       with ``L_cluster = KL(p_GMM || softmax(logits))`` averaged over masked tokens and
       ``lambda = anchor_weight(step, anchor_decay_steps, anchor_start, anchor_end)``.

    The step counter ``step`` is a persistent buffer, so ``--resume`` continues both
    schedules. The GMM's buffers are not saved; a persistent ``gmm_digest`` is, and
    loading a state dict made with another GMM raises ``ValueError``.

    Validation (eval mode) does no EMA update and uses a fixed mask seed, so valid losses
    are comparable across epochs.

    Args:
        frontend: Waveform to log-mel (B, N) -> (B, T, F); None if features are input.
        specaug: Optional SpecAugment on the context branch (training only).
        normalize: Optional feature normalisation (GlobalMVN / UtteranceMVN).
        encoder: Context encoder (any ESPnet ``AbsEncoder``); the one to keep.
        predictor: The JEPA predictor.
        subsampling: Input frames per encoder token (``encoder.subsampling_factor``).
        loss_type: ``mse`` or ``smooth_l1``.
        min_mask_ratio: Smallest per-utterance mask ratio.
        max_mask_ratio: Largest per-utterance mask ratio.
        min_span: Shortest mask span, in tokens.
        max_span: Longest mask span, in tokens.
        ema_start: EMA momentum at step 0.
        ema_end: EMA momentum after ``ema_anneal_steps``.
        ema_anneal_steps: Steps of the momentum schedule.
        ema_schedule: ``linear`` or ``cosine``.
        gmm_file: ``.npz`` of a :class:`DiagonalGMM` fitted on the frontend's log-mel
            (``python -m espnet_echo.bin.fit_gmm``); None = plain JEPA.
        anchor_decay_steps: Steps over which the anchor weight decays.
        anchor_start: Anchor weight at step 0.
        anchor_end: Anchor weight from ``anchor_decay_steps`` on.
        collapse_std_threshold: Warn when the target latents' mean per-dimension std
            falls below this.
        extract_feats_in_collect_stats: Compute frontend features in collect-stats mode.
    """

    @typechecked
    def __init__(
        self,
        frontend: Optional[AbsFrontend],
        specaug: Optional[AbsSpecAug],
        normalize: Optional[AbsNormalize],
        encoder: AbsEncoder,
        predictor: JEPAPredictor,
        subsampling: int,
        loss_type: str = "mse",
        min_mask_ratio: float = 0.4,
        max_mask_ratio: float = 0.65,
        min_span: int = 5,
        max_span: int = 12,
        ema_start: float = 0.996,
        ema_end: float = 1.0,
        ema_anneal_steps: int = 100000,
        ema_schedule: str = "cosine",
        gmm_file: Optional[str] = None,
        anchor_decay_steps: int = 50000,
        anchor_start: float = 1.0,
        anchor_end: float = 0.01,
        collapse_std_threshold: float = 0.01,
        extract_feats_in_collect_stats: bool = True,
    ):
        super().__init__()
        if loss_type not in LOSS_TYPES:
            raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {LOSS_TYPES}")
        if subsampling < 1:
            raise ValueError(f"subsampling must be >= 1, got {subsampling}")
        self.frontend = frontend
        self.specaug = specaug
        self.normalize = normalize
        self.encoder = encoder
        self.target_encoder = copy.deepcopy(encoder)
        self.target_encoder.requires_grad_(False)
        self.target_encoder.eval()
        self.predictor = predictor
        self.subsampling = subsampling
        self.loss_type = loss_type
        self.masker = BlockMasker(min_mask_ratio, max_mask_ratio, min_span, max_span)
        self.ema_momentum = EMAMomentum(ema_start, ema_end, ema_anneal_steps, ema_schedule)
        self.monitor = CollapseMonitor(collapse_std_threshold)
        self.extract_feats_in_collect_stats = extract_feats_in_collect_stats
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

        self.gmm: Optional[DiagonalGMM] = None
        self.cluster_head: Optional[torch.nn.Linear] = None
        if gmm_file is not None:
            feat_dim = frontend.output_size() if frontend is not None else None
            gmm = DiagonalGMM.load(gmm_file)
            if feat_dim is not None and gmm.feat_dim != feat_dim:
                raise ValueError(
                    f"GMM {gmm_file} has feat_dim {gmm.feat_dim}, but the frontend gives "
                    f"{feat_dim} mel bins (n_mels); fit the GMM on this frontend's features"
                )
            # The GMM is configuration, not a trained weight: keep its buffers out of the
            # state dict and record only its digest.
            for name, buf in list(gmm.named_buffers(recurse=False)):
                gmm.register_buffer(name, buf, persistent=False)
            self.gmm = gmm
            self.cluster_head = torch.nn.Linear(encoder.output_size(), gmm.num_components)
            self.register_buffer("gmm_digest", _digest_to_tensor(gmm.digest()))
            if anchor_decay_steps <= 0:
                raise ValueError(f"anchor_decay_steps must be > 0, got {anchor_decay_steps}")
        self.anchor_decay_steps = anchor_decay_steps
        self.anchor_start = anchor_start
        self.anchor_end = anchor_end

    # ------------------------------------------------------------------ helpers
    def train(self, mode: bool = True) -> "ESPnetJEPAModel":
        """Set the training mode; the EMA target always stays in eval mode."""
        super().train(mode)
        self.target_encoder.eval()
        return self

    @staticmethod
    def _encode(encoder: AbsEncoder, feats: torch.Tensor, lens: torch.Tensor):
        out, out_lens, _ = encoder(feats, lens)
        if isinstance(out, tuple):  # encoders with intermediate outputs
            out = out[0]
        return out, out_lens

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs,
    ):
        key = prefix + "gmm_digest"
        if self.gmm is not None and key in state_dict:
            loaded = _tensor_to_digest(state_dict[key])
            configured = self.gmm.digest()
            if loaded != configured:
                raise ValueError(
                    f"the checkpoint was trained with GMM digest {loaded}, but the "
                    f"configured gmm_file has digest {configured}: the GMM changed since "
                    "this run started; restore the original GMM file or start a new run"
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
            error_msgs,
        )

    # ------------------------------------------------------------------ training
    def forward(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """JEPA (+ GMM anchor) loss of a batch.

        Args:
            speech: Waveforms (B, N) (or features (B, T, F) without a frontend).
            speech_lengths: (B,).
            **kwargs: Ignored (other data names).

        Returns:
            loss, stats, weight (ESPnet's contract).

        Raises:
            ValueError: an empty utterance, or one too short to hold a mask span.
        """
        if speech_lengths.numel() == 0 or int(speech_lengths.min()) <= 0:
            raise ValueError(
                "JEPA needs non-empty utterances; got speech_lengths "
                f"{speech_lengths.tolist()}"
            )
        step = int(self.step)
        stats: Dict[str, torch.Tensor] = {}
        if self.training:
            # Step 0 copies the context encoder, so --init / --init_param reach the target.
            momentum = self.ema_momentum(step) if step > 0 else 0.0
            ema_update_(self.target_encoder, self.encoder, momentum)
            self.step += 1
            stats["ema_momentum"] = torch.tensor(momentum)

        feats, feats_lens = self._extract_feats(speech, speech_lengths)
        normed, _ = self._augment_normalize(feats, feats_lens, augment=False)
        with torch.no_grad():
            target, token_lens = self._encode(self.target_encoder, normed, feats_lens)
        num_tokens = target.shape[1]
        generator = None if self.training else torch.Generator().manual_seed(0)
        token_mask = self.masker(token_lens, num_tokens, generator).to(target.device)
        valid = ~make_pad_mask(token_lens, maxlen=num_tokens).to(target.device)
        token_mask = token_mask & valid

        context_in = normed
        if self.specaug is not None and self.training:
            context_in, _ = self._augment_normalize(feats, feats_lens)
        frame_mask = token_mask_to_frame_mask(
            token_mask, self.subsampling, context_in.shape[1], feats_lens
        )
        context_in = context_in.masked_fill(frame_mask[..., None], 0.0)
        context, _ = self._encode(self.encoder, context_in, feats_lens)
        if context.shape[1] != num_tokens:
            raise RuntimeError(
                f"context encoder gave {context.shape[1]} tokens, target {num_tokens}"
            )
        pred = self.predictor(context, token_mask, token_lens)

        target_ln = F.layer_norm(target, target.shape[-1:])
        loss_jepa = masked_latent_loss(pred, target_ln, token_mask, self.loss_type)
        loss = loss_jepa
        stats["loss_jepa"] = loss_jepa.detach()

        if self.gmm is not None:
            with torch.no_grad():
                post = pool_to_tokens(
                    self.gmm.posteriors(feats), feats_lens, token_lens, num_tokens
                )
            logits = self.cluster_head(pred)
            loss_cluster = F.kl_div(
                F.log_softmax(logits[token_mask].float(), dim=-1),
                post[token_mask].float(),
                reduction="batchmean",
            )
            weight = anchor_weight(
                step, self.anchor_decay_steps, self.anchor_start, self.anchor_end
            )
            loss = loss + weight * loss_cluster
            stats["loss_cluster"] = loss_cluster.detach()
            stats["anchor_weight"] = torch.tensor(weight)
            stats["cluster_entropy"] = torch.tensor(
                normalized_cluster_entropy(
                    logits[token_mask].argmax(-1), self.gmm.num_components
                )
            )

        stats["loss"] = loss.detach()
        stats["mask_ratio"] = token_mask.sum() / valid.sum()
        monitored = self.monitor("target", target, valid, step)
        monitored.update(self.monitor("pred", pred, token_mask, step))
        for name in ("target_std", "pred_std", "target_eff_rank", "pred_eff_rank",
                     "target_cos_sim"):
            stats[name] = torch.tensor(monitored[name])
        loss, stats, weight = force_gatherable(
            (loss, stats, speech.shape[0]), loss.device
        )
        return loss, stats, weight
