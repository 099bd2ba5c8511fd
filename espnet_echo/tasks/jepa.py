# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""JEPATask: ESPnet task of JEPA self-supervised encoder pretraining (optionally
GMM-anchored)."""

import argparse
import logging
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch
from espnet2.tasks.abs_task import AbsTask
from espnet2.train.collate_fn import CommonCollateFn
from espnet2.train.trainer import Trainer
from espnet2.utils.get_default_kwargs import get_default_kwargs
from espnet2.utils.nested_dict_action import NestedDictAction
from typeguard import typechecked

from espnet_echo import registry
from espnet_echo.ssl.espnet_model import ESPnetJEPAModel
from espnet_echo.ssl.predictor import JEPAPredictor
from espnet_echo.tasks.common import (
    STACK_CHOICES,
    add_init_argument,
    add_input_size_argument,
    build_encoder_stack,
    check_resume_config,
    initialize_model,
    names_config_on_error,
)

registry.register()


class JEPATask(AbsTask):
    """JEPA pretraining of a speech encoder on unlabelled audio.

    Data name: ``speech`` (``wav.scp``, type ``sound``) only. The frontend, specaug,
    normalize and encoder choices are EchoTask's (``espnet_echo.tasks.common``), so the
    same ``encoder``/``encoder_conf`` (and ``frontend_conf``) give the same parameter
    names. The pretrained encoder is the
    EMA target; downstream, EchoTask takes it with
    ``--init_param <exp>/<ckpt>.pth:target_encoder:encoder``.
    """

    num_optimizers: int = 1
    class_choices_list = list(STACK_CHOICES)
    trainer = Trainer

    @classmethod
    def main_worker(cls, args: argparse.Namespace) -> None:
        """ESPnet's training entry, after :func:`check_resume_config`."""
        check_resume_config(args)
        super().main_worker(args)

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        group = parser.add_argument_group(description="Task related")
        add_init_argument(group)
        add_input_size_argument(group)
        group.add_argument(
            "--predictor_conf", action=NestedDictAction,
            default=get_default_kwargs(JEPAPredictor),
            help="Keyword arguments of JEPAPredictor (input_size is set by the task)",
        )
        group.add_argument(
            "--model_conf", action=NestedDictAction,
            default=get_default_kwargs(ESPnetJEPAModel),
            help="Keyword arguments of ESPnetJEPAModel (masking, EMA, loss, gmm_file, ...)",
        )
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    @typechecked
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable[
        [Collection[Tuple[str, Dict[str, np.ndarray]]]],
        Tuple[List[str], Dict[str, torch.Tensor]],
    ]:
        return CommonCollateFn(float_pad_value=0.0, int_pad_value=-1)

    @classmethod
    @typechecked
    def build_preprocess_fn(
        cls, args: argparse.Namespace, train: bool
    ) -> Optional[Callable[[str, Dict[str, np.array]], Dict[str, np.ndarray]]]:
        return None

    @classmethod
    def required_data_names(
        cls, train: bool = True, inference: bool = False
    ) -> Tuple[str, ...]:
        return ("speech",)

    @classmethod
    def optional_data_names(
        cls, train: bool = True, inference: bool = False
    ) -> Tuple[str, ...]:
        return ()

    @classmethod
    @names_config_on_error
    @typechecked
    def build_model(cls, args: argparse.Namespace) -> ESPnetJEPAModel:
        # 1-3. frontend, specaug, normalize, encoder
        stack = build_encoder_stack(args)
        encoder = stack.encoder
        d_model = encoder.output_size()
        # 4. predictor
        predictor_conf = dict(args.predictor_conf)
        if predictor_conf.get("input_size", d_model) != d_model:
            raise ValueError(
                f"--predictor_conf input_size={predictor_conf['input_size']} does not match "
                f"the encoder's output size {d_model} (leave it out: the task sets it)"
            )
        predictor_conf["input_size"] = d_model
        predictor = JEPAPredictor(**predictor_conf)
        # 5. model (the EMA target is a copy of the encoder made inside)
        model = ESPnetJEPAModel(
            frontend=stack.frontend,
            specaug=stack.specaug,
            normalize=stack.normalize,
            encoder=encoder,
            predictor=predictor,
            subsampling=stack.subsampling,
            **args.model_conf,
        )
        initialize_model(model, args)
        logging.info(
            f"JEPA model: encoder={args.encoder} "
            f"({sum(p.numel() for p in encoder.parameters()):,} params), predictor "
            f"{sum(p.numel() for p in predictor.parameters()):,} params, subsampling "
            f"{model.subsampling}, GMM anchor "
            f"{'off' if model.gmm is None else model.gmm.num_components}"
        )
        return model
