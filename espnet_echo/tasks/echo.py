# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""EchoTask: ESPnet task of the joint diarization + separation + ASR model."""

import argparse
import logging
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch
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
from espnet2.tasks.abs_task import AbsTask
from espnet2.torch_utils.initialize import initialize
from espnet2.train.class_choices import ClassChoices
from espnet2.train.trainer import Trainer
from espnet2.utils.get_default_kwargs import get_default_kwargs
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import int_or_none, str2bool, str_or_none
from typeguard import typechecked

from espnet_echo import registry
from espnet_echo.encoder.echo_vit import EchoViTEncoder
from espnet_echo.heads.abs_head import AbsEchoHead
from espnet_echo.heads.asr_multispkr import MultiSpkrASRHead
from espnet_echo.heads.diar_eend import EENDDiarHead
from espnet_echo.heads.sep_tasnet import TasNetSepHead
from espnet_echo.train.collate_fn import EchoCollateFn
from espnet_echo.train.preprocessor import EchoPreprocessor
from espnet_echo.unified.espnet_model import ESPnetEchoModel, count_encoder_layers

registry.register()

MAX_SPK = 4

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
diar_head_choices = ClassChoices(
    "diar_head",
    classes=dict(eend=EENDDiarHead),
    type_check=AbsEchoHead,
    default="eend",
    optional=True,
)
sep_head_choices = ClassChoices(
    "sep_head",
    classes=dict(tasnet=TasNetSepHead),
    type_check=AbsEchoHead,
    default="tasnet",
    optional=True,
)
asr_head_choices = ClassChoices(
    "asr_head",
    classes=dict(multispkr=MultiSpkrASRHead),
    type_check=AbsEchoHead,
    default="multispkr",
    optional=True,
)

# Frames of input features per output frame for ESPnet's subsampling front layers.
_SUBSAMPLING = {None: 1, "linear": 1, "embed": 1, "conv2d": 4, "conv2d1": 1,
                "conv2d2": 2, "conv2d6": 6, "conv2d8": 8, "conv1d2": 2}


def encoder_subsampling(encoder: AbsEncoder, encoder_conf: Dict) -> int:
    """Input frames per encoder output frame."""
    factor = getattr(encoder, "subsampling_factor", None)
    if callable(factor):
        factor = factor()
    if factor is not None:
        return int(factor)
    input_layer = encoder_conf.get("input_layer", "conv2d")
    if input_layer not in _SUBSAMPLING:
        raise ValueError(f"cannot infer the subsampling of input_layer={input_layer!r}")
    return _SUBSAMPLING[input_layer]


class EchoTask(AbsTask):
    """Joint diarization, separation and multi-speaker ASR on one shared encoder.

    Data names: ``speech`` (mixture, required), ``speech_ref`` (sources,
    ``variable_columns_sound``), ``spk_labels`` (``espnet_rttm``, type ``rttm``),
    ``num_spk`` (``utt2num_spk``, ``text_int``) and ``text_spk1..text_spk4`` (``text``;
    an empty line means the speaker is absent). Each head needs its own labels; the
    check runs in :meth:`build_model`.
    """

    num_optimizers: int = 1
    class_choices_list = [
        frontend_choices,
        specaug_choices,
        normalize_choices,
        encoder_choices,
        diar_head_choices,
        sep_head_choices,
        asr_head_choices,
    ]
    trainer = Trainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        group = parser.add_argument_group(description="Task related")
        group.add_argument(
            "--token_list", type=str_or_none, default=None,
            help="Token list file (one token per line) or list; needed by the ASR head",
        )
        group.add_argument(
            "--num_spk", type=int, default=3,
            help=f"Speaker slots S of every head (1..{MAX_SPK})",
        )
        group.add_argument(
            "--init", type=lambda x: str_or_none(x.lower()), default=None,
            choices=["chainer", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                     "kaiming_normal", None],
            help="The initialization method",
        )
        group.add_argument(
            "--input_size", type=int_or_none, default=None,
            help="Feature dimension when no frontend is used",
        )
        group.add_argument(
            "--model_conf", action=NestedDictAction,
            default=get_default_kwargs(ESPnetEchoModel),
            help="Keyword arguments of ESPnetEchoModel (loss weights, rwse_mode, ...)",
        )
        group = parser.add_argument_group(description="Preprocess related")
        group.add_argument("--use_preprocessor", type=str2bool, default=True,
                           help="Apply preprocessing to data or not")
        group.add_argument("--token_type", type=str, default="bpe",
                           choices=["bpe", "char", "word"], help="Text tokenisation")
        group.add_argument("--bpemodel", type=str_or_none, default=None,
                           help="Sentencepiece model file for token_type=bpe")
        group.add_argument("--cleaner", type=str_or_none, default=None,
                           choices=[None, "tacotron", "jaconv", "vietnamese"],
                           help="Text cleaner")
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    @typechecked
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable[
        [Collection[Tuple[str, Dict[str, np.ndarray]]]],
        Tuple[List[str], Dict[str, torch.Tensor]],
    ]:
        return EchoCollateFn(float_pad_value=0.0, int_pad_value=-1,
                             not_sequence=["num_spk"])

    @classmethod
    @typechecked
    def build_preprocess_fn(
        cls, args: argparse.Namespace, train: bool
    ) -> Optional[Callable[[str, Dict[str, np.array]], Dict[str, np.ndarray]]]:
        if not args.use_preprocessor:
            return None
        use_text = args.token_list is not None
        return EchoPreprocessor(
            train=train,
            token_type=args.token_type if use_text else None,
            token_list=args.token_list if use_text else None,
            bpemodel=args.bpemodel if use_text else None,
            text_cleaner=args.cleaner,
            text_name=[f"text_spk{n}" for n in range(1, MAX_SPK + 1)],
        )

    @classmethod
    def required_data_names(
        cls, train: bool = True, inference: bool = False
    ) -> Tuple[str, ...]:
        return ("speech",)

    @classmethod
    def optional_data_names(
        cls, train: bool = True, inference: bool = False
    ) -> Tuple[str, ...]:
        texts = tuple(f"text_spk{n}" for n in range(1, MAX_SPK + 1))
        return ("speech_ref", "spk_labels", "num_spk") + texts

    @classmethod
    def _check_data_for_heads(cls, args: argparse.Namespace) -> None:
        """Fail early when a head is on but the training data lack its labels."""
        triples = getattr(args, "train_data_path_and_name_and_type", None)
        if not triples or getattr(args, "collect_stats", False):
            return
        names = {t[1] for t in triples}
        needs = {
            "diar_head": ["spk_labels"],
            "sep_head": ["speech_ref", "num_spk"],
            "asr_head": [f"text_spk{n}" for n in range(1, args.num_spk + 1)],
        }
        for head, keys in needs.items():
            if getattr(args, head) is None:
                continue
            missing = [k for k in keys if k not in names]
            if missing:
                raise ValueError(
                    f"--{head} {getattr(args, head)} needs the data names {missing}, but "
                    f"--train_data_path_and_name_and_type gives only {sorted(names)}"
                )

    @classmethod
    @typechecked
    def build_model(cls, args: argparse.Namespace) -> ESPnetEchoModel:
        if not 1 <= args.num_spk <= MAX_SPK:
            raise ValueError(f"--num_spk must be in 1..{MAX_SPK}, got {args.num_spk}")
        cls._check_data_for_heads(args)

        token_list = None
        if isinstance(args.token_list, str):
            with open(args.token_list, encoding="utf-8") as f:
                token_list = [line.rstrip() for line in f]
            args.token_list = list(token_list)  # keep config.yaml portable
        elif isinstance(args.token_list, (tuple, list)):
            token_list = list(args.token_list)
        if args.asr_head is not None and token_list is None:
            raise ValueError("--asr_head needs --token_list (recipe stage 3 writes it)")

        # 1. frontend
        if args.input_size is None:
            frontend = frontend_choices.get_class(args.frontend)(**args.frontend_conf)
            input_size = frontend.output_size()
            hop_length = int(getattr(frontend, "hop_length", 160))
        else:
            args.frontend, args.frontend_conf = None, {}
            frontend, input_size, hop_length = None, args.input_size, 1
        # 2. specaug / normalize
        specaug = (
            specaug_choices.get_class(args.specaug)(**args.specaug_conf)
            if args.specaug is not None else None
        )
        normalize = (
            normalize_choices.get_class(args.normalize)(**args.normalize_conf)
            if args.normalize is not None else None
        )
        # 3. encoder
        encoder = encoder_choices.get_class(args.encoder)(
            input_size=input_size, **args.encoder_conf
        )
        d_model = encoder.output_size()
        frame_shift = hop_length * encoder_subsampling(encoder, args.encoder_conf)
        # 4. heads
        heads = {}
        for choices in (diar_head_choices, sep_head_choices, asr_head_choices):
            name = getattr(args, choices.name)
            if name is None:
                heads[choices.name] = None
                continue
            conf = dict(getattr(args, f"{choices.name}_conf"))
            for key, value in (("encoder_output_size", d_model), ("num_spk", args.num_spk)):
                if conf.get(key, value) != value:
                    raise ValueError(
                        f"--{choices.name}_conf {key}={conf[key]} does not match the "
                        f"model's {key}={value} (leave it out: the task sets it)"
                    )
                conf[key] = value
            if choices.name == "asr_head":
                conf.update(vocab_size=len(token_list), token_list=token_list)
            heads[choices.name] = choices.get_class(name)(**conf)
        model_conf = dict(args.model_conf)
        model = ESPnetEchoModel(
            frontend=frontend,
            specaug=specaug,
            normalize=normalize,
            encoder=encoder,
            num_spk=args.num_spk,
            frame_shift=frame_shift,
            num_layers=count_encoder_layers(encoder, input_size),
            **heads,
            **model_conf,
        )
        if args.init is not None:
            initialize(model, args.init)
        logging.info(
            f"Echo model: encoder={args.encoder} "
            f"({sum(p.numel() for p in encoder.parameters()):,} params), "
            f"frame_shift={frame_shift} samples, heads={list(model.heads)}"
        )
        return model
