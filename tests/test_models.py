"""Architecture tests: exact parameter counts, torchvision equivalence, metaparameters, bypass."""

import pytest
import torch
import torchvision

from squeezenet import SqueezeNetSpec, create_model, list_models
from squeezenet.models import SQUEEZENET1_0, Fire, build_from_spec
from squeezenet.summary import count_macs, count_params


@pytest.mark.parametrize(
    "name, params",
    [
        ("squeezenet1_0", 1_248_424),
        ("squeezenet1_1", 1_235_496),
        ("alexnet", 61_100_840),
        ("squeezenet1_0_simple_bypass", 1_248_424),
    ],
)
def test_parameter_counts(name, params):
    assert count_params(create_model(name)) == params


def test_complex_bypass_adds_exactly_the_1x1_shortcuts():
    # fire2 96->128, fire4 128->256, fire6 256->384, fire8 384->512: weights + biases.
    extra = sum(i * o + o for i, o in [(96, 128), (128, 256), (256, 384), (384, 512)])
    assert count_params(create_model("squeezenet1_0_complex_bypass")) == 1_248_424 + extra


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_matches_torchvision_keys_shapes_and_outputs(name):
    reference = getattr(torchvision.models, name)().eval()
    ours = create_model(name).eval()
    ref_state = reference.state_dict()
    assert list(ours.state_dict()) == list(ref_state)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in ref_state.items()
    }
    ours.load_state_dict(ref_state, strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=0)


def test_v1_0_comes_from_the_paper_metaparameters():
    spec = create_model("squeezenet1_0").spec
    assert (spec.base_e, spec.incr_e, spec.pct3x3, spec.freq, spec.sr) == (128, 128, 0.5, 2, 0.125)
    widths = [(w.squeeze, w.expand1x1, w.expand3x3) for w in spec.fire_widths()]
    # Paper Table 1, fire2..fire9.
    assert widths == [
        (16, 64, 64),
        (16, 64, 64),
        (32, 128, 128),
        (32, 128, 128),
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        (64, 256, 256),
    ]


def test_arbitrary_metaparameters():
    model = create_model("squeezenet", sr=0.75, pct3x3=0.25)
    w = model.spec.fire_widths()[0]
    assert (w.squeeze, w.expand1x1, w.expand3x3) == (96, 96, 32)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_pct3x3_extremes_drop_a_branch():
    only1x1 = create_model("squeezenet", pct3x3=0.0)
    assert only1x1.features[3].expand3x3 is None
    assert only1x1(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
    only3x3 = create_model("squeezenet", pct3x3=1.0)
    assert only3x3.features[3].expand1x1 is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"sr": 0}, "sr"),
        ({"sr": -0.5}, "sr"),
        ({"pct3x3": 1.5}, "pct3x3"),
        ({"pct3x3": -0.1}, "pct3x3"),
        ({"pct3x3": 0.001}, "pct3x3=0.001 gives 0 expand3x3"),
        ({"pct3x3": 0.999}, "pct3x3=0.999 gives 0 expand1x1"),
        ({"sr": 0.001}, "sr=0.001 gives 0"),
        ({"base_e": 0}, "base_e"),
        ({"freq": 0}, "freq"),
        ({"bypass": "fancy"}, "bypass"),
    ],
)
def test_invalid_metaparameters_name_the_parameter(overrides, message):
    with pytest.raises(ValueError, match=message):
        create_model("squeezenet", **overrides)


@pytest.mark.parametrize("name, minimum", [("squeezenet1_0", 21), ("squeezenet1_1", 17)])
def test_minimum_input_size(name, minimum):
    model = create_model(name).eval()
    assert model.min_input_size == minimum
    with torch.no_grad():
        assert model(torch.randn(1, 3, minimum, minimum)).shape == (1, 1000)
        with pytest.raises(ValueError, match=f"smaller than this model's minimum {minimum}x"):
            model(torch.randn(1, 3, minimum - 1, minimum))


def test_simple_bypass_is_identity_around_fire_3_5_7_9():
    model = create_model("squeezenet1_0_simple_bypass")
    fires = [m for m in model.features if isinstance(m, Fire)]
    assert [f.bypass for f in fires] == ["none", "simple"] * 4
    fire3 = fires[1].eval()
    x = torch.randn(1, 128, 8, 8)
    plain = Fire(128, 16, 64, 64)
    plain.load_state_dict(fire3.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fire3(x), plain(x) + x)


def test_complex_bypass_puts_1x1_convs_where_widths_differ():
    model = create_model("squeezenet1_0_complex_bypass")
    fires = [m for m in model.features if isinstance(m, Fire)]
    assert [f.bypass for f in fires] == ["complex", "simple"] * 4
    assert fires[0].shortcut.kernel_size == (1, 1)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_caffe_conv10_padding_option():
    model = create_model("squeezenet1_0", conv10_padding=1)
    assert model.classifier[1].padding == (1, 1)
    assert model(torch.randn(1, 3, 227, 227)).shape == (1, 1000)


def test_num_classes_and_none_overrides():
    model = create_model("squeezenet1_1", num_classes=10, sr=None)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert create_model("alexnet", num_classes=7).classifier[-1].out_features == 7


def test_unknown_model_lists_the_available_ones():
    with pytest.raises(ValueError, match="unknown model 'squeezenet2'.*squeezenet1_1"):
        create_model("squeezenet2")


def test_spec_round_trips_through_dict():
    spec = SQUEEZENET1_0.replace(sr=0.25, bypass="complex")
    again = SqueezeNetSpec.from_dict(spec.to_dict())
    assert again == spec
    model = build_from_spec(spec.to_dict())
    reference = create_model("squeezenet1_0_complex_bypass", sr=0.25)
    assert count_params(model) == count_params(reference)
    with pytest.raises(ValueError, match="unknown SqueezeNetSpec fields: \\['colour'\\]"):
        SqueezeNetSpec.from_dict({**spec.to_dict(), "colour": 1})


def test_macs_match_torchvision_published_gflops():
    # torchvision lists 0.82 GFLOPS (1.0) and 0.35 (1.1) at 224x224, counting MACs.
    assert round(count_macs(create_model("squeezenet1_0"), 224) / 1e9, 2) == 0.82
    assert round(count_macs(create_model("squeezenet1_1"), 224) / 1e9, 2) == 0.35
    assert round(count_macs(create_model("alexnet"), 224) / 1e9, 2) == 0.71


def test_registry_lists_the_issue_models():
    assert {
        "squeezenet",
        "squeezenet1_0",
        "squeezenet1_1",
        "squeezenet1_0_simple_bypass",
        "squeezenet1_0_complex_bypass",
        "alexnet",
    } <= set(list_models())


def test_torchscript_and_trace_skip_the_python_size_check():
    model = create_model("squeezenet1_1").eval()
    scripted = torch.jit.script(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))
