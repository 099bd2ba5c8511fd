# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Build code shared by EchoTask and JEPATask: the waveform-to-encoder stack.

Both tasks take the same ``frontend``/``specaug``/``normalize``/``encoder`` choices (so a
JEPA-pretrained encoder has the parameter names the joint model expects) and the same
``--init``/``--input_size`` options; the construction follows
``espnet2.tasks.asr.ASRTask.build_model``.
"""

import argparse
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, TypeVar

import torch
import yaml
from espnet2.asr.encoder.abs_encoder import AbsEncoder
from espnet2.asr.encoder.conformer_encoder import ConformerEncoder
from espnet2.asr.encoder.e_branchformer_encoder import EBranchformerEncoder
from espnet2.asr.encoder.transformer_encoder import TransformerEncoder
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from espnet2.asr.frontend.default import DefaultFrontend
from espnet2.asr.specaug.abs_specaug import AbsSpecAug
from espnet2.asr.specaug.specaug import SpecAug
from espnet2.layers.abs_normalize import AbsNormalize
from espnet2.layers.global_mvn import GlobalMVN
from espnet2.layers.utterance_mvn import UtteranceMVN
from espnet2.torch_utils.initialize import initialize
from espnet2.train.class_choices import ClassChoices
from espnet2.utils.types import int_or_none, str_or_none

from espnet_echo.encoder.echo_vit import EchoViTEncoder

frontend_choices = ClassChoices(
    name="frontend",
    classes=dict(default=DefaultFrontend),
    type_check=AbsFrontend,
    default="default",
    optional=True,
)
specaug_choices = ClassChoices(
    name="specaug",
    classes=dict(specaug=SpecAug),
    type_check=AbsSpecAug,
    default=None,
    optional=True,
)
normalize_choices = ClassChoices(
    "normalize",
    classes=dict(global_mvn=GlobalMVN, utterance_mvn=UtteranceMVN),
    type_check=AbsNormalize,
    default="utterance_mvn",
    optional=True,
)
encoder_choices = ClassChoices(
    "encoder",
    classes=dict(
        echo_vit=EchoViTEncoder,
        e_branchformer=EBranchformerEncoder,
        transformer=TransformerEncoder,
        conformer=ConformerEncoder,
    ),
    type_check=AbsEncoder,
    default="echo_vit",
)

#: The ClassChoices of the stack, in parser order.
STACK_CHOICES = [frontend_choices, specaug_choices, normalize_choices, encoder_choices]

# Frames of input features per output frame for ESPnet's subsampling front layers.
_SUBSAMPLING = {None: 1, "linear": 1, "embed": 1, "conv2d": 4, "conv2d1": 1,
                "conv2d2": 2, "conv2d6": 6, "conv2d8": 8, "conv1d2": 2}

#: ESPnet 202611's initialisations (espnet2.torch_utils.initialize; "chainer" was removed
#: upstream in June 2025 and would fail at build time, so it is not offered).
INIT_CHOICES = ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
                "normal", None]


def encoder_subsampling(encoder: AbsEncoder, encoder_conf: Dict) -> int:
    """Input frames per encoder output frame.

    Reads ``encoder.subsampling_factor`` (attribute or method) and falls back to the
    ``input_layer`` of ``encoder_conf`` (ESPnet's conv2d* front layers).

    Raises:
        ValueError: neither gives the factor.
    """
    factor = getattr(encoder, "subsampling_factor", None)
    if callable(factor):
        factor = factor()
    if factor is not None:
        return int(factor)
    input_layer = encoder_conf.get("input_layer", "conv2d")
    if input_layer not in _SUBSAMPLING:
        raise ValueError(f"cannot infer the subsampling of input_layer={input_layer!r}")
    return _SUBSAMPLING[input_layer]


_Built = TypeVar("_Built")


def names_config_on_error(
    build: Callable[[type, argparse.Namespace], _Built],
) -> Callable[[type, argparse.Namespace], _Built]:
    """Decorate a task's ``build_model`` so a bad option names the config file.

    A ``*_conf`` key no constructor takes (a typo such as ``hiden_size``), or a missing
    required one, surfaces from Python as a ``TypeError`` that names the class but not
    the file; this re-raises it as ``ValueError("<config>: <message>")``. Other
    type errors propagate unchanged.

    Args:
        build: ``build_model(cls, args)``.

    Returns:
        The wrapped function.
    """

    @functools.wraps(build)
    def wrapper(cls: type, args: argparse.Namespace) -> _Built:
        try:
            return build(cls, args)
        except TypeError as e:
            msg = str(e)
            if "keyword argument" not in msg and "required positional argument" not in msg:
                raise
            where = getattr(args, "config", None) or "the model's config"
            raise ValueError(f"{where}: {msg}") from e

    return wrapper


#: Options that shape the network: a checkpoint resumes only under the same values.
ARCHITECTURE_OPTIONS = (
    "input_size", "frontend", "frontend_conf", "normalize", "encoder", "encoder_conf",
    "num_spk", "diar_head", "diar_head_conf", "sep_head", "sep_head_conf", "asr_head",
    "asr_head_conf", "spk_head", "spk_head_conf", "model_conf", "predictor",
    "predictor_conf",
)


def check_resume_config(args: argparse.Namespace) -> None:
    """Refuse to ``--resume`` a checkpoint that another architecture wrote.

    ESPnet's trainer would load ``<output_dir>/checkpoint.pth`` into the new model and
    fail on mismatched parameter names or shapes with a message that names neither file.
    Called by the tasks' ``main_worker`` (training only, before the model is built and
    ESPnet rewrites ``config.yaml``), it compares :data:`ARCHITECTURE_OPTIONS` with the
    ``config.yaml`` the earlier run wrote next to the checkpoint. The frontend is
    compared as :func:`build_encoder_stack` writes it (none when ``input_size`` is set).

    Args:
        args: Parsed task arguments (``resume``, ``output_dir``, ``config``).

    Raises:
        ValueError: an option differs; the message names the checkpoint, both configs,
            the option and both values.
    """
    if not getattr(args, "resume", False) or not getattr(args, "output_dir", None):
        return
    out = Path(args.output_dir)
    ckpt, old_config = out / "checkpoint.pth", out / "config.yaml"
    if not ckpt.is_file() or not old_config.is_file():
        return
    try:
        with old_config.open(encoding="utf-8") as f:
            old = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{old_config}: cannot read the config of {ckpt}: {e}") from None
    new_name = getattr(args, "config", None) or "the command line"
    written = dict(vars(args))
    if written.get("input_size") is not None:  # as build_encoder_stack writes it
        written["frontend"], written["frontend_conf"] = None, {}
    for key in ARCHITECTURE_OPTIONS:
        if key not in old or key not in written:
            continue
        mine = yaml.safe_load(yaml.safe_dump(written[key]))
        if mine != old[key]:
            raise ValueError(
                f"{ckpt}: cannot resume: it was trained with {old_config}, whose {key} "
                f"({old[key]!r}) differs from {new_name}'s ({mine!r}); use another "
                f"--output_dir, or remove {out} to start over"
            )


def add_init_argument(group: argparse._ArgumentGroup) -> None:
    """``--init``: ESPnet's parameter initialisation method (None: PyTorch's)."""
    group.add_argument(
        "--init", type=lambda x: str_or_none(x.lower()), default=None,
        choices=INIT_CHOICES, help="The initialization method",
    )


def add_input_size_argument(group: argparse._ArgumentGroup) -> None:
    """``--input_size``: the feature dimension when the model has no frontend."""
    group.add_argument(
        "--input_size", type=int_or_none, default=None,
        help="Feature dimension when no frontend is used",
    )


@dataclass
class EncoderStack:
    """What :func:`build_encoder_stack` builds.

    Attributes:
        frontend: None when ``--input_size`` is given (features are the input).
        specaug: None unless ``--specaug`` is set.
        normalize: None when ``--normalize none``.
        encoder: The encoder.
        input_size: Feature dimension F the encoder reads.
        hop_length: Waveform samples per frontend frame (1 without a frontend; 160
            for a frontend without ``hop_length``).
        subsampling: Input frames per encoder frame.
    """

    frontend: Optional[AbsFrontend]
    specaug: Optional[AbsSpecAug]
    normalize: Optional[AbsNormalize]
    encoder: AbsEncoder
    input_size: int
    hop_length: int
    subsampling: int

    @property
    def frame_shift(self) -> int:
        """Waveform samples per encoder frame (hop × subsampling)."""
        return self.hop_length * self.subsampling


def build_encoder_stack(args: argparse.Namespace) -> EncoderStack:
    """Build frontend, specaug, normalize and encoder from the task arguments.

    With ``--input_size`` the frontend is dropped and ``args.frontend`` /
    ``args.frontend_conf`` are reset (so the written config says so).

    Args:
        args: Parsed task arguments (the ``STACK_CHOICES`` options and
            ``input_size``).

    Returns:
        The :class:`EncoderStack`.

    Raises:
        ValueError: the encoder's subsampling cannot be determined.
    """
    if args.input_size is None:
        frontend = frontend_choices.get_class(args.frontend)(**args.frontend_conf)
        input_size = frontend.output_size()
        hop_length = int(getattr(frontend, "hop_length", 160))
    else:
        args.frontend, args.frontend_conf = None, {}
        frontend, input_size, hop_length = None, args.input_size, 1
    specaug = (
        specaug_choices.get_class(args.specaug)(**args.specaug_conf)
        if args.specaug is not None else None
    )
    normalize = (
        normalize_choices.get_class(args.normalize)(**args.normalize_conf)
        if args.normalize is not None else None
    )
    encoder = encoder_choices.get_class(args.encoder)(
        input_size=input_size, **args.encoder_conf
    )
    return EncoderStack(
        frontend=frontend,
        specaug=specaug,
        normalize=normalize,
        encoder=encoder,
        input_size=input_size,
        hop_length=hop_length,
        subsampling=encoder_subsampling(encoder, args.encoder_conf),
    )


def initialize_model(model: torch.nn.Module, args: argparse.Namespace) -> None:
    """Apply ``--init`` (ESPnet's ``initialize``) when it is set."""
    if args.init is not None:
        initialize(model, args.init)

