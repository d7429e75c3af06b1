"""The model package format: save and load models with their signature and environment.

::

    from dockyard import models

    models.save(pipeline, "churn-model", input_example=X_test[:5])
    model = models.load("churn-model")
    model.predict(X_test)            # DataFrame, dict of columns, records or numpy array

    # The feature pipeline the model was trained behind, run before it everywhere:
    models.save(clf, "churn-model", features=column_transformer, input_example=raw[:5])

Engines (scikit-learn, XGBoost, LightGBM, onnxruntime, torch) are imported
only when a model of theirs is saved or loaded.
"""

from dockyard.models.environment import Mismatch, check_environment, infer_requirements
from dockyard.models.features import (
    FeatureSpec,
    FeatureStepError,
    FeatureSteps,
    transform_features,
)
from dockyard.models.flavors import (
    FLAVORS,
    Flavor,
    PythonModel,
    PythonModelContext,
    SavedModel,
    SaveOptions,
    detect_flavor,
    get_flavor,
    register_flavor,
)
from dockyard.models.package import (
    LoadedModel,
    LoaderSpec,
    ModelManifest,
    load,
    package_digest,
    parse_manifest,
    read_manifest,
    save,
    verify,
)
from dockyard.models.signature import ColumnSpec, Signature, TensorSpec, infer_signature

__all__ = [
    "FLAVORS",
    "ColumnSpec",
    "FeatureSpec",
    "FeatureStepError",
    "FeatureSteps",
    "Flavor",
    "LoadedModel",
    "LoaderSpec",
    "Mismatch",
    "ModelManifest",
    "PythonModel",
    "PythonModelContext",
    "SaveOptions",
    "SavedModel",
    "Signature",
    "TensorSpec",
    "check_environment",
    "detect_flavor",
    "get_flavor",
    "infer_requirements",
    "infer_signature",
    "load",
    "package_digest",
    "parse_manifest",
    "read_manifest",
    "register_flavor",
    "save",
    "transform_features",
    "verify",
]
