"""The weights registry: one typed record per published set of weights (timm's ``arch.tag``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..settings import named


@dataclass(frozen=True)
class WeightsRecord:
    """Where a set of weights comes from and what it needs and achieves.

    ``metrics`` maps a dataset name to ``{"top1": %, "top5": %}``; ``sha256`` is the full
    hash or its prefix (torch hub convention). Every record can be obtained by a user: ``url``
    is a public download, or ``None`` when ``filename`` ships inside the package
    (``squeezenet/weights/files/``).
    """

    name: str
    model: str
    filename: str
    url: str | None  # None: packaged file (see packaged_path)
    sha256: str
    format: str  # "state_dict" | "deep_compression" | "sqz"
    preprocess: str  # a key of squeezenet.data.transforms.PRESETS
    input_size: int
    num_classes: int
    categories: str  # "imagenet-1k"
    num_params: int
    file_size: int | None  # bytes, where known exactly
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    model_kwargs: dict = field(default_factory=dict)
    license: str = ""
    notes: str = ""

    def packaged_path(self) -> Path | None:
        """The file shipped inside the package, for records without a download URL."""
        if self.url is not None:
            return None
        return Path(__file__).parent / "files" / self.filename


_RECORDS: dict[str, WeightsRecord] = {}


def register_weights(record: WeightsRecord) -> WeightsRecord:
    if record.name in _RECORDS:
        raise ValueError(f"weights {record.name!r} are already registered")
    _RECORDS[record.name] = record
    return record


def get_weights_record(name: str) -> WeightsRecord:
    return named(
        _RECORDS,
        name,
        lambda: f"unknown weights {name!r}; registered: {', '.join(sorted(_RECORDS))}",
    )


def list_weights(model: str | None = None) -> list[str]:
    return sorted(n for n, r in _RECORDS.items() if model is None or r.model == model)


# Published torchvision weights (ImageNet-1k val metrics as torchvision reports them).
register_weights(
    WeightsRecord(
        name="squeezenet1_0.tv_in1k",
        model="squeezenet1_0",
        filename="squeezenet1_0-b66bff10.pth",
        url="https://download.pytorch.org/models/squeezenet1_0-b66bff10.pth",
        sha256="b66bff10",
        format="state_dict",
        preprocess="torchvision",
        input_size=224,
        num_classes=1000,
        categories="imagenet-1k",
        num_params=1_248_424,
        file_size=None,  # torchvision reports 4.778 MB
        metrics={"imagenet-1k": {"top1": 58.092, "top5": 80.420}},
        license="BSD-3-Clause",
    )
)
register_weights(
    WeightsRecord(
        name="squeezenet1_1.tv_in1k",
        model="squeezenet1_1",
        filename="squeezenet1_1-b8a52dc0.pth",
        url="https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
        sha256="b8a52dc0",
        format="state_dict",
        preprocess="torchvision",
        input_size=224,
        num_classes=1000,
        categories="imagenet-1k",
        num_params=1_235_496,
        file_size=None,  # torchvision reports 4.729 MB
        metrics={"imagenet-1k": {"top1": 58.178, "top5": 80.624}},
        license="BSD-3-Clause",
    )
)
# The Deep Compression release (Han et al., ICLR 2016): 8-bit weight sharing + pruning to
# 33.4% density, trained in Caffe (BGR, mean-subtracted, 227 crops).
register_weights(
    WeightsRecord(
        name="squeezenet1_0.dc_in1k",
        model="squeezenet1_0",
        filename="compressed_SqueezeNet.net",
        url="https://github.com/songhan/SqueezeNet-Deep-Compression/raw/master/compressed_SqueezeNet.net",
        sha256="e4ab6960ae8cd81505e1c2136921201507e930966c53deaf15862a395b3a3261",
        format="deep_compression",
        preprocess="caffe",
        input_size=227,
        num_classes=1000,
        categories="imagenet-1k",
        num_params=1_248_424,
        file_size=675_763,
        metrics={"imagenet-sample-100": {"top1": 60.0, "top5": 82.0}},
        license="BSD (LICENCE file of the release)",
        notes="Caffe's network pads conv10 by 1; these metrics use torchvision's padding 0 "
        "(pass conv10_padding=1 for the Caffe-exact network).",
    )
)

# torchvision's SqueezeNet 1.1 (its fp16-rounded copy) through `squeezenet compress --preset
# adaround --max-bytes 470000 --seed 0`, calibrated on 1,024 unlabeled photos drawn from
# imagenet-sample-1000 and photos-unlabeled (all 1000 classes and others): Fisher-weighted
# uniform grids, AdaRound rounding toward the dense network's outputs, no pruning, float16
# biases (docs/results/compression.md). It ships inside the package, so it loads with no
# download.
register_weights(
    WeightsRecord(
        name="squeezenet1_1.dc_in1k",
        model="squeezenet1_1",
        filename="squeezenet1_1-dc_in1k.sqz",
        url=None,
        sha256="31b41aa09f7a6355bfeca28146e8cf6f29514f5b52d0a8468b0d99ca3806258b",
        format="sqz",
        preprocess="torchvision",
        input_size=224,
        num_classes=1000,
        categories="imagenet-1k",
        num_params=1_235_496,
        file_size=468_772,
        metrics={
            # 1000-way, exact decoding, fp32, paired with the dense fp16-rounded weights:
            # 781 photos of 223 classes (dense 57.23 / 78.49): the figure that decides
            "imagenet-dev": {"top1": 55.57, "top5": 76.82},
            # a check that it loads and runs as recorded, not a yardstick: these photos are
            # among its calibration photos (dense 63 / 89)
            "imagenet-sample-100": {"top1": 60.0, "top5": 86.0},
        },
        license="BSD-3-Clause (derived from torchvision's weights)",
        notes="Deep Compression of torchvision's weights to 0.47 MB; as a 1000-class "
        "classifier 1.7 points of top-1 below the dense model on 781 ImageNet photos of 223 "
        "classes (2.0 on average over three calibration seeds of its recipe).",
    )
)
