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
