# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""JEPA + DAAM speech tokenizer (stage 2): gated, downsampled, FSQ-quantised, HiFi-GAN decoded.

Registered as ``--codec jepa_fsq`` in ESPnet's own GAN codec task
(``espnet2.tasks.gan_codec.codec_choices``, see :mod:`espnet_echo.registry`), so it is
trained by ``python -m espnet2.bin.gan_codec_train`` with ESPnet's ``GANTrainer`` (two
optimizers, generator then discriminator turn, ``--ngpu``/DDP as for any ESPnet task) and
decoded by ``espnet2.bin.gan_codec_inference``. No ``espnet_echo/tasks/codec.py`` exists
because ESPnet's ``GANCodecTask`` fits as is: its data contract is one ``audio`` stream,
its model wrapper ``ESPnetGANCodecModel`` only needs ``codec.generator`` and
``codec.discriminator`` and forwards ``(audio, forward_generator)``, and the stage-5 encoder
weights arrive through the generic ``--init_param`` of ``AbsTask``::

    --init_param <ckpt>:target_encoder:codec.generator.encoder \
                 <ckpt>:normalize:codec.generator.normalize

with ``<ckpt>`` the stage-5 ``exp/jepa_pretrain_jepa_gmm_daam/latest.pth``.

Pipeline of the generator (``fs`` 16 kHz, ``hop`` 160 samples, patch stride 4; the encoder
then gives 25 frames/s; ``r = 25 / frame_rate_hz``, 10 for the paper's 2.5 Hz)::

    audio (B, N) -> zero-pad N to a multiple of hop * 4 * r samples
      -> DefaultFrontend log-mel (B, T, 80) -> global MVN (stage-5 statistics)
      -> EchoViTEncoder with DAAM (B, N/640, D_enc)      [frozen or fine-tuned]
      -> DensityAdaptiveGate (B, N/640, D_enc)           [Gaussian-mixture gating]
      -> Conv1d(kernel r, stride r) (B, T_c, D_lat)      [downsampling to frame_rate_hz]
      -> FSQ (vector_quantize_pytorch.FSQ, G codebooks of ``group_levels``)
             -> tokens (B, T_c, G) in [0, prod(group_levels))
      -> dequantised FSQ codes projected back (B, T_c, D_lat)
      -> ConvTranspose1d(kernel r, stride r) + residual Conv1d stack (B, C, N/640)
      -> HiFiGANGenerator (upsampling x640) -> audio (B, 1, N_pad) -> crop to N

The gate (:class:`espnet_echo.layers.daam.DensityAdaptiveGate`, the DAAM gate the encoder
uses inside its blocks, here once more on the encoder output) computes, per utterance,
the standardised scalar projection ``a_t = w^T x_t`` of every 40 ms frame, its density
``G_t`` under an equal-weight mixture of G learnable Gaussians (means offset from the
utterance mean, scales relative to the utterance std), and returns
``x_t * (1 + alpha * G_t)``: frames typical for the utterance are amplified before they are
pooled into a codec frame, outliers pass nearly unchanged. The token of group ``g`` of a
frame is FSQ's ``codes_to_indices`` of that group, which is exactly
:meth:`espnet_echo.codec.packing.MixedRadixPacker.pack` of its codes (tested).

Losses (HiFi-GAN, Kong et al. 2020, ``espnet2.gan_tts.hifigan.loss``): generator
``lambda_mel * L1 log-mel + lambda_adv * LSGAN + lambda_feat_match * feature matching``;
discriminator LSGAN on ``HiFiGANMultiScaleMultiPeriodDiscriminator``. FSQ has no
codebook or commitment loss (Mentzer et al. 2023).
"""

import math
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from typeguard import typechecked

from espnet2.asr.frontend.default import DefaultFrontend
from espnet2.gan_codec.abs_gan_codec import AbsGANCodec
from espnet2.gan_tts.hifigan import (
    HiFiGANGenerator,
    HiFiGANMultiScaleMultiPeriodDiscriminator,
)
from espnet2.gan_tts.hifigan.loss import (
    DiscriminatorAdversarialLoss,
    FeatureMatchLoss,
    GeneratorAdversarialLoss,
    MelSpectrogramLoss,
)
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet_echo.codec.packing import MixedRadixPacker, TokenFileHeader
from espnet_echo.encoder.echo_vit import EchoViTEncoder
from espnet_echo.layers.daam import DensityAdaptiveGate


class CodecInputError(ValueError):
    """Audio or tokens a codec cannot take; the message says what is wrong."""


class FeatureNorm(torch.nn.Module):
    """Global mean/variance normalisation with its statistics as loadable buffers.

    Same computation and buffer names (``mean``, ``std``) as ESPnet's
    ``espnet2.layers.global_mvn.GlobalMVN``, but without a stats file at construction: the
    stage-5 statistics come with ``--init_param <ckpt>:normalize:codec.generator.normalize``
    (identity until then).

    Args:
        size: Feature dimension F.
    """

    @typechecked
    def __init__(self, size: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("std", torch.ones(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` for features (B, T, F)."""
        return (x - self.mean) / self.std


class _ResConv(torch.nn.Module):
    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.conv = torch.nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(F.leaky_relu(x, 0.1))


class JEPAFSQGenerator(torch.nn.Module):
    """Encoder -> gate -> downsample -> FSQ -> upsample -> HiFi-GAN (see module docstring).

    Args:
        fs: Sample rate (Hz).
        frame_rate_hz: Codec frames per second; ``encoder rate / frame_rate_hz`` (the
            encoder gives ``fs / (hop_length * patch_stride)`` frames/s) must be an integer.
        group_levels: FSQ levels of the dimensions of one token (Mentzer et al. 2023).
        num_groups: Tokens per frame G.
        frontend_conf: ``DefaultFrontend`` arguments (those of the stage-5 config).
        encoder_conf: ``EchoViTEncoder`` arguments (those of the stage-5 config).
        gate_conf: ``DensityAdaptiveGate`` arguments besides ``input_size``.
        latent_dim: Width of the downsampled latent that FSQ projects from/to.
        decoder_channels: Channels of the upsampled latent fed to HiFi-GAN.
        decoder_res_layers: Residual Conv1d layers after upsampling.
        hifigan_conf: ``HiFiGANGenerator`` arguments besides ``in_channels``/``out_channels``;
            ``prod(upsample_scales)`` must equal ``hop_length * patch_stride``.
        freeze_encoder: Keep the (pretrained) frontend+encoder fixed (no gradients, eval mode).

    Raises:
        ValueError: A frame rate that does not divide the encoder rate, or HiFi-GAN
            upsampling that does not give the encoder frame shift.
    """

    @typechecked
    def __init__(
        self,
        fs: int = 16000,
        frame_rate_hz: float = 2.5,
        group_levels: Sequence[int] = (8, 5, 5, 5),
        num_groups: int = 19,
        frontend_conf: Optional[Dict[str, Any]] = None,
        encoder_conf: Optional[Dict[str, Any]] = None,
        gate_conf: Optional[Dict[str, Any]] = None,
        latent_dim: int = 256,
        decoder_channels: int = 256,
        decoder_res_layers: int = 2,
        hifigan_conf: Optional[Dict[str, Any]] = None,
        freeze_encoder: bool = True,
    ):
        super().__init__()
        frontend_conf = dict(
            {"fs": fs, "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 80},
            **(frontend_conf or {}),
        )
        self.fs = fs
        self.frontend = DefaultFrontend(**frontend_conf)
        n_mels = self.frontend.output_size()
        self.normalize = FeatureNorm(n_mels)
        self.encoder = EchoViTEncoder(input_size=n_mels, **(encoder_conf or {}))
        self.encoder_shift = int(frontend_conf["hop_length"]) * self.encoder.subsampling_factor
        encoder_rate = fs / self.encoder_shift
        ratio = encoder_rate / frame_rate_hz
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-6:
            raise ValueError(
                f"frame_rate_hz {frame_rate_hz} must divide the encoder rate "
                f"{encoder_rate:g} Hz (fs / (hop_length * patch_stride)) an integer number "
                "of times"
            )
        self.ratio = int(round(ratio))
        self.frame_rate_hz = float(frame_rate_hz)
        self.samples_per_frame = self.encoder_shift * self.ratio
        self.packer = MixedRadixPacker.uniform(group_levels, num_groups)
        self.group_levels = tuple(int(v) for v in group_levels)
        self.num_groups = num_groups

        d_enc = self.encoder.output_size()
        self.gate = DensityAdaptiveGate(d_enc, **(gate_conf or {}))
        self.down = torch.nn.Conv1d(d_enc, latent_dim, self.ratio, stride=self.ratio)
        # vector-quantize-pytorch FSQ: project_in (latent_dim -> G * len(levels)), bound,
        # round; indices = per-codebook codes_to_indices; indices_to_codes -> project_out.
        from vector_quantize_pytorch import FSQ

        self.fsq = FSQ(
            levels=list(self.group_levels), dim=latent_dim, num_codebooks=num_groups
        )
        self.up = torch.nn.ConvTranspose1d(
            latent_dim, decoder_channels, self.ratio, stride=self.ratio
        )
        self.up_res = torch.nn.Sequential(
            *[_ResConv(decoder_channels, 5) for _ in range(decoder_res_layers)]
        )
        hifigan_conf = dict(hifigan_conf or {})
        scales = hifigan_conf.get("upsample_scales", [8, 8, 2, 2])
        if math.prod(scales) != self.encoder_shift:
            raise ValueError(
                f"hifigan_conf upsample_scales {list(scales)} multiply to "
                f"{math.prod(scales)}, "
                f"but the latent has one frame per {self.encoder_shift} samples"
            )
        self.vocoder = HiFiGANGenerator(
            in_channels=decoder_channels, out_channels=1, **hifigan_conf
        )
        # What the tokens mean, saved with every checkpoint: a checkpoint of another codec
        # config whose tensors happen to have the same shapes is still told apart.
        self.register_buffer("spec", self.spec_tensor())
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            for p in list(self.encoder.parameters()) + list(self.frontend.parameters()):
                p.requires_grad_(False)

    def spec_tensor(self) -> torch.Tensor:
        """``[fs, frame_rate_hz, num_groups, *group_levels]`` (float64) of this codec."""
        return torch.tensor(
            [float(self.fs), self.frame_rate_hz, float(self.num_groups)]
            + [float(v) for v in self.group_levels],
            dtype=torch.float64,
        )

    def train(self, mode: bool = True) -> "JEPAFSQGenerator":
        """As ``Module.train``, but a frozen encoder stays in eval mode."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def header(self) -> TokenFileHeader:
        """The token-file header of this codec (frame rate, levels, grouping)."""
        return TokenFileHeader.from_packer(self.packer, self.frame_rate_hz)

    def latent(self, audio: torch.Tensor) -> torch.Tensor:
        """Gated, downsampled continuous latent before FSQ.

        Args:
            audio: Waveform (B, N), N >= 1; zero-padded at the end to whole frames.

        Returns:
            torch.Tensor: (B, T_c, latent_dim), ``T_c = ceil(N / samples_per_frame)``.
        """
        if audio.dim() != 2 or audio.size(1) < 1:
            raise CodecInputError(
                f"audio must be (B, N) with N >= 1 samples, got {tuple(audio.shape)}"
            )
        n_frames = -(-audio.size(1) // self.samples_per_frame)
        n_pad = n_frames * self.samples_per_frame
        audio = F.pad(audio, (0, n_pad - audio.size(1)))
        lens = torch.full((audio.size(0),), n_pad, dtype=torch.long, device=audio.device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            feats, feat_lens = self.frontend(audio, lens)
            feats = self.normalize(feats)
            hs, _, _ = self.encoder(feats, feat_lens)
        hs = hs[:, : n_frames * self.ratio]  # the centred STFT adds one trailing frame
        hs = self.gate(hs)
        return self.down(hs.transpose(1, 2)).transpose(1, 2)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Tokens of a waveform batch.

        Args:
            audio: Waveform (B, N).

        Returns:
            torch.Tensor: Tokens (B, T_c, G), long, token ``g`` in ``[0, V_g)``.
        """
        _, indices = self.fsq(self.latent(audio))
        return indices.long()

    def check_tokens(self, tokens: torch.Tensor, source: Optional[str] = None) -> None:
        """Raise :class:`CodecInputError` unless tokens are (B, T_c >= 1, G) in vocabulary.

        Args:
            tokens: Tokens (B, T_c, G), integer.
            source: Name of the file they came from, for the message.
        """
        where = f"{source}: " if source else ""
        if tokens.dim() != 3 or tokens.size(2) != self.num_groups or tokens.size(1) < 1:
            raise CodecInputError(
                f"{where}tokens must be (B, T >= 1, {self.num_groups}), got "
                f"{tuple(tokens.shape)}"
            )
        if tokens.is_floating_point() or tokens.dtype == torch.bool:
            raise CodecInputError(f"{where}tokens must be integers, got {tokens.dtype}")
        vocab = self.packer.vocab_sizes[0]
        bad = (tokens < 0) | (tokens >= vocab)
        if bad.any():
            b, t, g = (int(i) for i in bad.nonzero()[0])
            raise CodecInputError(
                f"{where}token {int(tokens[b, t, g])} at frame {t}, position {g} is outside "
                f"the vocabulary [0, {vocab})"
            )

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Waveform of tokens.

        Args:
            tokens: Tokens (B, T_c, G).

        Returns:
            torch.Tensor: Waveform (B, 1, T_c * samples_per_frame).

        Raises:
            CodecInputError: Wrong shape or tokens outside the vocabulary.
        """
        self.check_tokens(tokens)
        z = self.fsq.indices_to_codes(tokens.to(torch.int32))
        return self.synthesize(z)

    def synthesize(self, z: torch.Tensor) -> torch.Tensor:
        """Waveform (B, 1, T_c * samples_per_frame) of dequantised latents (B, T_c, D_lat)."""
        h = self.up_res(self.up(z.transpose(1, 2)))
        return self.vocoder(h)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Reconstruct a batch through the quantiser (straight-through gradients).

        Args:
            audio: Waveform (B, N).

        Returns:
            torch.Tensor: Reconstruction (B, 1, N).
        """
        zq, _ = self.fsq(self.latent(audio))
        return self.synthesize(zq)[..., : audio.size(1)]


class JEPAFSQCodec(AbsGANCodec):
    """JEPA + DAAM tokenizer with HiFi-GAN decoder, as an ESPnet GAN codec.

    Generator: :class:`JEPAFSQGenerator`; discriminator, adversarial, feature-matching and
    mel losses from ``espnet2.gan_tts.hifigan`` (Kong et al. 2020, "HiFi-GAN"); training
    loop as ``espnet2.gan_codec.soundstream.SoundStream`` (generator turn then
    discriminator turn, run by ``espnet2.train.gan_trainer.GANTrainer``).

    Args:
        sampling_rate: Sample rate (Hz).
        generator_params: :class:`JEPAFSQGenerator` arguments (besides ``fs``).
        discriminator_params: ``HiFiGANMultiScaleMultiPeriodDiscriminator`` arguments.
        generator_adv_loss_params: ``GeneratorAdversarialLoss`` arguments.
        discriminator_adv_loss_params: ``DiscriminatorAdversarialLoss`` arguments.
        feat_match_loss_params: ``FeatureMatchLoss`` arguments.
        mel_loss_params: ``MelSpectrogramLoss`` arguments (``fs`` is ``sampling_rate``).
        lambda_mel: Weight of the mel L1 loss (45 in HiFi-GAN).
        lambda_adv: Weight of the generator adversarial loss.
        lambda_feat_match: Weight of the feature-matching loss (2 in HiFi-GAN).
    """

    @typechecked
    def __init__(
        self,
        sampling_rate: int = 16000,
        generator_params: Optional[Dict[str, Any]] = None,
        discriminator_params: Optional[Dict[str, Any]] = None,
        generator_adv_loss_params: Optional[Dict[str, Any]] = None,
        discriminator_adv_loss_params: Optional[Dict[str, Any]] = None,
        feat_match_loss_params: Optional[Dict[str, Any]] = None,
        mel_loss_params: Optional[Dict[str, Any]] = None,
        lambda_mel: float = 45.0,
        lambda_adv: float = 1.0,
        lambda_feat_match: float = 2.0,
    ):
        super().__init__()
        self.fs = sampling_rate
        self.generator = JEPAFSQGenerator(fs=sampling_rate, **(generator_params or {}))
        self.discriminator = HiFiGANMultiScaleMultiPeriodDiscriminator(
            **(discriminator_params or {})
        )
        self.generator_adv_loss = GeneratorAdversarialLoss(
            **(generator_adv_loss_params or {"average_by_discriminators": False})
        )
        self.discriminator_adv_loss = DiscriminatorAdversarialLoss(
            **(discriminator_adv_loss_params or {"average_by_discriminators": False})
        )
        self.feat_match_loss = FeatureMatchLoss(
            **(
                feat_match_loss_params
                or {"average_by_discriminators": False, "average_by_layers": False}
            )
        )
        mel_conf = dict(
            {"n_fft": 1024, "hop_length": 256, "win_length": None, "n_mels": 80},
            **(mel_loss_params or {}),
        )
        mel_conf["fs"] = sampling_rate
        self.mel_loss = MelSpectrogramLoss(**mel_conf)
        self.lambda_mel = lambda_mel
        self.lambda_adv = lambda_adv
        self.lambda_feat_match = lambda_feat_match
        self._cache = None

    def meta_info(self) -> Dict[str, Any]:
        """fs, frame rate, tokens per frame, vocabulary, tokens/s and bit/s."""
        g = self.generator
        return {
            "fs": self.fs,
            "num_streams": g.num_groups,
            "frame_shift": g.samples_per_frame,
            "frame_rate_hz": g.frame_rate_hz,
            "code_size_per_stream": list(g.packer.vocab_sizes),
            "tokens_per_second": g.packer.tokens_per_second(g.frame_rate_hz),
            "bitrate": g.packer.bitrate(g.frame_rate_hz),
        }

    def forward(
        self, audio: torch.Tensor, forward_generator: bool = True, **kwargs
    ) -> Dict[str, Any]:
        """Generator or discriminator loss (ESPnet GAN codec contract).

        Args:
            audio: Waveform (B, N).
            forward_generator: Generator turn (optim_idx 0) or discriminator turn (1).

        Returns:
            Dict[str, Any]: ``loss``, ``stats``, ``weight``, ``optim_idx``.
        """
        if forward_generator:
            return self._forward_generator(audio)
        return self._forward_discriminator(audio)

    def _generate(self, audio: torch.Tensor, generator_turn: bool) -> torch.Tensor:
        # GANTrainer runs both turns on the same batch object: the discriminator turn reuses
        # the generator turn's output when it comes second on that very batch (identity
        # check, so a skipped or reordered turn never sees another batch's output).
        if not generator_turn and self._cache is not None and self._cache[0] is audio:
            audio_hat = self._cache[1]
            self._cache = None
            return audio_hat
        audio_hat = self.generator(audio)
        self._cache = (audio, audio_hat.detach()) if generator_turn and self.training else None
        return audio_hat

    def _forward_generator(self, audio: torch.Tensor) -> Dict[str, Any]:
        batch_size = audio.size(0)
        audio_hat = self._generate(audio, generator_turn=True)
        wav = audio.unsqueeze(1)
        mel_loss = self.mel_loss(audio_hat, wav) * self.lambda_mel
        loss = mel_loss
        stats = dict(mel_loss=mel_loss.item())
        if self.lambda_adv > 0 or self.lambda_feat_match > 0:
            p_hat = self.discriminator(audio_hat)
            with torch.no_grad():
                p = self.discriminator(wav)
            adv_loss = self.generator_adv_loss(p_hat) * self.lambda_adv
            fm_loss = self.feat_match_loss(p_hat, p) * self.lambda_feat_match
            loss = loss + adv_loss + fm_loss
            stats.update(adv_loss=adv_loss.item(), feat_match_loss=fm_loss.item())
        stats.update(generator_loss=loss.item())
        loss, stats, weight = force_gatherable((loss, stats, batch_size), loss.device)
        return {"loss": loss, "stats": stats, "weight": weight, "optim_idx": 0}

    def _forward_discriminator(self, audio: torch.Tensor) -> Dict[str, Any]:
        batch_size = audio.size(0)
        audio_hat = self._generate(audio, generator_turn=False)
        p_hat = self.discriminator(audio_hat.detach())
        p = self.discriminator(audio.unsqueeze(1))
        real_loss, fake_loss = self.discriminator_adv_loss(p_hat, p)
        loss = real_loss + fake_loss
        stats = dict(
            discriminator_loss=loss.item(), real_loss=real_loss.item(),
            fake_loss=fake_loss.item(),
        )
        loss, stats, weight = force_gatherable((loss, stats, batch_size), loss.device)
        return {"loss": loss, "stats": stats, "weight": weight, "optim_idx": 1}

    @staticmethod
    def _as_batch(x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 1:
            return x[None]
        if x.dim() == 3 and x.size(1) == 1:
            return x[:, 0]
        if x.dim() == 2:
            return x
        raise CodecInputError(f"audio must be (N), (B, N) or (B, 1, N), got {tuple(x.shape)}")

    def encode(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Tokens in ESPnet's codec layout.

        Args:
            x: Waveform (N), (B, N) or (B, 1, N).

        Returns:
            torch.Tensor: Tokens (G, B, T_c) (``N_stream, B, T`` as ESPnet codecs).
        """
        return self.generator.encode(self._as_batch(x)).permute(2, 0, 1)

    def decode(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Waveform (B, 1, T_c * samples_per_frame) of tokens (G, B, T_c)."""
        return self.generator.decode(x.permute(1, 2, 0))

    def inference(self, x: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        """Resynthesis of one waveform (N): ``wav`` (N_pad,) and ``codec`` (T_c, G)."""
        tokens = self.generator.encode(self._as_batch(x))
        wav = self.generator.decode(tokens)
        return {"wav": wav.view(-1), "codec": tokens[0]}
