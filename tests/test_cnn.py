"""CNNEmbedder, preprocessing and the bundled EfficientNet-Lite0 backbone."""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from sklearn.base import clone

from deepfeat import CNNEmbedder, ImageLoadError, load_image
from deepfeat.features import _backbone, _cnn_preprocess
from deepfeat.features._backbone import (
    BACKBONE_DIR,
    LAYER_PRESETS,
    STAGES,
    backbone_card,
    backbone_path,
)
from deepfeat.features._cnn_preprocess import preprocess, resize_image

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
CHANNELS = {"stem": 32, "s1": 16, "s2": 24, "s3": 40, "s4": 80, "s5": 112, "s6": 192, "s7": 320}


# ----------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference():
    data = np.load(BACKBONE_DIR / "efficientnet_lite0_reference.npz")
    images = [load_image(bytes(data[f"png_{i}"])) for i in range(4)]
    outputs = {k[len("out_") :]: data[k] for k in data.files if k.startswith("out_")}
    return images, outputs


@pytest.fixture(scope="module")
def session():
    import onnxruntime as ort

    return ort.InferenceSession(str(backbone_path()), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def head_embedder():
    """One bundled-model embedder shared by the tests (its session is created once)."""
    return CNNEmbedder(layers="head", resize="imagenet", batch_size=4)


def _rand_image(rng, h, w):
    """A smooth-ish random image (noise on a gradient) so that features are not degenerate."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) % 256], -1)
    return np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def jpeg_dir(tmp_path_factory):
    rng = np.random.default_rng(1)
    root = tmp_path_factory.mktemp("cnn_jpegs")
    sizes = [(96, 96), (96, 96), (120, 80), (61, 97), (96, 96), (33, 250)]
    paths = []
    for i, (h, w) in enumerate(sizes):
        path = root / f"img_{i}.jpg"
        Image.fromarray(_rand_image(rng, h, w)).save(path, quality=90)
        paths.append(str(path))
    corrupt = root / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    return paths, str(corrupt)


# ----------------------------------------------------------------------------------------
# the shipped backbone
# ----------------------------------------------------------------------------------------
def test_card_matches_shipped_files():
    card = backbone_card()
    data = backbone_path().read_bytes()
    assert hashlib.sha256(data).hexdigest() == card["sha256"]
    assert len(data) == card["size_bytes"]
    assert card["license"] == "Apache-2.0"
    assert (BACKBONE_DIR / card["notice"]).is_file()
    assert "Apache License" in (BACKBONE_DIR / "NOTICE").read_text()
    pre = card["preprocessing"]
    assert pre["input_size"] == 224
    assert pre["resize"] == {
        "policy": "imagenet",
        "short_side": 256,
        "interpolation": "bicubic",
        "center_crop": 224,
    }
    assert pre["normalization"]["mean"] == [127.0] * 3
    assert pre["normalization"]["std"] == [128.0] * 3
    assert card["input"]["name"] == "image" and card["input"]["layout"] == "NCHW"
    outputs = {o["name"]: o["channels"] for o in card["outputs"]}
    expected = {"head": 1280}
    for stage, c in CHANNELS.items():
        expected.update({f"{stage}_mean": c, f"{stage}_std": c})
    assert outputs == expected


def test_onnx_graph_is_dynamic_and_outputs_match_card():
    model = onnx.load(str(backbone_path()), load_external_data=False)
    assert model.opset_import[0].version == 17
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == "image"
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, "height", "width"]
    names = [o.name for o in model.graph.output]
    assert names == [o["name"] for o in backbone_card()["outputs"]]
    # TF "SAME" padding is resolved per input size by onnxruntime (no static pads on stride 2)
    strided = [
        n
        for n in model.graph.node
        if n.op_type == "Conv"
        and any(a.name == "strides" and list(a.ints) == [2, 2] for a in n.attribute)
    ]
    assert len(strided) == 5
    for node in strided:
        attrs = {a.name: a for a in node.attribute}
        assert attrs["auto_pad"].s == b"SAME_UPPER"


def test_onnxruntime_reproduces_torch_reference(reference, session):
    images, ref = reference
    assert [im.shape[:2] for im in images] == [(224, 224), (224, 224), (223, 225), (97, 131)]
    names = [o.name for o in session.get_outputs()]
    assert set(names) == set(ref)
    runs = [([0, 1], images[:2]), ([2], images[2:3]), ([3], images[3:4])]  # batch + odd sizes
    for rows, batch in runs:
        x = np.stack([preprocess(im, resize="none") for im in batch])
        got = dict(zip(names, session.run(None, {"image": x}), strict=True))
        for name in names:
            np.testing.assert_allclose(got[name], ref[name][rows], rtol=0, atol=1e-4, err_msg=name)


def test_embedder_reproduces_reference_end_to_end(reference):
    images, ref = reference
    emb = CNNEmbedder(layers="all", resize="none")
    feats = emb.transform(images)
    names = emb.get_feature_names_out()
    for stage in STAGES:
        for stat in ("mean", "std"):
            cols = [i for i, n in enumerate(names) if n.startswith(f"cnn_{stage}_{stat}_")]
            np.testing.assert_allclose(feats[:, cols], ref[f"{stage}_{stat}"], atol=1e-4)
    head = [i for i, n in enumerate(names) if n.startswith("cnn_head_")]
    np.testing.assert_allclose(feats[:, head], ref["head"], atol=1e-4)


# ----------------------------------------------------------------------------------------
# feature names and parameters
# ----------------------------------------------------------------------------------------
def test_feature_names(head_embedder):
    names = head_embedder.get_feature_names_out().tolist()
    assert names[0] == "cnn_0000" and names[-1] == "cnn_1279" and len(names) == 1280
    mid = CNNEmbedder(layers="mid").get_feature_names_out().tolist()
    assert len(mid) == 2 * sum(CHANNELS[s] for s in LAYER_PRESETS["mid"]) == 992
    assert mid[0] == "cnn_stem_mean_000" and mid[-1] == "cnn_s6_std_191"
    assert "cnn_s4_mean_012" in mid and "cnn_s4_std_012" in mid
    mixed = CNNEmbedder(layers=["s7", "head"]).get_feature_names_out().tolist()
    assert mixed[:2] == ["cnn_s7_mean_000", "cnn_s7_mean_001"]
    assert mixed[640] == "cnn_head_0000" and len(mixed) == 640 + 1280
    for n in mid + mixed + names:
        assert NAME_RE.match(n) and "__" not in n
    full = CNNEmbedder(layers="all").get_feature_names_out()
    assert len(set(full)) == len(full) == 2 * sum(CHANNELS.values()) + 1280


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"layers": "deep"}, "unknown layers preset"),
        ({"layers": ["s1", "s9"]}, "unknown layer"),
        ({"layers": ["s1", "s1"]}, "duplicates"),
        ({"resize": "stretch"}, "resize must be"),
        ({"batch_size": 0}, "batch_size"),
        ({"n_threads": 0}, "n_threads"),
        ({"channel_order": "RBG"}, "channel_order"),
        ({"layout": "CHW"}, "layout"),
        ({"input_size": (224,)}, "input_size"),
        ({"max_side": 8}, "max_side"),
        ({"on_error": "ignore"}, "on_error"),
        ({"output_name": "head"}, "user model"),
        ({"pool": "avg"}, "user model"),
        ({"mean": "caffe"}, "mean must be"),
        ({"std": [1.0, 2.0]}, "std must be"),
        ({"std": 0}, "non-zero"),
    ],
)
def test_bad_parameters_raise_clear_errors(params, match):
    with pytest.raises(ValueError, match=match):
        CNNEmbedder(**params).fit()


def test_init_only_stores_and_fit_records_width():
    emb = CNNEmbedder(layers="mid", batch_size=3)
    assert not hasattr(emb, "_session")
    assert clone(emb).get_params() == emb.get_params()
    assert emb.fit().n_features_out_ == 992


# ----------------------------------------------------------------------------------------
# preprocessing
# ----------------------------------------------------------------------------------------
def test_preprocess_defaults_match_card():
    img = np.full((100, 150, 3), (0, 127, 255), np.uint8)
    x = preprocess(img)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 0], [-127 / 128, 0.0, 1.0])
    y = preprocess(img, resize="none", layout="NHWC", channel_order="BGR", mean=0, std=255)
    assert y.shape == (100, 150, 3)
    np.testing.assert_allclose(y[0, 0], [1.0, 127 / 255, 0.0], rtol=1e-6)
    z = preprocess(img, resize="none", mean="imagenet", std="imagenet")
    np.testing.assert_allclose(
        z[:, 0, 0],
        (np.array([0, 127, 255]) - _cnn_preprocess.IMAGENET_MEAN) / _cnn_preprocess.IMAGENET_STD,
        rtol=1e-5,
    )


@pytest.mark.parametrize("shape", [(300, 451), (1000, 700), (257, 260), (97, 61), (180, 224)])
def test_imagenet_resize_is_short_side_256_then_centre_crop(shape):
    h, w = shape
    img = _rand_image(np.random.default_rng(3), h, w)
    got = resize_image(img).astype(np.float64)
    rh, rw = (256, int(w * 256 / h)) if h <= w else (int(h * 256 / w), 256)
    full = np.asarray(Image.fromarray(img).resize((rw, rh), Image.Resampling.BICUBIC))
    top, left = round((rh - 224) / 2), round((rw - 224) / 2)
    want = full[top : top + 224, left : left + 224].astype(np.float64)
    assert got.shape == want.shape == (224, 224, 3)
    diff = np.abs(got - want)
    if min(h, w) >= 256:  # shrinking: Pillow's bicubic on the crop box == resize + crop
        assert diff.max() <= 1
    else:  # enlarging: OpenCV's bicubic (a=-0.75) vs Pillow's (a=-0.5), same geometry
        assert diff.mean() < 2.5


def test_imagenet_resize_plain_crop_and_other_sizes():
    img = _rand_image(np.random.default_rng(4), 256, 300)
    np.testing.assert_array_equal(resize_image(img), img[16:240, 38:262])  # no resampling
    assert resize_image(img, input_size=(96, 128)).shape == (96, 128, 3)
    assert resize_image(img, input_size=7).shape == (7, 7, 3)
    assert resize_image(np.zeros((1, 5, 3), np.uint8)).shape == (224, 224, 3)


def test_native_resize_crops_large_and_pads_small():
    img = np.arange(700 * 20 * 3, dtype=np.uint32).reshape(700, 20, 3).astype(np.uint8)
    out = resize_image(img, resize="none", max_side=512)
    assert out.shape == (512, 32, 3)
    np.testing.assert_array_equal(out[:, 6:26], img[94:606])  # centre crop, no interpolation
    np.testing.assert_array_equal(out[:, 5], img[94:606, 1])  # reflect padding
    assert resize_image(np.zeros((1, 1, 3), np.uint8), resize="none").shape == (32, 32, 3)
    assert resize_image(img, resize="none", max_side=None).shape == (700, 32, 3)


# ----------------------------------------------------------------------------------------
# the transformer on the bundled backbone
# ----------------------------------------------------------------------------------------
def test_inputs_paths_arrays_dataframe(head_embedder, jpeg_dir):
    paths, _ = jpeg_dir
    from_paths = head_embedder.transform(paths)
    assert from_paths.shape == (len(paths), 1280) and from_paths.dtype == np.float32
    assert np.all(np.isfinite(from_paths)) and from_paths.std() > 0
    arrays = [load_image(p) for p in paths]
    np.testing.assert_allclose(head_embedder.transform(arrays), from_paths, atol=1e-5)
    df = pd.DataFrame({"path": paths, "label": 0})
    np.testing.assert_allclose(head_embedder.transform(df), from_paths, atol=1e-5)
    np.testing.assert_allclose(head_embedder.transform(paths[0]), from_paths[:1], atol=1e-5)
    np.testing.assert_allclose(head_embedder.transform(arrays[3]), from_paths[3:4], atol=1e-5)
    assert head_embedder.failures_.empty


def test_transform_items_with_predecoded_images(head_embedder, jpeg_dir):
    """The ImageFeatures path: pixels decoded elsewhere, ``None`` where decoding failed."""
    paths, corrupt = jpeg_dir
    items = [paths[0], paths[1], corrupt]
    images = [load_image(paths[0]), None, None]
    emb = clone(head_embedder).set_params(on_error="record")
    out = emb.transform_items(items, images)
    np.testing.assert_allclose(out[:2], head_embedder.transform(paths[:2]), atol=1e-5)
    assert np.isnan(out[2]).all()
    assert emb.failures_.to_dict("records") == [
        {"path": corrupt, "stage": "load", "reason": emb.failures_["reason"][0]}
    ]


def test_set_output_pandas_columns(jpeg_dir):
    paths, _ = jpeg_dir
    emb = CNNEmbedder(layers=["s1", "s2"]).set_output(transform="pandas")
    df = emb.transform(paths[:2])
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == emb.get_feature_names_out().tolist()
    assert df.shape == (2, 2 * (16 + 24))


def test_pickle_after_use(jpeg_dir):
    paths, _ = jpeg_dir
    emb = CNNEmbedder(layers="mid", batch_size=2)
    before = emb.transform(paths[:3])
    assert emb._session is not None
    blob = pickle.dumps(emb)
    assert len(blob) < 10_000  # the session (and its 13 MB model) is not pickled
    clone_ = pickle.loads(blob)
    assert not hasattr(clone_, "_session")
    np.testing.assert_array_equal(clone_.transform(paths[:3]), before)


def test_on_error_record_and_raise(jpeg_dir):
    paths, corrupt = jpeg_dir
    items = [paths[0], corrupt, paths[1], "/nonexistent/x.png"]
    emb = CNNEmbedder(on_error="record", batch_size=2)
    out = emb.transform(items)
    assert np.isnan(out[1]).all() and np.isnan(out[3]).all()
    assert np.isfinite(out[[0, 2]]).all()
    fails = emb.failures_
    assert list(fails.columns) == ["path", "stage", "reason"]
    assert fails["path"].tolist() == [corrupt, "/nonexistent/x.png"]
    assert set(fails["stage"]) == {"load"}
    with pytest.raises(ImageLoadError):
        CNNEmbedder().transform(items)


def test_deterministic(jpeg_dir):
    paths, _ = jpeg_dir
    a = CNNEmbedder(layers="all", batch_size=3).transform(paths)
    b = CNNEmbedder(layers="all", batch_size=3).transform(paths)
    np.testing.assert_array_equal(a, b)


def test_resize_none_mixed_and_odd_sizes_equal_per_image(jpeg_dir):
    paths, _ = jpeg_dir
    emb = CNNEmbedder(layers=["s3", "head"], resize="none", batch_size=8)
    batched = emb.transform(paths)  # 96x96 ×3, 120x80, 61x97, 33x250 in one batch
    single = np.vstack([emb.transform([p]) for p in paths])
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5)
    assert np.isfinite(batched).all()
    # resolution matters: native 96x96 differs from its 224 imagenet resize
    imagenet = CNNEmbedder(layers=["s3", "head"], resize="imagenet").transform(paths[:1])
    assert not np.allclose(imagenet, batched[:1], atol=1e-3)


def test_batch_size_does_not_change_results(head_embedder, jpeg_dir):
    paths, _ = jpeg_dir
    a = head_embedder.transform(paths)
    b = CNNEmbedder(layers="head", resize="imagenet", batch_size=1, n_threads=1).transform(paths)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_corrupted_bundled_backbone_is_detected(monkeypatch):
    _backbone._verified_backbone.cache_clear()
    card = backbone_card()
    card["sha256"] = "0" * 64
    monkeypatch.setattr(_backbone, "backbone_card", lambda name=_backbone.DEFAULT_BACKBONE: card)
    try:
        with pytest.raises(RuntimeError, match="corrupted"):
            CNNEmbedder().fit()
    finally:
        _backbone._verified_backbone.cache_clear()


# ----------------------------------------------------------------------------------------
# user-supplied ONNX models, built here with onnx.helper
# ----------------------------------------------------------------------------------------
W = np.array([[1.0, 0.5, -0.25], [0.0, 2.0, 1.0], [-1.0, 0.0, 0.5], [0.3, 0.3, 0.3]], np.float32)
B = np.array([0.1, -0.2, 0.0, 1.0], np.float32)


def _save(graph, path, opset=17):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return str(path)


def _conv_model(path, layout="NCHW", spatial=("h", "w"), batch="n", extra_outputs=True):
    """1×1 conv (W, B): outputs ``fmap`` (4-D, in ``layout``) and ``pooled`` (N×4)."""
    inits = [
        numpy_helper.from_array(W[:, :, None, None], "W"),
        numpy_helper.from_array(B, "B"),
    ]
    nodes = []
    if layout == "NHWC":
        in_shape = [batch, *spatial, 3]
        nodes.append(helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]))
        conv_in = "x_nchw"
    else:
        in_shape = [batch, 3, *spatial]
        conv_in = "x"
    nodes.append(helper.make_node("Conv", [conv_in, "W", "B"], ["y"], kernel_shape=[1, 1]))
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["y"], ["fmap"], perm=[0, 2, 3, 1]))
        fmap_shape = [batch, *spatial, 4]
    else:
        nodes.append(helper.make_node("Identity", ["y"], ["fmap"]))
        fmap_shape = [batch, 4, *spatial]
    outputs = [helper.make_tensor_value_info("fmap", TensorProto.FLOAT, fmap_shape)]
    if extra_outputs:
        nodes.append(helper.make_node("GlobalAveragePool", ["y"], ["gap"]))
        nodes.append(helper.make_node("Flatten", ["gap"], ["pooled"]))
        outputs.append(helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [batch, 4]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        outputs,
        initializer=inits,
    )
    return _save(graph, path)


def _expected(images, *, mean=0.0, std=255.0, bgr=False, reducer=np.mean):
    rows = []
    for img in images:
        x = img.astype(np.float64)[..., ::-1] if bgr else img.astype(np.float64)
        x = (x - mean) / std
        y = np.einsum("hwc,kc->hwk", x, W) + B
        rows.append(reducer(y, axis=(0, 1)))
    return np.array(rows)


@pytest.fixture(scope="module")
def user_images():
    rng = np.random.default_rng(5)
    return [_rand_image(rng, 40, 40), _rand_image(rng, 40, 40), _rand_image(rng, 37, 53)]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_user_model_feature_map_pooled(tmp_path, user_images, layout):
    path = _conv_model(tmp_path / f"tiny_{layout}.onnx", layout=layout)
    emb = CNNEmbedder(path, layout=layout, resize="none")
    got = emb.transform(user_images)
    np.testing.assert_allclose(got, _expected(user_images), rtol=1e-5, atol=1e-5)
    assert emb.get_feature_names_out().tolist() == ["cnn_0000", "cnn_0001", "cnn_0002", "cnn_0003"]
    mx = CNNEmbedder(
        path,
        layout=layout,
        resize="none",
        pool="max",
        mean=127.5,
        std=[60, 70, 80],
        channel_order="BGR",
    )
    want = _expected(
        user_images, mean=127.5, std=np.array([60.0, 70.0, 80.0]), bgr=True, reducer=np.max
    )
    np.testing.assert_allclose(mx.transform(user_images), want, rtol=1e-5, atol=1e-5)


def test_user_model_2d_output_and_imagenet_resize(tmp_path, user_images):
    path = _conv_model(tmp_path / "tiny.onnx")
    emb = CNNEmbedder(path, output_name="pooled", input_size=64, batch_size=2, resize="imagenet")
    got = emb.transform(user_images)
    want = _expected([resize_image(im, input_size=64) for im in user_images])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert pickle.loads(pickle.dumps(emb)).transform(user_images).shape == (3, 4)


def test_user_model_fixed_size_and_fixed_batch(tmp_path, user_images):
    path = _conv_model(tmp_path / "fixed.onnx", spatial=(48, 48), batch=1)
    emb = CNNEmbedder(path, input_size=48, batch_size=8)
    got = emb.transform(user_images)
    want = _expected([resize_image(im, input_size=48) for im in user_images])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"input_size=\(48, 48\)"):
        CNNEmbedder(path).fit()
    with pytest.raises(ValueError, match="resize='none' needs dynamic"):
        CNNEmbedder(path, input_size=48, resize="none").fit()


def test_user_model_inference_failure_is_recorded(tmp_path):
    # Reshape to N×3072 then MatMul: only 32×32 inputs can run; others fail in onnxruntime.
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["x", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "M"], ["out"]),
        ],
        "reshaper",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 2])],
        initializer=[
            numpy_helper.from_array(np.array([0, 3072], np.int64), "shape"),
            numpy_helper.from_array(np.ones((3072, 2), np.float32), "M"),
        ],
    )
    path = _save(graph, tmp_path / "reshaper.onnx")
    ok, bad = np.full((32, 32, 3), 255, np.uint8), np.zeros((33, 33, 3), np.uint8)
    emb = CNNEmbedder(path, resize="none", on_error="record")
    out = emb.transform([bad, ok, ok, bad])
    assert np.isnan(out[[0, 3]]).all()
    np.testing.assert_allclose(out[[1, 2]], 3072.0)
    assert emb.failures_["path"].tolist() == ["<array 0>", "<array 3>"]
    assert emb.failures_["stage"].tolist() == ["cnn", "cnn"]
    with pytest.raises(Exception, match=r"(?i)reshape"):
        CNNEmbedder(path, resize="none").transform([ok, bad])


def _model_with(tmp_path, name, inputs, outputs, nodes, inits=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    return _save(graph, tmp_path / f"{name}.onnx")


def test_bad_user_models_give_clear_errors(tmp_path):
    f = TensorProto.FLOAT
    vi = helper.make_tensor_value_info
    rank3 = _model_with(
        tmp_path,
        "rank3",
        [vi("x", f, ["n", 3, "h"])],
        [vi("y", f, ["n", 3, "h"])],
        [helper.make_node("Identity", ["x"], ["y"])],
    )
    with pytest.raises(ValueError, match="4-D image batch"):
        CNNEmbedder(rank3).fit()

    nhwc = _conv_model(tmp_path / "nhwc.onnx", layout="NHWC", spatial=("h", "w"))
    fixed_c = _model_with(
        tmp_path,
        "fixedc",
        [vi("x", f, ["n", "h", "w", 3])],
        [vi("y", f, ["n", "h", "w", 3])],
        [helper.make_node("Identity", ["x"], ["y"])],
    )
    with pytest.raises(ValueError, match="is the layout 'NHWC'"):
        CNNEmbedder(fixed_c).fit()
    with pytest.raises(ValueError, match=r"no output 'logits'.*fmap"):
        CNNEmbedder(nhwc, layout="NHWC", output_name="logits").fit()

    rank3_out = _model_with(
        tmp_path,
        "rank3out",
        [vi("x", f, ["n", 3, "h", "w"])],
        [vi("y", f, ["n", 3, "hw"])],
        [helper.make_node("Reshape", ["x", "s"], ["y"])],
        [numpy_helper.from_array(np.array([0, 3, -1], np.int64), "s")],
    )
    with pytest.raises(ValueError, match="rank 2"):
        CNNEmbedder(rank3_out).fit()

    nchw = _conv_model(tmp_path / "nchw.onnx")
    with pytest.raises(ValueError, match="4-D feature map"):
        CNNEmbedder(nchw, pool="none").fit()
    with pytest.raises(ValueError, match="needs a 4-D output"):
        CNNEmbedder(nchw, output_name="pooled", pool="avg").fit()
    with pytest.raises(ValueError, match="bundled backbone only"):
        CNNEmbedder(nchw, layers="head").fit()

    two_in = _model_with(
        tmp_path,
        "twoin",
        [vi("a", f, ["n", 3, "h", "w"]), vi("b", f, ["n", 3, "h", "w"])],
        [vi("y", f, ["n", 3, "h", "w"])],
        [helper.make_node("Add", ["a", "b"], ["y"])],
    )
    with pytest.raises(ValueError, match="2 inputs"):
        CNNEmbedder(two_in).fit()

    ints = _model_with(
        tmp_path,
        "ints",
        [vi("x", TensorProto.INT64, ["n", 3, "h", "w"])],
        [vi("y", TensorProto.INT64, ["n", 3, "h", "w"])],
        [helper.make_node("Identity", ["x"], ["y"])],
    )
    with pytest.raises(ValueError, match="float image tensor"):
        CNNEmbedder(ints).fit()

    with pytest.raises(FileNotFoundError, match="not found"):
        CNNEmbedder(tmp_path / "missing.onnx").fit()
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a protobuf")
    with pytest.raises(ValueError, match="cannot load ONNX model"):
        CNNEmbedder(garbage).fit()


# ----------------------------------------------------------------------------------------
# real data (skipped when ../shared/data is absent)
# ----------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_real_faces_embed(dfdc_dir, head_embedder):
    paths = sorted((dfdc_dir / "faces_224").glob("*.jpg"))[:8]
    feats = head_embedder.transform([str(p) for p in paths])
    assert feats.shape == (8, 1280) and np.isfinite(feats).all()
    assert (feats >= 0).all() and (feats <= 6).all()  # ReLU6 before the pooling
    assert np.linalg.matrix_rank(feats) == 8


def test_flip_tta_is_mirror_invariant_and_differs_from_plain():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    mirror = np.ascontiguousarray(img[:, ::-1])
    tta = CNNEmbedder(tta="flip", resize="none")
    a, b = tta.transform([img, mirror])
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    plain = CNNEmbedder(resize="none").transform([img, mirror])
    assert np.abs(plain[0] - plain[1]).max() > 1e-3
    np.testing.assert_allclose(a, 0.5 * (plain[0] + plain[1]), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="tta"):
        CNNEmbedder(tta="rotate").fit()


def test_default_is_mid_level_statistics_at_native_resolution():
    emb = CNNEmbedder()
    names = emb.get_feature_names_out().tolist()
    assert names[0] == "cnn_stem_mean_000" and names[-1] == "cnn_s6_std_191"
    assert len(names) == 2 * (32 + 16 + 24 + 40 + 80 + 112 + 192)
    rng = np.random.default_rng(0)
    small, odd = _rand_image(rng, 97, 131), _rand_image(rng, 224, 224)
    out = emb.transform([small, odd])
    assert out.shape == (2, len(names)) and np.isfinite(out).all()


# ----------------------------------------------------------------------------------------
# precision variants of the bundled backbone
# ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _tampered(monkeypatch, variant: str, cached):
    """The card with a wrong sha256 for ``variants[variant]``; ``cached`` re-checks files."""
    cached.cache_clear()
    card = backbone_card()
    card["variants"][variant]["sha256"] = "0" * 64
    with monkeypatch.context() as m:
        m.setattr(_backbone, "backbone_card", lambda name=_backbone.DEFAULT_BACKBONE: card)
        try:
            yield
        finally:
            cached.cache_clear()


def test_int8_variant_is_hash_checked_and_close_to_fp32(jpeg_dir, monkeypatch):
    paths, _ = jpeg_dir
    fp32 = CNNEmbedder(n_threads=1).fit().transform(paths)
    int8 = CNNEmbedder(precision="int8", n_threads=1).fit().transform(paths)
    assert int8.shape == fp32.shape and np.isfinite(int8).all()
    assert not np.array_equal(int8, fp32)  # really the quantised graph
    # the same features, up to quantisation noise (per-image correlation of the columns)
    rows = [np.corrcoef(a, b)[0, 1] for a, b in zip(fp32, int8)]
    assert min(rows) > 0.9, rows
    # a tampered int8 file is refused like the fp32 one
    with _tampered(monkeypatch, "int8", _backbone._verified_backbone):
        with pytest.raises(RuntimeError, match="corrupted"):
            CNNEmbedder(precision="int8").fit()
        CNNEmbedder().fit()  # the fp32 file is checked against its own hash


def test_precision_is_validated_and_part_of_the_settings(tmp_path):
    from deepfeat import ImageFeatures
    from deepfeat.features._cache import settings_digest

    with pytest.raises(ValueError, match="precision"):
        CNNEmbedder(precision="fp8").fit()
    with pytest.raises(ValueError, match="bundled backbone only"):
        CNNEmbedder(model=backbone_path(), precision="int8").fit()
    a = ImageFeatures(groups=("cnn",)).fit()
    b = ImageFeatures(groups=("cnn",), cnn=CNNEmbedder(precision="int8")).fit()
    assert settings_digest(a) != settings_digest(b)  # never served from the other's cache


# ----------------------------------------------------------------------------------------
# the trimmed graph (scripts/backbone/trim.py)
# ----------------------------------------------------------------------------------------
def test_trimmed_graph_runs_for_mid_layers_and_gives_the_full_graphs_features(jpeg_dir):
    from deepfeat.features import _cnn

    paths, _ = jpeg_dir
    card = backbone_card()["variants"]["mid"]
    emb = CNNEmbedder(n_threads=1).fit()
    assert Path(emb._run_path()).name == card["file"] == "efficientnet_lite0_mid.onnx"
    assert Path(emb._model_path()).name == "efficientnet_lite0.onnx"  # the features' identity
    # any selection inside stem … s6 runs the trimmed file; s7 or the head need the full one
    assert Path(CNNEmbedder(layers=["s2", "s5"])._run_path()).name == card["file"]
    for layers in ("head", "stats", "all", ["s1", "s7"]):
        assert Path(CNNEmbedder(layers=layers)._run_path()).name == "efficientnet_lite0.onnx"
    assert Path(CNNEmbedder(precision="int8")._run_path()).name == "efficientnet_lite0_int8.onnx"
    trimmed = emb.transform(paths)
    full = CNNEmbedder(n_threads=1).fit()
    full._run_path = full._model_path  # force the full graph
    np.testing.assert_array_equal(trimmed, full.transform(paths))
    assert Path(full._get_session()._model_path).name == "efficientnet_lite0.onnx"
    assert Path(emb._get_session()._model_path).name == card["file"]
    # fewer nodes to run, the same weights for the nodes it keeps
    m_full = onnx.load(backbone_path())
    m_mid = onnx.load(backbone_path().with_name(card["file"]))
    assert len(m_mid.graph.node) == card["nodes"] < len(m_full.graph.node) == card["nodes_full"]
    assert [o.name for o in m_mid.graph.output] == card["outputs"]
    weights = {t.name: t.raw_data for t in m_full.graph.initializer}
    assert all(weights[t.name] == t.raw_data for t in m_mid.graph.initializer)
    assert _cnn._run_file is _backbone._run_file


def test_trimmed_graph_is_hash_checked_and_keeps_cache_keys(monkeypatch):
    from deepfeat import ImageFeatures
    from deepfeat.features._cache import model_sha256, settings_digest

    emb = CNNEmbedder().fit()
    assert model_sha256(emb) == backbone_card()["sha256"]  # the full file names the features
    digest = settings_digest(ImageFeatures().fit())
    with _tampered(monkeypatch, "mid", _backbone._run_file):
        with pytest.raises(RuntimeError, match="corrupted"):
            CNNEmbedder().fit().transform([np.zeros((64, 64, 3), np.uint8)])
        CNNEmbedder(layers="head").fit()  # the full file is checked against its own hash
    assert settings_digest(ImageFeatures().fit()) == digest
