"""espnet-echo: one shared encoder for diarization, separation and multi-speaker ASR."""

from setuptools import find_packages, setup

install_requires = [
    # espnet 202611 needs Python >= 3.12 and excludes torch 2.12.x; it resolves with
    # torch 2.14.1 / torchaudio 2.11.1 (measured on a fresh Python 3.12.1 venv).
    "espnet==202611",
    "espnet_model_zoo==0.1.11",
    "torch==2.14.1",
    "torchaudio==2.11.1",
    "sentencepiece==0.2.1",
    "humanfriendly==10.0",
    "typeguard==4.6.1",
    "numpy==2.5.5",
    "scipy==1.18.1",
    "soundfile==0.14.0",
    "h5py==3.16.0",
    "pyannote.metrics==4.2.0",
    "pyannote.core==6.1.0",
    "meeteval==0.4.3",
    "PyYAML==6.0.4",
    # no longer pulled in by espnet's base install; imported by this project (SISNRLoss
    # needs fast_bss_eval, ESPnet's ErrorCalculator needs editdistance). espnet[enh] is
    # avoided on purpose: it brings back ci_sdr's direct-URL dependency.
    "fast_bss_eval==0.1.4",
    "editdistance==0.8.1",
    # ESPnet's trainer logs to tensorboard and plots with matplotlib by default
    "tensorboard==2.21.0",
    "matplotlib==3.11.2",
    # echo_infer: progress bars; stage 10 / bin/publish: the Hugging Face Hub client
    "tqdm==4.70.1",
    "huggingface_hub==2.4.0",
    # FSQ/VQ bottlenecks (content path, tokenizer) and the codec scores (STOI, PESQ)
    "vector-quantize-pytorch==1.32.0",
    "pystoi==0.4.1",
    "pesq==0.0.4",
]

setup(
    name="espnet_echo",
    version="0.1.0",
    description="ESPnet plugin: Echo/UME shared-encoder diarization, separation and ASR",
    packages=find_packages(include=["espnet_echo", "espnet_echo.*"]),
    python_requires=">=3.12,<3.14",
    install_requires=install_requires,
    extras_require={
        # espnet3's Lightning trainer (egs3/mini_mix/echo1); ESPnet declares it only in
        # espnet[train], which brings much more
        "espnet3": ["lightning==2.6.6"],
        "test": ["pytest==9.2.0", "pytest-timeout==2.4.0", "lightning==2.6.6"],
    },
    entry_points={
        "console_scripts": ["echo-infer=espnet_echo.bin.echo_infer:main"],
    },
    license="Apache-2.0",
)
