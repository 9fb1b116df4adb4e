"""Finding credentials in files with detect-secrets' detectors, reporting where, never what.

Pure: bytes in, ``(file, line, type)`` out. The secret a detector matched is used only to
tell two findings on one line apart and is dropped before the function returns; neither it
nor its hash leaves this module.

detect-secrets is used as a library of detectors and filters, not as a scanner: its
``scan_file``/``scan_line`` read files and change process-wide settings, and a filter in those
settings turns on network verification of every match. Here each scan builds its own plugin
instances and calls their ``analyze_string``, adding what their ``analyze_line`` adds (the
keyword detector's regexes for the file's type, the entropy detectors' limit) but not the
settings-driven verification; then it applies detect-secrets' default filters by calling them
directly. Nothing global is read or written, so concurrent scans are safe and never reach
the network. Two choices differ from detect-secrets' defaults: filters on file *names* (lock
files, swagger, extensions) are not applied, since a name is no evidence of content; and the
``is_indirect_reference`` line filter (``x = f(...)``) applies to the keyword and entropy
detectors only, so a token of a known format is reported whatever the line looks like.

Bounds: archives are walked member by member within :class:`WalkLimits` (bytes per file and
in all, members, nesting); the caller bounds the text scanned in all; a line longer than
``max_line_chars`` is scanned in overlapping windows of that size, so no detector regex runs
on more than ``max_line_chars`` characters (some backtrack quadratically on their input).
"""

from __future__ import annotations

import bz2
import io
import lzma
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clearance.core.artifact_scan import decompress_members
from clearance.core.pickle_scan import ScanLimit

if TYPE_CHECKING:
    from detect_secrets.plugins.base import BasePlugin

# detect-secrets 1.5's plugins, by class name, and the secret type each reports. Kept here
# so a policy is validated without importing detect-secrets; a test checks it against the
# installed package.
PLUGIN_TYPES: dict[str, str] = {
    "ArtifactoryDetector": "Artifactory Credentials",
    "AWSKeyDetector": "AWS Access Key",
    "AzureStorageKeyDetector": "Azure Storage Account access key",
    "Base64HighEntropyString": "Base64 High Entropy String",
    "BasicAuthDetector": "Basic Auth Credentials",
    "CloudantDetector": "Cloudant Credentials",
    "DiscordBotTokenDetector": "Discord Bot Token",
    "GitHubTokenDetector": "GitHub Token",
    "GitLabTokenDetector": "GitLab Token",
    "HexHighEntropyString": "Hex High Entropy String",
    "IbmCloudIamDetector": "IBM Cloud IAM Key",
    "IbmCosHmacDetector": "IBM COS HMAC Credentials",
    "IPPublicDetector": "Public IP (ipv4)",
    "JwtTokenDetector": "JSON Web Token",
    "KeywordDetector": "Secret Keyword",
    "MailchimpDetector": "Mailchimp Access Key",
    "NpmDetector": "NPM tokens",
    "OpenAIDetector": "OpenAI Token",
    "PrivateKeyDetector": "Private Key",
    "PypiTokenDetector": "PyPI Token",
    "SendGridDetector": "SendGrid API Key",
    "SlackDetector": "Slack Token",
    "SoftlayerDetector": "SoftLayer Credentials",
    "SquareOAuthDetector": "Square OAuth Secret",
    "StripeDetector": "Stripe Access Key",
    "TelegramBotTokenDetector": "Telegram Bot Token",
    "TwilioKeyDetector": "Twilio API Key",
}
# Entropy detectors flag any random-looking quoted string (digests, ids, base64 blobs): they
# are enabled through their own limit parameters. A public IP address is not a credential.
ENTROPY_PLUGINS = {"Base64HighEntropyString": "base64", "HexHighEntropyString": "hex"}
DEFAULT_PLUGINS: tuple[str, ...] = tuple(
    sorted(set(PLUGIN_TYPES) - set(ENTROPY_PLUGINS) - {"IPPublicDetector"}, key=str.lower)
)
SECRET_TYPES = frozenset(PLUGIN_TYPES.values())

# detect-secrets' inline allowlist comments (``filters.allowlist.is_line_allowlisted``),
# rewritten without its adjacent quantifiers (``[ \t]* *``), which backtrack quadratically
# on a long run of blanks; a test checks both agree. After the comment mark only spaces may
# come (a tab there does not allowlist); blanks may come before a next-line pragma.
_PRAGMA = r"pragma: ?{kind}[ -]secret"
_SAME_LINE = re.compile(
    r"(?:#|//|'|--) *" + _PRAGMA.format(kind="(?:allow|white)list")
    + r"|/\* *" + _PRAGMA.format(kind="(?:allow|white)list") + r".*?\*/[ \t]*$"
    + r"|<!--[# \t]*" + _PRAGMA.format(kind="(?:allow|white)list") + r".*?-->[ \t]*$"
)  # fmt: skip
_NEXT_LINE = re.compile(
    r"^[ \t]*(?:(?:#|//|'|--) *" + _PRAGMA.format(kind="allowlist[ -]nextline")
    + r"|/\* *" + _PRAGMA.format(kind="allowlist[ -]nextline") + r".*?\*/[ \t]*$"
    + r"|<!--[# \t]*" + _PRAGMA.format(kind="allowlist[ -]nextline") + r".*?-->[ \t]*$)"
)  # fmt: skip
_YAML_SAME_LINE = re.compile(r"# *" + _PRAGMA.format(kind="(?:allow|white)list"))
_YAML_NEXT_LINE = re.compile(r"^[ \t]*# *" + _PRAGMA.format(kind="allowlist[ -]nextline"))
_OVERLAP = 512  # window overlap: a token shorter than this is whole in some window


def allowlisted(line: str, previous: str, filename: str) -> bool:
    """The line, or the line before it, carries a ``pragma: allowlist secret`` comment."""
    if filename.lower().endswith(".yaml"):  # as detect-secrets: YAML comments start with #
        same, nxt = _YAML_SAME_LINE, _YAML_NEXT_LINE
    else:
        same, nxt = _SAME_LINE, _NEXT_LINE
    return ("pragma" in line and same.search(line) is not None) or (
        "pragma" in previous and nxt.search(previous) is not None
    )


@dataclass(frozen=True)
class Hit:
    """``count`` distinct secrets of ``type`` on line ``line`` of ``place``."""

    place: str
    line: int
    type: str
    count: int = 1

    def __str__(self) -> str:
        return f"{self.place}:{self.line}: {self.type}"


class _Detector:
    def __init__(self, name: str, plugin: BasePlugin, heuristic: bool, keyword: bool) -> None:
        self.name = name
        self.type = PLUGIN_TYPES[name]
        self.plugin = plugin
        self.heuristic = heuristic  # not a token format: line-shape filters apply
        self.keyword = keyword
        self.limit: float | None = getattr(plugin, "entropy_limit", None)
        # Every keyword regex contains one of the keywords: a window without any is skipped
        # without running them (they are most of the scan's time otherwise).
        self.needs: re.Pattern[str] | None = None
        if keyword:
            from detect_secrets.plugins.keyword import DENYLIST

            self.needs = re.compile("|".join(DENYLIST), re.IGNORECASE)


def _plugin_classes() -> dict[str, type[BasePlugin]]:
    """detect-secrets' plugin classes by name, imported from its package (never from the
    process-wide settings, which may name plugin files to import)."""
    import importlib
    import inspect
    import pkgutil

    import detect_secrets.plugins as package
    from detect_secrets.plugins.base import BasePlugin

    found: dict[str, type[BasePlugin]] = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        for name, cls in vars(module).items():
            if (
                inspect.isclass(cls)
                and issubclass(cls, BasePlugin)
                and cls.__module__ == module.__name__
                and isinstance(getattr(cls, "secret_type", None), str)
            ):
                found[name] = cls
    return found


_classes: dict[str, type[BasePlugin]] = {}


def plugin_classes() -> dict[str, type[BasePlugin]]:
    if not _classes:
        _classes.update(_plugin_classes())  # idempotent: a race fills it twice, the same
    return _classes


@dataclass(frozen=True)
class ScanConfig:
    plugins: tuple[str, ...]
    base64_limit: float | None = None
    hex_limit: float | None = None
    max_line_chars: int = 4096


class LineScanner:
    """detect-secrets' detectors and default filters over text, one instance per scan."""

    def __init__(self, config: ScanConfig) -> None:
        from detect_secrets.plugins.base import RegexBasedDetector
        from detect_secrets.plugins.keyword import KeywordDetector

        classes = plugin_classes()
        self.config = config
        self.lines = 0  # lines scanned, over every call
        self.detectors: list[_Detector] = []
        limits = {"base64": config.base64_limit, "hex": config.hex_limit}
        names = [n for n in config.plugins if n not in ENTROPY_PLUGINS]
        names += [n for n, kind in ENTROPY_PLUGINS.items() if limits[kind] is not None]
        for name in names:
            cls = classes[name]
            kind = ENTROPY_PLUGINS.get(name)
            plugin = cls(limit=limits[kind]) if kind else cls()  # type: ignore[call-arg]
            heuristic = not issubclass(cls, RegexBasedDetector)
            self.detectors.append(_Detector(name, plugin, heuristic, cls is KeywordDetector))

    def scan(self, text: str, place: str) -> Iterator[Hit]:
        """Findings in ``text`` (a file called ``place``), line by line, in order."""
        from detect_secrets.plugins.keyword import (
            QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
            REGEX_BY_FILETYPE,
        )
        from detect_secrets.util.filetype import determine_file_type

        filename = place.rsplit("!", 1)[-1]
        keyword_regexes = REGEX_BY_FILETYPE.get(
            determine_file_type(filename), QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
        )
        width = self.config.max_line_chars
        step = max(1, width - min(_OVERLAP, width // 4))
        previous = ""
        lines = _lines(text)
        self.lines += len(lines)
        for number, raw in enumerate(lines, 1):
            line = raw.rstrip()
            if not line or allowlisted(line[-width:], previous[:width], filename):
                previous = line
                continue
            previous = line
            found: set[tuple[str, str]] = set()
            for start in range(0, max(1, len(line) - width + step), step):
                window = line[start : start + width]
                indirect: bool | None = None
                for det in self.detectors:
                    if det.needs is not None and det.needs.search(window) is None:
                        continue
                    if det.heuristic:
                        if indirect is None:
                            indirect = _is_indirect_reference(window)
                        if indirect:
                            continue
                    for secret in self._secrets(det, window, keyword_regexes):
                        found.add((det.type, secret))
            counts: dict[str, int] = {}
            for kind, _secret in found:
                counts[kind] = counts.get(kind, 0) + 1
            found.clear()  # the values are not kept past this line
            for kind in sorted(counts):
                yield Hit(place, number, kind, counts[kind])

    def _secrets(self, det: _Detector, window: str, keyword_regexes: Any) -> Iterator[str]:
        if det.keyword:
            matches = det.plugin.analyze_string(  # type: ignore[call-arg]
                window, denylist_regex_to_group=keyword_regexes
            )
        else:
            matches = det.plugin.analyze_string(window)
        for secret in matches:
            if not isinstance(secret, str) or _filtered(secret, window, det):
                continue
            if det.limit is not None:
                entropy = det.plugin.calculate_shannon_entropy(secret)  # type: ignore[attr-defined]
                if not entropy > det.limit:
                    continue
            yield secret


def _is_indirect_reference(line: str) -> bool:
    from detect_secrets.filters.heuristic import is_indirect_reference

    return bool(is_indirect_reference(line))


def _filtered(secret: str, line: str, det: _Detector) -> bool:
    """detect-secrets' default per-secret filters (``Settings.clear``'s list)."""
    from detect_secrets.filters import heuristic as h

    return bool(
        h.is_sequential_string(secret)
        or h.is_potential_uuid(secret)
        or h.is_likely_id_string(secret, line, det.plugin)
        or h.is_templated_secret(secret)
        or h.is_prefixed_with_dollar_sign(secret)
        or h.is_not_alphanumeric_string(secret)
    )


def _lines(text: str) -> list[str]:
    """Lines as a text editor numbers them: split at \\n, \\r\\n or \\r."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the end of the last line, not a line of its own
    return lines


def as_text(data: bytes) -> str | None:
    """The bytes as text (UTF-8, a BOM dropped), or None for a binary file: a NUL byte in
    the first 8 KiB, or bytes that are not UTF-8 (detect-secrets skips those too)."""
    if b"\x00" in data[:8192]:
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# --- archives -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkLimits:
    max_bytes: int  # any one file, member or decompressed stream
    max_total_bytes: int  # extracted or decompressed, over the whole walk
    max_members: int  # archive members, over the whole walk
    max_depth: int  # archives and compressed streams nested in each other


@dataclass
class Walk:
    """What a walk met besides files: archives opened and what could not be read."""

    archives: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (place, why)
    members: int = 0
    expanded: int = 0


_Open = Callable[[bytes, int], bytes]


def _stream(make: Callable[[], Any]) -> _Open:
    return lambda data, limit: decompress_members(make, data, limit)


_STREAMS: tuple[tuple[bytes, str, _Open], ...] = (
    (b"\x1f\x8b\x08", "gzip", _stream(lambda: zlib.decompressobj(31))),
    (b"BZh", "bz2", _stream(bz2.BZ2Decompressor)),
    (b"\xfd7zXZ\x00", "xz", _stream(lzma.LZMADecompressor)),
)
_UNREADABLE = (
    zipfile.BadZipFile,
    tarfile.TarError,
    NotImplementedError,
    ValueError,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
)


def _is_tar(data: bytes) -> bool:
    return data[257:262] == b"ustar"


def walk(data: bytes, place: str, limits: WalkLimits, out: Walk) -> Iterator[tuple[str, bytes]]:
    """Every file in ``data``: itself, or, for a zip, tar or gzip/bz2/xz stream, the files
    inside (recursively). ``ScanLimit`` past a bound; unreadable parts go to ``out.problems``."""
    yield from _walk(data, place, 0, limits, out)


def _walk(
    data: bytes, place: str, depth: int, limits: WalkLimits, out: Walk
) -> Iterator[tuple[str, bytes]]:
    if len(data) > limits.max_bytes:
        raise ScanLimit("max_bytes", limits.max_bytes, place)
    container = data.startswith((b"PK\x03\x04", b"PK\x05\x06")) or _is_tar(data)
    stream = next((s for s in _STREAMS if data.startswith(s[0])), None)
    if stream is not None and stream[1] == "bz2" and not data[3:4].isdigit():
        stream = None  # text that starts with "BZh"
    if (container or stream) and depth >= limits.max_depth:
        raise ScanLimit("max_depth", limits.max_depth, place)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        yield from _zip(data, place, depth, limits, out)
    elif _is_tar(data):
        yield from _tar(data, place, depth, limits, out)
    elif stream is not None:
        _, fmt, read = stream
        try:
            content = read(data, _room(limits, out, place) + 1)
        except _UNREADABLE as exc:
            out.problems.append((place, f"damaged {fmt} stream: {exc}"))
            return
        _take(limits, out, place, len(content))
        out.archives.append(place)
        yield from _walk(content, f"{place}!{fmt}", depth + 1, limits, out)
    else:
        yield place, data


def _room(limits: WalkLimits, out: Walk, place: str) -> int:
    room = min(limits.max_bytes, limits.max_total_bytes - out.expanded)
    if room < 0:
        raise ScanLimit("max_total_bytes", limits.max_total_bytes, place)
    return room


def _take(limits: WalkLimits, out: Walk, place: str, size: int) -> None:
    if size > limits.max_bytes:
        raise ScanLimit("max_bytes", limits.max_bytes, place)
    if out.expanded + size > limits.max_total_bytes:
        raise ScanLimit("max_total_bytes", limits.max_total_bytes, place)
    out.expanded += size


def _count(limits: WalkLimits, out: Walk, place: str, members: int) -> None:
    out.members += members
    if out.members > limits.max_members:
        raise ScanLimit("max_members", limits.max_members, place)


def _zip(
    data: bytes, place: str, depth: int, limits: WalkLimits, out: Walk
) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except _UNREADABLE as exc:
        out.problems.append((place, f"damaged zip archive: {exc}"))
        return
    _count(limits, out, place, len(infos))
    out.archives.append(place)
    for info in infos:
        inner = f"{place}!{info.filename}"
        if info.flag_bits & 0x1:
            out.problems.append((inner, "encrypted archive member: cannot be scanned"))
            continue
        if info.file_size > limits.max_bytes:
            raise ScanLimit("max_bytes", limits.max_bytes, inner)
        try:
            with archive.open(info) as member:
                content = member.read(_room(limits, out, inner) + 1)
        except _UNREADABLE as exc:
            out.problems.append((inner, f"cannot read archive member: {exc}"))
            continue
        _take(limits, out, inner, len(content))
        yield from _walk(content, inner, depth + 1, limits, out)


def _tar(
    data: bytes, place: str, depth: int, limits: WalkLimits, out: Walk
) -> Iterator[tuple[str, bytes]]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 (with below)
    except _UNREADABLE as exc:
        out.problems.append((place, f"damaged tar archive: {exc}"))
        return
    out.archives.append(place)
    with archive:
        while True:
            try:
                info = archive.next()
            except _UNREADABLE as exc:
                out.problems.append((place, f"damaged tar archive: {exc}"))
                return
            if info is None:
                return
            if not info.isfile():
                continue  # directories, links, devices: no content of their own
            inner = f"{place}!{info.name}"
            _count(limits, out, inner, 1)
            if info.size > limits.max_bytes:
                raise ScanLimit("max_bytes", limits.max_bytes, inner)
            _take(limits, out, inner, info.size)
            member = archive.extractfile(info)
            if member is None:
                continue
            try:
                content = member.read(info.size)
            except _UNREADABLE as exc:
                out.problems.append((inner, f"cannot read archive member: {exc}"))
                continue
            yield from _walk(content, inner, depth + 1, limits, out)
