"""The Logplex body: octet-counted RFC 5424 frames, cut exactly where their byte counts say.

The helpers at the top build the lines and bodies Heroku sends; ``test_drain_lines.py``,
``test_drain_store.py``, ``test_web_process.py`` and ``test_signal_router.py`` use them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.drain.frames import MAX_LENGTH_DIGITS, FrameError, parse_header, split_frames, timestamp_epoch
from autoscaler.drain.lines import Batch

# --- helpers shared with the other drain tests -----------------------------------------------


def stamp(at: float) -> str:
    """An RFC 3339 timestamp as Logplex writes it (microseconds, ``+00:00``)."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")


def router_line(
    at: float,
    service_ms: int | str = 97,
    *,
    dyno: str = "web.1",
    code: str | None = None,
    path: str = "/api/x",
    status: int = 200,
) -> str:
    """A router line: ``at=info``, or ``at=error code=...`` when ``code`` is given."""
    service = f"{service_ms}ms" if isinstance(service_ms, int) else service_ms
    head = "at=info" if code is None else f'at=error code={code} desc="Request timeout"'
    return (
        f'<158>1 {stamp(at)} host heroku router - {head} method=POST path="{path}" host=app.herokuapp.com '
        f'request_id=8601b555-6a28-4d27-9a0c-9f9d5e6b1c2a fwd="1.2.3.4" dyno={dyno} connect=0ms '
        f"service={service} status={status} bytes=140 protocol=https\n"
    )


def memory_line(at: float, dyno: str = "web.1", memory: str = "21.00MB") -> str:
    return (
        f"<45>1 {stamp(at)} host heroku {dyno} - source={dyno} dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-"
        f"d2943a50b456 sample#memory_total={memory} sample#memory_rss=21.22MB sample#memory_cache=0.00MB "
        "sample#memory_swap=0.00MB sample#memory_pgpgin=348836pages sample#memory_pgpgout=343403pages "
        "sample#memory_quota=512.00MB\n"
    )


def load_line(at: float, dyno: str = "web.1", load: str = "0.01") -> str:
    return (
        f"<45>1 {stamp(at)} host heroku {dyno} - source={dyno} dyno=heroku.2808254.d97d0ea7-cf3d-411b-b453-"
        f"d2943a50b456 sample#load_avg_1m={load} sample#load_avg_5m=0.02 sample#load_avg_15m=0.03\n"
    )


def app_line(at: float, text: str = "GET /api/x 200") -> str:
    """A line the app itself wrote (APP-NAME ``app``): the drain ignores it."""
    return f"<190>1 {stamp(at)} host app web.1 - {text}\n"


def frame(message: str | bytes) -> bytes:
    """One octet-counted frame: the length in bytes, a space, the message."""
    data = message.encode("utf-8") if isinstance(message, str) else message
    return str(len(data)).encode() + b" " + data


def body(lines: Sequence[str | bytes]) -> bytes:
    return b"".join(frame(line) for line in lines)


# --- splitting ---------------------------------------------------------------------------------

NOW = 1_772_391_859.0


def test_a_heroku_batch_splits_into_its_messages() -> None:
    """Heroku's documented example frame and a router line, back to back, come out whole."""
    example = b"83 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - State changed from starting to up\n"
    line = router_line(NOW).encode()
    assert [example[3:], line] == split_frames(example + frame(line))


def test_the_count_is_in_bytes_so_multibyte_paths_parse() -> None:
    """A path of two- and four-byte UTF-8 characters: the length counts bytes, not characters."""
    line = router_line(NOW, path="/caf\u00e9/\U0001f600/\u4e2d\u6587")
    assert len(line.encode()) > len(line)
    assert [line.encode(), line.encode()] == split_frames(body([line, line]))


def test_a_message_that_looks_like_frames_stays_one_frame() -> None:
    """The parser never reads past a frame's end or into it: a message holding ``12 <1>1 ...`` is data."""
    inner = body(["<1>1 - - - - - x", "<1>1 - - - - - y"])
    assert [inner] == split_frames(frame(inner))


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"garbage", "frame 1 at byte 0"),
        (b"85 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - State changed from starting to up\n", "runs past"),
        (b"81 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - State changed from starting to up\n", "frame 2"),
        (b"083 <40>1 x", "no leading zero"),
        (b"-5 abcde", "frame 1"),
        (b"12345678 x", "frame 1"),
        (b"5 abcde\n", "frame 2 at byte 7"),
        (b" 5 abcde", "frame 1 at byte 0"),
        (b"5", "frame 1"),
        (b"\xd9\xa3 abc", "frame 1"),  # an Arabic-Indic digit is not a length
    ],
    ids=["no length", "too long", "too short", "leading zero", "negative", "too many digits", "trailing newline",
         "leading space", "length only", "unicode digit"],
)  # fmt: skip
def test_wrong_octet_counts_are_refused_saying_where(data: bytes, where: str) -> None:
    with pytest.raises(FrameError, match=where):
        split_frames(data)


def test_the_error_says_where_never_what() -> None:
    """The message of a FrameError names positions and lengths, never the bytes sent (a log line may hold a secret)."""
    with pytest.raises(FrameError) as caught:
        split_frames(frame("password=hunter2-very-secret") + b"99 password=hunter2-very-secret")
    assert "hunter2" not in str(caught.value)


def test_an_empty_body_has_no_frame() -> None:
    assert [] == split_frames(b"")


# --- the fuzz ---------------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_any_messages_round_trip(messages: list[bytes]) -> None:
    """Framed messages of any bytes (newlines, spaces, digits, invalid UTF-8) come back exactly, in order."""
    nonempty = [m for m in messages if m]
    assert nonempty == split_frames(body(nonempty))


@given(st.binary(max_size=2000))
def test_any_body_either_splits_exactly_or_is_refused(data: bytes) -> None:
    """Arbitrary bytes never raise anything but FrameError; what splits re-frames to exactly the
    body, so no byte was skipped, read twice or read past."""
    try:
        frames = split_frames(data)
    except FrameError:
        return
    assert data == body(frames)


@given(
    st.lists(st.text(max_size=200).map(lambda s: "<158>1 - host heroku router - " + s), min_size=1, max_size=8),
    st.data(),
)
def test_a_damaged_body_is_refused_or_still_exact(messages: list[str], data: st.DataObject) -> None:
    """A valid body with one byte changed, cut short or extended: FrameError, or frames that re-frame to it."""
    good = body(messages)
    index = data.draw(st.integers(0, len(good) - 1))
    damaged = data.draw(
        st.sampled_from(
            [
                good[:index] + bytes([data.draw(st.integers(0, 255))]) + good[index + 1 :],
                good[:index],
                good + good[:index],
            ]
        )
    )
    try:
        frames = split_frames(damaged)
    except FrameError:
        return
    assert damaged == body(frames)


@given(st.binary(max_size=600))
def test_any_frame_is_read_or_ignored_never_raises(data: bytes) -> None:
    """Header parsing and tallying accept any bytes as a frame: a line is tallied or ignored."""
    parse_header(data)
    batch = Batch(NOW)
    batch.add_frames([data, b"<158>1 " + data, b"<158>1 " + stamp(NOW).encode() + b" host heroku router - " + data])
    assert 3 == batch.lines == batch.router + batch.metrics + batch.ignored


def test_the_length_limit_matches_the_digits() -> None:
    """A length of MAX_LENGTH_DIGITS digits is read; one more digit is refused before anything is sliced."""
    assert 10**MAX_LENGTH_DIGITS > 1024 * 1024
    with pytest.raises(FrameError, match="runs past"):
        split_frames(b"9" * MAX_LENGTH_DIGITS + b" x")


# --- the header ---------------------------------------------------------------------------------


def test_the_header_of_a_router_line() -> None:
    header = parse_header(router_line(NOW).encode())
    assert header is not None
    assert (b"heroku", b"router") == (header.app_name, header.procid)
    assert header.msg.startswith(b"at=info method=POST")
    assert header.msg.endswith(b"protocol=https")
    assert NOW == timestamp_epoch(header.timestamp)


@pytest.mark.parametrize(
    "data",
    [b"", b"<158>1 too few fields", b"158>1 a b c d e f", b"<158>2 a b c d e f", b"<abc>1 a b c d e f"],
)
def test_not_rfc5424_has_no_header(data: bytes) -> None:
    assert parse_header(data) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T19:04:19.887695+00:00", 1772391859.887695),
        ("2026-03-01T20:04:19+01:00", 1772391859.0),
        ("2026-03-01T19:04:19Z", 1772391859.0),
        ("2026-03-01T19:04:19", 1772391859.0),
        ("-", None),
        ("2026-13-01T19:04:19Z", None),
        ("\u0662\u0660\u0662\u0666", None),
    ],
)
def test_timestamps(text: str, expected: float | None) -> None:
    assert expected == timestamp_epoch(text.encode())
