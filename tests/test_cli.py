"""The command line: help texts, outputs and one-line errors."""

import argparse
import dataclasses
import json
import re

import pytest
import torch
from PIL import Image

from helpers import write_tree
from squeezenet import create_model
from squeezenet.cli import COMMANDS, build_parser, main


def _subparser(name):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[name]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_explained(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for action in _subparser(command)._actions:
        if action.option_strings or action.dest != "help":
            assert action.help, f"{command}: {action.dest} has no help text"
        for flag in action.option_strings:
            assert flag in out


# One spelling per concept. Each canonical option lists the spellings earlier versions used
# and other names the same concept could be given by mistake.
VOCABULARY = {
    "--model": ("-m", {"--arch", "--net", "--architecture"}),
    "--weights": ("-w", {"--checkpoint", "--ckpt", "--pretrained"}),
    "--data": ("-d", {"--train-data", "--dataset", "--data-dir", "--images-dir"}),
    "--output": ("-o", {"--out", "--output-dir", "--out-dir", "--outdir", "--dest"}),
    "--batch-size": ("-b", {"--batch", "--bs"}),
    "--device": (None, {"--gpu", "--cuda"}),
    "--threads": (None, {"--num-threads", "--jobs"}),
    "--json": (None, {"--as-json", "--json-output"}),
    "--no-progress": (None, {"--quiet", "--no-bar"}),
    "--calibration": (None, {"--calib", "--calibration-data", "--calib-data"}),
    "--calibration-size": (None, {"--calib-images", "--calib-size", "--calibration-images"}),
    "--calibration-prefix": (None, {"--calib-prefix"}),
    "--prune-rounds": (None, {"--prune-steps", "--prune-iterations"}),
    "--distill-temperature": (None, {"--temperature", "--kd-temperature"}),
    "--image-size": (None, {"--input-size", "--crop", "--img-size", "--resolution"}),
    "--recipe": (None, {"--train-recipe"}),
    "--list-weights": (None, set()),
}


def _visible_options(command):
    """(option strings, action) of every option --help shows for ``command``."""
    return [
        (a.option_strings, a)
        for a in _subparser(command)._actions
        if a.option_strings and a.help != argparse.SUPPRESS
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_one_spelling_per_concept(command):
    synonyms = {alt: canon for canon, (_, alts) in VOCABULARY.items() for alt in alts}
    for flags, _ in _visible_options(command):
        for flag in flags:
            assert flag not in synonyms, f"{command}: {flag} is spelled {synonyms[flag]} elsewhere"
        for canon, (short, _) in VOCABULARY.items():
            if canon in flags and short is not None:
                assert short in flags, f"{command}: {canon} lacks its short form {short}"
            if short is not None and short in flags:
                assert canon in flags, f"{command}: {short} means {canon} everywhere else"
    if command != "summary":  # elsewhere -w/--weights takes a source; summary's is a switch
        assert "--list-weights" not in {f for flags, _ in _visible_options(command) for f in flags}


def test_options_agree_across_commands():
    # The same long option has the same short form everywhere (and no short form means two
    # long options).
    seen = {}
    for command in COMMANDS:
        for flags, _ in _visible_options(command):
            long = [f for f in flags if f.startswith("--")]
            for flag in long:
                shorts = sorted(f for f in flags if not f.startswith("--"))
                here = tuple(shorts)
                if flag in seen:
                    assert seen[flag][0] == here, f"{flag}: {seen[flag][1]} vs {command}"
                else:
                    seen[flag] = (here, command)
    devices = {
        c: a.default for c in COMMANDS for flags, a in _visible_options(c) if "--device" in flags
    }
    assert set(devices.values()) <= {"auto", None}, devices  # train: None = the config's "auto"
    for command in ("compress", "explore", "demo", "predict", "evaluate", "export", "bench"):
        flags = {f for fs, _ in _visible_options(command) for f in fs}
        assert "--json" in flags, f"{command} reports figures but has no --json"


@pytest.mark.parametrize(
    "command, old",
    [
        ("compress", "--calib"),
        ("compress", "--calib-images"),
        ("compress", "--train-data"),
        ("compress", "--temperature"),
        ("compress", "--prune-steps"),
        ("bench", "--batch"),
        ("bench", "--input-size"),
        ("predict", "--crop"),
        ("train", "--out"),
        ("summary", "--weights"),
    ],
)
def test_old_spellings_are_gone(command, old):
    # (argparse still takes an unambiguous prefix of an option: --out for --output.)
    assert old not in _subparser(command)._option_string_actions


def test_summary_json(capsys):
    assert main(["summary", "--json", "squeezenet1_0", "squeezenet1_1", "alexnet"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["squeezenet1_0"]["params"] == 1_248_424
    assert rows["squeezenet1_1"]["params"] == 1_235_496
    assert round(rows["squeezenet1_0"]["alexnet_size_ratio"]) == 49  # paper: "50x"
    assert abs(rows["squeezenet1_0"]["size_mib_fp32"] - 4.76) < 0.01  # paper: 4.8MB


def test_summary_table_golden(capsys):
    assert main(["summary", "squeezenet1_1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "params", "fp32", "MiB", "input", "MMACs", "vs", "AlexNet"]
    assert lines[2].split() == ["squeezenet1_1", "1,235,496", "4.71", "224", "349.2", "49.5x"]


def test_summary_lists_weights(capsys):
    assert main(["summary", "--list-weights", "--json"]) == 0
    names = {r["weights"] for r in json.loads(capsys.readouterr().out)}
    assert {"squeezenet1_1.tv_in1k", "squeezenet1_0.dc_in1k"} <= names


def test_predict_names_the_tench(capsys, imagenet_sample, tv11_fp16_weights):
    # 1000 outputs: the packaged ImageNet class list names the classes, no --classes needed.
    image = imagenet_sample / "n01440764_tench.JPEG"
    assert main(["predict", "-w", str(tv11_fp16_weights), "--json", str(image)]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert len(result["top"]) == 5
    assert result["top"][0]["name"] == "tench" and result["top"][0]["prob"] > 0.9


def test_predict_decodes_large_photos_at_reduced_size(
    tmp_path, capsys, monkeypatch, imagenet_sample, tv11_fp16_weights
):
    # A 4x enlarged photo: --decode fast (the default) asks the decoder for the preset's
    # resize side (256), --decode exact for the full image; both name the tench.
    from PIL import Image

    import squeezenet.data.images

    with Image.open(imagenet_sample / "n01440764_tench.JPEG") as im:
        large = im.convert("RGB").resize((im.width * 4, im.height * 4))
    image = tmp_path / "tench.jpg"
    large.save(image, quality=95)
    asked, real_load = [], squeezenet.data.images.load_image
    monkeypatch.setattr(
        squeezenet.data.images,
        "load_image",
        lambda p, s=None: asked.append(s) or real_load(p, s),
    )
    probs = {}
    for mode in ("fast", "exact"):
        argv = ["predict", "-w", str(tv11_fp16_weights), "--json", "--decode", mode]
        assert main(argv + [str(image)]) == 0
        top = json.loads(capsys.readouterr().out)[0]["top"][0]
        assert top["name"] == "tench"
        probs[mode] = top["prob"]
    assert asked == [256, None]
    assert abs(probs["fast"] - probs["exact"]) < 0.05


def test_evaluate_json_on_han_weights(capsys, imagenet_sample, imagenet_classes, han_net):
    code = main(
        [
            "evaluate",
            "-m",
            "squeezenet1_0",
            "-w",
            str(han_net),
            "--data",
            str(imagenet_sample),
            "--classes",
            str(imagenet_classes),
            "--json",
            "--workers",
            "0",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 100 and result["preprocess"] == "caffe"  # chosen from the .net file
    assert abs(result["top1"] - 0.60) <= 0.011 and abs(result["top5"] - 0.82) <= 0.011


def test_corrupt_image_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    assert main(["predict", "--strict", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f"squeezenet predict: error: {bad}: not a readable image "
        f"(cannot identify image file '{bad}')"
    )


def test_bad_weights_are_a_one_line_error(tmp_path, capsys):
    assert main(["predict", "-w", str(tmp_path / "none.pth"), str(tmp_path / "x.jpg")]) == 2
    assert "none.pth: no such file, URL or registered weights name" in capsys.readouterr().err


def test_predict_streams_a_folder_in_batches(tmp_path, capsys, imagenet_sample, tv11_fp16_weights):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    names = ["n01440764_tench.JPEG", "n01530575_brambling.JPEG", "n02007558_flamingo.JPEG"]
    for i, name in enumerate(names):
        target = folder / ("sub" if i == 2 else "") / name
        target.write_bytes((imagenet_sample / name).read_bytes())
    (folder / "notes.txt").write_text("not an image, skipped by extension")
    assert main(["predict", "-w", str(tv11_fp16_weights), "--json", "-b", "2", str(folder)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["image"].rsplit("/", 1)[-1] for r in results] == sorted(names[:2]) + [names[2]]
    assert [r["top"][0]["name"] for r in results] == ["tench", "brambling", "flamingo"]


def test_predict_empty_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty")]) == 2
    assert "empty: folder holds no images" in capsys.readouterr().err


def test_evaluate_a_flat_wnid_folder_needs_no_classes(capsys, imagenet_sample, tv11_fp16_weights):
    argv = ["evaluate", "-w", str(tv11_fp16_weights), "-d", str(imagenet_sample)]
    argv += ["--json", "--workers", "0", "--no-progress"]
    assert main([*argv, "--decode", "exact", "--precision", "fp32"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["correct1"], result["correct5"], result["n"]) == (63, 89, 100)
    assert (result["decode"], result["precision"]) == ("exact", "fp32")
    # The defaults compute in fp32 on every CPU and reproduce the exact top-1 and top-5
    # (reduced-size decoding touches only the 4 photos large enough for it).
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["correct1"], result["correct5"], result["n"]) == (63, 89, 100)
    assert (result["decode"], result["precision"]) == ("fast", "fp32")


def test_evaluate_help_explains_the_decode_and_precision_options(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--decode {fast,exact}" in text and "--precision {fp32,bf16,auto}" in text
    assert "reduced size" in text and "changes pixels slightly" in text
    assert "fp32 gives the exact scores" in text and "(default: fp32)" in text


def _flat_folder(tmp_path):
    from PIL import Image

    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("n01440764_a.png", "n01443537_b.png"):
        Image.new("RGB", (40, 40), (120, 30, 200)).save(flat / name)
    return flat


def test_evaluate_uses_the_packaged_classes_for_1000_outputs(tmp_path, capsys):
    flat = _flat_folder(tmp_path)
    argv = ["evaluate", "-d", str(flat), "--json", "--workers", "0", "--no-progress"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 2


def test_evaluate_without_classes_for_other_models(tmp_path, capsys):
    import torch

    from squeezenet import create_model

    weights = tmp_path / "ten.pth"
    torch.save(create_model("squeezenet1_1", num_classes=10).state_dict(), weights)
    argv = ["evaluate", "-w", str(weights), "-d", str(_flat_folder(tmp_path)), "--workers", "0"]
    assert main(argv) == 2
    assert "needs a class list (--classes)" in capsys.readouterr().err


def test_predict_prints_imagenet_names_and_honours_classes(tmp_path, capsys):
    from squeezenet.data import imagenet_class_list, short_name

    image = _flat_folder(tmp_path) / "n01440764_a.png"
    assert main(["predict", "--json", "-k", "3", str(image)]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    names = [short_name(n) for n in imagenet_class_list()[1]]
    assert [t["name"] for t in top] == [names[t["index"]] for t in top]
    classes = tmp_path / "classes.txt"
    classes.write_text("".join(f"n{i:08d} thing {i}, other name\n" for i in range(1000)))
    assert main(["predict", "--json", "-k", "3", "--classes", str(classes), str(image)]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    assert [t["name"] for t in top] == [f"thing {t['index']}" for t in top]
    classes.write_text("n1 one\nn2 two\n")
    assert main(["predict", "--classes", str(classes), str(image)]) == 2
    assert f"{classes}: lists 2 classes, the model has 1000" in capsys.readouterr().err


def test_model_args_rebuild_a_trained_variant_for_predict(tmp_path, capsys):
    import torch

    from squeezenet import create_model
    from squeezenet.data import load_image
    from squeezenet.data.transforms import get_preprocess

    # A wider SqueezeNet with bypasses, as configs/imagenette.yaml trains: its model.pth only
    # loads into the same architecture, and the bypasses (no weights) change every output.
    torch.manual_seed(0)
    variant = create_model("squeezenet1_1", num_classes=10, sr=0.25, bypass="simple").eval()
    weights = tmp_path / "wide.pth"
    torch.save(variant.state_dict(), weights)
    image = _flat_folder(tmp_path) / "n01440764_a.png"
    classes = tmp_path / "classes.txt"
    classes.write_text("".join(f"c{i} class {i}\n" for i in range(10)))
    argv = ["predict", "--json", "-k", "3", "-w", str(weights), "--classes", str(classes)]

    assert main([*argv, str(image)]) == 2  # built as plain squeezenet1_1: shapes differ
    assert str(weights) in capsys.readouterr().err

    wide = ["--model-arg", "sr=0.25", "--model-arg", "bypass=simple"]
    assert main([*argv, *wide, str(image)]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    with torch.no_grad():
        expected = variant(get_preprocess("torchvision")(load_image(image))[None]).softmax(1)[0]
    assert [t["index"] for t in top] == expected.topk(3).indices.tolist()
    assert [t["prob"] for t in top] == pytest.approx(expected.topk(3).values.tolist(), abs=1e-5)

    with pytest.raises(SystemExit) as e:
        main([*argv, "--model-arg", "sr", str(image)])
    assert e.value.code == 2
    assert "argument --model-arg: expects KEY=VALUE, got 'sr'" in capsys.readouterr().err


def _parsers(parser, path=()):
    """(command path, parser) for ``parser`` and every sub-command under it, nested ones too."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _config_defaults(command):
    """What the library uses for each setting flag of ``command`` that is left out (these
    flags default to None = "not given"): its config field's default; None for a field whose
    default is computed."""
    from squeezenet.compress.pipeline import CompressConfig
    from squeezenet.compress.weights_file import FineTuneData
    from squeezenet.train.config import TrainConfig

    configs = {"train": (TrainConfig,), "compress": (CompressConfig, FineTuneData)}
    return {
        f.name: None if f.default is dataclasses.MISSING else f.default
        for c in configs.get(command, ())
        for f in dataclasses.fields(c)
    }


def _presets(command):
    """(flag naming a preset, fields the presets set) for ``command``."""
    from squeezenet.compress.presets import COMPRESS_PRESETS
    from squeezenet.train.recipes import RECIPES

    presets = {"train": ("--recipe", RECIPES), "compress": ("--preset", COMPRESS_PRESETS)}
    flag, named = presets.get(command, ("", {}))
    return flag, {k for values in named.values() for k in values}


# Options whose help the rule below does not check (yet).
DEFAULT_EXCEPTIONS: set[tuple[str, str]] = set()


def _shown(value):
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


@pytest.mark.parametrize(
    "path", [p for p, _ in _parsers(build_parser())], ids=lambda p: " ".join(("squeezenet", *p))
)
def test_help_states_the_default_used(path):
    """The rule: every option --help lists says what applies when it is left out, once.
    A real default (the argparse default, or for a flag that defaults to None = "not given"
    the config field's default the library then uses) is stated as "default: VALUE" (on/off
    for booleans); an option without one says "default: ..." in words or what happens
    "without it"/"without them". Required options and on/off switches (--json) need
    neither; a switch shows no "(default: False)"."""
    parser = dict(_parsers(build_parser()))[path]
    command = path[0] if path else ""
    formatter = parser._get_formatter()
    config = _config_defaults(command)
    preset_flag, preset_set = _presets(command)
    problems = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(
            action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
        ):
            continue
        name = action.option_strings[-1] if action.option_strings else action.dest
        shown = " ".join(formatter._expand_help(action).split())
        where = f"{name}: {shown!r}"
        if "(default: None)" in shown or shown.count("default") > 1:
            problems.append(f"{where} states its default more than once, or as None")
        if action.dest in preset_set and preset_flag not in shown:
            problems.append(f"{where} does not say that a {preset_flag} may set it")
        if (command, name) in DEFAULT_EXCEPTIONS:
            continue
        switch = action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction)
        if switch:
            if f"(default: {action.default})" in shown:
                problems.append(f"{where}: a switch is off unless given")
            continue
        if action.required and action.nargs not in ("?", "*"):
            continue
        value = action.default if action.default is not None else config.get(action.dest)
        if value is None or value == "":
            if not re.search(r"\bdefault\b|\bwithout (it|them)\b", shown):
                problems.append(f"{where} does not say what happens without it")
        elif not re.search(
            rf"(?<![\w.]){re.escape(_shown(value))}(?!\w|\.\d)", shown.partition("default")[2]
        ):
            problems.append(f"{where} does not state its default {_shown(value)!r}")
    assert not problems, "\n".join(problems)
    if path == ("train",):  # the dataclass's defaults, and what changes them
        text = " ".join(parser.format_help().split())
        assert "number of epochs (default: 30; 15 when fine-tuning a photo folder from " in text
        assert "default: the --recipe's, else 0.1, or 0.001 when fine-tuning from --weights" in text


def test_top_level_help_lists_each_command_beside_its_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    lines = capsys.readouterr().out.splitlines()
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub._get_subactions()}
    for command in COMMANDS:
        line = next(x for x in lines if x.split()[:1] == [command])
        assert helps[command].split()[0] in line, line  # not wrapped onto the next line
    assert "`squeezenet COMMAND --help` lists its options" in " ".join(lines)


def test_library_setting_errors_name_the_flags(tmp_path, capsys, tv11_fp16_weights):
    argv = ["compress", "-w", str(tv11_fp16_weights), "-o", str(tmp_path / "x.sqz")]
    assert main([*argv, "--calibration", "a", "--data", "b"]) == 2
    err = capsys.readouterr().err
    assert "error: give --calibration (distillation) or --data (labels), not both" in err
    assert main(["train", "--optimizer", "adam", "-d", "x"]) == 2
    assert (
        "error: --optimizer must be one of ('sgd', 'adamw'), got 'adam'" in capsys.readouterr().err
    )


def test_evaluate_shows_top5_only_for_more_than_five_classes(tmp_path, capsys):
    root = write_tree(
        tmp_path / "two", classes=["cat", "dog"], size=40, per_class=(2,), splits=("val",)
    )
    weights = tmp_path / "two.pth"
    torch.save(create_model("squeezenet1_1", num_classes=2).state_dict(), weights)
    argv = [
        "evaluate",
        "-w",
        str(weights),
        "-d",
        str(root / "val"),
        "--workers",
        "0",
        "--no-progress",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "top-5" not in out
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_classes"] == 2


def test_predict_lists_at_most_the_models_classes(tmp_path, capsys):
    weights = tmp_path / "two.pth"
    torch.save(create_model("squeezenet1_1", num_classes=2).state_dict(), weights)
    image = tmp_path / "a.png"
    Image.new("RGB", (40, 40), (10, 200, 30)).save(image)
    assert main(["predict", "-w", str(weights), "--json", str(image)]) == 0
    assert len(json.loads(capsys.readouterr().out)[0]["top"]) == 2


def test_help_version_and_usage_errors_do_not_import_torch():
    # `squeezenet --help`, `--version` and a mistyped command answer at once: building the
    # top-level parser imports no PyTorch (it takes seconds to load), and so `--version`
    # works where only the wheel is installed (tests/test_package.py).
    import subprocess
    import sys

    from squeezenet import __version__

    script = (
        "import sys\n"
        "from squeezenet.cli import build_parser, main\n"
        "build_parser([])\n"
        "for argv in (['--help'], ['--version'], ['nosuch'], []):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
    assert f"squeezenet {__version__}" in done.stdout
    assert "`squeezenet COMMAND --help` lists its options" in done.stdout
    assert "invalid choice: 'nosuch'" in done.stderr
    assert "the following arguments are required: COMMAND" in done.stderr


def test_shared_options_are_offered_alike():
    # Users move between commands: the progress switch has both spellings everywhere, and
    # predict takes evaluate's decoding and arithmetic options.
    for command in COMMANDS:
        flags = {f for fs, _ in _visible_options(command) for f in fs}
        if "--no-progress" in flags or "--progress" in flags:
            assert {"--progress", "--no-progress"} <= flags, command
    predict = {f for fs, _ in _visible_options("predict") for f in fs}
    assert {"--workers", "--precision"} <= predict


def test_predict_gives_the_same_results_with_workers_and_bf16_runs(tmp_path, capsys):
    from PIL import Image

    paths = []
    for i in range(5):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (50, 40), (50 * i, 100, 30)).save(paths[-1])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    paths.insert(2, str(tmp_path / "bad.png"))
    from helpers import save_described, tiny_model

    weights = str(save_described(tiny_model(3), tmp_path / "m.pth"))
    base = ["predict", "-w", weights, "--json", "-k", "2", "-b", "2", *paths]
    assert main([*base, "--workers", "0"]) == 1
    alone = json.loads(capsys.readouterr().out)
    assert main([*base, "--workers", "1"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == alone and [r["image"] for r in alone] == paths[:2] + paths[3:]
    assert f"skipped {tmp_path / 'bad.png'}: not a readable image" in err
    assert main([*base, "--precision", "bf16"]) == 1
    assert [r["image"] for r in json.loads(capsys.readouterr().out)] == [r["image"] for r in alone]


def test_defaults_that_differ_between_commands_say_why():
    def help_of(command, flag):
        return next(a.help for fs, a in _visible_options(command) if flag in fs)

    assert "train's 4.0" in help_of("compress", "--distill-temperature")
    assert "compress's 2.0" in help_of("train", "--distill-temperature")
    assert "more than the 200 that INT8" in help_of("compress", "--calibration-size")
    for command in ("export", "bench", "predict", "evaluate"):
        assert "draws 512" in help_of(command, "--calibration-size"), command
