"""The torch-free tokenizer gives open_clip's token ids, string for string."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pytest
from open_clip.tokenizer import default_bpe

from indexer.clip_tokenizer import ClipTokenizer, Framing, build_clip_tokenizer, write_tokenizer

pytest.importorskip("tokenizers", reason="the tokenizers package is not installed")

TEXTS = [
    "a photo of a dog.",
    "Crème brûlée at the Café de Flore!",
    "naïve résumé — “curly quotes” and ‘single’ ones",
    "emoji 🐶🎉 party 👩‍👩‍👧",
    "don't WON'T they're I'll she'd we've it's JOHN'S",
    "&amp;lt;b&amp;gt; double-escaped html &quot;quoted&quot;",
    "  multiple   spaces\tand\nnewlines  ",
    "日本語のテキストと中文",
    "1234567 numbers 3.14 and 1,000,000",
    "<start_of_text> inside <end_of_text> the text",
    "Ñandú ß straße İstanbul ǅ",
    "mojibake Ã©tÃ© repaired by ftfy",
    "a-b_c/d\\e|f~g^h*i",
    "",
    "   ",
    "x" * 300,  # one long word
    " ".join(["word"] * 100),  # past the context: cut, the end token kept last
    "!!!",  # id 0 is "!": padding and text share the id
]


@pytest.fixture(scope="module")
def reference():
    return open_clip.get_tokenizer("ViT-B-32")


@pytest.fixture(scope="module")
def light(reference, tmp_path_factory) -> ClipTokenizer:
    folder = tmp_path_factory.mktemp("tokenizer")
    framing = Framing(77, reference.sot_token_id, reference.eot_token_id)
    write_tokenizer(folder, build_clip_tokenizer(Path(default_bpe())), framing)
    return ClipTokenizer.load(folder)  # what the API process loads: files only


def test_ids_identical_to_open_clip(reference, light):
    expected = reference(TEXTS).numpy()
    got = light(TEXTS)
    assert got.dtype == np.int64 and got.shape == expected.shape == (len(TEXTS), 77)
    for text, want, have in zip(TEXTS, expected, got, strict=True):
        assert have.tolist() == want.tolist(), text


def test_long_text_is_cut_with_the_end_token_last(reference, light):
    row = light([" ".join(["word"] * 100)])[0]
    assert row[0] == reference.sot_token_id and row[-1] == reference.eot_token_id
    assert (row != 0).all()
