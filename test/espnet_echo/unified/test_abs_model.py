import pytest
import torch
from espnet2.asr.frontend.default import DefaultFrontend
from espnet2.asr.specaug.specaug import SpecAug
from espnet2.layers.utterance_mvn import UtteranceMVN

from espnet_echo.unified.abs_model import AbsWaveformESPnetModel


class _Model(AbsWaveformESPnetModel):
    def __init__(self, frontend, specaug, normalize, extract=True):
        super().__init__()
        self.frontend = frontend
        self.specaug = specaug
        self.normalize = normalize
        self.extract_feats_in_collect_stats = extract

    def forward(self, speech, speech_lengths, **kwargs):
        raise NotImplementedError  # not exercised here


def _frontend():
    return DefaultFrontend(n_fft=128, win_length=128, hop_length=64, n_mels=16)


def test_extract_feats_cuts_padding_and_passes_features_without_frontend():
    speech = torch.randn(2, 5000)
    lens = torch.tensor([4000, 3000])
    feats, flens = _Model(_frontend(), None, None)._extract_feats(speech, lens)
    assert feats.shape == (2, 4000 // 64 + 1, 16) and flens.tolist() == [63, 47]
    raw, rlens = _Model(None, None, None)._extract_feats(speech, lens)
    assert raw.shape == (2, 4000) and torch.equal(raw, speech[:, :4000])


@pytest.mark.parametrize("training, augment", [(True, True), (True, False), (False, True)])
def test_specaug_only_in_training_and_when_asked(training, augment):
    torch.manual_seed(0)
    spec = SpecAug(apply_time_warp=False, freq_mask_width_range=(5, 6),
                   time_mask_width_range=(5, 6), num_freq_mask=2, num_time_mask=2)
    model = _Model(None, spec, UtteranceMVN()).train(training)
    feats = torch.randn(2, 40, 16) + 3.0
    lens = torch.tensor([40, 30])
    out, olens = model._augment_normalize(feats.clone(), lens, augment=augment)
    plain, _ = UtteranceMVN()(feats.clone(), lens)
    assert olens.tolist() == [40, 30]
    assert torch.equal(out, plain) == (not (training and augment))


def test_collect_feats():
    speech, lens = torch.randn(2, 4000), torch.tensor([4000, 3000])
    out = _Model(_frontend(), None, None).collect_feats(speech, lens, text_spk1=None)
    assert out["feats"].shape == (2, 63, 16) and out["feats_lengths"].tolist() == [63, 47]
    assert _Model(_frontend(), None, None, extract=False).collect_feats(speech, lens) == {}
