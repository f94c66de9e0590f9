"""Kaldi data-dir preparation from raw corpus folders (TIMIT, LibriSpeech).

Each CLI module has a ``main(argv=None) -> int`` run as ``python -m
pytorch_kaldi_snn.datasets.<module>``; the recipes under ``recipes/`` call them:

- :mod:`.timit`: ``prepare_timit(timit_root, out_dir, phone_set="39",
  dev_speakers=None)``
- :mod:`.librispeech`: ``prepare_librispeech(libri_root, out_dir, parts, lexicon)``
- :mod:`.features`: ``compute_features(data_dir, out_dir=None, kind="mfcc"|"fbank")``
- :mod:`.lang`: ``DICT_DIR LANG_DIR`` through the Kaldi stack's ``prepare_lang``
- :mod:`.audio`: ``read_audio(path) -> (int16 samples, rate)`` for NIST SPHERE, RIFF
  WAV and (with ``soundfile`` installed) FLAC
- :mod:`.kaldi_dir`: ``Utterance``, ``write_data_dir``, ``write_dict``
- :mod:`.miniature`: fake TIMIT / LibriSpeech trees from a demo-corpus data dir (tests)
"""
