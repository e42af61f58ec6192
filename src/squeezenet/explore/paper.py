"""Numbers the SqueezeNet paper publishes (ImageNet, Caffe), to print beside ours.

Only figures stated in the paper's text and tables are here; Figure 3's intermediate points are
plotted in the paper without numbers, so only the stated anchors are listed.
"""

from __future__ import annotations

# Table 2: model, compression approach, data type, size (MB), reduction vs AlexNet, top-1, top-5.
TABLE2 = [
    ("AlexNet", "None (baseline)", "32 bit", 240.0, 1, 57.2, 80.3),
    ("AlexNet", "SVD", "32 bit", 48.0, 5, 56.0, 79.4),
    ("AlexNet", "Network Pruning", "32 bit", 27.0, 9, 57.2, 80.3),
    ("AlexNet", "Deep Compression", "5-8 bit", 6.9, 35, 57.2, 80.3),
    ("SqueezeNet", "None", "32 bit", 4.8, 50, 57.5, 80.3),
    ("SqueezeNet", "Deep Compression", "8 bit", 0.66, 363, 57.5, 80.3),
    ("SqueezeNet", "Deep Compression", "6 bit", 0.47, 510, 57.5, 80.3),
]

# Table 3: bypass variant -> (size MB, top-1, top-5).
TABLE3 = {
    "none": (4.8, 57.5, 80.3),
    "simple": (4.8, 60.4, 82.5),
    "complex": (7.7, 58.8, 82.0),
}

# Section 5.2 / Figure 3a: top-5 at SR = 0.125 (4.8 MB) and the plateau from SR = 0.75 (19 MB).
SR_ANCHORS = {0.125: 80.3, 0.75: 86.0}
SR_PLATEAU = 0.75
# Section 5.3 / Figure 3b (SR = 0.5): top-5 plateaus at 85.6% from pct3x3 = 0.5.
PCT3X3_ANCHORS = {0.5: 85.6}
PCT3X3_PLATEAU = 0.5
# The paper's bypass ranking (Table 3): simple > complex > vanilla.
BYPASS_ORDER = ("simple", "complex", "none")

# Table 1's pruning profile (density per layer, v1.0 state_dict prefixes) as the Deep
# Compression release realises it; the paper quantises every layer to 6 bits in Table 1.
TABLE1_DENSITY = {
    "features.0": 1.0,
    "features.3": (1.0, 1.0, 0.33),
    "features.4": (1.0, 1.0, 0.33),
    "features.5": (1.0, 1.0, 0.33),
    "features.7": (1.0, 1.0, 0.33),
    "features.8": (1.0, 0.5, 0.33),
    "features.9": (0.5, 1.0, 0.33),
    "features.10": (1.0, 0.5, 0.3),
    "features.12": (0.5, 1.0, 0.3),
    "classifier.1": 0.2,
}
TABLE1_PARAMS_AFTER = 421_098

# The claims a sweep can test, as comparisons of two points (experiment, point value): each
# is ("greater", a, b) -- a scores higher than b -- or ("plateau", a, b) -- going from b on
# to a gains less than PLATEAU_MARGIN. The figures in the text are the paper's.
CLAIMS = [
    ("sr", "greater", 0.75, 0.125, "SR 0.75 beats SR 0.125 (Figure 3a: top-5 80.3% -> 86.0%)"),
    ("sr", "plateau", 1.0, 0.75, "SR 1.0 gains nothing over SR 0.75 (Figure 3a: plateau)"),
    ("pct3x3", "greater", 0.5, 0.01, "pct3x3 0.5 beats 0.01 (Figure 3b: rises to 85.6%)"),
    ("pct3x3", "plateau", 0.75, 0.5, "pct3x3 0.75 gains nothing over 0.5 (Figure 3b: plateau)"),
    ("pct3x3", "plateau", 0.99, 0.5, "pct3x3 0.99 gains nothing over 0.5 (Figure 3b: plateau)"),
    ("bypass", "greater", "simple", "none", "simple bypass beats vanilla (Table 3: +2.9 top-1)"),
    ("bypass", "greater", "complex", "none", "complex bypass beats vanilla (Table 3: +1.3)"),
    ("bypass", "greater", "simple", "complex", "simple bypass beats complex (Table 3: +1.6)"),
]
# A "plateau" holds when the gain is surely below one point of accuracy.
PLATEAU_MARGIN = 0.01
