"""The torch-free core that serving and training share: the tokenizer (`tokenizer.py`), language detection
(`language.py`), image decoding and resizing (`imaging.py`) and guarded fetching (`images.py`, `addresses.py`), the
bundle's metadata as one typed model the trainer writes and the workers read, with head routing (`bundle_info.py`), the
training manifest (`manifest.py`), synthetic post text (`synthetic.py`) and the table of `emostream` subcommands with
its dispatcher (`commands.py`). It imports only `contracts/`; `model/` and `stream/` stand on it side by side."""
