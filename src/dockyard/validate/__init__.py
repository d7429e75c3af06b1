"""Validate: evidence before a model goes live.

:class:`~dockyard.validate.evaluation.Evaluation` holds a model, labelled data
and the model's predictions; each check turns it into a
:class:`~dockyard.validate.results.CheckResult`, and a
:class:`~dockyard.validate.results.ValidationReport` holds them all.
"""
