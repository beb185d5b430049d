"""One way for tests to wait for something a real process, server or page does in its own time."""

from __future__ import annotations

from tenacity import RetryError, Retrying, retry_if_exception_type, retry_if_result, stop_after_delay, wait_fixed


def wait_until(check, timeout_s: float = 20.0, step_s: float = 0.05, what: str = "condition",
               retry_on: tuple[type[BaseException], ...] = ()):
    """Call ``check`` every ``step_s`` until it returns something truthy, and return that; after ``timeout_s``
    fail the test with the last value seen. Exceptions of the ``retry_on`` types count as "not yet"."""
    retry = retry_if_result(lambda value: not value)
    if retry_on:
        retry = retry | retry_if_exception_type(retry_on)
    try:
        return Retrying(stop=stop_after_delay(timeout_s), wait=wait_fixed(step_s), retry=retry)(check)
    except RetryError as err:
        outcome = err.last_attempt
        last = outcome.exception() if outcome.failed else outcome.result()
        raise AssertionError(f"{what} not reached within {timeout_s} s; last: {last!r}") from None
