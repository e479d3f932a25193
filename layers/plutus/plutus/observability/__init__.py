"""The one place that creates the Logger, Tracer and Metrics every function uses."""

from __future__ import annotations

import logging
import os
import random
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment
from aws_xray_sdk import global_sdk_config

SERVICE = "plutus"


def tracing_disabled() -> bool:
    """Powertools' own rule: tracing is off when asked to be, and outside Lambda or under ``sam local``."""
    if resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false")):
        return True
    local = os.getenv("AWS_SAM_LOCAL") or os.getenv("AWS_CHALICE_CLI_MODE")
    return not os.getenv("LAMBDA_TASK_ROOT") or bool(local)


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        return None


class DeferredXRay(BaseProvider):
    """The tracer's provider when tracing is off at start: X-Ray, imported only if tracing is turned on.

    Powertools imports the X-Ray SDK even for a disabled Tracer, and that import builds an X-Ray client: on a
    cold start it costs about as much as importing boto3. While the SDK is disabled this provider does
    nothing; once it is enabled it hands every call to the SDK's recorder, as Powertools' own provider does.
    """

    @staticmethod
    def _recorder() -> Any | None:
        if not global_sdk_config.sdk_enabled():
            return None
        from aws_xray_sdk.core import xray_recorder

        return xray_recorder

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[BaseSegment]:
        """A subsegment of the current trace, or one that records nothing."""
        recorder = self._recorder()
        if recorder is None:
            yield _NoSegment()
            return
        with recorder.in_subsegment(name=name, **kwargs) as subsegment:
            yield subsegment

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncIterator[BaseSegment]:
        """A subsegment of the current trace, or one that records nothing."""
        recorder = self._recorder()
        if recorder is None:
            yield _NoSegment()
            return
        async with recorder.in_subsegment_async(name=name, **kwargs) as subsegment:
            yield subsegment

    def put_annotation(self, key: str, value: Any) -> None:
        """Annotate the current trace entity, if tracing."""
        recorder = self._recorder()
        if recorder is not None:
            recorder.put_annotation(key=key, value=value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Add metadata to the current trace entity, if tracing."""
        recorder = self._recorder()
        if recorder is not None:
            recorder.put_metadata(key=key, value=value, namespace=namespace)

    def patch(self, modules: Sequence[str]) -> None:
        """Instrument ``modules``, if tracing."""
        if self._recorder() is not None:
            from aws_xray_sdk.core import patch

            patch(modules)

    def patch_all(self) -> None:
        """Instrument every supported library, if tracing."""
        if self._recorder() is not None:
            from aws_xray_sdk.core import patch_all

            patch_all()


logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE, provider=DeferredXRay()) if tracing_disabled() else Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE)

# At DEBUG, botocore logs every request's parameters (a SendMessage body is an event's payload) and urllib3
# its wire traffic. Lambda's log level setting lowers the root logger: these stay at WARNING whatever it says.
for _noisy in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

# Reads, health and docs add no metric by design; Powertools' log_metrics warns on every such flush, which
# filled the `make dev` terminal and would fill CloudWatch Logs. Only that message is silenced; a route that
# should have counted something is caught by the metrics tests, not by this warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


ApiHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

_cold_start = True


def bind_invocation(event: dict[str, Any], context: Any) -> None:
    """Start an API Gateway invocation's log context, as Powertools' ``inject_lambda_context(
    correlation_id_path=API_GATEWAY_REST, clear_state=True, log_event=False)`` does, for less CPU per call.

    The same keys (the Lambda context's, ``cold_start``, ``correlation_id`` = the API Gateway request id) and
    the same per-invocation log sampling. The differences are the cost: the request id is read directly, not
    through JMESPath, and the level is set only when the sampling draw changes it, since every ``setLevel``
    clears the level cache of every logger in the process (botocore's hundred) and each then recomputes it
    on its next call; Powertools resets the level on every warm invocation.
    """
    global _cold_start
    cold_start, _cold_start = _cold_start, False
    if os.getenv("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency":
        cold_start = False
    logger.structure_logs(cold_start=cold_start, **build_lambda_context_model(context).__dict__)
    request_context = event.get("requestContext")
    logger.set_correlation_id(request_context.get("requestId") if isinstance(request_context, dict) else None)
    # Powertools validated the rate at init. "0" (the template's default) samples nothing: no draw at all.
    rate = float(logger.sampling_rate or 0)
    if rate and not cold_start:
        level = logging.DEBUG if random.random() <= rate else _level_number(logger.initial_log_level)
        if logger.log_level != level:
            logger.setLevel(level)


def _level_number(level: str | int) -> int:
    return level if isinstance(level, int) else logging.getLevelNamesMapping()[level.upper()]


def api_gateway_handler(environment: str) -> Callable[[ApiHandler], ApiHandler]:
    """The decorator stack every API Gateway function's handler wears, in one place.

    The log context is bound per invocation (:func:`bind_invocation`: the correlation id is the API Gateway
    request id; the event is never logged, since its body is a payload); metrics are flushed per invocation
    with the ``environment`` dimension, as Powertools' ``log_metrics`` does.
    """

    def decorate(fn: ApiHandler) -> ApiHandler:
        @tracer.capture_lambda_handler(capture_response=False)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            bind_invocation(event, context)
            metrics.set_default_dimensions(environment=environment)
            try:
                return fn(event, context)
            finally:
                metrics.flush_metrics()

        return cast(ApiHandler, handler)

    return decorate
