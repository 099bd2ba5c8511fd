"""espnet-echo: ESPnet plugin for shared-encoder diarization, separation and ASR."""
