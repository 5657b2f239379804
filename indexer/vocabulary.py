"""Tag vocabularies and their text embeddings.

A vocabulary file has one label per line; blank lines and lines starting with ``#`` are
skipped, labels are normalized like tag names and deduplicated. A line may give its own prompts
after the label, separated by ``|`` (``black and white | a black and white photo.``): they
replace the kind's template ensemble for that label, which suits attributes such as colours
that "a photo of a ..." describes badly.

Templates (``prompts.json``, or ``Settings.prompts_file``) map each kind to a list of prompt
templates with the placeholders ``{label}``, ``{a_label}`` (with "a"/"an") and ``{action}``
(the label as a gerund phrase: "running" stays, "yoga" becomes "doing yoga"). A label's
embedding is the normalized mean of its prompts' embeddings; the embeddings of a vocabulary
are computed once per model, vocabulary content and prompts, and kept under
``data_dir/cache/text``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from catalog.asset import TagKind, normalize_tag
from catalog.settings import Settings
from indexer.embedding_cache import load_npz, model_slug, save_npz_atomic

VOCABULARY_DIR = Path(__file__).parent / "vocabularies"
SHIPPED_FILES = {TagKind.object: "objects.txt", TagKind.action: "actions.txt"}
PROMPTS_FILE = VOCABULARY_DIR / "prompts.json"
PROMPT_SEPARATOR = "|"
COMMENT_PREFIX = "#"
_GERUND_SUFFIX = "ing"
_SHORTEST_GERUND = 5  # "sing", "king", "ring" end in -ing without being gerunds
_AN_EXCEPTIONS = ("uni", "use", "usu", "eu", "one", "once")  # vowel letter, consonant sound
_AN_SILENT_H = ("hour", "honest", "honor", "heir")


class TextEncoder(Protocol):
    model_id: str

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


# what embedding a vocabulary is doing: (what, prompts done, prompts in all)
Progress = Callable[[str, int, int], None]
_PROGRESS_BATCHES = 2  # text batches between two progress updates


@dataclass(frozen=True)
class Vocabulary:
    kind: TagKind
    labels: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]  # per label, the texts whose embeddings are averaged

    @property
    def content_hash(self) -> str:
        canonical = json.dumps([self.kind, self.labels, self.prompts], separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LabelEmbeddings:
    kind: TagKind
    labels: tuple[str, ...]
    vectors: np.ndarray  # L x D, float32, unit rows
    model_id: str
    vocabulary_hash: str = ""  # Vocabulary.content_hash: labels and prompts


def load_vocabulary(kind: TagKind, settings: Settings) -> Vocabulary:
    """The configured vocabulary of a kind (the shipped list unless settings name a file)."""
    if kind not in SHIPPED_FILES:
        raise ValueError(f"there is no {kind} vocabulary: custom tags are trained, not listed")
    configured = {
        TagKind.object: settings.object_vocabulary,
        TagKind.action: settings.action_vocabulary,
    }.get(kind)
    path = configured or VOCABULARY_DIR / SHIPPED_FILES[kind]
    templates = prompt_templates(settings)[kind]
    return parse_vocabulary(path.read_text(encoding="utf-8"), kind, templates)


def prompt_templates(settings: Settings) -> dict[TagKind, list[str]]:
    path = settings.prompts_file or PROMPTS_FILE
    loaded = json.loads(path.read_text(encoding="utf-8"))
    templates = {TagKind(kind): list(values) for kind, values in loaded.items()}
    if not all(templates.get(kind) for kind in SHIPPED_FILES):
        raise ValueError(f"{path} must give templates for {', '.join(SHIPPED_FILES)}")
    return templates


def parse_vocabulary(text: str, kind: TagKind, templates: list[str]) -> Vocabulary:
    entries: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(COMMENT_PREFIX):
            continue
        label, *own_prompts = (part.strip() for part in line.split(PROMPT_SEPARATOR))
        label = normalize_tag(label)
        prompts = tuple(p for p in own_prompts if p) or expand_templates(label, kind, templates)
        entries.setdefault(label, prompts)
    if not entries:
        raise ValueError(f"the {kind} vocabulary has no labels")
    return Vocabulary(kind, tuple(entries), tuple(entries.values()))


def expand_templates(label: str, kind: TagKind, templates: list[str]) -> tuple[str, ...]:
    fields = {"label": label, "a_label": with_article(label), "action": as_action(label)}
    try:
        return tuple(template.format(**fields) for template in templates)
    except (KeyError, IndexError) as error:
        raise ValueError(
            f"{kind} prompt templates may use only {{label}}, {{a_label}}, {{action}}: {error}"
        ) from error


def with_article(label: str) -> str:
    lowered = label.lower()
    vowel_sound = lowered[:1] in "aeiou" and not lowered.startswith(_AN_EXCEPTIONS)
    return f"{'an' if vowel_sound or lowered.startswith(_AN_SILENT_H) else 'a'} {label}"


def as_action(label: str) -> str:
    """A phrase that reads after "a person": with a gerund ("scuba diving") as it is, anything
    else ("yoga", "archery") after "doing"."""
    has_gerund = any(
        word.endswith(_GERUND_SUFFIX) and len(word) >= _SHORTEST_GERUND for word in label.split()
    )
    return label if has_gerund else f"doing {label}"


def label_embeddings(
    vocabulary: Vocabulary,
    encoder: TextEncoder,
    settings: Settings,
    progress: Progress | None = None,
) -> LabelEmbeddings:
    """The vocabulary's label embeddings under the encoder's model, from the disk cache if there."""
    path = _cache_path(vocabulary, encoder.model_id, settings)
    cached = _read_cached(path, vocabulary, encoder.model_id)
    if cached is not None:
        return cached
    slice_size = settings.text_batch_size * _PROGRESS_BATCHES
    vectors = _encode_ensembles(vocabulary, encoder, slice_size, progress)
    save_npz_atomic(
        path,
        labels=np.array(vocabulary.labels),
        vectors=vectors,
        model_id=np.array(encoder.model_id),
    )
    return LabelEmbeddings(
        vocabulary.kind, vocabulary.labels, vectors, encoder.model_id, vocabulary.content_hash
    )


def load_label_embeddings(
    encoder: TextEncoder, settings: Settings, progress: Progress | None = None
) -> list[LabelEmbeddings]:
    """Object and action label embeddings of the configured vocabularies."""
    return [
        label_embeddings(load_vocabulary(kind, settings), encoder, settings, progress)
        for kind in SHIPPED_FILES
    ]


def _cache_path(vocabulary: Vocabulary, model_id: str, settings: Settings) -> Path:
    name = f"{model_slug(model_id)}-{vocabulary.kind}-{vocabulary.content_hash}.npz"
    return settings.data_dir / "cache" / "text" / name


def _read_cached(path: Path, vocabulary: Vocabulary, model_id: str) -> LabelEmbeddings | None:
    arrays = load_npz(path)
    if arrays is None or not {"labels", "vectors", "model_id"} <= arrays.keys():
        return None
    labels = tuple(str(label) for label in arrays["labels"])
    vectors = arrays["vectors"]
    if labels != vocabulary.labels or str(arrays["model_id"]) != model_id or vectors.ndim != 2:
        return None
    vectors = vectors.astype(np.float32)
    return LabelEmbeddings(vocabulary.kind, labels, vectors, model_id, vocabulary.content_hash)


def _encode_ensembles(
    vocabulary: Vocabulary, encoder: TextEncoder, slice_size: int, progress: Progress | None
) -> np.ndarray:
    texts = [prompt for prompts in vocabulary.prompts for prompt in prompts]
    encoded = _encode_in_slices(texts, encoder, slice_size, progress, f"{vocabulary.kind}")
    owners = np.repeat(np.arange(len(vocabulary.labels)), [len(p) for p in vocabulary.prompts])
    sums = np.zeros((len(vocabulary.labels), encoded.shape[1]), dtype=np.float64)
    np.add.at(sums, owners, encoded)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, np.finfo(np.float64).tiny)).astype(np.float32)


def _encode_in_slices(
    texts: list[str],
    encoder: TextEncoder,
    slice_size: int,
    progress: Progress | None,
    what: str,
) -> np.ndarray:
    """Encode in slices of similar length (the runtime cuts padding per batch), reporting
    progress after each."""
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    out: np.ndarray | None = None
    label = f"embedding the {what} vocabulary"
    for start in range(0, len(order), slice_size):
        picked = order[start : start + slice_size]
        if progress is not None:
            progress(label, start, len(texts))
        vectors = encoder.encode_texts([texts[index] for index in picked])
        if out is None:
            out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
        out[picked] = vectors
    if progress is not None:
        progress(label, len(texts), len(texts))
    assert out is not None  # parse_vocabulary refuses an empty vocabulary
    return out
