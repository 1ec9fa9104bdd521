"""The synthesis verbs: visualize, dream, invert (exact lines, files, exit codes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from convlens.cli.main import main


def _image_info(path):
    with Image.open(path) as im:
        return im.size, getattr(im, "n_frames", 1)


def _write_photo(path, h=40, w=56):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _bands(path):
    """Rows of the figure that hold dark text pixels: (title band, caption band under tile 0)."""
    with Image.open(path) as im:
        a = np.asarray(im.convert("L"))
    return a


def test_visualize_writes_a_labelled_grid_and_a_sidecar_that_loads_back(
    digits_lenet_run, tmp_path, capsys
):
    args = [
        "visualize",
        str(digits_lenet_run.path),
        "--layer",
        "conv1",
        "--units",
        "0-3",
        "--steps",
        "4",
        "--reference",
        "100",
        "--out",
        str(tmp_path / "a"),
    ]
    code = main(args)
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    png, sidecar = tmp_path / "a" / "visualize_conv1.png", tmp_path / "a" / "visualize_conv1.json"
    record = json.loads(sidecar.read_text())
    figures = record["figures"]
    above = round(figures["fraction_above_data"] * 4)
    assert out == [
        f"wrote {png} (4 images, 1x28x28) and visualize_conv1.json",
        f"quality: {above}/4 images drive their unit above its maximum on 100 data images "
        f"(median ratio {figures['median_ratio']:.2f})",
    ]
    assert record["spec"]["steps"] == 4 and record["spec"]["size"] == [28, 28]
    assert record["target"] == {
        "layer": "conv1",
        "kind": "channel",
        "units": [0, 1, 2, 3],
        "position": None,
    }
    assert record["labels"] == ["conv1 ch 0", "conv1 ch 1", "conv1 ch 2", "conv1 ch 3"]
    assert record["title"] == "visualize conv1: channel per image, fourier, 4 steps"
    assert len(figures["reached"]) == len(figures["ratio"]) == 4
    # the figure: a title band with text on top, and a caption band under each 64 px tile
    grey = _bands(png)
    assert grey.shape[1] > 4 * 64
    assert grey[:14].min() < 128  # title text
    assert grey[14 + 2 + 64 : 14 + 2 + 64 + 14].min() < 128  # caption under the first row
    # the sidecar's spec loads back, and running from it draws the very same images
    from convlens.synthesize import load_spec

    spec = load_spec(sidecar)
    assert spec.to_dict() == record["spec"]
    again = [
        "visualize",
        str(digits_lenet_run.path),
        "--layer",
        "conv1",
        "--units",
        "0-3",
        "--reference",
        "100",
        "--spec",
        str(sidecar),
        "--out",
        str(tmp_path / "b"),
    ]
    assert main(again) == 0
    capsys.readouterr()
    assert (tmp_path / "b" / "visualize_conv1.png").read_bytes() == png.read_bytes()
    second = json.loads((tmp_path / "b" / "visualize_conv1.json").read_text())
    assert second["spec"] == record["spec"] and second["figures"] == record["figures"]
    # a flag given with --spec changes that field only
    assert main([*again[:-1], str(tmp_path / "c"), "--steps", "2"]) == 0
    capsys.readouterr()
    third = json.loads((tmp_path / "c" / "visualize_conv1.json").read_text())
    assert third["spec"] == dict(record["spec"], steps=2)


def test_visualize_maco_writes_the_transparency_figure(digits_lenet_run, tmp_path, capsys):
    code = main(
        [
            "visualize",
            str(digits_lenet_run.path),
            "--kind",
            "class",
            "--units",
            "3,7",
            "--param",
            "maco",
            "--maco-spectrum",
            "natural",
            "--tv",
            "0.01",
            "--steps",
            "3",
            "--reference",
            "0",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    t_png = tmp_path / "visualize_output_class_transparency.png"
    assert out[-1] == (
        f"wrote {t_png} (each image with its transparency map as opacity) and "
        "visualize_output_class_transparency.json"
    )
    record = json.loads(t_png.with_suffix(".json").read_text())
    assert record["shows"] == "transparency" and record["spec"]["param"] == "maco"
    assert record["spec"]["spectrum"] == "natural"
    assert record["spec"]["penalty"]["tv"] == 0.01 and record["spec"]["lr"] == 0.2
    assert record["labels"] == ["class 3: 3", "class 7: 7"]
    assert out[1] == "quality: no data given, so no ratio to real images (pass --data)"


def test_visualize_bad_input(digits_lenet_run, tmp_path, capsys):
    run = str(digits_lenet_run.path)
    assert (
        main(["visualize", run, "--layer", "conv2", "--units", "50", "--out", str(tmp_path)]) == 2
    )
    assert capsys.readouterr().err == (
        "error: unit 50 is out of range for layer 'conv2' with 50 channels: expected 0..49\n"
    )
    assert main(["visualize", run, "--layer", "nope", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown layer 'nope'") and err.count("\n") == 1
    assert main(["visualize", run, "--layer", "conv2", "--size", "6", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: an image of shape (1, 6, 6) (C, H, W) does not fit the model")


def test_dream_on_a_photo_and_zoom_frames(tmp_path, capsys):
    photo = _write_photo(tmp_path / "photo.png")
    args = [
        "dream",
        "--model",
        "smallvgg",
        "--image",
        str(photo),
        "--layers",
        "features.conv1_2",
        "--octaves",
        "2",
        "--steps",
        "2",
        "--tile",
        "32",
        "--out",
        str(tmp_path / "a"),
    ]
    assert main(args) == 0
    record = json.loads((tmp_path / "a" / "dream.json").read_text())
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"wrote {tmp_path / 'a' / 'dream.png'} and dream.json "
        f"(change {record['figures']['change']:.4f})"
    ]
    size = _image_info(tmp_path / "a" / "dream.png")[0]
    assert size[1] == 14 + 40 + 14 + 4  # title band, photo, caption band, grid padding
    assert record["dream"]["octaves"] == 2 and record["figures"]["seconds"] > 0
    assert record["spec"]["steps"] == 2 and record["spec"]["transforms"] == "roll(32)"
    assert record["labels"] == ["features.conv1_2"]
    from convlens.synthesize import Dream, load_spec

    assert load_spec(tmp_path / "a" / "dream.png").steps == 2
    assert Dream.from_dict(record["dream"]) == Dream(octaves=2, tile=32)
    args[-1] = str(tmp_path / "z")
    assert main([*args, "--zoom", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[-1]
        == f"wrote 3 frames to {tmp_path / 'z' / 'dream_frames'} and {tmp_path / 'z' / 'dream.gif'}"
    )
    assert sorted(p.name for p in (tmp_path / "z" / "dream_frames").iterdir()) == [
        "frame_0000.json",
        "frame_0000.png",
        "frame_0001.json",
        "frame_0001.png",
        "frame_0002.json",
        "frame_0002.png",
    ]
    frame = json.loads((tmp_path / "z" / "dream_frames" / "frame_0002.json").read_text())
    assert frame["params"]["frame"] == 2 and frame["spec"]["seed"] == 2
    assert _image_info(tmp_path / "z" / "dream.gif")[1] == 3


def test_dream_bad_photos(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    base = ["dream", "--model", "smallvgg", "--layers", "features.conv1_1"]
    assert main([*base, "--image", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"error: image {str(bad)!r} cannot be read (")
    photo = _write_photo(tmp_path / "big.png")
    assert main([*base, "--image", str(photo), "--max-pixels", "1000"]) == 2
    assert capsys.readouterr().err == (
        f"error: image {str(photo)!r} is too large (56 x 40 = 2240 pixels, limit 1000); "
        "pass a smaller image or raise max_pixels / use tiles\n"
    )
    assert main(["dream", "--model", "smallvgg", "--image", str(photo)]) == 2
    assert capsys.readouterr().err == (
        "error: give --layers NAME[,NAME...]; list layers with `convlens layers`\n"
    )


@pytest.mark.slow
def test_dream_class_from_noise(digits_lenet_run, tmp_path, capsys):
    code = main(
        [
            "dream",
            str(digits_lenet_run.path),
            "--class",
            "3",
            "--steps",
            "10",
            "--octaves",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    record = json.loads((tmp_path / "dream_class_3.json").read_text())
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"class 3: probability {record['params']['probability']:.3f}"


@pytest.mark.slow
def test_invert_all_layers_draws_a_strip(digits_lenet_run, tmp_path, capsys):
    code = main(
        [
            "invert",
            str(digits_lenet_run.path),
            "--all-layers",
            "--index",
            "5",
            "--steps",
            "30",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    record = json.loads((tmp_path / "invert_all_layers.json").read_text())
    layers = record["target"]["layer"]
    assert layers == ["conv1", "pool1", "conv2", "pool2", "relu1", "fc2"]  # the default layers
    assert record["labels"] == ["original", *layers]
    assert record["spec"]["steps"] == 30 and record["spec"]["optimiser"] == "sgd"
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"wrote {tmp_path / 'invert_all_layers.png'} and invert_all_layers.json"
    first = record["figures"]["conv1"]
    assert out[1] == (
        f"conv1: error {first['errors'][0]:.4f}, image error {first['image_error'][0]:.4f}, "
        f"correlation {first['correlation'][0]:.3f}"
    )
    assert len(out) == 1 + len(layers)
    width = _image_info(tmp_path / "invert_all_layers.png")[0][0]
    assert width > (1 + len(layers)) * 64
    grey = _bands(tmp_path / "invert_all_layers.png")
    assert grey[14 + 2 + 64 : 14 + 2 + 64 + 14].min() < 128  # each image captioned


def test_invert_bad_input(digits_lenet_run, tmp_path, capsys):
    run = str(digits_lenet_run.path)
    assert main(["invert", run]) == 2
    assert capsys.readouterr().err == (
        "error: give --layer NAME or --all-layers; list layers with `convlens layers`\n"
    )
    assert main(["invert", run, "--layer", "conv1", "--index", "5000"]) == 2
    assert capsys.readouterr().err == (
        "error: --index 5000 is out of range: the data has 1797 images (0..1796); "
        "pick one of them\n"
    )
    missing = tmp_path / "none.png"
    assert main(["invert", run, "--layer", "conv1", "--image", str(missing)]) == 2
    assert (
        capsys.readouterr().err == f"error: image {str(missing)!r} does not exist; check the path\n"
    )


def test_visualize_data_of_the_wrong_shape_is_one_line(digits_lenet_run, tmp_path, capsys):
    rgb = tmp_path / "rgb.npz"
    np.savez(rgb, x=np.zeros((4, 32, 32, 3), np.uint8), y=np.arange(4))
    code = main(
        [
            "visualize",
            str(digits_lenet_run.path),
            "--layer",
            "conv1",
            "--units",
            "0",
            "--steps",
            "2",
            "--data",
            str(rgb),
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: data {str(rgb)!r} has images of shape (3, 32, 32) (C, H, W)")
    assert "but the model expects (1, 28, 28)" in err[0]


@pytest.mark.parametrize(
    ("argv", "flag", "why"),
    [
        (["visualize", "--model", "lenet", "--steps", "-5"], "--steps", "-5 is below 1"),
        (["visualize", "--model", "lenet", "--steps", "0"], "--steps", "0 is below 1"),
        (["visualize", "--model", "lenet", "--steps", "2.5"], "--steps", "'2.5' is not a whole"),
        (["visualize", "--model", "lenet", "--lr", "nan"], "--lr", "nan is out of range"),
        (["visualize", "--model", "lenet", "--lr", "-1"], "--lr", "-1 is out of range"),
        (["visualize", "--model", "lenet", "--lr", "0"], "--lr", "0 is out of range"),
        (["visualize", "--model", "lenet", "--size", "0"], "--size", "0 is below 1"),
        (["visualize", "--model", "lenet", "--seed", "-1"], "--seed", "-1 is below 0"),
        (["visualize", "--model", "lenet", "--tv", "-0.1"], "--tv", "-0.1 is out of range"),
        (["visualize", "--model", "lenet", "--l2", "inf"], "--l2", "inf is out of range"),
        (["visualize", "--model", "lenet", "--blur-every", "-1"], "--blur-every", "-1 is below"),
        (["visualize", "--model", "lenet", "--images-per-unit", "0"], "--images-per-unit", "0 is"),
        (["visualize", "--model", "lenet", "--diversity", "-1"], "--diversity", "-1 is out"),
        (["visualize", "--model", "lenet", "--reference", "-1"], "--reference", "-1 is below 0"),
        (["visualize", "--model", "lenet", "--chunk", "0"], "--chunk", "0 is below 1"),
        (["invert", "--model", "lenet", "--steps", "0"], "--steps", "0 is below 1"),
        (["invert", "--model", "lenet", "--samples", "0"], "--samples", "0 is below 1"),
        (["invert", "--model", "lenet", "--index", "-1"], "--index", "-1 is below 0"),
        (["invert", "--model", "lenet", "--lr", "-0.5"], "--lr", "-0.5 is out of range"),
        (["invert", "--model", "lenet", "--alpha", "0"], "--alpha", "0 is out of range"),
        (["invert", "--model", "lenet", "--lambda-tv", "-1"], "--lambda-tv", "-1 is out"),
        (["dream", "--model", "smallvgg", "--tile", "0"], "--tile", "0 is below 1"),
        (["dream", "--model", "smallvgg", "--octaves", "0"], "--octaves", "0 is below 1"),
        (["dream", "--model", "smallvgg", "--octave-scale", "0.5"], "--octave-scale", "0.5 is"),
        (["dream", "--model", "smallvgg", "--steps", "-2"], "--steps", "-2 is below 1"),
        (["dream", "--model", "smallvgg", "--step-size", "0"], "--step-size", "0 is out"),
        (["dream", "--model", "smallvgg", "--jitter", "-3"], "--jitter", "-3 is below 0"),
        (["dream", "--model", "smallvgg", "--zoom", "-1"], "--zoom", "-1 is below 0"),
        (["dream", "--model", "smallvgg", "--zoom-factor", "0.9"], "--zoom-factor", "0.9 is"),
        (["dream", "--model", "smallvgg", "--max-pixels", "0"], "--max-pixels", "0 is below 1"),
        (["dream", "--model", "smallvgg", "--prior", "-1"], "--prior", "-1 is out of range"),
        (["dream", "--model", "smallvgg", "--class", "-1"], "--class", "-1 is below 0"),
    ],
)
def test_every_numeric_flag_is_checked_in_one_line(argv, flag, why, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: convlens {argv[0]}: argument {flag}: {why}")
    assert not (tmp_path / "out").exists()  # nothing written


def test_flags_that_do_not_combine_are_one_line(digits_lenet_run, tmp_path, capsys):
    run = str(digits_lenet_run.path)
    assert main(["invert", run, "--all-layers", "--samples", "3", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "error: --samples 3 with --all-layers: the strip draws one reconstruction per layer; "
        "give --layer NAME for several random starts\n"
    )
    assert main(["visualize", run, "--layer", "conv1", "--maco-spectrum", "natural"]) == 2
    assert capsys.readouterr().err == (
        "error: spectrum='natural' with param='fourier': a magnitude spectrum is used by "
        "param='maco' only; pass param='maco' or no spectrum\n"
    )
    assert main(["visualize", run, "--layer", "conv1", "--param", "maco", "--blur-every", "2"]) == 2
    assert capsys.readouterr().err.startswith("error: penalty.blur_every=2 with param='maco'")
    missing = tmp_path / "none.json"
    assert main(["visualize", run, "--layer", "conv1", "--spec", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"error: sidecar {str(missing)!r} does not exist; give the .json written beside a figure\n"
    )
    assert not list(tmp_path.iterdir())
