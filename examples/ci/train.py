"""Train the churn model on generated data and log it to the record: the CI pipeline's first step.

Prints the run id on standard output for the next steps. Uses data that
scikit-learn generates, so it needs no network.

    python examples/ci/train.py
"""

from __future__ import annotations

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import dockyard


def main() -> None:
    X, y = make_classification(n_samples=2000, n_features=8, n_informative=5, random_state=7)
    x_train, x_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=7)
    dockyard.set_experiment("churn-ci")
    with dockyard.start_run(name="ci") as run:
        model = LogisticRegression(C=0.5, max_iter=500).fit(x_train, y_train)
        dockyard.log_params({"C": 0.5, "max_iter": 500})
        dockyard.log_metric("auc", roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]))
        dockyard.log_model(model, "model", input_example=x_val[:5])
    print(run.id)


if __name__ == "__main__":
    main()
