"""The one place that creates the Logger, Tracer and Metrics every function uses."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
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


def api_gateway_handler(environment: str) -> Callable[[ApiHandler], ApiHandler]:
    """The decorator stack every API Gateway function's handler wears, in one place.

    The correlation id is the API Gateway request id; ``log_event=False`` whatever
    ``POWERTOOLS_LOGGER_LOG_EVENT`` says, since the event's body is a payload; metrics are flushed per
    invocation with the ``environment`` dimension.
    """
    from aws_lambda_powertools.logging import correlation_paths

    def decorate(fn: ApiHandler) -> ApiHandler:
        @logger.inject_lambda_context(
            correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True, log_event=False
        )
        @tracer.capture_lambda_handler(capture_response=False)
        @metrics.log_metrics
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            metrics.set_default_dimensions(environment=environment)
            return fn(event, context)

        return cast(ApiHandler, handler)

    return decorate
