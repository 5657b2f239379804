"""CLIP's byte-level BPE tokenizer without torch: the `tokenizers` library plus CLIP's cleaning.

open_clip's tokenizer module imports torch, which the API process must never load; it only
needs token ids to feed the exported text tower. This module gives the same ids from the
same vocabulary:

- cleaning as open_clip's default ("lower"): ftfy's repairs, HTML entities unescaped twice,
  runs of whitespace collapsed, lowercase;
- words found by CLIP's pattern (contractions, letter runs, single digits, runs of other
  symbols), each turned into byte symbols and merged by the BPE ranks, a word's last symbol
  marked with ``</w>``; that part is the `tokenizers` library's BPE model, configured here;
- start and end tokens around the ids, cut at the context length with the end token kept
  last, zeros after.

The vocabulary is written next to the exported ONNX towers (``tokenizer.json``, the
`tokenizers` format) with a small ``text.json`` saying how to frame the ids, so loading needs
neither open_clip nor its vocabulary file.

Models whose tokenizer is a Hugging Face fast tokenizer (open_clip's HFTokenizer: the
multilingual XLM-RoBERTa, XLM-V, mT5 and Gemma towers) run here too: the export saves that
tokenizer's own `tokenizers` form with the padding and truncation open_clip asks of it, and
`text.json` says so (`kind` "hf"); the ids are then the tokenizer's, special tokens included,
and neither transformers nor torch is needed to make them.
"""

from __future__ import annotations

import gzip
import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

START_TOKEN = "<start_of_text>"
END_TOKEN = "<end_of_text>"
END_OF_WORD = "</w>"
# open_clip reads merges 1..48894 of its vocabulary file: 49152 ids less 256 bytes, their 256
# end-of-word forms and the 2 special tokens (line 0 is a version header)
_MERGE_COUNT = 49152 - 256 - 2
_WORDS = r"""(?i)'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
TOKENIZER_FILE = "tokenizer.json"
FRAMING_FILE = "text.json"


@dataclass(frozen=True)
class Framing:
    """How token ids become the text tower's input rows."""

    context_length: int
    start_id: int
    end_id: int
    pad_id: int = 0
    clean: str = "lower"  # open_clip's cleaning modes: lower, whitespace
    kind: str = "clip"  # clip: CLIP's BPE framed here; hf: a fast tokenizer that frames itself
    strip_id: int | None = None  # hf: an id open_clip replaces by 0 (strip_sep_token)


def byte_symbols() -> dict[int, str]:
    """Each byte as one printable character, so that BPE works on text without control bytes.

    Printable Latin-1 bytes stand for themselves; the others (controls, space, NBSP, soft
    hyphen) take characters from 256 upward, in byte order. GPT-2 and CLIP share this table.
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {byte: chr(byte) for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in table:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def read_clip_bpe(vocabulary_gz: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and ranked merges of a CLIP BPE file (open_clip's bpe_simple_vocab_16e6)."""
    lines = gzip.decompress(Path(vocabulary_gz).read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _MERGE_COUNT + 1]]
    symbols = list(byte_symbols().values())
    tokens = symbols + [s + END_OF_WORD for s in symbols] + ["".join(m) for m in merges]
    tokens += [START_TOKEN, END_TOKEN]
    return {token: index for index, token in enumerate(tokens)}, merges  # type: ignore[return-value]


def build_clip_tokenizer(vocabulary_gz: Path):
    """A `tokenizers.Tokenizer` that splits cleaned text into CLIP's BPE ids."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab, merges = read_clip_bpe(vocabulary_gz)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, end_of_word_suffix=END_OF_WORD))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_WORDS), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    # typed as the special tokens, they map to their ids wherever they appear, as in open_clip
    tokenizer.add_special_tokens([START_TOKEN, END_TOKEN])
    return tokenizer


def write_tokenizer(directory: Path, tokenizer, framing: Framing) -> None:
    """Save the tokenizer and its framing next to the exported towers (atomically each)."""
    _write_atomic(directory / TOKENIZER_FILE, tokenizer.to_str())
    _write_atomic(directory / FRAMING_FILE, json.dumps(asdict(framing), indent=2))


def _write_atomic(path: Path, text: str) -> None:
    from indexer.export_cache import write_text_atomic

    write_text_atomic(path, text)


class ClipTokenizer:
    """Texts -> N x context_length int64 ids, identical to open_clip's for CLIP BPE models."""

    def __init__(self, tokenizer, framing: Framing) -> None:
        self._tokenizer = tokenizer
        self.framing = framing

    @classmethod
    def load(cls, directory: Path) -> ClipTokenizer:
        from tokenizers import Tokenizer

        framing = Framing(**json.loads((directory / FRAMING_FILE).read_text(encoding="utf-8")))
        return cls(Tokenizer.from_file(str(directory / TOKENIZER_FILE)), framing)

    @property
    def context_length(self) -> int:
        return self.framing.context_length

    def __call__(self, texts: list[str]) -> np.ndarray:
        framing = self.framing
        cleaned = [clean_text(text, framing.clean) for text in texts]
        if framing.kind == "hf":
            return self._framed_by_tokenizer(cleaned)
        encoded = self._tokenizer.encode_batch(cleaned, add_special_tokens=False)
        rows = np.full((len(texts), framing.context_length), framing.pad_id, dtype=np.int64)
        for row, encoding in zip(rows, encoded, strict=True):
            ids = [framing.start_id, *encoding.ids][: framing.context_length - 1]
            ids.append(framing.end_id)  # a cut text still ends with the end token
            row[: len(ids)] = ids
        return rows


    def _framed_by_tokenizer(self, cleaned: list[str]) -> np.ndarray:
        """A Hugging Face tokenizer's ids: its special tokens, truncation and padding."""
        encoded = self._tokenizer.encode_batch(cleaned)
        rows = np.array([e.ids for e in encoded], dtype=np.int64).reshape(len(cleaned), -1)
        if self.framing.strip_id is not None:
            rows[rows == self.framing.strip_id] = 0
        return rows


def clean_text(text: str, mode: str = "lower") -> str:
    """open_clip's cleaning: repaired mojibake, entities unescaped, whitespace collapsed."""
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    text = " ".join(text.split())
    return text.lower() if mode == "lower" else text
