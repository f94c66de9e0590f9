"""Kaldi data-dir preparation from raw corpus folders (TIMIT, LibriSpeech).

Each module has a ``main(argv=None) -> int`` run as ``python -m
pytorch_kaldi_snn.datasets.<module>``; the recipes under ``recipes/`` call them:

- :mod:`.timit`: ``prepare_timit(timit_root, out_dir, phone_set="39")``
- :mod:`.librispeech`: ``prepare_librispeech(libri_root, out_dir, parts, lexicon)``
- :mod:`.features`: ``compute_features(data_dir, out_dir, kind="mfcc"|"fbank")``
- :mod:`.audio`: ``read_audio(path) -> (int16 samples, rate)`` for NIST SPHERE, RIFF
  WAV and (with ``soundfile`` installed) FLAC.
"""
