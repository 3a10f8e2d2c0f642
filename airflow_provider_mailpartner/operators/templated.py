"""The base of this package's operators: template fields whose errors name the field and the way out.

Airflow 3 gives manual runs (the UI's Trigger, ``airflow dags trigger``, the REST API without a
date) and asset-triggered runs no logical date, so ``{{ ds }}``, ``{{ ts }}``, ``{{ logical_date }}``
and ``{{ data_interval_start }}`` are undefined in them, and a path built on them fails with a bare
``'ds' is undefined``. Every run has ``run_id`` and ``dag_run.run_after``: the error says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import jinja2
from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

# What the Task SDK defines only for runs that have a logical date.
LOGICAL_DATE_ONLY = frozenset(
    {
        "logical_date",
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "data_interval_start",
        "data_interval_end",
        "prev_data_interval_start_success",
        "prev_data_interval_end_success",
    }
)
_UNDEFINED_NAME = re.compile(r"'(\w+)' is undefined")
NO_LOGICAL_DATE_ADVICE = (
    "this run has no logical date (Airflow 3 gives none to manual and asset-triggered runs), so "
    "{{ ds }}, {{ ts }}, {{ logical_date }} and {{ data_interval_start }} are undefined in it. Every run "
    "has {{ run_id }} (unique: name run folders with it) and {{ dag_run.run_after }} (when the run was "
    "due or triggered); {{ (dag_run.logical_date or dag_run.run_after) | ds }} is a date in every run"
)


class TemplatedOperator(BaseOperator):
    """A :class:`~airflow.sdk.BaseOperator` whose template fields fail clearly.

    A template that uses an undefined name fails naming the field (and, in a run without a logical
    date, what to use instead); one that renders to nothing but white space fails naming the field
    and the template, instead of writing to a folder's path or filtering on nothing.
    """

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        # Airflow calls this for this operator (mapped ones included) and for nested templated objects.
        if parent is not self:
            super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
            return
        for name in template_fields:
            template = getattr(self, name, None)
            try:
                super()._do_render_template_fields(self, (name,), context, jinja_env, seen_oids)
            except jinja2.UndefinedError as error:
                raise jinja2.UndefinedError(undefined_message(name, str(error), context)) from None
            rendered = getattr(self, name, None)
            if isinstance(template, str) and template.strip() and isinstance(rendered, str) and not rendered.strip():
                raise ValueError(
                    f"{name} rendered to nothing from the template {template!r}: give {name} a value, "
                    "or check the names the template uses"
                )


def undefined_message(field: str, error: str, context: Context) -> str:
    """The template error of ``field``, with advice when it failed for want of a logical date."""
    undefined = _UNDEFINED_NAME.search(error)
    if undefined and undefined[1] in LOGICAL_DATE_ONLY and context.get("logical_date") is None:
        return f"{field}: {error}: {NO_LOGICAL_DATE_ADVICE}"
    return f"{field}: {error}"
