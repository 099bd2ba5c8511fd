"""espnet-echo: one shared encoder for diarization, separation and multi-speaker ASR."""

from setuptools import find_packages, setup

install_requires = [
    "espnet==202511",
    "espnet_model_zoo==0.1.7",
    # espnet 202511 pins setuptools<74, which makes pip resolve torch 2.12.1;
    # espnet2.tasks.* import torchaudio, whose newest release is 2.11.0 (stable ABI).
    "torch==2.12.1",
    "torchaudio==2.11.0",
    "sentencepiece==0.2.0",
    "humanfriendly==10.0",
    "typeguard==4.6.0",
    "numpy==2.4.6",
    "soundfile==0.14.0",
    "h5py==3.16.0",
    "pyannote.metrics==4.2.0",
    "pyannote.core==6.1.0",
    "meeteval==0.4.3",
    "PyYAML",
    # ESPnet's trainer logs to tensorboard and plots with matplotlib by default
    "tensorboard==2.21.0",
    "matplotlib==3.11.2",
]

setup(
    name="espnet_echo",
    version="0.1.0",
    description="ESPnet plugin: Echo/UME shared-encoder diarization, separation and ASR",
    packages=find_packages(include=["espnet_echo", "espnet_echo.*"]),
    python_requires=">=3.11,<3.12",
    install_requires=install_requires,
    extras_require={"test": ["pytest==9.2.0", "pytest-timeout==2.4.0"]},
    license="Apache-2.0",
)
