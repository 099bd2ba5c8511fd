# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""EchoTask: ESPnet task of the joint diarization + separation + ASR + speaker model."""

import argparse
import logging
from typing import Any, Callable, Collection, Dict, List, Optional, Tuple

import humanfriendly
import numpy as np
import torch
from espnet2.tasks.abs_task import AbsTask
from espnet2.train.class_choices import ClassChoices
from espnet2.train.trainer import Trainer
from espnet2.utils.get_default_kwargs import get_default_kwargs
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import str2bool, str_or_none
from typeguard import typechecked

from espnet_echo import registry
from espnet_echo.data.contract import MAX_SPK
from espnet_echo.data.spk_ids import read_spk_list
from espnet_echo.heads.abs_head import AbsEchoHead
from espnet_echo.heads.asr_multispkr import MultiSpkrASRHead
from espnet_echo.heads.content_ctc import ContentCTCHead
from espnet_echo.heads.diar_eend import EENDDiarHead
from espnet_echo.heads.sep_kset import KSetSepHead
from espnet_echo.heads.sep_tasnet import TasNetSepHead
from espnet_echo.heads.spk_arcface import ArcFaceSpkHead
from espnet_echo.tasks.common import (  # noqa: F401 (re-exported for other modules)
    STACK_CHOICES,
    add_init_argument,
    add_input_size_argument,
    build_encoder_stack,
    check_resume_config,
    encoder_choices,
    encoder_subsampling,
    frontend_choices,
    initialize_model,
    names_config_on_error,
    normalize_choices,
    specaug_choices,
)
from espnet_echo.train.collate_fn import EchoCollateFn
from espnet_echo.train.preprocessor import EchoPreprocessor
from espnet_echo.unified.espnet_model import TASKS, ESPnetEchoModel, count_encoder_layers
from espnet_echo.unified.references import data_names_of

registry.register()

diar_head_choices = ClassChoices(
    "diar_head",
    classes=dict(eend=EENDDiarHead),
    type_check=AbsEchoHead,
    default="eend",
    optional=True,
)
sep_head_choices = ClassChoices(
    "sep_head",
    classes=dict(tasnet=TasNetSepHead, kset=KSetSepHead),
    type_check=AbsEchoHead,
    default="tasnet",
    optional=True,
)
asr_head_choices = ClassChoices(
    "asr_head",
    classes=dict(multispkr=MultiSpkrASRHead, content_ctc=ContentCTCHead),
    type_check=AbsEchoHead,
    default="multispkr",
    optional=True,
)

spk_head_choices = ClassChoices(
    "spk_head",
    classes=dict(arcface=ArcFaceSpkHead),
    type_check=AbsEchoHead,
    default=None,
    optional=True,
)

#: One ClassChoices per head slot of ESPnetEchoModel, in ``TASKS`` order
#: (``--<task>_head``).
HEAD_CHOICES = [diar_head_choices, sep_head_choices, asr_head_choices, spk_head_choices]
assert [c.name for c in HEAD_CHOICES] == [f"{t}_head" for t in TASKS]

#: The task option that supplies a head's build argument, where it is not its name,
#: and what writes it.
_OPTION_OF = {"vocab_size": "token_list", "num_train_speakers": "spk_list"}
_WRITTEN_BY = {
    "token_list": "recipe stage 3 writes it",
    "spk_list": "python -m espnet_echo.bin.make_spk_ids writes it",
}

#: Seconds per input frame when the model has no frontend (``--input_size``): Kaldi's
#: and ESPnet's 10 ms feature shift.
FEATURE_SHIFT_S = 0.01


class EchoTask(AbsTask):
    """Joint diarization, separation, multi-speaker ASR and speaker embeddings.

    Data names: ``speech`` (mixture, required), ``speech_ref`` (sources,
    ``variable_columns_sound``), ``spk_labels`` (``espnet_rttm``, type ``rttm``),
    ``num_spk`` (``utt2num_spk``, ``text_int``), ``text_spk1..text_spk<MAX_SPK>``
    (``text``; an empty line means the speaker is absent) and ``spk_ids`` (``spk_ids``,
    ``text_int``: training-speaker index per source, from ``make_spk_ids``, for the
    speaker head with ``--spk_list``). Each head declares the reference kinds
    it needs (``AbsEchoHead.ref_kinds``); the data names they read
    (``espnet_echo.unified.references``) are checked in :meth:`build_model`.
    """

    num_optimizers: int = 1
    class_choices_list = STACK_CHOICES + HEAD_CHOICES
    trainer = Trainer

    @classmethod
    def main_worker(cls, args: argparse.Namespace) -> None:
        """ESPnet's training entry, after :func:`check_resume_config`."""
        check_resume_config(args)
        super().main_worker(args)

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        group = parser.add_argument_group(description="Task related")
        group.add_argument(
            "--token_list", type=str_or_none, default=None,
            help="Token list file (one token per line) or list; needed by the ASR head",
        )
        group.add_argument(
            "--spk_list", type=str_or_none, default=None,
            help="Training speaker list (one id per line; make_spk_ids writes it); "
            "needed by the speaker head",
        )
        group.add_argument(
            "--num_spk", type=int, default=3,
            help=f"Speaker slots S of every head (1..{MAX_SPK})",
        )
        add_init_argument(group)
        add_input_size_argument(group)
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
        """Every data name a selectable head's reference kinds read (S = MAX_SPK)."""
        names: Dict[str, None] = {}
        for choices in HEAD_CHOICES:
            for head_class in choices.classes.values():
                names.update(dict.fromkeys(data_names_of(head_class.ref_kinds, MAX_SPK)))
        return tuple(names)

    @classmethod
    def _check_data_for_heads(cls, args: argparse.Namespace) -> None:
        """Fail early when a head is on but the training data lack its references."""
        triples = getattr(args, "train_data_path_and_name_and_type", None)
        if not triples or getattr(args, "collect_stats", False):
            return
        names = {t[1] for t in triples}
        for choices in HEAD_CHOICES:
            head = getattr(args, choices.name, None)
            if head is None:
                continue
            needed = data_names_of(choices.get_class(head).ref_kinds, args.num_spk)
            missing = [k for k in needed if k not in names]
            if missing:
                raise ValueError(
                    f"--{choices.name} {head} needs the data names {missing}, but "
                    f"--train_data_path_and_name_and_type gives only {sorted(names)}"
                )

    @staticmethod
    def _read_token_list(args: argparse.Namespace) -> Optional[List[str]]:
        """The token list as a list (a file is read and inlined into ``args``)."""
        if isinstance(args.token_list, str):
            with open(args.token_list, encoding="utf-8") as f:
                token_list = [line.rstrip() for line in f]
            args.token_list = list(token_list)  # keep config.yaml portable
            return token_list
        if isinstance(args.token_list, (tuple, list)):
            return list(args.token_list)
        return None

    @staticmethod
    def _read_spk_list(args: argparse.Namespace) -> Optional[List[str]]:
        """The training speaker list (a file is read and inlined into ``args``).

        Raises:
            ValueError: the file is missing or empty, or repeats an id (``file:line``).
        """
        if not hasattr(args, "spk_list"):  # a config.yaml from before speaker heads
            args.spk_list = None
        if isinstance(args.spk_list, str):
            spk_list = read_spk_list(args.spk_list)
            args.spk_list = list(spk_list)  # keep config.yaml portable
            return spk_list
        if isinstance(args.spk_list, (tuple, list)):
            spk_list = [str(s) for s in args.spk_list]
            if not spk_list or len(set(spk_list)) != len(spk_list):
                raise ValueError("--spk_list must list distinct speaker ids")
            return spk_list
        return None

    @staticmethod
    def _frame_shift_s(args: argparse.Namespace, frame_shift: int) -> float:
        """Seconds per encoder frame: ``frame_shift`` samples at the frontend's ``fs``.

        Without a frontend, input frames are taken as :data:`FEATURE_SHIFT_S` apart.
        """
        if args.frontend is None:
            return frame_shift * FEATURE_SHIFT_S
        fs = dict(args.frontend_conf).get("fs", 16000)
        if isinstance(fs, str):
            fs = humanfriendly.parse_size(fs)  # as DefaultFrontend reads it
        return frame_shift / float(fs)

    @classmethod
    def _build_head(
        cls, choices: ClassChoices, args: argparse.Namespace, provided: Dict[str, Any]
    ) -> Optional[AbsEchoHead]:
        """Build one head; the task fills in the arguments its class declares.

        Args:
            choices: The head slot's ClassChoices (``--<task>_head``).
            args: Parsed task arguments.
            provided: Values of the build arguments the task knows
                (``encoder_output_size``, ``num_spk``, ``vocab_size``, ``token_list``;
                None where the option is not set).

        Returns:
            The head, or None when the slot is off.

        Raises:
            ValueError: a declared argument the task lacks or cannot fill, or a
                ``--<task>_head_conf`` value that contradicts it.
        """
        # a config.yaml written before a head slot existed has no entry for it (off)
        name = getattr(args, choices.name, None)
        if name is None:
            return None
        head_class = choices.get_class(name)
        conf = dict(getattr(args, f"{choices.name}_conf", None) or {})
        for key in head_class.build_args:
            if key not in provided:
                raise ValueError(
                    f"{head_class.__name__} declares the build argument {key!r}, which "
                    f"EchoTask does not provide (it provides {sorted(provided)})"
                )
            value = provided[key]
            if value is None:
                option = _OPTION_OF.get(key, key)
                raise ValueError(
                    f"--{choices.name} needs --{option} "
                    f"({_WRITTEN_BY.get(option, 'see --help')})"
                )
            if conf.get(key, value) != value:
                raise ValueError(
                    f"--{choices.name}_conf {key}={conf[key]} does not match the "
                    f"model's {key}={value} (leave it out: the task sets it)"
                )
            conf[key] = value
        return head_class(**conf)

    @classmethod
    @names_config_on_error
    @typechecked
    def build_model(cls, args: argparse.Namespace) -> ESPnetEchoModel:
        """Build the joint model: encoder stack, the selected heads, RWSEs.

        Args:
            args: Parsed task arguments.

        Returns:
            ESPnetEchoModel.

        Raises:
            ValueError: ``--num_spk`` outside 1..MAX_SPK, training data without a
                head's references, a head conf contradicting a task-set argument, or
                a head that needs ``--token_list`` (``--spk_list``) without one, or a
                bad ``--spk_list``.
        """
        if not 1 <= args.num_spk <= MAX_SPK:
            raise ValueError(f"--num_spk must be in 1..{MAX_SPK}, got {args.num_spk}")
        cls._check_data_for_heads(args)
        token_list = cls._read_token_list(args)
        spk_list = cls._read_spk_list(args)

        # 1-3. frontend, specaug, normalize, encoder
        stack = build_encoder_stack(args)
        # 4. heads (each gets the constructor arguments its class declares)
        provided = dict(
            encoder_output_size=stack.encoder.output_size(),
            num_spk=args.num_spk,
            vocab_size=None if token_list is None else len(token_list),
            token_list=token_list,
            num_train_speakers=None if spk_list is None else len(spk_list),
            frame_shift_s=cls._frame_shift_s(args, stack.frame_shift),
        )
        heads = {
            choices.name: cls._build_head(choices, args, provided)
            for choices in HEAD_CHOICES
        }
        model = ESPnetEchoModel(
            frontend=stack.frontend,
            specaug=stack.specaug,
            normalize=stack.normalize,
            encoder=stack.encoder,
            num_spk=args.num_spk,
            frame_shift=stack.frame_shift,
            num_layers=count_encoder_layers(stack.encoder, stack.input_size),
            **heads,
            **dict(args.model_conf),
        )
        initialize_model(model, args)
        logging.info(
            f"Echo model: encoder={args.encoder} "
            f"({sum(p.numel() for p in stack.encoder.parameters()):,} params), "
            f"frame_shift={stack.frame_shift} samples, heads={list(model.heads)}"
        )
        return model
