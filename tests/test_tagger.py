"""Vocabularies, calibration and the tagger, on embeddings built directly as numpy."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.asset import MediaType, TagKind
from catalog.settings import Settings
from indexer.calibration import Calibration, calibration_for, robust_z_scores
from indexer.model import load_model
from indexer.tagger import (
    frame_spans,
    merged_segments,
    pooled_embedding,
    tag_frames,
    top_k_mean,
    window_members,
)
from indexer.vocabulary import (
    VOCABULARY_DIR,
    LabelEmbeddings,
    as_action,
    label_embeddings,
    load_label_embeddings,
    load_vocabulary,
    parse_vocabulary,
    with_article,
)
from tests.tiny_model import TINY_EMBED_DIM, tiny_settings

DIM = 64
OBJECTS = 300
ACTIONS = 120


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="module")
def vocabularies() -> list[LabelEmbeddings]:
    rng = np.random.default_rng(7)
    objects = _unit(rng.normal(size=(OBJECTS, DIM))).astype(np.float32)
    actions = _unit(rng.normal(size=(ACTIONS, DIM))).astype(np.float32)
    object_labels = tuple(f"object {i}" for i in range(OBJECTS))
    action_labels = tuple(f"action {i}" for i in range(ACTIONS))
    return [
        LabelEmbeddings(TagKind.object, object_labels, objects, "synthetic"),
        LabelEmbeddings(TagKind.action, action_labels, actions, "synthetic"),
    ]


def _showing(vocabularies, objects=(), actions=(), count=1, seed=0) -> np.ndarray:
    """Frames whose embeddings point at the given labels, with a little noise."""
    rng = np.random.default_rng(seed)
    direction = sum(vocabularies[0].vectors[i] for i in objects) + sum(
        vocabularies[1].vectors[i] for i in actions
    )
    noise = rng.normal(scale=0.05, size=(count, DIM))
    return _unit(direction + noise).astype(np.float32)


def _noise(count: int, seed: int = 1) -> np.ndarray:
    return _unit(np.random.default_rng(seed).normal(size=(count, DIM))).astype(np.float32)


def _times(count: int, step: float = 1.0) -> list[float]:
    return [step * (i + 0.5) for i in range(count)]


# vocabularies


def test_shipped_vocabularies_are_large_and_clean(settings):
    objects = load_vocabulary(TagKind.object, settings)
    actions = load_vocabulary(TagKind.action, settings)
    assert len(objects.labels) >= 1000
    assert len(actions.labels) >= 400
    for name in ("objects.txt", "actions.txt"):
        lines = (VOCABULARY_DIR / name).read_text(encoding="utf-8").splitlines()
        labels = [line.split("|")[0].strip() for line in lines if line and line[0] != "#"]
        assert len(labels) == len(set(labels)), f"duplicates in {name}"
        assert all(label == label.lower() for label in labels)
    assert {"beach", "office", "forest", "kitchen", "aerial view", "close-up"} <= set(
        objects.labels
    )
    assert {"running", "jogging", "drinking", "swimming", "cooking", "dancing"} <= set(
        actions.labels
    )


def test_prompt_ensembles_and_own_prompts():
    text = "# a comment\nApple\n\napple\nblack and white | a black and white photo.\n"
    vocabulary = parse_vocabulary(text, TagKind.object, ["a photo of {a_label}.", "{label}"])
    assert vocabulary.labels == ("apple", "black and white")
    assert vocabulary.prompts == (("a photo of an apple.", "apple"), ("a black and white photo.",))
    with pytest.raises(ValueError, match="may use only"):
        parse_vocabulary("dog", TagKind.object, ["a {colour} dog"])


def test_articles_and_gerunds():
    assert with_article("apple") == "an apple"
    assert with_article("umbrella") == "an umbrella"
    assert with_article("unicorn") == "a unicorn"
    assert with_article("dog") == "a dog"
    assert as_action("running") == "running"
    assert as_action("playing guitar") == "playing guitar"
    assert as_action("scuba diving") == "scuba diving"
    assert as_action("yoga") == "doing yoga"
    assert as_action("sing") == "doing sing"


class CountingEncoder:
    """A deterministic text encoder that counts its calls."""

    model_id = "counting-encoder/v1"

    def __init__(self) -> None:
        self.calls = 0

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        rows = [
            np.random.default_rng(list(text.encode())).normal(size=TINY_EMBED_DIM) for text in texts
        ]
        return _unit(np.array(rows)).astype(np.float32)


def test_label_embeddings_are_normalized_ensemble_means(settings):
    encoder = CountingEncoder()
    vocabulary = parse_vocabulary("dog\ncat\n", TagKind.object, ["a {label}.", "the {label}."])
    embeddings = label_embeddings(vocabulary, encoder, settings)
    prompts = encoder.encode_texts(["a dog.", "the dog."])
    np.testing.assert_allclose(embeddings.vectors[0], _unit(prompts.mean(axis=0)), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(embeddings.vectors, axis=1), 1.0, atol=1e-6)
    assert embeddings.labels == ("dog", "cat") and embeddings.kind == TagKind.object


def test_text_embeddings_are_cached_on_disk(settings):
    vocabulary = parse_vocabulary("dog\ncat\nbeach\n", TagKind.object, ["a photo of {a_label}."])
    first_encoder = CountingEncoder()
    first = label_embeddings(vocabulary, first_encoder, settings)
    files = list((settings.data_dir / "cache" / "text").glob("*.npz"))
    assert first_encoder.calls == 1 and len(files) == 1

    second_process_encoder = CountingEncoder()  # a new process has only the disk cache
    second = label_embeddings(vocabulary, second_process_encoder, settings)
    assert second_process_encoder.calls == 0
    np.testing.assert_array_equal(second.vectors, first.vectors)
    assert second.vocabulary_hash == first.vocabulary_hash == vocabulary.content_hash

    changed = parse_vocabulary("dog\ncat\nforest\n", TagKind.object, ["a photo of {a_label}."])
    label_embeddings(changed, second_process_encoder, settings)
    reworded = parse_vocabulary("dog\ncat\nbeach\n", TagKind.object, ["an image of {label}."])
    label_embeddings(reworded, second_process_encoder, settings)
    assert second_process_encoder.calls == 2


def test_corrupt_text_cache_is_recomputed(settings):
    vocabulary = parse_vocabulary("dog\ncat\n", TagKind.object, ["a {label}."])
    label_embeddings(vocabulary, CountingEncoder(), settings)
    (cached,) = (settings.data_dir / "cache" / "text").glob("*.npz")
    cached.write_bytes(b"not an npz file")
    encoder = CountingEncoder()
    assert label_embeddings(vocabulary, encoder, settings).vectors.shape == (2, TINY_EMBED_DIM)
    assert encoder.calls == 1


def test_configured_vocabulary_file_is_used(settings, tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("Product Shot\nlogo\n", encoding="utf-8")
    mine = settings.model_copy(update={"object_vocabulary": path})
    assert load_vocabulary(TagKind.object, mine).labels == ("product shot", "logo")


# calibration


def test_confidences_are_probabilities_that_rise_with_similarity():
    calibration = Calibration(center=3.5, scale=0.7)
    rng = np.random.default_rng(0)
    similarities = rng.normal(0.2, 0.03, size=(5, 500))
    confidences = calibration.confidences(similarities)
    assert confidences.min() >= 0.0 and confidences.max() <= 1.0
    order = np.argsort(similarities[0])
    assert np.all(np.diff(confidences[0][order]) >= 0)  # ranking within a frame is kept
    row = similarities[0].copy()
    previous = -1.0
    for value in np.linspace(0.0, 0.6, 61):  # raising one label, the others fixed
        row[3] = value
        confidence = float(calibration.confidences(row)[3])
        assert confidence >= previous
        previous = confidence
    assert previous > 0.99


def test_confidences_ignore_shift_and_scale_of_all_similarities():
    calibration = Calibration(center=3.5, scale=0.7)
    similarities = np.random.default_rng(1).normal(0.2, 0.03, size=(4, 400))
    similarities[:, 0] += 0.2
    base = calibration.confidences(similarities)
    np.testing.assert_allclose(calibration.confidences(similarities + 0.37), base, atol=1e-6)
    np.testing.assert_allclose(calibration.confidences(similarities * 2.5), base, atol=1e-6)
    np.testing.assert_allclose(robust_z_scores(similarities - 1.0), robust_z_scores(similarities))


def test_siglip_pair_logits_give_the_confidences_of_their_cosines():
    # SigLIP scores a pair sigmoid(t * cos + b); t and b as in released SigLIP 2 checkpoints
    scale, bias = 117.0, -12.7
    calibration = Calibration(center=3.5, scale=0.7)
    cosines = np.random.default_rng(2).normal(0.02, 0.01, size=(3, 500))
    cosines[:, 7] += 0.06  # the label that is in the picture
    pair_probability = 1 / (1 + np.exp(-(scale * cosines + bias)))
    assert pair_probability[:, 7].max() < 0.5  # the model's own sigmoid: right, yet low
    confidences = calibration.confidences(cosines)
    np.testing.assert_allclose(calibration.confidences(scale * cosines + bias), confidences, 1e-5)
    assert (confidences[:, 7] > 0.9).all() and (np.argmax(confidences, axis=1) == 7).all()


def test_default_threshold_means_standing_out_not_chance():
    settings = Settings()
    calibration = calibration_for(settings)
    similarities = np.random.default_rng(2).normal(0.2, 0.02, size=(200, 1000))
    chance_best = calibration.confidences(similarities).max(axis=1)
    assert np.mean(chance_best >= settings.min_object_confidence) < 0.05
    similarities[:, 0] = 0.2 + 6 * 0.02  # six standard deviations above the rest
    assert calibration.confidences(similarities)[:, 0].min() > 0.9


def test_calibration_is_chosen_per_model():
    table = {"default": (3.5, 0.7), "ViT-B-16": (3.0, 0.5), "ViT-B-16/openai": (2.0, 0.4)}
    assert calibration_for(Settings(tag_calibration=table)) == Calibration(3.5, 0.7)
    by_model = Settings(tag_calibration=table, model="ViT-B-16", pretrained="laion2b_s34b_b88k")
    assert calibration_for(by_model) == Calibration(3.0, 0.5)
    by_weights = Settings(tag_calibration=table, model="ViT-B-16", pretrained="openai")
    assert calibration_for(by_weights) == Calibration(2.0, 0.4)
    with pytest.raises(ValueError, match="no entry"):
        calibration_for(Settings(tag_calibration={"ViT-L-14": (3.0, 0.5)}))


# tagger


def test_video_tags_have_kinds_confidences_and_order(vocabularies, settings):
    frames = _showing(vocabularies, objects=[3, 8], actions=[5], count=12)
    tags = tag_frames(frames, _times(12), 12.0, MediaType.video, vocabularies, settings)
    names = {tag.tag: tag for tag in tags}
    assert {"object 3", "object 8", "action 5"} <= names.keys()
    assert names["object 3"].kind == TagKind.object
    assert names["action 5"].kind == TagKind.action
    confidences = [tag.confidence for tag in tags]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert len(names) == len(tags)


def test_candidates_reach_the_storage_floor_whatever_the_thresholds(vocabularies, settings):
    frames = _showing(vocabularies, objects=[3], actions=[5], count=12)
    strict = settings.model_copy(
        update={"min_object_confidence": 0.9999999, "min_action_confidence": 0.2}
    )
    tags = tag_frames(frames, _times(12), 12.0, "video", vocabularies, strict)
    assert tags == tag_frames(frames, _times(12), 12.0, "video", vocabularies, settings)
    assert {"object 3", "action 5"} <= {tag.tag for tag in tags}
    assert all(tag.confidence >= settings.tag_storage_floor for tag in tags)
    higher = settings.model_copy(update={"tag_storage_floor": 0.95})
    fewer = tag_frames(frames, _times(12), 12.0, "video", vocabularies, higher)
    assert fewer == [tag for tag in tags if tag.confidence >= 0.95] and len(fewer) < len(tags)


def test_tags_per_asset_are_capped_keeping_the_best(vocabularies, settings):
    frames = _showing(vocabularies, objects=[1, 2, 3, 4], actions=[5, 6], count=10)
    lenient = settings.model_copy(
        update={"min_object_confidence": 0.2, "min_action_confidence": 0.2}
    )
    everything = tag_frames(frames, _times(10), 10.0, "video", vocabularies, lenient)
    capped = lenient.model_copy(update={"max_tags_per_asset": 2})
    best = tag_frames(frames, _times(10), 10.0, "video", vocabularies, capped)
    assert len(everything) > 2
    assert best == everything[:2]


def test_a_tag_in_the_second_half_has_segments_only_there(vocabularies, settings):
    first_half = _showing(vocabularies, objects=[10], count=10, seed=1)
    second_half = _showing(vocabularies, objects=[20], actions=[7], count=10, seed=2)
    frames = np.concatenate([first_half, second_half])
    tags = tag_frames(frames, _times(20), 20.0, "video", vocabularies, settings)
    by_name = {tag.tag: tag for tag in tags}
    assert by_name["object 20"].segments == [(10.0, 20.0)]
    assert by_name["object 10"].segments == [(0.0, 10.0)]
    action = by_name["action 7"].segments
    assert action and all(10.0 - settings.action_window_s <= s and e <= 20.0 for s, e in action)


def test_segments_stay_inside_the_video_and_are_merged(vocabularies, settings):
    holds = [0, 1, 2, 5, 6, 11, 12, 13, 14, 18, 19]  # gaps of 2 frames, 4 frames, 3 frames
    frames = np.stack(
        [
            _showing(vocabularies, objects=[4], seed=i)[0] if i in holds else _noise(1, seed=i)[0]
            for i in range(20)
        ]
    )
    times = [i * 2.0 for i in range(20)]  # 0, 2, ... 38 s, the video lasts 39 s
    merging = settings.model_copy(update={"segment_merge_gap_s": 4.5})
    (tag,) = [
        t
        for t in tag_frames(frames, times, 39.0, "video", vocabularies, merging)
        if t.tag == "object 4"
    ]
    assert tag.segments == [(0.0, 13.0), (21.0, 29.0), (35.0, 39.0)]
    for start, end in tag.segments:
        assert 0.0 <= start < end <= 39.0


def test_one_lucky_frame_does_not_make_a_tag(vocabularies, settings):
    frames = _noise(20)
    frames[7] = _showing(vocabularies, objects=[42], count=1)[0]
    tags = tag_frames(frames, _times(20), 20.0, "video", vocabularies, settings)
    lucky = [tag for tag in tags if tag.tag == "object 42"]  # a candidate, at most
    assert all(tag.confidence < settings.min_object_confidence for tag in lucky)
    frames[8:12] = _showing(vocabularies, objects=[42], count=4, seed=3)
    tags = tag_frames(frames, _times(20), 20.0, "video", vocabularies, settings)
    seen = [tag for tag in tags if tag.tag == "object 42"]
    assert seen and seen[0].confidence >= settings.min_object_confidence


def test_images_get_no_segments_and_actions_only_when_confident(vocabularies, settings):
    picture = _showing(vocabularies, objects=[6], actions=[9], count=1)
    tags = tag_frames(picture, [0.0], None, MediaType.image, vocabularies, settings)
    assert {"object 6", "action 9"} <= {tag.tag for tag in tags}
    assert all(tag.segments == [] for tag in tags)
    still = _showing(vocabularies, objects=[6], count=1)
    tags = tag_frames(still, [0.0], None, MediaType.image, vocabularies, settings)
    assert [t.tag for t in tags if t.kind == TagKind.action] == []


def test_one_entry_per_tag_name_across_kinds(vocabularies, settings):
    objects, actions = vocabularies
    shared = LabelEmbeddings(
        TagKind.action, ("object 3", *actions.labels[1:]), actions.vectors.copy(), "synthetic"
    )
    shared.vectors[0] = objects.vectors[3]
    frames = _showing(vocabularies, objects=[3], count=6)
    tags = tag_frames(frames, _times(6), 6.0, "video", [objects, shared], settings)
    assert [tag.tag for tag in tags].count("object 3") == 1


def test_input_checks_and_empty_input(vocabularies, settings):
    assert tag_frames(np.zeros((0, DIM)), [], 0.0, "video", vocabularies, settings) == []
    with pytest.raises(ValueError, match="dimension"):
        tag_frames(np.ones((2, DIM + 1)), [0.0, 1.0], 2.0, "video", vocabularies, settings)
    with pytest.raises(ValueError, match="timestamp"):
        tag_frames(np.ones((2, DIM)), [0.0], 2.0, "video", vocabularies, settings)


def test_unsorted_timestamps_are_put_in_order(vocabularies, settings):
    frames = _showing(vocabularies, objects=[2], count=8)
    times = _times(8)
    order = np.random.default_rng(4).permutation(8)
    shuffled = tag_frames(
        frames[order], [times[i] for i in order], 8.0, "video", vocabularies, settings
    )
    assert shuffled == tag_frames(frames, times, 8.0, "video", vocabularies, settings)


def test_frame_spans_cover_half_gaps_inside_the_video():
    spans = frame_spans(np.array([1.0, 2.0, 4.0, 9.5]), 10.0)
    np.testing.assert_allclose(spans, [[0.5, 1.5], [1.5, 3.0], [3.0, 6.75], [6.75, 10.0]])
    np.testing.assert_allclose(frame_spans(np.array([0.0, 2.0]), 1.5), [[0.0, 1.0], [1.0, 1.5]])
    np.testing.assert_allclose(frame_spans(np.array([3.0]), 8.0), [[0.0, 8.0]])


def test_windows_group_frames_by_time():
    times = np.arange(0.0, 10.0, 1.0)
    members = window_members(times, window_s=3.0, stride_s=1.5)
    assert [list(m) for m in members[:2]] == [[0, 1, 2, 3], [2, 3, 4]]
    assert members[-1][-1] == 9
    assert [list(m) for m in window_members(np.array([0.0, 1.0]), 3.0, 1.5)] == [[0, 1]]


def test_merged_segments_merge_short_gaps_and_drop_short_pieces(settings):
    rules = settings.model_copy(update={"segment_merge_gap_s": 1.0, "segment_min_s": 1.0})
    spans = np.array([[0.0, 2.0], [2.5, 4.0], [6.0, 6.5], [9.0, 12.0]])
    assert merged_segments(spans, rules) == [(0.0, 4.0), (9.0, 12.0)]
    assert merged_segments(np.array([[1.0, 1.2], [5.0, 5.5]]), rules) == [(5.0, 5.5)]
    assert merged_segments(np.zeros((0, 2)), rules) == []


def test_top_k_mean_is_robust_to_one_frame(settings):
    confidences = np.zeros((20, 1))
    confidences[3] = 1.0
    assert top_k_mean(confidences, settings)[0] == pytest.approx(1 / 3)  # k = 3 for 20 frames
    assert top_k_mean(np.array([[0.8]]), settings)[0] == pytest.approx(0.8)


def test_pooled_embedding_is_the_unit_mean():
    frames = _unit(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(pooled_embedding(frames), [2**-0.5, 2**-0.5], atol=1e-6)
    with pytest.raises(ValueError):
        pooled_embedding(np.zeros((0, 4)))


def test_shipped_vocabularies_with_a_tiny_model_end_to_end(tmp_path):
    settings = tiny_settings(tmp_path)
    model = load_model(settings)
    vocabularies = load_label_embeddings(model, settings)
    assert [v.kind for v in vocabularies] == [TagKind.object, TagKind.action]
    assert len(list((settings.data_dir / "cache" / "text").glob("*.npz"))) == 2
    size = model.image_size
    frames = np.random.default_rng(0).integers(0, 256, size=(10, size, size, 3), dtype=np.uint8)
    embeddings = model.encode_images(frames)
    tags = tag_frames(embeddings, _times(10, step=2.0), 20.0, "video", vocabularies, settings)
    assert len(tags) <= settings.max_tags_per_asset
    for tag in tags:
        assert tag.confidence >= settings.tag_storage_floor
        assert all(0.0 <= start <= end <= 20.0 for start, end in tag.segments)
