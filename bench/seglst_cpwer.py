#!/usr/bin/env python3
# Copyright 2026 espnet-echo developers
#  Apache 2.0
"""Speaker coherence on a data dir: cpWER from echo-infer's SegLST vs from its texts.

    cd egs2/mini_mix/echo1
    python ../../../bench/seglst_cpwer.py --model exp/echo_train_echo \\
        --data_dir dump/raw/test_conv --out_dir exp/echo_train_echo/infer_test_conv

Runs ``echo_infer`` on the data dir's ``wav.scp`` (every recording, whole-pipeline
output dirs), then scores the words two ways against the references ``text_spk*``:

* **SegLST**: meeteval's ``cpwer`` of the ``<rec>.seglst.json`` files (words grouped
  into each speaker's turns) against reference segments;
* **texts**: the project's ``cp_wer`` (meeteval's cp_word_error_rate) of each
  speaker's transcript from ``<rec>.txt``.

The two must give the same errors when speaker k's words are one speaker in every
output (see ``espnet_echo/inference/result.py``). Prints both, and the summed DER-free
speaker counts. Extra arguments after ``--`` go to echo_infer.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from meeteval.io import SegLST
from meeteval.wer import cpwer

from espnet_echo.metrics.wer import cp_wer
from espnet_echo.utils.fileio import read_kaldi_map


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--data_dir", required=True)
    p.add_argument("--out_dir", required=True)
    p.add_argument("extra", nargs="*", help="more echo_infer options (after --)")
    args = p.parse_args()
    data = Path(args.data_dir)
    out = Path(args.out_dir)
    subprocess.run([sys.executable, "-m", "espnet_echo.bin.echo_infer",
                    str(data / "wav.scp"), "--model", args.model, "--output_dir", str(out),
                    "--no_progress", "--formats", "seglst", "txt", *args.extra], check=True)
    refs = {}
    for f in sorted(data.glob("text_spk*")):
        for rec, text in read_kaldi_map(f, allow_empty_value=True).items():
            if text.strip():
                refs.setdefault(rec, []).append(text)
    ref_segs, hyp_segs = [], []
    text_errors = text_words = 0
    for rec, texts in refs.items():
        ref_segs += [dict(session_id=rec, speaker=f"r{k}", start_time=0.0, end_time=0.0,
                          words=t) for k, t in enumerate(texts)]
        hyp_segs += json.loads((out / rec / f"{rec}.seglst.json").read_text())
        hyp_texts = [line.split(":", 1)[1].strip() for line in
                     (out / rec / f"{rec}.txt").read_text().splitlines()]
        st = cp_wer(texts, hyp_texts)
        text_errors += st.errors
        text_words += st.ref_words
    per = cpwer(SegLST(ref_segs), SegLST(hyp_segs)) if hyp_segs else {}
    seg_errors = sum(er.errors for er in per.values())
    seg_words = sum(er.length for er in per.values())
    if not hyp_segs:  # no word at all: every reference word is deleted
        seg_errors, seg_words = text_words, text_words
    print(f"recordings: {len(refs)}; reference words: {text_words}")
    print(f"cpWER from SegLST: {100 * seg_errors / max(seg_words, 1):.2f} % "
          f"({seg_errors} errors / {seg_words} words)")
    print(f"cpWER from texts:  {100 * text_errors / max(text_words, 1):.2f} % "
          f"({text_errors} errors / {text_words} words)")
    if (seg_errors, seg_words) != (text_errors, text_words):
        sys.exit("the two differ: speaker attribution is not coherent")


if __name__ == "__main__":
    main()
