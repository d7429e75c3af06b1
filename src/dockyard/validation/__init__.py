"""Validate: evidence before a model goes live.

:class:`~dockyard.validation.evaluation.Evaluation` holds a model, labelled data
and the model's predictions; each check turns it into a
:class:`~dockyard.validation.results.CheckResult`, and a
:class:`~dockyard.validation.results.ValidationReport` holds them all.
"""
