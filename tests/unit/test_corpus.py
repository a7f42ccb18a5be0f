"""The corpus index: build, resume, query, errors, the CLI's JSON, and the Ray engine."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from viz.cli import main
from viz.corpus.index import MANIFEST, CorpusIndex, build_index, encode_lines
from viz.corpus.inputs import read_corpus
from viz.corpus.neighbors import neighbors, same_word_share
from viz.errors import UserError
from viz.extract import sentence_embeddings

QUERY = "I deposited money at the bank this morning."
# The query twice (lines 1 and 5), and "bank" elsewhere at other positions, so that even the
# embedding layer (word + position) tells the copies apart from the other banks.
CORPUS = [
    "The river bank was muddy after the storm.",
    QUERY,
    "Strawberries are unbelievably sweet in June.",
    "A bank loan helped them buy the house.",
    "",
    QUERY,
    "We sat on the bank and watched the boats go by slowly.",
    "Ducks swim.",
]
COPIES = {1, 5}
LABELS = ["nature", "money", "food", "money", "none", "money", "nature", "nature"]
FAMILIES = ("bert", "roberta", "distilbert", "deberta-v2")


def _copies_first(encoder, folder, layers, strict=True):
    index = CorpusIndex(folder)
    for layer in layers:
        found = neighbors(encoder, index, QUERY, "bank", layer, k=4)
        assert [n.score for n in found] == sorted((n.score for n in found), reverse=True)
        top = {n.line for n in found[:2]}
        if strict:
            assert top == COPIES, (layer, found)
        else:  # ties at 1.0 are allowed (a model without absolute positions, at emb)
            assert {n.line for n in found if n.score > 1 - 1e-4} >= COPIES, (layer, found)
        assert all(n.token == "bank" for n in found[:2])
        assert found[0].score == pytest.approx(1.0, abs=1e-4)
        assert found[0].context == QUERY and found[0].label == "money"


def test_own_copies_first_at_every_layer_bundled(bundled, tmp_path):
    layers = list(range(bundled.facts.num_layers + 1))
    result = build_index(bundled, CORPUS, LABELS, tmp_path / "idx", layers, batch_size=3)
    assert result.lines == len(CORPUS) and result.resumed == 0
    _copies_first(bundled, tmp_path / "idx", layers)


def test_own_copies_first_with_the_approximate_index(bundled, tmp_path):
    """An inverted file probes the query's nearest lists; a copy of the query has the same
    nearest centroid, so its copies are among the candidates and score 1.0, first."""
    layers = list(range(bundled.facts.num_layers + 1))
    build_index(bundled, CORPUS, LABELS, tmp_path / "idx", layers, approximate_above=0)
    index = CorpusIndex(tmp_path / "idx")
    assert {index.faiss_kind(layer) for layer in layers} == {"IndexIVFFlat"}
    kind = index.manifest["faiss"]["L6"]
    assert kind["nlist"] > 1 and index.faiss(6).nprobe == kind["nprobe"]
    _copies_first(bundled, tmp_path / "idx", layers)
    build_index(bundled, CORPUS, LABELS, tmp_path / "flat", [6])
    assert CorpusIndex(tmp_path / "flat").faiss_kind(6) == "IndexFlatIP"


def test_the_approximate_index_keeps_its_lists_on_disk_and_moves_with_the_folder(
    bundled, tmp_path, capfd
):
    """Filled shard by shard (3 lines a shard) into one mapped file of lists; the folder moved
    elsewhere still opens, and probing every list gives the exact index's answer."""
    import shutil

    from viz.corpus import index as corpus_index

    build_index(bundled, CORPUS, LABELS, tmp_path / "idx", [6], shard_lines=3, approximate_above=0)
    build_index(bundled, CORPUS, LABELS, tmp_path / "flat", [6])
    faiss_dir = tmp_path / "idx" / corpus_index.FAISS
    assert sorted(p.name for p in faiss_dir.iterdir()) == ["L6.index", "L6.ivfdata"]
    assert (faiss_dir / "L6.index").stat().st_size < (faiss_dir / "L6.ivfdata").stat().st_size
    shutil.move(tmp_path / "idx", tmp_path / "moved")
    ivf = CorpusIndex(tmp_path / "moved").faiss(6)
    exact = CorpusIndex(tmp_path / "flat").faiss(6)
    out, err = capfd.readouterr()
    assert out == "" and "resizing" not in err  # faiss's notes: --json keeps stdout, no noise
    assert ivf.ntotal == exact.ntotal > 3 * 10
    ivf.nprobe = ivf.nlist
    queries = exact.reconstruct_n(0, 12)
    got, want = ivf.search(queries, 5), exact.search(queries, 5)
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    assert (got[1] == want[1]).mean() > 0.95  # equal scores may swap places


def test_word_means_kept_and_averaged_again_agree(bundled, tmp_path):
    from viz.corpus.index import SHARDS, _word_means

    build_index(bundled, CORPUS, None, tmp_path / "idx", [0, 6], shard_lines=3)
    kept = sorted((tmp_path / "idx" / SHARDS).rglob("words-L6.npy"))
    assert len(kept) == 3  # an exact layer's index is filled from them when opened
    index = CorpusIndex(tmp_path / "idx")
    stored = index.faiss(6).reconstruct_n(0, index.faiss(6).ntotal)
    for path in kept:
        path.unlink()
    again = np.concatenate(list(_word_means(tmp_path / "idx", "L6")))
    np.testing.assert_allclose(stored, again, atol=1e-5)
    assert all(path.exists() for path in kept)  # averaged again, and kept
    # an inverted file holds its layer's vectors: the shards' copies go
    build_index(bundled, CORPUS, None, tmp_path / "ivf", [6], shard_lines=3, approximate_above=0)
    assert not list((tmp_path / "ivf" / SHARDS).rglob("words-*.npy"))


@pytest.mark.parametrize("family", FAMILIES)
def test_own_copies_first_tiny(tiny_encoders, tmp_path, family):
    encoder = tiny_encoders[family]
    layers = list(range(encoder.facts.num_layers + 1))
    build_index(encoder, CORPUS, None, tmp_path / "idx", layers, batch_size=4, shard_lines=3)
    index = CorpusIndex(tmp_path / "idx")
    assert index.manifest["shards"] == 3
    for layer in layers:
        found = neighbors(encoder, index, QUERY, "bank", layer, k=4)
        assert {n.line for n in found if n.score > 1 - 1e-4} >= COPIES, (layer, found)


def test_tables_and_vectors_match_the_encoder(bundled, tmp_path):
    build_index(bundled, CORPUS, LABELS, tmp_path / "idx", [0, 6], batch_size=8, shard_lines=4)
    index = CorpusIndex(tmp_path / "idx")
    tokens = index.table("tokens")
    lines = tokens.column("line").to_numpy()
    assert sorted(set(lines)) == list(range(len(CORPUS)))  # a blank line has its special tokens
    rows = encode_lines(bundled, range(len(CORPUS)), CORPUS, [0, 6], 1)
    vectors = np.concatenate(list(index.token_vectors(6)))
    assert vectors.shape == (len(tokens), 384)
    want = np.concatenate([r.token_vectors[1] for r in rows])
    np.testing.assert_allclose(vectors, want, atol=1e-5)
    pooled = index.line_vectors(6)
    np.testing.assert_allclose(pooled, np.stack([r.line_vector[1] for r in rows]), atol=1e-5)
    extract = sentence_embeddings(bundled, CORPUS, [6], "mean", batch_size=8)[:, 0]
    np.testing.assert_allclose(pooled, extract, atol=1e-5)  # the line vector is extract's
    first = tokens.filter(pa.compute.equal(tokens.column("line"), 2)).to_pylist()
    assert first[0]["token"] == "[CLS]" and first[0]["word_index"] == -1
    start, end = first[1]["start"], first[1]["end"]
    assert CORPUS[2][start:end].lower() == first[1]["token"].removeprefix("##").lower()
    words = index.table("words").to_pylist()
    assert "Strawberries" in [w["word"] for w in words if w["line"] == 2]
    assert index.labels() == LABELS and index.texts() == CORPUS


def test_same_word_share(bundled, tmp_path):
    build_index(bundled, CORPUS, None, tmp_path / "idx", [0, 3, 6], batch_size=8)
    index = CorpusIndex(tmp_path / "idx")
    words = QUERY.rstrip(".").split()
    share = same_word_share(bundled, index, QUERY, words.index("bank") + 0, k=3)
    assert set(share) == {0, 3, 6} and all(0 < v <= 1 for v in share.values())


def test_resume_after_interruption(tiny_encoders, tmp_path):
    encoder = tiny_encoders["bert"]
    folder = tmp_path / "idx"
    done = []

    def interrupted(todo, spans):
        for n in todo:
            if len(done) == 2:
                raise KeyboardInterrupt
            done.append(n)
            s, e = spans[n]
            yield n, encode_lines(encoder, range(s, e), CORPUS[s:e], [0, 2], 4)

    with pytest.raises(KeyboardInterrupt):
        build_index(encoder, CORPUS, None, folder, [0, 2], shard_lines=2, engine=interrupted)
    assert not (folder / MANIFEST).exists()
    with pytest.raises(UserError) as err:
        CorpusIndex(folder)
    assert err.value.code == "index_incomplete"
    asked = []

    def counting(todo, spans):
        asked.extend(todo)
        for n in todo:
            s, e = spans[n]
            yield n, encode_lines(encoder, range(s, e), CORPUS[s:e], [0, 2], 4)

    result = build_index(encoder, CORPUS, None, folder, [0, 2], shard_lines=2, engine=counting)
    assert asked == [2, 3] and result.resumed == 2 and result.shards == 4
    build_index(encoder, CORPUS, None, tmp_path / "fresh", [0, 2], shard_lines=2)
    a, b = CorpusIndex(folder), CorpusIndex(tmp_path / "fresh")
    assert a.table("tokens").equals(b.table("tokens"))
    for layer in (0, 2):
        np.testing.assert_array_equal(a.line_vectors(layer), b.line_vectors(layer))
        assert a.faiss(layer).ntotal == b.faiss(layer).ntotal
    again = build_index(encoder, CORPUS, None, folder, [0, 2], shard_lines=2, engine=counting)
    assert asked == [2, 3] and again.resumed == 4  # whole: nothing recomputed


def test_errors(tiny_encoders, bundled, tmp_path):
    encoder = tiny_encoders["bert"]
    folder = tmp_path / "idx"
    build_index(encoder, CORPUS, None, folder, [0, 1])

    def code(fn, *args, **kw):
        with pytest.raises(UserError) as err:
            fn(*args, **kw)
        return err.value.code

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    assert code(CorpusIndex, other) == "not_an_index"
    assert code(CorpusIndex, tmp_path / "missing") == "index_missing"
    assert code(build_index, encoder, CORPUS, None, other, [0]) == "index_out_not_empty"
    assert (other / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert code(build_index, bundled, CORPUS, None, folder, [0, 1]) == "index_other_model"
    assert code(build_index, encoder, CORPUS[:3], None, folder, [0, 1]) == "index_complete_other"
    index = CorpusIndex(folder)
    assert code(neighbors, bundled, index, QUERY, "bank", 1) == "index_other_model"
    assert code(neighbors, encoder, index, QUERY, "bank", 2) == "index_layer_missing"
    assert code(neighbors, encoder, index, QUERY, "banks", 1) == "word_not_in_text"
    assert code(neighbors, encoder, index, QUERY, "bank", 1, k=0) == "neighbors_k"
    # an index, or an interrupted build, of an older format: rebuild, not misread or resume
    for name in (MANIFEST, "plan.json"):
        old = json.loads((folder / name).read_text(encoding="utf-8"))
        (folder / name).write_text(json.dumps({**old, "version": 1}), encoding="utf-8")
    assert code(CorpusIndex, folder) == "index_version"
    (folder / MANIFEST).unlink()
    assert code(build_index, encoder, CORPUS, None, folder, [0, 1]) == "index_version"
    (folder / "plan.json").write_text(json.dumps({**old, "version": 2}), encoding="utf-8")
    assert code(build_index, encoder, CORPUS[:3], None, folder, [0, 1]) == "index_other_input"


def test_inputs(tmp_path):
    rows = [{"text": t, "label": lab} for t, lab in zip(CORPUS, LABELS)]
    with (tmp_path / "c.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, ["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    (tmp_path / "c.txt").write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    for name in ("c.csv", "c.jsonl", "c.parquet"):
        corpus = read_corpus(tmp_path / name, label_column="label")
        assert corpus.texts == CORPUS and corpus.labels == LABELS
        with pytest.raises(UserError) as err:
            read_corpus(tmp_path / name, text_column="sentence")
        assert err.value.code == "corpus_column_missing"
        assert "columns: text, label." in str(err.value)
    assert read_corpus(tmp_path / "c.txt").texts == CORPUS
    for bad, want in (("c.txt", "corpus_txt_columns"), ("c.tsv", "corpus_format")):
        (tmp_path / "c.tsv").write_text("x", encoding="utf-8")
        with pytest.raises(UserError) as err:
            read_corpus(tmp_path / bad, text_column="text" if bad == "c.txt" else None)
        assert err.value.code == want
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n[1]\n', encoding="utf-8")
    with pytest.raises(UserError) as err:
        read_corpus(tmp_path / "bad.jsonl")
    assert err.value.code == "corpus_jsonl_line" and "line 2" in str(err.value)


def test_cli_index_then_neighbors_json(tmp_path, capsys):
    rows = [{"sentence": t, "topic": lab} for t, lab in zip(CORPUS, LABELS)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    out = tmp_path / "idx"
    args = ["index", "--input", str(tmp_path / "c.parquet"), "--out", str(out)]
    args += ["--text-column", "sentence", "--label-column", "topic", "--layers", "emb,L6"]
    assert main([*args, "--quiet"]) == 0
    assert "8 lines" in capsys.readouterr().err
    query = ["neighbors", str(out), "--text", QUERY, "--word", "Bank", "--layer", "L6"]
    assert main([*query, "--k", "3", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found) == 3
    keys = ["line", "position", "token", "context", "score", "label"]  # label: it has labels
    assert all(list(n) == keys for n in found)
    assert {n["line"] for n in found[:2]} == COPIES and found[0]["context"] == QUERY
    assert found[0]["token"] == "bank" and isinstance(found[0]["position"], int)
    assert found[0]["score"] >= found[1]["score"] >= found[2]["score"]
    assert main([*query, "--k", "2"]) == 0
    table = capsys.readouterr().out
    assert "[bank]" in table and "I deposited money at the" in table
    assert main([*query, "--layer", "L3"]) == 2  # not indexed
    assert "Layer L3 is not in this index" in capsys.readouterr().err
    assert main(["neighbors", str(tmp_path), "--text", QUERY, "--word", "bank"]) == 2
    assert "not a corpus index" in capsys.readouterr().err
    no_labels = [a for a in args if a not in ("--label-column", "topic")]
    assert main(no_labels) == 2  # the same lines without their labels: another input
    assert "is already a complete index, of another input" in capsys.readouterr().err
    with_address = [*args, "--ray-address", "auto"]
    assert main(with_address) == 2 and "--engine ray" in capsys.readouterr().err


# ---------------------------------------------------------------- Ray (a real local cluster)


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _same_index(a: CorpusIndex, b: CorpusIndex) -> None:
    for table in ("tokens", "words", "lines"):
        assert a.table(table).equals(b.table(table))
    for layer in a.layers:
        np.testing.assert_allclose(b.line_vectors(layer), a.line_vectors(layer), atol=1e-5)
        for x, y in zip(a.token_vectors(layer), b.token_vectors(layer)):
            np.testing.assert_allclose(y, x, atol=1e-5)
        assert a.faiss(layer).ntotal == b.faiss(layer).ntotal


@pytest.mark.slow
def test_ray_engine_equals_local(ray_cluster, tiny_mlm_folder, tmp_path, capsys):
    text = tmp_path / "c.txt"
    text.write_text("\n".join(CORPUS * 3) + "\n", encoding="utf-8")
    common = ["--input", str(text), "--model", tiny_mlm_folder, "--batch-size", "2", "--quiet"]
    assert main(["index", *common, "--out", str(tmp_path / "local")]) == 0
    assert main(["index", *common, "--out", str(tmp_path / "ray"), "--engine", "ray"]) == 0
    _same_index(CorpusIndex(tmp_path / "local"), CorpusIndex(tmp_path / "ray"))
    # several shards, labels: written by the actors (given the folder) and by the driver
    from viz.corpus.ray_engine import RayEngine
    from viz.models import load_encoder

    encoder = load_encoder(tiny_mlm_folder)
    texts, labels, layers = CORPUS * 3, LABELS * 3, [0, 2]
    build_index(encoder, texts, labels, tmp_path / "l8", layers, 2, shard_lines=8)
    for out, folder in ((tmp_path / "a8", tmp_path / "a8"), (tmp_path / "d8", None)):
        engine = RayEngine(
            tiny_mlm_folder, False, texts, layers, 2, None, labels=labels, folder=folder
        )
        build_index(encoder, texts, labels, out, layers, 2, shard_lines=8, engine=engine)
        _same_index(CorpusIndex(tmp_path / "l8"), CorpusIndex(out))
    # extract: the same vectors, and the same summary (blank, cut, [UNK] counts from the actors)
    lines = CORPUS * 3 + ["银行 and 银子", "a line far longer than the eight tokens kept of it"]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    summaries = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.npy"
        args = ["extract", *common, "--out", str(out), "--engine", engine, "--max-tokens", "8"]
        assert main(args) == 0
        summaries[engine] = capsys.readouterr().err.split(str(out))[-1]
    local, ray = np.load(tmp_path / "local.npy"), np.load(tmp_path / "ray.npy")
    assert local.shape == ray.shape == (len(lines), 3, 32)
    np.testing.assert_allclose(ray, local, atol=1e-5)
    assert "blank" in summaries["local"] and "cut to 8" in summaries["local"]
    assert "[UNK]" in summaries["local"]
    assert summaries["ray"] == summaries["local"]


def test_a_shard_of_blank_lines_only(tiny_encoders, tmp_path):
    """A shard whose every line is blank has no words: it is written (its lines, their special
    tokens) and the index opens and answers, where the build used to crash on it."""
    encoder = tiny_encoders["bert"]
    texts = ["", " ", "", *CORPUS[:4]]
    build_index(encoder, texts, None, tmp_path / "idx", [0, 2], batch_size=2, shard_lines=3)
    index = CorpusIndex(tmp_path / "idx")
    assert index.texts() == texts
    assert sorted(set(index.table("tokens").column("line").to_pylist())) == list(range(7))
    words = index.table("words").column("line").to_pylist()
    assert min(words) == 3  # no word in the blank shard
    for layer in (0, 2):
        assert index.faiss(layer).ntotal == len(words)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


def test_ray_address_without_a_cluster_fails_in_seconds(tiny_mlm_folder, tmp_path, capsys):
    """Nothing at --ray-address: a UserError saying what to do, in seconds (ray.init waited a
    minute and more there, deaf to SIGTERM), before the model loads."""
    import time

    pytest.importorskip("ray")
    text = tmp_path / "c.txt"
    text.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    address = f"127.0.0.1:{_closed_port()}"
    args = ["index", "--input", str(text), "--model", tiny_mlm_folder, "--quiet"]
    args += ["--out", str(tmp_path / "idx"), "--engine", "ray", "--ray-address", address]
    start = time.monotonic()
    assert main(args) == 2
    assert time.monotonic() - start < 15
    err = capsys.readouterr().err
    assert f"No Ray cluster answers at {address}" in err
    assert "ray start --head" in err and "leave out --ray-address" in err
    assert not (tmp_path / "idx").exists()
    from viz.corpus.ray_engine import cluster

    with pytest.raises(UserError) as caught, cluster(f"ray://{address}"):
        pass
    assert caught.value.code == "ray_unreachable"


@pytest.mark.slow
def test_a_ray_run_says_only_its_summary(tiny_mlm_folder, tmp_path):
    """A normal --engine ray run, in a process of its own (Ray's C++ logs go to its stderr):
    no Ray warnings (token authentication, restartable actors, an actor pool larger than its
    input), only our summary."""
    import os
    import subprocess
    import sys

    text = tmp_path / "c.txt"
    text.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    args = ["index", "--input", str(text), "--model", tiny_mlm_folder, "--quiet"]
    args += ["--out", str(tmp_path / "idx"), "--engine", "ray"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    done = subprocess.run(
        [sys.executable, "-m", "viz", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (summary,) = done.stderr.splitlines()
    assert summary.startswith(f"wrote {tmp_path / 'idx'}: 8 lines, ")


# ---------------------------------------------------------------- the CLI's words and messages

CHINESE = ["我在银行存钱", "他去银行取钱。"]


@pytest.fixture(scope="module")
def labelled_index(bundled, tmp_path_factory):
    """The corpus and two Chinese lines with their labels, at emb and L6 of the bundled model."""
    folder = tmp_path_factory.mktemp("labelled")
    rows = [{"text": t, "topic": lab} for t, lab in zip(CORPUS + CHINESE, LABELS + ["zh", "zh"])]
    (folder / "c.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    args = ["index", "--input", str(folder / "c.jsonl"), "--label-column", "topic"]
    assert main([*args, "--out", str(folder / "idx"), "--layers", "emb,L6", "--quiet"]) == 0
    return folder / "idx"


def test_a_word_of_several_words(bundled, labelled_index, capsys, monkeypatch):
    """银行 is two words of the English WordPiece vocabulary, one per character: the query is
    their run, its vector the mean of their pieces (one word alone: the index's own bits), and
    a piece read as [UNK] is said on stderr, in the locale's language."""
    from viz.corpus.neighbors import locate, words_of

    words, _, vectors = words_of(bundled, QUERY, [6])
    one = locate(bundled, QUERY, "bank", [6])
    assert one.words == [5] and one.unknown == 0
    np.testing.assert_array_equal(one.vectors[0], vectors[0, 5])
    run = locate(bundled, QUERY, "at  THE bank", [6])
    assert run.words == [3, 4, 5] and run.text == "at the bank"
    chinese = locate(bundled, CHINESE[0], "银行", [0, 6])
    assert chinese.words == [2, 3] and chinese.text == "银行" and chinese.vectors.shape == (2, 384)
    assert chinese.pieces == 2 and chinese.unknown == 1  # 银 is not in the vocabulary
    query = ["neighbors", str(labelled_index), "--text", CHINESE[0], "--word", "银行"]
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert main([*query, "--json", "--k", "3"]) == 0
    out, err = capsys.readouterr()
    assert {n["line"] for n in json.loads(out)} <= {8, 9}
    assert err.startswith("warning: 1 of the 2 tokens of '银行' are [UNK] for this model")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert main([*query, "--json", "--k", "3"]) == 0
    assert capsys.readouterr().err.startswith("警告：“银行”的 2 个词元中有 1 个对该模型是 [UNK]")
    assert main([*query, "--occurrence", "2"]) == 2  # errors speak the locale's language too
    assert "“银行”在文本中只出现一次" in capsys.readouterr().err


def test_cli_messages_name_what_the_user_typed(labelled_index, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANG", "C.UTF-8")
    query = ["neighbors", str(labelled_index), "--text", "The bank by the bank.", "--word", "bank"]

    def error(args) -> str:
        assert main(args) == 2
        (line,) = capsys.readouterr().err.splitlines()
        return line

    assert error([*query, "--layer", "foo"]).startswith("error: --layer 'foo' is not a layer:")
    assert "0 (the embeddings) to 6" in error([*query, "--layer", "all"])
    assert error([*query, "--occurrence", "3"]) == (
        "error: --occurrence 3: 'bank' occurs 2 times in the text; give 1 to 2."
    )
    once = [*query[:3], "The bank.", "--word", "bank", "--occurrence", "2"]
    assert "occurs once in the text" in error(once)
    a_file = labelled_index.parent / "c.jsonl"
    assert error(["neighbors", str(a_file), "--text", "x", "--word", "x"]) == (
        f"error: {a_file} is a file, not an index folder: give the folder that "
        "`python -m viz index --out` wrote."
    )
    again = ["index", "--input", str(a_file), "--out", str(labelled_index), "--quiet"]
    assert error([*again, "--layers", "L6"]) == (
        f"error: {labelled_index} is already a complete index, of another input or other "
        "options (10 lines, layers emb, L6, model all-MiniLM-L6-v2): to rebuild it, delete the "
        "folder or give another --out."
    )
    with pytest.raises(SystemExit):
        main(["neighbors", "--help"])
    assert "(default: the index's own model)" in " ".join(capsys.readouterr().out.split())


def test_the_index_summary_counts_what_it_cut(tiny_mlm_folder, tmp_path, capsys):
    """Lines cut to --max-tokens, and table rows with no text, counted in the summary (as
    extract counts its lines), not said line by line."""
    long = "a line far longer than the eight tokens kept of it"
    rows = ['{"text": "The bank."}', '{"text": null}', '{"text": 5}', "{}"]
    rows += [json.dumps({"text": long}), json.dumps({"text": long + " again"})]
    (tmp_path / "c.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = ["index", "--input", str(tmp_path / "c.jsonl"), "--model", tiny_mlm_folder]
    assert main([*args, "--out", str(tmp_path / "idx"), "--max-tokens", "8", "--quiet"]) == 0
    (summary,) = capsys.readouterr().err.splitlines()
    assert summary.endswith(
        "; 3 rows with no text in the column 'text' (missing, null, or not a string), indexed "
        "as blank lines; 2 lines longer than 8 tokens, cut to 8"
    )
    assert CorpusIndex(tmp_path / "idx").texts()[1:4] == ["", "", ""]


def test_the_neighbors_table(labelled_index, capsys, monkeypatch):
    """The text output: the context cut between words (with …), spaced as in the line (no space
    before a full stop), a label column, and a footer saying that lines count from 0; --json
    gains the label."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    query = ["neighbors", str(labelled_index), "--text", QUERY, "--word", "bank", "--k", "8"]
    assert main(query) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["score", "line", "label", "context"]
    assert lines[-1] == "(line: the corpus line's number, counted from 0)"
    (copy,) = [r for r in lines[1:-1] if r.endswith("money at the [bank] this morning.")][:1]
    assert copy.split()[1] in ("1", "5") and copy.split()[2] == "money"
    assert any(
        r.endswith(" We sat on the [bank] and watched the boats go by slowly.") for r in lines
    )
    from viz.corpus.cli import _kwic
    from viz.corpus.neighbors import Neighbor

    line = (
        "Far away, by the river and past the old mill, the (bank), a boat and a long way home "
        "to the sea."
    )
    start = line.index("bank")
    row = Neighbor(0, 9, "bank", line, 0.5, start, start + 4, "nature")
    (cells,) = _kwic([row], labels=False).splitlines()[1:-1]
    # 40 columns a side, cut between words; no space where the line has none
    assert cells.endswith(
        "  …the river and past the old mill, the ([bank]), a boat and a long way home to the…"
    )
    assert main([*query, "--json", "--k", "2"]) == 0
    found = json.loads(capsys.readouterr().out)
    keys = ["line", "position", "token", "context", "score", "label"]
    assert [list(n) for n in found] == [keys, keys] and found[0]["label"] == "money"


def test_a_context_is_cut_between_words():
    from viz.corpus.cli import _cut, _width

    text = "the quick brown fox jumps over"
    assert _cut(text, 40, keep_end=False) == text
    assert _cut(text, 14, keep_end=False) == "the quick…"  # not "the quick bro…"
    assert _cut(text, 14, keep_end=True) == "…jumps over"
    assert _cut("unbelievably", 6, keep_end=False) == "unbel…"  # one word: cut inside it
    assert _cut("我在银行存钱然后回家", 9, keep_end=False) == "我在银行…"  # 2 columns a character
    assert _width("我在a") == 5


@pytest.mark.slow
def test_ray_address_that_is_no_ray_head_is_bounded_and_stops_on_sigterm(tmp_path):
    """Something listens at --ray-address but is no Ray head: joining gives up after
    JOIN_SECONDS with what to do, and SIGTERM stops the wait at once (ray.init on the main
    thread deferred it by half a minute at a time)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from viz.corpus.ray_engine import JOIN_SECONDS

    text = tmp_path / "c.txt"
    text.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))  # Ray connects to this machine's address, not 127.0.0.1
        listener.listen(16)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        args = [sys.executable, "-m", "viz", "index", "--input", str(text), "--quiet"]
        args += ["--out", str(tmp_path / "idx"), "--engine", "ray", "--ray-address", address]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        start = time.monotonic()
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
        assert time.monotonic() - start < JOIN_SECONDS + 20
        assert done.returncode == 2
        assert done.stderr.splitlines()[-1] == (
            f"error: Something accepts connections at {address}, but joining a Ray cluster "
            f"there did not finish within {JOIN_SECONDS:g} s (Ray's lines above may say why, "
            "such as a missing authentication token): give the address `ray start --head` "
            "printed, or leave out --ray-address for a local cluster."
        )
        process = subprocess.Popen(args, stderr=subprocess.DEVNULL, env=env)
        time.sleep(12)  # past the imports, the model and the probe: inside the join
        process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        assert process.wait(timeout=60) == -signal.SIGTERM
        assert time.monotonic() - sent < 3
