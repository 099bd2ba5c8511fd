# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Constants of the espnet-echo data contract (``docs/CONTRACT.md``), defined once.

Kept free of heavy imports (no torch, no espnet2) so that the simulator, the format stage
and the task can all import it.
"""

#: Most speakers per mixture anywhere in the project: simulator (``--max_spk``), format
#: stage (``--num_spk``), data-dir reader (``spk{n}.scp``/``text_spk{n}`` indices) and the
#: task's speaker slots (``EchoTask --num_spk``). It bounds what one recording may hold
#: (the conversation split has up to 5 speakers); a model's slots are set by ``--num_spk``.
MAX_SPK = 6

#: Sample rate of every contract audio file (Hz).
DEFAULT_FS = 16000

#: Decimals of the seconds written to a standard RTTM or UEM by this project: enough to
#: name the sample exactly (``rint(t * fs)`` gives it back) for any rate up to 1 MHz.
TIME_DECIMALS = 6

#: A seconds label (RTTM turn, UEM range) may end this far past the end of its audio; it
#: is clipped to the end with a warning (rounding of seconds). Further is an error.
TIME_TOLERANCE_S = 0.01

#: A Kaldi ``utt2dur``/``reco2dur`` value may differ this much from the audio (Kaldi writes
#: durations with a few significant digits). Further is an error.
DURATION_TOLERANCE_S = 0.01

#: A Kaldi ``segments`` line may end this far past its recording; the utterance is cut at
#: the end of the recording with a warning (Kaldi's ``extract-segments --max-overshoot``
#: default). Further is an error.
SEGMENT_MAX_OVERSHOOT_S = 0.5
