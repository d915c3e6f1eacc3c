"""Regenerate datasets.npz from scikit-learn's bundled datasets (run once; the output is committed, so the
evaluator needs only numpy). scikit-learn is BSD-3-Clause; see ../README.md for the datasets' origins."""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits


def main() -> None:
    digits = load_digits()
    cancer = load_breast_cancer()
    out = Path(__file__).with_name("datasets.npz")
    np.savez_compressed(
        out,
        digits_X=digits.data.astype(np.uint8),      # 1797 x 64, pixel intensities 0..16
        digits_y=digits.target.astype(np.uint8),    # 10 classes
        cancer_X=cancer.data.astype(np.float64),    # 569 x 30
        cancer_y=cancer.target.astype(np.uint8),    # 2 classes
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
