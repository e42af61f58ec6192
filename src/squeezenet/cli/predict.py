"""``squeezenet predict``: top-k classes for each image."""

from __future__ import annotations

import json


def register(sub, formatter) -> None:
    from .common import add_model_args, add_preprocess_arg

    p = sub.add_parser(
        "predict", formatter_class=formatter,
        help="print the top classes with probabilities for each image",
        description="Classify images and print the top-k classes with their names and "
        "softmax probabilities. Any image PIL reads works; grayscale, CMYK and RGBA "
        "images are converted to RGB.",
    )
    add_model_args(p)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files to classify")
    add_preprocess_arg(p)
    p.add_argument("--classes", default=None, metavar="FILE",
                   help="class names, one per line ('<wnid> <names>' lines also work); "
                   "default: ImageNet-1k names for 1000-class models, else 'class N'")
    p.add_argument("--topk", "-k", type=int, default=5, help="how many classes to print")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    p.set_defaults(func=run)


def class_names(num_classes: int, path: str | None) -> list[str]:
    if path is not None:
        from ..data import read_class_list

        wnids, names = read_class_list(path)
        return names
    if num_classes == 1000:
        from torchvision.models import SqueezeNet1_1_Weights

        return list(SqueezeNet1_1_Weights.IMAGENET1K_V1.meta["categories"])
    return [f"class {i}" for i in range(num_classes)]


def run(args) -> int:
    import torch

    from ..data import load_image
    from .common import build_model, choose_preprocess

    model = build_model(args).eval()
    preprocess = choose_preprocess(args, model)
    results = []
    with torch.inference_mode():
        for path in args.images:
            x = preprocess(load_image(path))[None]
            probs = model(x).softmax(1)[0]
            names = class_names(len(probs), args.classes)
            k = min(args.topk, len(probs))
            top = probs.topk(k)
            results.append({"image": path, "top": [
                {"index": int(i), "name": names[int(i)], "prob": float(p)}
                for p, i in zip(top.values, top.indices)
            ]})
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    if args.weights is None:
        print("note: no --weights given; the model is randomly initialised")
    for r in results:
        print(r["image"])
        for t in r["top"]:
            print(f"  {t['prob']:7.2%}  {t['index']:4d}  {t['name']}")
    return 0
