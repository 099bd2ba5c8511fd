import subprocess
import sys
import textwrap

from espnet_echo import registry


def test_register_is_idempotent_and_fills_every_table():
    registry.register()
    registry.register()
    expected = {f"{m}.{a}": list(entries) for m, a, entries in registry._TABLES}
    for table, names in registry.registered().items():
        assert names == expected[table], table
    assert registry.registered()["espnet2.tasks.gan_codec.codec_choices"] == ["jepa_fsq"]


def test_enh_s2t_copies_accept_plugin_encoder():
    registry.register()
    import espnet2.tasks.enh_s2t as enh_s2t

    assert "echo_vit" in enh_s2t.asr_encoder_choices.choices()


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        timeout=300,
    )


def test_fresh_process_builds_espnet_asr_model_with_plugin_encoder(tmp_path):
    """ESPnet's own ASRTask builds `encoder: echo_vit` once the plugin is registered."""
    code = f"""
        import argparse, sys
        from espnet2.tasks.asr import ASRTask
        try:
            ASRTask.main(cmd=["--dry_run", "true", "--output_dir", r"{tmp_path}/a",
                              "--token_list", "a,b", "--encoder", "echo_vit"])
        except SystemExit as e:
            print("REJECTED" if e.code else "ACCEPTED")
        from espnet_echo import registry
        registry.register()
        ASRTask.main(cmd=[
            "--dry_run", "true", "--output_dir", r"{tmp_path}/b",
            "--token_list", r"{tmp_path}/tokens.txt", "--encoder", "echo_vit",
            "--encoder_conf", "output_size=32", "--encoder_conf", "num_blocks=1",
            "--encoder_conf", "attention_heads=2", "--encoder_conf", "linear_units=32",
            "--decoder", "transformer", "--decoder_conf", "num_blocks=1",
            "--decoder_conf", "linear_units=32", "--decoder_conf", "attention_heads=2",
            "--frontend_conf", "n_mels=20"])
        model = ASRTask.build_model_from_file(r"{tmp_path}/b/config.yaml", None, "cpu")[0]
        print("BUILT", type(model.encoder).__name__)
    """
    (tmp_path / "tokens.txt").write_text("<blank>\n<unk>\na\nb\n<sos/eos>\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "REJECTED" in proc.stdout  # without register() ESPnet refuses the name
    assert "BUILT EchoViTEncoder" in proc.stdout
